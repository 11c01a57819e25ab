"""Loading: every kind of bad row is quarantined with its reason; fatal files change nothing."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import duckdb
import pytest
from conftest import TESTS, run_cli
from regions import ROWS, write_region

from yibao.contract.schema import TABLES
from yibao.engine.loading import load_region

BROKEN = TESTS / "data" / "broken"


def snapshot(ws: Path) -> str:
    """A digest of every table in the workspace: equal digests = identical state."""
    con = duckdb.connect(str(ws / "yibao.duckdb"), read_only=True)
    try:
        h = hashlib.sha256()
        for name in [*TABLES, "quarantine", "loads", "load_files", "events"]:
            rows = con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall()
            h.update(f"{name}:{rows!r}".encode())
        return h.hexdigest()
    finally:
        con.close()


def query(ws: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(ws / "yibao.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def loaded(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    load_region(write_region(tmp_path / "region"), ws)
    return ws


def test_tiny_region_loads_clean_with_exact_money(loaded: Path) -> None:
    counts = dict(query(loaded, "SELECT table_name, accepted FROM load_files"))
    assert counts == {"institutions": 4, "insured": 3, "staff": 3, "catalog": 3, "cases": 3,
                      "fee_items": 3, "sanctions": 1, "repairs": 1}
    # 12000.50 + 150.00 + 23000.00 by hand
    assert query(loaded, "SELECT sum(total_cost)::VARCHAR, typeof(sum(total_cost)) FROM cases") == [
        ("35150.50", "DECIMAL(38,2)")]
    assert query(loaded, "SELECT secondary_dx, procedures, emergency FROM cases WHERE case_id='C0001'") == [
        (["I10.x00", "E11.900"], ["51.2300"], False)]
    assert query(loaded, "SELECT count(*) FROM quarantine") == [(0,)]


def test_broken_rows_each_get_their_reason(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    report = load_region(BROKEN / "rows", ws)
    by_table = {t.table: t for t in report.tables}
    expected = list(csv.DictReader((BROKEN / "rows_expected.csv").open(encoding="utf-8")))
    got = {(t, r): (code, codes) for t, r, code, codes in query(
        ws, "SELECT table_name, source_row, reason_code, reason_codes FROM quarantine")}
    for e in expected:
        key = (e["table"], int(e["source_row"]))
        assert key in got, f"row not quarantined: {key} ({e['reason_code']})"
        assert got[key][0] == e["reason_code"], (key, got[key])
    assert len(got) == len(expected), "only the listed rows are quarantined"
    # read = accepted + quarantined, per table, printed and stored
    for t in report.tables:
        assert t.read == t.accepted + t.quarantined
    assert (by_table["cases"].read, by_table["cases"].accepted, by_table["cases"].quarantined) == (18, 3, 15)
    assert (by_table["fee_items"].read, by_table["fee_items"].accepted, by_table["fee_items"].quarantined) == (8, 4, 4)
    stored = query(ws, "SELECT table_name, read, accepted, quarantined FROM load_files ORDER BY 1")
    assert all(r == a + q for _, r, a, q in stored)


def test_encodings_and_formats_detected(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    report = {t.table: t for t in load_region(BROKEN / "rows", ws).tables}
    assert report["cases"].encoding == "gb18030"
    assert report["insured"].encoding == "utf-8-sig"
    assert report["catalog"].encoding == "xlsx"
    assert report["fee_items"].encoding == "parquet"
    # GBK text decoded: the original Chinese value is kept in the quarantine
    original = json.loads(query(ws, "SELECT original FROM quarantine WHERE reason_code = 'BAD_TYPE' "
                                    "AND table_name = 'cases'")[0][0])
    assert original["age_years"] == "三十"
    assert query(ws, "SELECT name FROM insured WHERE person_id = 'P0001'") == [("张伟",)]


def test_messages_name_column_and_evidence(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    load_region(BROKEN / "rows", ws)
    msgs = dict(query(ws, "SELECT reason_code, message FROM quarantine WHERE table_name = 'cases'"))
    assert msgs["MONEY_TOO_MANY_DECIMALS"] == "统筹基金支付（fund_paid）「12.345」：金额小数超过两位"
    assert msgs["DISCHARGE_BEFORE_ADMISSION"] == "出院日期早于入院日期：出院日期 2024-04-02 早于入院日期 2024-04-05"
    assert msgs["UNKNOWN_PERSON"] == "医保编号（person_id）「P9999」：参保人不存在"
    assert "BAD_ROW_SHAPE" in msgs and "应为 23 个，实际 4 个" in msgs["BAD_ROW_SHAPE"]
    dup = query(ws, "SELECT message FROM quarantine WHERE table_name='institutions' AND reason_code='DUPLICATE_KEY'")
    assert dup == [("主键重复（同一批次中已有相同主键的行，保留首行）：institution_id=「H001」，首次出现于第 1 行",)]


def test_amount_mismatch_is_not_a_load_error(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    load_region(BROKEN / "rows", ws)
    assert query(ws, "SELECT quantity::VARCHAR, unit_price::VARCHAR, amount::VARCHAR FROM fee_items "
                     "WHERE case_id='C0002' AND line_no=4") == [("3.0000", "1.25", "9.99")]


def test_load_twice_does_not_duplicate(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    load_region(BROKEN / "rows", ws)
    first = query(ws, "SELECT (SELECT count(*) FROM cases), (SELECT count(*) FROM fee_items), "
                      "(SELECT count(*) FROM quarantine)")
    report = load_region(BROKEN / "rows", ws)
    assert query(ws, "SELECT (SELECT count(*) FROM cases), (SELECT count(*) FROM fee_items), "
                     "(SELECT count(*) FROM quarantine)") == first == [(3, 4, 33)]
    assert {t.table: t.replaced for t in report.tables}["cases"] == 3
    assert query(ws, "SELECT count(*) FROM loads") == [(2,)]


def test_resubmitted_case_replaces_old_version(tmp_path: Path, loaded: Path) -> None:
    rows = {k: [list(r) for r in v] for k, v in ROWS.items()}
    rows["cases"][1][18] = "160.00"  # C0002 total_cost corrected
    report = load_region(write_region(tmp_path / "fix", {"cases": rows["cases"]}), loaded)
    assert [(t.table, t.inserted, t.replaced) for t in report.tables] == [("cases", 0, 3)]
    assert query(loaded, "SELECT total_cost::VARCHAR FROM cases WHERE case_id='C0002'") == [("160.00",)]


@pytest.mark.parametrize("name, needle", [
    ("fatal_wrong_columns", "缺少必需列 case_id"),
    ("fatal_binary", "不是文本文件"),
    ("fatal_encoding", "第 25 字节处 (0xFF) 不是合法 UTF-8"),
    ("fatal_truncated_parquet", "无法读取 Parquet 文件"),
    ("fatal_bad_xlsx", "无法读取 Excel 文件"),
    ("fatal_two_formats", "有多个文件"),
])
def test_fatal_file_one_line_error_and_workspace_unchanged(name: str, needle: str, loaded: Path) -> None:
    before = snapshot(loaded)
    r = run_cli("load", BROKEN / name, "--workspace", loaded)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("错误：") and needle in lines[0]
    assert "Traceback" not in r.stderr
    assert str(BROKEN / name) in lines[0]
    assert snapshot(loaded) == before


def test_missing_directory_is_one_line(tmp_path: Path) -> None:
    r = run_cli("load", tmp_path / "nope", "--workspace", tmp_path / "ws")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "目录不存在" in r.stderr
    assert not (tmp_path / "ws").exists()


def test_crash_mid_load_leaves_previous_state(tmp_path: Path, loaded: Path) -> None:
    """A process killed inside the load transaction (after staging cases) changes nothing."""
    before = snapshot(loaded)
    r = run_cli("load", BROKEN / "rows", "--workspace", loaded, env={"YIBAO_FAULT_AFTER_TABLE": "cases"})
    assert r.returncode == 86
    assert snapshot(loaded) == before
    # and the workspace is still usable afterwards
    assert run_cli("load", BROKEN / "rows", "--workspace", loaded).returncode == 0


def test_interrupt_rolls_back(tmp_path: Path, loaded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yibao.engine.loading as loading

    before = snapshot(loaded)
    real = loading.validate

    def interrupted(con, raw, refs, load_id=0, prefix="stage"):
        if raw.schema.name == "fee_items":
            raise KeyboardInterrupt
        return real(con, raw, refs, load_id, prefix)

    monkeypatch.setattr(loading, "validate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_region(BROKEN / "rows", loaded)
    assert snapshot(loaded) == before


def test_cli_prints_read_accepted_quarantined_per_table(tmp_path: Path) -> None:
    r = run_cli("load", BROKEN / "rows", "--workspace", tmp_path / "ws")
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("cases "))
    assert line.split() == ["cases", "read", "18", "accepted", "3", "quarantined", "15"]


def test_quarantine_export_for_sending_back(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    load_region(BROKEN / "rows", ws)
    out = tmp_path / "q.csv"
    r = run_cli("quarantine", "--workspace", ws, "--table", "cases", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "MONEY_TOO_MANY_DECIMALS" in r.stdout and "金额小数超过两位" in r.stdout
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert len(rows) == 15 and rows[0].keys() >= {"行号", "原因代码", "原因说明", "原始内容"}
    assert json.loads(next(x for x in rows if x["原因代码"] == "BAD_TYPE")["原始内容"])["age_years"] == "三十"
