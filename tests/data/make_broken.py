"""Writes tests/data/broken/: deliberately broken region files (run once; outputs are committed).

- ``rows/``: a loadable region whose tables hold bad rows of every kind, in every format and
  encoding the contract accepts (cases in GBK, insured in UTF-8 with BOM, catalog as .xlsx,
  fee_items as Parquet). ``rows_expected.csv`` lists each bad row's table, row number and the
  reason code it must get.
- ``fatal_*``: directories whose one file cannot be read at all.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from openpyxl import Workbook

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

from regions import ROWS, write_csv  # noqa: E402

from yibao.contract.schema import TABLES  # noqa: E402

OUT = HERE / "broken"


def rows_region() -> None:
    d = OUT / "rows"
    d.mkdir(parents=True)
    expected: list[tuple[str, int, str]] = []

    def add(table: str, good: list[list[str]], bad: list[tuple[list[str], str]]) -> list[list[str]]:
        rows = list(good)
        for row, reason in bad:
            rows.append(row)
            expected.append((table, len(rows), reason))
        return rows

    inst = add("institutions", ROWS["institutions"], [
        (["H003", "某专科医院", "hospital", "5", "specialist", "440203", "2020-01-01", ""], "BAD_RANGE"),
        (["", "无编码医院", "hospital", "2", "general", "440203", "2020-01-01", ""], "MISSING_KEY"),
        (["H001", "重复的第一人民医院", "hospital", "3", "general", "440203", "2020-01-01", ""], "DUPLICATE_KEY"),
        (["H004", "区划错误医院", "hospital", "1", "general", "44020", "2020-01-01", ""], "BAD_FORMAT"),
        (["H005", "类别错误医院", "clinic", "1", "general", "440203", "2020-01-01", ""], "BAD_ENUM"),
    ])
    write_csv(d / "institutions.csv", TABLES["institutions"].column_names, inst)

    insured = add("insured", ROWS["insured"], [
        (["P0004", "", "孙丽", "2", "1990-02-30", "resident", "440203", ""], "BAD_DATE"),
        (["P0005", "", "周杰", "未知", "1980-01-01", "employee", "440203", ""], "BAD_ENUM"),
        (["P0001", "", "张伟重复", "1", "1965-01-01", "employee", "440203", ""], "DUPLICATE_KEY"),
        (["P0006", "", "吴敏", "2", "1970-05-05", "employee", "440203", "1960-01-01"], "DATE_ORDER"),
    ])
    write_csv(d / "insured.csv", TABLES["insured"].column_names, insured, encoding="utf-8-sig")

    staff = add("staff", ROWS["staff"], [
        (["D440203000009", "钱医生", "", "physician", "H999", "2020-01-01"], "UNKNOWN_INSTITUTION"),
        (["D440203000010", "孙医生", "", "surgeon", "H001", "2020-01-01"], "BAD_ENUM"),
    ])
    write_csv(d / "staff.csv", TABLES["staff"].column_names, staff)

    catalog = add("catalog", ROWS["catalog"], [
        (["XA00000000000000000001", "某药", "drug", "B", "0.10", "abc", "", "", "", "", "", "", "2020-01-01", ""],
         "MONEY_NOT_NUMERIC"),
        (["XA00000000000000000002", "某药二", "drug", "B", "1.5", "", "", "", "", "", "", "", "2020-01-01", ""], "BAD_RANGE"),
        (["XA00000000000000000003", "某药三", "drug", "A", "", "", "", "", "", "", "K80|8X", "", "2020-01-01", ""], "BAD_ICD10"),
    ])
    wb = Workbook()
    ws = wb.active
    ws.append(TABLES["catalog"].column_names)
    for r in catalog:
        ws.append(r)
    wb.save(d / "catalog.xlsx")

    good_case = ROWS["cases"][1]  # an outpatient visit, easy to vary one field at a time

    def case(case_id: str, **changes: str) -> list[str]:
        row = list(good_case)
        row[0] = case_id
        names = TABLES["cases"].column_names
        for k, v in changes.items():
            row[names.index(k)] = v
        return row

    cases = add("cases", ROWS["cases"], [
        (case("C0101", person_id="P9999"), "UNKNOWN_PERSON"),
        (case("C0102", institution_id="H999"), "UNKNOWN_INSTITUTION"),
        (case("C0103", attending_staff_id="D440203999999"), "UNKNOWN_STAFF"),
        (case("C0104", admit_date="2024-04-05", discharge_date="2024-04-02"), "DISCHARGE_BEFORE_ADMISSION"),
        (case("C0105", total_cost="-100.00"), "MONEY_NEGATIVE"),
        (case("C0106", fund_paid="12.345"), "MONEY_TOO_MANY_DECIMALS"),
        (case("C0107", total_cost="1,200.00"), "MONEY_NOT_NUMERIC"),
        (case("C0108", principal_dx="K80100"), "BAD_ICD10"),
        (case("C0109", procedures="51.2300|5123"), "BAD_ICD9"),
        (case("C0110", age_years="三十"), "BAD_TYPE"),
        (case("C0002"), "DUPLICATE_KEY"),
        (case("", ), "MISSING_KEY"),
        (case("C0111", settle_date=""), "MISSING_REQUIRED"),
        (case("C0112", secondary_dx="J96.000|肺炎"), "BAD_ICD10"),
    ])
    write_csv(d / "cases.csv", TABLES["cases"].column_names, cases, encoding="gb18030")
    with (d / "cases.csv").open("a", encoding="gb18030") as f:
        f.write("C0113,P0002,H002,resident\n")  # too few fields
    expected.append(("cases", len(cases) + 1, "BAD_ROW_SHAPE"))

    fee = add("fee_items", ROWS["fee_items"], [
        (["C0101", "1", "XJ01CAA040A001010100839", "阿莫西林胶囊", "drug", "western_drug", "2024-04-02", "3", "1.25", "3.75", ""],
         "UNKNOWN_CASE"),
        (["C0002", "2", "XJ01CAA040A001010100839", "阿莫西林胶囊", "drug", "western_drug", "2024-04-02", "两盒", "1.25", "3.75",
          ""], "BAD_TYPE"),
        (["C0002", "3", "XJ01CAA040A001010100839", "阿莫西林胶囊", "drug", "western_drug", "2024-04-02", "3", "1.25", "-3.75",
          ""], "MONEY_NEGATIVE"),
        (["C0002", "1", "XJ01CAA040A001010100839", "阿莫西林胶囊", "drug", "western_drug", "2024-04-02", "3", "1.25", "3.75", ""],
         "DUPLICATE_KEY"),
    ])
    # an amount that differs from quantity × unit_price is a review finding, not a load error
    fee.append(["C0002", "4", "XJ01CAA040A001010100839", "阿莫西林胶囊", "drug", "western_drug", "2024-04-02", "3", "1.25",
                "9.99", ""])
    names = TABLES["fee_items"].column_names
    pq.write_table(pa.table({n: [r[i] for r in fee] for i, n in enumerate(names)}), d / "fee_items.parquet")

    write_csv(OUT / "rows_expected.csv", ["table", "source_row", "reason_code"], [[t, str(r), c] for t, r, c in expected])


def fatal_dirs() -> None:
    def region(name: str) -> Path:
        d = OUT / name
        d.mkdir(parents=True)
        return d

    d = region("fatal_wrong_columns")
    write_csv(d / "cases.csv", TABLES["institutions"].column_names, ROWS["institutions"])

    d = region("fatal_binary")
    (d / "institutions.csv").write_bytes(bytes(range(256)) * 8)

    d = region("fatal_encoding")  # no NUL, but valid neither as UTF-8 nor as GB18030
    (d / "institutions.csv").write_bytes(b"institution_id,name\nH001,\xff\xfe\xfd\n")

    d = region("fatal_truncated_parquet")
    names = TABLES["institutions"].column_names
    pq.write_table(pa.table({n: [r[i] for r in ROWS["institutions"]] for i, n in enumerate(names)}), d / "institutions.parquet")
    data = (d / "institutions.parquet").read_bytes()
    (d / "institutions.parquet").write_bytes(data[: len(data) // 2])

    d = region("fatal_bad_xlsx")
    (d / "institutions.xlsx").write_bytes(b"PK\x03\x04 this is not really a workbook")

    d = region("fatal_two_formats")
    write_csv(d / "institutions.csv", names, ROWS["institutions"])
    shutil.copy(OUT / "fatal_truncated_parquet" / "institutions.parquet", d / "institutions.parquet")


if __name__ == "__main__":
    if OUT.exists():
        shutil.rmtree(OUT)
    rows_region()
    fatal_dirs()
    print(f"wrote {OUT}")
