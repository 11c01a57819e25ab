"""`yibao load --engine spark`: the same accepted rows and the same quarantine as the local loader.

One small generated region (200 cases; the five tables the references run through: institutions → insured →
staff → cases → fee lines) with bad rows injected into the CSV text — a duplicate key, an unknown person, an
admission before birth, a day that does not exist, an invalid 身份证号 whose person's cases then fail their
reference, an unknown case, a negative amount, a line with a field too many, a line number written ``01`` that
duplicates ``1``, two staff codes in three local (so the national staff-code format is not enforced) — loaded
once locally (DuckDB workspace) and once by Spark (Parquet); one Spark load for the module.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from yibao.contract.schema import TABLES
from yibao.engine.loading import load_region
from yibao.synth import generate

pytestmark = pytest.mark.spark

KEEP = ("institutions", "insured", "staff", "cases", "fee_items")


def _rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def _write(path: Path, rows: list[list[str]], extra_lines: tuple[str, ...] = ()) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_text(buf.getvalue() + "".join(line + "\n" for line in extra_lines), encoding="utf-8")


def bad_region(tmp: Path) -> Path:
    src = tmp / "synth"
    generate(src, seed=11, cases=200)
    region = tmp / "region"
    region.mkdir()
    for name in KEEP:
        shutil.copy(src / f"{name}.csv", region / f"{name}.csv")
    insured = _rows(region / "insured.csv")
    h = insured[0]
    bad_person = insured[5][h.index("person_id")]
    idn = insured[5][h.index("id_number")]
    insured[5][h.index("id_number")] = idn[:-1] + ("0" if idn[-1] != "0" else "1")  # check digit wrong: BAD_ID_NUMBER
    _write(region / "insured.csv", insured)

    staff = _rows(region / "staff.csv")  # 2 in 3 staff codes local: the national format is not enforced for the file
    h = staff[0]
    local = []
    for i in range(2 * (len(staff) - 1)):
        row = list(staff[1 + i % (len(staff) - 1)])
        row[h.index("staff_id")] = f"LOC{i:05d}"
        local.append(row)
    unsafe = list(staff[1]); unsafe[h.index("staff_id")] = "LOC/1"            # UNSAFE_CODE
    _write(region / "staff.csv", staff + local + [unsafe])

    cases = _rows(region / "cases.csv")
    h = cases[0]
    col = {c: i for i, c in enumerate(h)}
    dup = list(cases[1])                                         # DUPLICATE_KEY
    unknown = list(cases[2]); unknown[col["case_id"]] = "JS209900000001"; unknown[col["person_id"]] = "44029999999999999999"
    early = list(cases[3]); early[col["case_id"]] = "JS209900000002"; early[col["admit_date"]] = "1901-01-01"
    bad_day = list(cases[4]); bad_day[col["case_id"]] = "JS209900000003"; bad_day[col["settle_date"]] = "2023-02-30"
    orphan = list(cases[5]); orphan[col["case_id"]] = "JS209900000004"; orphan[col["person_id"]] = bad_person
    _write(region / "cases.csv", cases + [dup, unknown, early, bad_day, orphan])

    lines = _rows(region / "fee_items.csv")
    h = lines[0]
    col = {c: i for i, c in enumerate(h)}
    no_case = list(lines[1]); no_case[col["case_id"]] = "JSX0000000"           # UNKNOWN_CASE
    negative = list(lines[2]); negative[col["line_no"]] = "9001"; negative[col["amount"]] = "-1.00"
    zero_one = list(lines[1]); zero_one[col["line_no"]] = "0" + lines[1][col["line_no"]]  # = line 1: DUPLICATE_KEY
    wide = ",".join(lines[3]) + ",extra"                                       # BAD_ROW_SHAPE
    _write(region / "fee_items.csv", lines[:10] + [no_case, negative] + lines[10:] + [zero_one], (wide,))
    return region


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, spark):
    from yibao.engine.sparkload import load_region_spark  # noqa: PLC0415 - pyspark only in the Spark tests

    tmp = tmp_path_factory.mktemp("sparkload")
    region = bad_region(tmp)
    local = load_region(region, tmp / "ws")
    out = tmp / "parquet"
    remote = load_region_spark(region, out, spark)
    return local, remote, tmp / "ws", out, spark


def _quarantine_local(ws: Path) -> pa.Table:
    con = duckdb.connect(str(ws / "yibao.duckdb"), read_only=True)
    try:
        return con.sql("SELECT table_name, source_file, source_sha256, source_row, reason_code, reason_codes, message, "
                       "original FROM quarantine ORDER BY table_name, source_row").to_arrow_table()
    finally:
        con.close()


def test_counts_and_reasons_are_the_local_loaders(loaded) -> None:
    local, remote, *_ = loaded
    assert [t.line() for t in remote.tables] == [t.line() for t in local.tables]
    assert [t.reasons for t in remote.tables] == [t.reasons for t in local.tables]
    assert [t.example for t in remote.tables] == [t.example for t in local.tables]
    by = {t.table: t for t in remote.tables}
    assert by["fee_items"].read == by["fee_items"].accepted + by["fee_items"].quarantined
    # what was injected, as a person counts it: 1 id number; 5 cases (duplicate, unknown person, admitted before
    # birth, 30 February, the person whose id number was refused); 4 fee lines (unknown case, negative amount,
    # 01 = 1, a field too many) — plus the lines of the refused cases
    assert by["insured"].reasons == {"BAD_ID_NUMBER": 1}
    assert by["staff"].reasons == {"UNSAFE_CODE": 1}  # the local codes accepted: their format is not enforced
    assert by["cases"].quarantined == 5
    assert by["cases"].reasons == {"UNKNOWN_PERSON": 2, "ADMITTED_BEFORE_BIRTH": 1, "BAD_DATE": 1, "DUPLICATE_KEY": 1}
    assert {"UNKNOWN_CASE", "MONEY_NEGATIVE", "DUPLICATE_KEY", "BAD_ROW_SHAPE"} <= set(by["fee_items"].reasons)


def test_quarantine_is_the_local_loaders(loaded) -> None:
    _, _, ws, out, spark = loaded
    want = _quarantine_local(ws)
    got = spark.read.parquet(str(out / "quarantine")).select(*want.column_names) \
        .orderBy("table_name", "source_row").toArrow()
    assert got.num_rows == want.num_rows > 0
    for name in want.column_names:
        assert got.column(name).to_pylist() == want.column(name).to_pylist(), name


def test_accepted_rows_are_the_local_loaders(loaded) -> None:
    from yibao.engine.spark import SparkRunner  # noqa: PLC0415
    from yibao.engine.sparkload import arrow_of  # noqa: PLC0415

    _, _, ws, out, spark = loaded
    con = duckdb.connect(str(ws / "yibao.duckdb"), read_only=True)
    try:
        for name in KEEP:
            t = TABLES[name]
            order = ", ".join(t.key)
            want = con.sql(f"SELECT * FROM main.{name} ORDER BY {order}").to_arrow_table().cast(t.arrow_schema())
            got = arrow_of(SparkRunner(spark).parquet_table(out, name)).sort_by([(k, "ascending") for k in t.key])
            assert got.schema.equals(want.schema), name
            assert got.equals(want), name
    finally:
        con.close()


def test_parquet_layout(loaded) -> None:
    _, remote, _, out, _ = loaded
    months = sorted(p.name for p in (out / "cases").iterdir())
    assert months and all(m.startswith("settle_month=20") for m in months)
    assert (out / "fee_items").is_dir() and (out / "load.json").is_file() and (out / "manifest.json").is_file()
    assert not (out / "_staging").exists()
    assert remote.partitions == {"cases": "settle_month", "fee_items": "settle_month"}
