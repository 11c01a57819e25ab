"""Faults found by a probe of bad input (issue 13 §5): rows lost with exit 0, bad values accepted,
path-like codes, world-readable personal data. Each test states the counts a person checks by hand."""

from __future__ import annotations

import csv
import datetime as dt
import os
import stat
import zipfile
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run_cli
from openpyxl import Workbook
from regions import ROWS, write_csv, write_region

import yibao.contract.readers as readers
from yibao.contract.reasons import FatalLoadError
from yibao.contract.schema import TABLES
from yibao.contract.validate import validate
from yibao.engine.loading import load_region


def quarantine_of(raw) -> tuple[object, list[tuple]]:
    """Validate a read table alone (no references): the counts and its quarantined rows."""
    con = duckdb.connect()
    v = validate(con, raw, {}, 1)
    rows = con.execute(f"SELECT source_row, reason_codes, message, original FROM {v.quarantine_relation} "
                       "ORDER BY source_row").fetchall()
    return v, rows


def codes_by_row(rows: list[tuple]) -> dict[int, list[str]]:
    return {r[0]: list(r[1]) for r in rows}


def csv_file(path: Path, table: str, rows: list[list[str]]) -> Path:
    return write_csv(path, TABLES[table].column_names, rows)


def query(ws: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(ws / "yibao.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


FEE = ["C{:07d}", "1", "XJ01CAA040A001010100839", "阿莫西林胶囊 0.25g×24粒", "drug", "western_drug", "2024-03-02",
       "6", "1.25", "7.50", "D440203000001"]


# --------------------------------------------------------------------------- 1. unclosed quotes


def test_unclosed_quote_in_a_big_csv_is_one_quarantined_line_and_no_row_is_lost(tmp_path: Path) -> None:
    # 200,000 fee lines (≈ 20 MB, more than one 16 MB parse block): line 100,001 of the file (data row
    # 100,000) opens a quote in item_name that never closes. Before: the multi-threaded parser swallowed
    # the rest of its block and reported no bad row (read 123,302 of 265,103 in the probe).
    n = 200_000
    head = ",".join(TABLES["fee_items"].column_names)
    lines = [",".join([FEE[0].format(i)] + FEE[1:]) for i in range(1, n + 1)]
    broken = lines[99_999].split(",")
    broken[3] = '"' + broken[3]
    lines[99_999] = ",".join(broken)
    p = tmp_path / "fee_items.csv"
    p.write_text(head + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    assert p.stat().st_size > (1 << 24)

    raw = readers.read_table(p, TABLES["fee_items"])
    assert raw.read == 200_000 and raw.data.num_rows == 199_999
    [err] = raw.shape_errors
    assert (err.code, err.row, err.line) == ("UNCLOSED_QUOTE", 100_000, 100_001)
    rows = raw.data.column("_row").to_numpy()
    assert rows[99_998:100_000].tolist() == [99_999, 100_001]  # the row numbers skip the quarantined one
    v, q = quarantine_of(raw)
    assert (v.read, v.accepted, v.quarantined) == (200_000, 199_999, 1)
    assert q[0][0] == 100_000 and q[0][1] == ["UNCLOSED_QUOTE"] and "文件第 100001 行" in q[0][2]
    assert "C0100000" in q[0][3]  # the line's own text, to send back


def test_unclosed_quote_in_a_small_cases_file_loads_every_other_row(tmp_path: Path) -> None:
    # 1,200 outpatient visits; row 11 (file line 12) opens a quote in dept_code. Before: 1,189 rows were
    # folded into one quarantined row and the load said "read 11".
    good = ROWS["cases"][1]
    cases = [[f"C{i:04d}"] + good[1:] for i in range(1, 1201)]
    cases[10][9] = '"0101'
    d = write_region(tmp_path / "r", {k: v for k, v in ROWS.items() if k not in ("cases", "fee_items")})
    p = d / "cases.csv"
    head = ",".join(TABLES["cases"].column_names)
    p.write_text(head + "\n" + "\n".join(",".join(r) for r in cases) + "\n", encoding="utf-8")
    report = load_region(d, tmp_path / "ws")
    t = next(t for t in report.tables if t.table == "cases")
    assert (t.read, t.accepted, t.quarantined) == (1200, 1199, 1)
    assert t.reasons == {"UNCLOSED_QUOTE": 1}
    [(row, msg)] = query(tmp_path / "ws", "SELECT source_row, message FROM quarantine WHERE table_name = 'cases'")
    assert row == 11 and msg.startswith("第 11 行（文件第 12 行）：引号未闭合")
    assert query(tmp_path / "ws", "SELECT count(*), min(case_id), max(case_id) FROM cases") == [(1199, "C0001", "C1200")]


def test_line_break_inside_a_quoted_name_still_loads_and_shape_errors_keep_line_numbers(tmp_path: Path) -> None:
    # a guard for the careful path: a name with a line break is allowed (free text), a short row is
    # BAD_ROW_SHAPE at its own line, and every other row loads
    p = tmp_path / "fee_items.csv"
    head = ",".join(TABLES["fee_items"].column_names)
    rows = [",".join([FEE[0].format(i)] + FEE[1:]) for i in range(1, 6)]
    rows[1] = rows[1].replace("阿莫西林胶囊 0.25g×24粒", '"阿莫西林胶囊\n0.25g×24粒"')
    rows[3] = "C0000004,1"
    p.write_text(head + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    raw = readers.read_table(p, TABLES["fee_items"])
    assert raw.read == 5 and raw.data.column("item_name").to_pylist()[1] == "阿莫西林胶囊\n0.25g×24粒"
    assert raw.data.column("_row").to_pylist() == [1, 2, 4, 6]  # data row = file line − 1
    assert [(e.code, e.row) for e in raw.shape_errors] == [("BAD_ROW_SHAPE", 5)]


def test_lines_ending_in_a_lone_cr_are_counted_and_mixed_line_ends_refused(tmp_path: Path) -> None:
    # a guard for the line check: old-Mac CR line ends still load (4 rows), an unclosed quote there too;
    # lone CRs among LF line ends cannot be counted and refuse the file
    p = tmp_path / "institutions.csv"
    rows = [",".join(r) for r in ROWS["institutions"]]
    rows[1] = rows[1].replace("市中医院", '"市中医院')
    p.write_bytes("\r".join([",".join(TABLES["institutions"].column_names)] + rows).encode() + b"\r")
    raw = readers.read_table(p, TABLES["institutions"])
    assert raw.read == 4 and raw.data.column("_row").to_pylist() == [1, 3, 4]
    assert [(e.code, e.row) for e in raw.shape_errors] == [("UNCLOSED_QUOTE", 2)]
    p.write_bytes(p.read_bytes().replace(b"\r", b"\n", 2))
    with pytest.raises(FatalLoadError, match="单独的回车符"):
        readers.read_table(p, TABLES["institutions"])


# --------------------------------------------------------------------------- 2. stale <dimension>


def test_xlsx_with_a_stale_dimension_tag_reads_all_its_rows(tmp_path: Path) -> None:
    p = tmp_path / "institutions.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(TABLES["institutions"].column_names)
    for i in range(1, 201):
        ws.append([f"H4402030{i:04d}", f"医院{i}", "hospital", 2, "general", "440203", "2020-01-01", None])
    wb.save(p)
    # a writer that leaves <dimension ref="A1:A1"/> over 201 rows (read-only openpyxl trusted it: 0 rows)
    stale = tmp_path / "stale.xlsx"
    with zipfile.ZipFile(p) as src, zipfile.ZipFile(stale, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                assert b'<dimension ref="A1:H201" />' in data
                data = data.replace(b'<dimension ref="A1:H201" />', b'<dimension ref="A1:A1" />')
            dst.writestr(item, data)
    raw = readers.read_table(stale, TABLES["institutions"])
    assert raw.read == 200 and raw.data.column("institution_id").to_pylist()[-1] == "H44020300200"
    v, q = quarantine_of(raw)
    assert (v.accepted, v.quarantined) == (200, 0)


# --------------------------------------------------------------------------- 3. bad values


def test_invisible_characters_in_keys_are_quarantined_not_distinct_keys(tmp_path: Path) -> None:
    good = ROWS["institutions"][0]
    rows = [good, ["\ufeffH001"] + good[1:], ["H0\u200b01"] + good[1:], ["H002"] + good[1:]]
    raw = readers.read_table(csv_file(tmp_path / "institutions.csv", "institutions", rows), TABLES["institutions"])
    v, q = quarantine_of(raw)
    assert (v.read, v.accepted, v.quarantined) == (4, 2, 2)
    assert codes_by_row(q) == {2: ["INVISIBLE_CHAR"], 3: ["INVISIBLE_CHAR"]}
    assert "U+FEFF" in q[0][2] and "U+200B" in q[1][2]


def test_nul_byte_after_the_first_64_kib_refuses_the_csv(tmp_path: Path) -> None:
    good = ",".join(ROWS["institutions"][0])
    body = "\n".join(good.replace("H001", f"H{i:05d}") for i in range(2000))  # ≈ 120 KiB
    p = tmp_path / "institutions.csv"
    data = (",".join(TABLES["institutions"].column_names) + "\n" + body + "\n").encode()
    at = data.index(b"\n", 100_000) + 5
    p.write_bytes(data[:at] + b"\x00" + data[at:])
    line = data[:at].count(b"\n") + 1
    assert line > 1000
    with pytest.raises(FatalLoadError, match=f"第 {at} 字节处（第 {line} 行）为 0x00"):
        readers.read_table(p, TABLES["institutions"])


def test_implausible_dates_and_a_birth_in_the_future_are_quarantined(tmp_path: Path) -> None:
    good = ROWS["insured"][1]  # P0002, born 1990-03-15
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    rows = [good,
            ["P0010"] + good[1:4] + ["0000-01-01"] + good[5:],
            ["P0011"] + good[1:4] + ["1899-12-31"] + good[5:],
            ["P0012"] + good[1:4] + [tomorrow] + good[5:],
            ["P0013"] + good[1:7] + ["9999-12-31"],
            ["P0014"] + good[1:4] + ["1900-01-01"] + good[5:7] + ["2100-12-31"]]
    for r in rows[1:]:
        r[1] = ""  # no id number: only the dates are in question
    raw = readers.read_table(csv_file(tmp_path / "insured.csv", "insured", rows), TABLES["insured"])
    v, q = quarantine_of(raw)
    assert (v.read, v.accepted, v.quarantined) == (6, 2, 4)
    assert codes_by_row(q) == {2: ["BAD_DATE_RANGE"], 3: ["BAD_DATE_RANGE"], 4: ["BIRTH_IN_FUTURE"],
                               5: ["BAD_DATE_RANGE"]}
    assert "应在 1900-01-01 至 2100-12-31 之间" in q[0][2]


def test_a_case_admitted_before_its_person_was_born_is_quarantined(tmp_path: Path) -> None:
    # P0002 was born 1990-03-15 (tests/regions.py); a visit on 1990-03-14 cannot be hers
    early = ["C0009", *ROWS["cases"][1][1:7], "1990-03-14", "1990-03-14", *ROWS["cases"][1][9:22], "1990-03-14"]
    born = ["C0010", *ROWS["cases"][1][1:7], "1990-03-15", "1990-03-15", *ROWS["cases"][1][9:22], "1990-03-15"]
    d = write_region(tmp_path / "r", {**ROWS, "cases": ROWS["cases"] + [early, born]})
    report = load_region(d, tmp_path / "ws")
    t = next(t for t in report.tables if t.table == "cases")
    assert (t.read, t.accepted, t.quarantined) == (5, 4, 1) and t.reasons == {"ADMITTED_BEFORE_BIRTH": 1}
    assert query(tmp_path / "ws", "SELECT source_row, message FROM quarantine") == [
        (4, "就诊日期早于参保人出生日期：入院日期 1990-03-14 早于参保人出生日期 1990-03-15")]


def test_id_numbers_excel_numbers_scientific_notation_and_check_digits(tmp_path: Path) -> None:
    # an 18-digit id number typed into Excel is a double: 440282197310062418 comes back as …062400
    p = tmp_path / "insured.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(TABLES["insured"].column_names)
    good = ROWS["insured"][1]
    ws.append(good)
    ws.append(["P0020", float(440282197310062418), *good[2:]])
    ws.append(["P0021", "440282197310062418", *good[2:]])  # the same number as text: kept
    ws.append([44020000000000000001, "", *good[2:]])  # a numeric person_id: its digits are gone too
    wb.save(p)
    raw = readers.read_table(p, TABLES["insured"])
    assert raw.data.column("id_number").to_pylist()[1] == "440282197310062400"
    v, q = quarantine_of(raw)
    assert (v.read, v.accepted, v.quarantined) == (4, 2, 2)
    assert codes_by_row(q) == {2: ["BAD_ID_NUMBER", "NUMERIC_CODE_CELL"], 4: ["NUMERIC_CODE_CELL"]}
    assert "440282********2400" in q[0][2] and "440282197310062400" not in q[0][2]  # masked in the message

    # CSV: scientific notation, a wrong check digit, a passport number, a lower-case x
    rows = [good, ["P0030", "4.40282E+17"] + good[2:], ["P0031", "440282197310062412"] + good[2:],
            ["P0032", "E12345678"] + good[2:], ["P0033", "11010519491231002x"] + good[2:]]
    raw = readers.read_table(csv_file(tmp_path / "insured.csv", "insured", rows), TABLES["insured"])
    v, q = quarantine_of(raw)
    assert (v.read, v.accepted, v.quarantined) == (5, 3, 2)
    assert codes_by_row(q) == {2: ["BAD_ID_NUMBER"], 3: ["BAD_ID_NUMBER"]}
    assert "科学计数法" in q[0][2] and "校验码不符" in q[1][2]
    assert "440282197310062412" not in q[1][2] and "440282********2412" in q[1][2]  # masked in the message


def test_parquet_list_in_a_text_column_is_refused(tmp_path: Path) -> None:
    names = TABLES["institutions"].column_names
    cols = {n: [r[i] for r in ROWS["institutions"]] for i, n in enumerate(names)}
    cols["name"] = [["市第一人民医院"], ["市中医院"], ["东河社区卫生服务中心"], ["仁和大药房"]]
    p = tmp_path / "institutions.parquet"
    pq.write_table(pa.table(cols), p)
    with pytest.raises(FatalLoadError, match="列 name（机构名称）是 Parquet 嵌套类型"):
        readers.read_table(p, TABLES["institutions"])
    cols["name"] = [r[1] for r in ROWS["institutions"]]
    cols["institution_id"] = pa.array([1.0, 2.0, 3.0, 4.0])
    pq.write_table(pa.table(cols), p)
    with pytest.raises(FatalLoadError, match="编码必须存为文本"):
        readers.read_table(p, TABLES["institutions"])


def test_nul_in_a_parquet_name_is_quarantined(tmp_path: Path) -> None:
    names = TABLES["institutions"].column_names
    cols = {n: [r[i] for r in ROWS["institutions"]] for i, n in enumerate(names)}
    cols["name"][1] = "市中\x00医院"
    p = tmp_path / "institutions.parquet"
    pq.write_table(pa.table(cols), p)
    v, q = quarantine_of(readers.read_table(p, TABLES["institutions"]))
    assert (v.read, v.accepted, v.quarantined) == (4, 3, 1)
    assert codes_by_row(q) == {2: ["CONTROL_CHAR"]} and "第 3 个字符" in q[0][2]


def test_xlsx_unpacking_past_the_limit_is_refused_before_opening(tmp_path: Path, monkeypatch) -> None:
    # the limit is a parameter (256 MiB); lowered here so that 2 MiB is "too big" without a 1 GiB file
    monkeypatch.setattr(readers, "XLSX_MAX_UNPACKED_BYTES", 1 << 20)
    p = tmp_path / "institutions.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(TABLES["institutions"].column_names)
    for i in range(70):  # 70 names of 30,000 characters (openpyxl cuts a cell at Excel's 32,767)
        ws.append([f"H{i:03d}", "x" * 30_000, "hospital", 2, "general", "440203", "2020-01-01", None])
    wb.save(p)
    assert p.stat().st_size < 100_000
    with pytest.raises(FatalLoadError, match="解压后为 2 MiB，超过上限 1 MiB"):
        readers.read_table(p, TABLES["institutions"])


def test_a_cell_longer_than_excel_allows_is_quarantined_and_cut_in_the_quarantine(tmp_path: Path) -> None:
    good = ROWS["institutions"][0]
    rows = [good, ["H002", "长" * 40_000] + good[2:]]
    v, q = quarantine_of(readers.read_table(csv_file(tmp_path / "institutions.csv", "institutions", rows),
                                            TABLES["institutions"]))
    assert (v.accepted, v.quarantined) == (1, 1) and codes_by_row(q) == {2: ["CELL_TOO_LONG"]}
    assert "40000 个字符" in q[0][2] and len(q[0][3]) < 2_000


# --------------------------------------------------------------------------- 4. codes


def test_path_like_and_unsafe_codes_are_quarantined(tmp_path: Path) -> None:
    good = ROWS["institutions"][0]
    bad = ["../../../escaped_rel", "/tmp/x", "a\\b", "H 001", ".hidden", "H..1", "H001\t"]
    rows = [good] + [[b] + good[1:] for b in bad]
    v, q = quarantine_of(readers.read_table(csv_file(tmp_path / "institutions.csv", "institutions", rows),
                                            TABLES["institutions"]))
    assert (v.read, v.accepted, v.quarantined) == (8, 1, 7)
    assert codes_by_row(q) == {r: ["UNSAFE_CODE"] for r in range(2, 9)}
    assert "不得含 /" in q[0][2]


def test_national_institution_format_is_enforced_where_the_file_follows_it(tmp_path: Path) -> None:
    good = ROWS["institutions"][0]
    national = [[f"H4402030000{i}"] + good[1:] for i in range(1, 4)]
    rows = national + [["H001"] + good[1:], ["X44020300009"] + good[1:]]
    v, q = quarantine_of(readers.read_table(csv_file(tmp_path / "institutions.csv", "institutions", rows),
                                            TABLES["institutions"]))
    assert (v.accepted, v.quarantined) == (3, 2)
    assert codes_by_row(q) == {4: ["BAD_CODE_FORMAT"], 5: ["BAD_CODE_FORMAT"]}
    assert "定点医药机构编码应为 [HP][0-9]{11}" in q[0][2]
    # a file of local codes (the tiny test region) loads, with a note that the format was not enforced
    v, q = quarantine_of(readers.read_table(csv_file(tmp_path / "i2.csv", "institutions", ROWS["institutions"]),
                                            TABLES["institutions"]))
    assert (v.accepted, v.quarantined) == (4, 0)
    assert v.notes == ("institutions.institution_id：4 / 4 个编码不是定点医药机构编码格式（[HP][0-9]{11}），"
                       "按本地编码装载，只校验字符集",)


def test_a_synthetic_region_still_loads_in_full(tmp_path: Path) -> None:
    from yibao.synth import generate

    generate(tmp_path / "region", seed=7, cases=1500)
    report = load_region(tmp_path / "region", tmp_path / "ws")
    assert sum(t.quarantined for t in report.tables) == 0
    assert query(tmp_path / "ws", "SELECT count(*) FROM institutions WHERE NOT regexp_full_match(institution_id, "
                                  "'[HP][0-9]{11}')") == [(0,)]


# --------------------------------------------------------------------------- 5. permissions


def test_workspace_and_quarantine_export_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        d = write_region(tmp_path / "r")
        with (d / "institutions.csv").open("a", encoding="utf-8") as f:
            f.write("../../x,坏编码医院,hospital,2,general,440203,2020-01-01,\n")
        load_region(d, tmp_path / "ws")
        out = tmp_path / "q.csv"
        r = run_cli("quarantine", "-w", tmp_path / "ws", "--out", out)
        assert r.returncode == 0, r.stderr
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(tmp_path / "ws") == 0o700
    assert mode(tmp_path / "ws" / "yibao.duckdb") == 0o600
    for extra in (tmp_path / "ws").iterdir():
        assert mode(extra) & 0o077 == 0, extra
    assert mode(out) == 0o600
    assert len(list(csv.reader(out.open(encoding="utf-8-sig")))) == 2  # header + the one quarantined row
