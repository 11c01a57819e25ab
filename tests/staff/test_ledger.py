"""The append-only ledger, the procedure, the exchange between regions, and the effect on settlement."""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest
from conftest import run_cli
from regions import write_region

from staff.helpers import repair, sanction, write_staff_region
from yibao.contract.derived import QUALIFICATION_PERIODS
from yibao.engine.loading import load_region
from yibao.staff.exchange import ExchangeError, export, import_file
from yibao.staff.ledger import LedgerError, ledger_events, open_ledger, sync_from_workspace
from yibao.staff.policy import load_policy
from yibao.staff.procedure import decide, notice, opinion, request_review
from yibao.staff.rules import status_as_of
from yibao.staff.settlement import withheld
from yibao.staff.sources import periods_from_dir

D = dt.date.fromisoformat
KEY = {"YIBAO_EXCHANGE_KEY": "test-network-key"}


def _ws(tmp_path, sanctions, repairs=None, name="ws"):
    region = write_staff_region(tmp_path / f"{name}-region", sanctions, repairs)
    load_region(region, tmp_path / name)
    return tmp_path / name


def _status(ws, staff_id: str, day: str) -> dict:
    st, _ = status_as_of(ledger_events(ws.con, staff_id), [staff_id], load_policy(), D(day))
    return st.to_pylist()[0]


# --------------------------------------------------------------------------- ledger

def test_sync_is_append_only_and_idempotent(tmp_path) -> None:
    path = _ws(tmp_path, [sanction("A", "2025-03-01", 9)])
    ws = open_ledger(path)
    try:
        assert sync_from_workspace(ws) == 3  # two registrations, one sanction
        assert sync_from_workspace(ws) == 0
        assert _status(ws, "S1", "2025-03-15")["status"] == "suspended"
    finally:
        ws.close()
    # a corrected sanction (other points) is a new event that supersedes the earlier one; nothing is updated
    write_staff_region(tmp_path / "ws-region", [sanction("A", "2025-03-01", 4)])
    load_region(tmp_path / "ws-region", path)
    ws = open_ledger(path)
    try:
        assert sync_from_workspace(ws) == 1
        kinds = ws.con.execute("SELECT points FROM staff_events WHERE ref_id = 'A' ORDER BY event_id").fetchall()
        assert kinds == [(9,), (4,)]
        assert _status(ws, "S1", "2025-03-15") == {"staff_id": "S1", "year_points": 4, "status": "active",
                                                   "suspended_until": None, "barred_until": None}
        # the state on a past date can still be asked of the record
        assert _status(ws, "S1", "2025-02-28")["year_points"] == 0
    finally:
        ws.close()


def test_record_command_prints_the_whole_record(tmp_path) -> None:
    path = _ws(tmp_path, [sanction("A", "2025-03-01", 9), sanction("B", "2025-03-20", 2)],
               [repair("R", "2025-04-01", reduced=1, shorten=10)])
    r = run_cli("staff", "record", "S1", "-w", path, "--as-of", "2025-04-15")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "一人一档" in out and "记分决定" in out and "修复" in out
    assert "暂停  2025-03-01 起，2025-06-10 恢复（依据 B）" in out
    assert "截至 2025-04-15：2025 年度记分 10 分，医保支付资格暂停，2025-06-10 恢复。" in out
    r = run_cli("staff", "record", "NOBODY", "-w", path)
    assert r.returncode == 2 and r.stderr.startswith("错误：") and "Traceback" not in r.stderr


def test_reregistration_only_after_the_bar(tmp_path) -> None:
    path = _ws(tmp_path, [sanction("A", "2025-01-10", 6), sanction("B", "2025-05-20", 6)])
    r = run_cli("staff", "register", "S1", "--institution", "H002", "--date", "2026-05-19", "-w", path)
    assert r.returncode == 2 and "2026-05-20 起方可再次登记备案" in r.stderr
    r = run_cli("staff", "register", "S1", "--institution", "H002", "--date", "2026-05-20", "-w", path)
    assert r.returncode == 0, r.stderr
    ws = open_ledger(path)
    try:
        assert _status(ws, "S1", "2026-05-19")["status"] == "terminated"
        assert _status(ws, "S1", "2026-05-20")["status"] == "active"
        per = periods_of(ws)
        # emergency_paid False: the emergency exception is for suspension only (seed 001; issue 13)
        assert per == [("S1", "terminated", D("2025-05-20"), D("2026-05-20"), "B", False)]
    finally:
        ws.close()


def periods_of(ws):
    from yibao.staff.sources import qualification_periods

    t = qualification_periods(ledger_events(ws.con), load_policy())
    assert t.schema.equals(QUALIFICATION_PERIODS)
    return [tuple(r.values()) for r in t.to_pylist()]


# --------------------------------------------------------------------------- procedure

def test_procedure_only_decided_sanctions_count(tmp_path) -> None:
    path = _ws(tmp_path, [sanction("A", "2025-01-10", 5)])
    pol = load_policy()
    ws = open_ledger(path)
    try:
        sync_from_workspace(ws)
        letter = notice(ws, pol, "N1", "S1", "H001", D("2025-03-01"), 4, "admin_penalty", "main",
                        facts="超量开药")
        assert "预先告知书" in letter and "2025年3月8日" in letter and "4 分" in letter and "甲医生" in letter
        assert _status(ws, "S1", "2025-03-05")["year_points"] == 5  # a notice does not score
        with pytest.raises(LedgerError, match="未满"):
            decide(ws, pol, "N1", D("2025-03-05"))
        with pytest.raises(LedgerError, match="不在告知日"):
            request_review(ws, "N1", D("2025-03-09"))
        request_review(ws, "N1", D("2025-03-08"), "认为责任认定有误")
        opinion(ws, "N1", D("2025-03-12"), "王专家", "用药符合诊疗规范的部分应予扣除")
        letter = decide(ws, pol, "N1", D("2025-03-15"), points=3, reason="部分用药合理")
        assert "复核结论：变更记分" in letter and "王专家" in letter and "记 **3 分**" in letter
        assert _status(ws, "S1", "2025-03-15")["year_points"] == 8
        with pytest.raises(LedgerError, match="已作出决定"):
            decide(ws, pol, "N1", D("2025-03-16"))
        # a cancelled finding never scores
        notice(ws, pol, "N2", "S1", "H001", D("2025-04-01"), 6, "admin_penalty", "secondary")
        request_review(ws, "N2", D("2025-04-02"))
        letter = decide(ws, pol, "N2", D("2025-04-10"), cancel=True)
        assert "撤销该项记分" in letter
        assert _status(ws, "S1", "2025-04-10")["year_points"] == 8
        with pytest.raises(LedgerError, match="没有责任的不记分"):
            notice(ws, pol, "N3", "S1", "H001", D("2025-04-01"), 6, "admin_penalty", "none")
        kinds = [r[0] for r in ws.con.execute(
            "SELECT kind FROM staff_events WHERE ref_id = 'N1' ORDER BY event_id").fetchall()]
        assert kinds == ["notice", "review_requested", "expert_opinion", "review_decided", "sanction"]
    finally:
        ws.close()


def test_procedure_commands_write_letters(tmp_path) -> None:
    path = _ws(tmp_path, [])
    r = run_cli("staff", "notice", "N9", "--staff", "S1", "--institution", "H001", "--date", "2025-05-01",
                "--points", "9", "--basis", "admin_penalty", "--responsibility", "main", "--letter", tmp_path / "out",
                "-w", path)
    assert r.returncode == 0, r.stderr
    assert "医保支付资格记分预先告知书" in (tmp_path / "out" / "预先告知书_N9.md").read_text(encoding="utf-8")
    r = run_cli("staff", "decide", "N9", "--date", "2025-05-09", "--letter", tmp_path / "out", "-w", path)
    assert r.returncode == 0, r.stderr
    assert "未申请复核" in (tmp_path / "out" / "记分决定书_N9.md").read_text(encoding="utf-8")
    r = run_cli("staff", "record", "S1", "-w", path, "--as-of", "2025-05-09")
    assert "医保支付资格暂停，2025-06-09 恢复" in r.stdout


# --------------------------------------------------------------------------- exchange

@pytest.fixture
def two_regions(tmp_path, monkeypatch):
    for k, v in KEY.items():
        monkeypatch.setenv(k, v)
    a = _ws(tmp_path, [sanction("A", "2025-03-01", 10)], name="a")
    b = _ws(tmp_path, [], name="b")
    open_ledger(b).close()
    ws = open_ledger(a)
    try:
        sync_from_workspace(ws)
        export(ws, load_policy(), tmp_path / "a.jsonl", "440200",
               created_at=dt.datetime(2025, 3, 2, tzinfo=dt.timezone.utc))
    finally:
        ws.close()
    return tmp_path / "a.jsonl", b


def _count(path) -> int:
    con = duckdb.connect(str(path / "yibao.duckdb"), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM staff_events").fetchall()[0][0]
    finally:
        con.close()


def test_a_suspension_elsewhere_applies_here_and_the_same_file_twice_changes_nothing(two_regions) -> None:
    file, b = two_regions
    ws = open_ledger(b)
    try:
        assert _status(ws, "S1", "2025-03-10")["status"] == "active"
        r1 = import_file(ws, load_policy(), file, "440300")
        assert (r1.records, r1.new_events, r1.already) == (1, 1, False)
        assert _status(ws, "S1", "2025-03-10") == {"staff_id": "S1", "year_points": 0, "status": "suspended",
                                                   "suspended_until": D("2025-05-01"), "barred_until": None}
        n = ws.con.execute("SELECT count(*) FROM staff_events").fetchall()[0][0]
        r2 = import_file(ws, load_policy(), file, "440300")
        assert r2.already and r2.new_events == 0
        assert ws.con.execute("SELECT count(*) FROM staff_events").fetchall()[0][0] == n
    finally:
        ws.close()
    r = run_cli("staff", "import", file, "-w", b, env=KEY)
    assert r.returncode == 0 and "已导入过，无变化" in r.stdout
    r = run_cli("staff", "status", "-w", b, "--as-of", "2025-03-10", "--out", b / "st.csv")
    assert r.returncode == 0, r.stderr
    assert "S1,0,suspended,2025-05-01," in (b / "st.csv").read_text(encoding="utf-8")


def test_a_tampered_exchange_file_is_refused_whole(two_regions, tmp_path) -> None:
    file, b = two_regions
    text = file.read_text(encoding="utf-8")
    tampered = tmp_path / "t.jsonl"
    tampered.write_text(text.replace('"until":"2025-05-01"', '"until":"2025-04-01"'), encoding="utf-8")
    before = _count(b)
    r = run_cli("staff", "import", tampered, "-w", b, env=KEY)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("错误：") and "校验值不符" in r.stderr
    assert _count(b) == before
    # malformed: a truncated file, a line that is not JSON, a wrong key
    (tmp_path / "cut.jsonl").write_text(text[: len(text) // 2], encoding="utf-8")
    (tmp_path / "bad.jsonl").write_text(text.replace('"status":"suspended"', '"status":suspended'), encoding="utf-8")
    for f, env, msg in [(tmp_path / "cut.jsonl", KEY, "截断"), (tmp_path / "bad.jsonl", KEY, "JSON"),
                        (file, {"YIBAO_EXCHANGE_KEY": "other"}, "校验值不符")]:
        r = run_cli("staff", "import", f, "-w", b, env=env)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, (f, r.stderr)
    assert _count(b) == before
    with pytest.raises(ExchangeError):
        ws = open_ledger(b)
        try:
            import_file(ws, load_policy(), tampered)
        finally:
            ws.close()


def test_a_newer_export_replaces_the_period(two_regions, tmp_path) -> None:
    file, b = two_regions
    a = tmp_path / "a"
    write_staff_region(tmp_path / "a-region", [sanction("A", "2025-03-01", 10)], [repair("R", "2025-03-05", shorten=30)])
    load_region(tmp_path / "a-region", a)
    ws = open_ledger(a)
    try:
        sync_from_workspace(ws)
        export(ws, load_policy(), tmp_path / "a2.jsonl", "440200", created_at=dt.datetime(2025, 3, 6, tzinfo=dt.timezone.utc))
    finally:
        ws.close()
    ws = open_ledger(b)
    try:
        import_file(ws, load_policy(), file)
        import_file(ws, load_policy(), tmp_path / "a2.jsonl")
        assert _status(ws, "S1", "2025-03-10")["suspended_until"] == D("2025-04-01")
        import_file(ws, load_policy(), tmp_path / "a2.jsonl")  # again: nothing
        assert ws.con.execute("SELECT count(*) FROM staff_events WHERE origin = '440200'").fetchall()[0][0] == 2
    finally:
        ws.close()


# --------------------------------------------------------------------------- settlement

def _cases(rows):
    return pa.table({
        "case_id": [r[0] for r in rows], "institution_id": ["H001"] * len(rows),
        "attending_staff_id": [r[1] for r in rows], "admit_date": pa.array([D(r[2]) for r in rows], pa.date32()),
        "emergency": pa.array([r[3] for r in rows], pa.bool_()),
        "fund_paid": pa.array([Decimal(r[4]) for r in rows], pa.decimal128(18, 2)),
        "settle_date": pa.array([D(r[2]) for r in rows], pa.date32()),
        "setting": ["inpatient"] * len(rows),
    })


def test_emergency_case_during_suspension_is_paid_and_a_non_emergency_one_is_not(tmp_path) -> None:
    periods = periods_from_dir(write_staff_region(tmp_path, [sanction("A", "2025-03-01", 9)]))
    assert [tuple(r.values()) for r in periods.to_pylist()] == [
        ("S1", "suspended", D("2025-03-01"), D("2025-04-01"), "A", True)]
    cases = _cases([
        ("C1", "S1", "2025-03-10", True, "1000.00"),    # emergency during the suspension: paid
        ("C2", "S1", "2025-03-10", False, "800.50"),    # not emergency: not paid
        ("C3", "S1", "2025-04-01", False, "300.00"),    # first day active again: paid
        ("C4", "S2", "2025-03-10", False, "200.00"),    # another attending doctor; one line by S1
    ])
    lines = pa.table({
        "case_id": ["C4", "C4", "C1"], "line_no": pa.array([1, 2, 1], pa.int32()), "staff_id": ["S1", "S2", "S1"],
        "service_date": pa.array([D("2025-03-11")] * 3, pa.date32()),
        "amount": pa.array([Decimal("50.25"), Decimal("20.00"), Decimal("99.00")], pa.decimal128(18, 2)),
    })
    detail, summary = withheld(duckdb.connect(), periods, cases=cases, fee_items=lines)
    # issue 13: the money effect is the person's own lines (seed 001: 暂停期内提供服务发生的医保费用不予结算) —
    # C2 is attended by S1 but has no line of S1: nothing withheld (it was the whole 800.50 before); C1's line by
    # S1 is an emergency during a suspension: paid; C4's line by S1 (50.25) is withheld, S2's line (20.00) paid
    assert [(r["case_id"], r["line_no"], r["amount"]) for r in detail.to_pylist()] == [("C4", 1, Decimal("50.25"))]
    assert [(r["institution_id"], r["year"], r["setting"], r["source"], r["amount"], r["findings"])
            for r in summary.to_pylist()] == [("H001", 2025, "inpatient", "staff_qualification", Decimal("50.25"), 1)]


# --------------------------------------------------------------------------- the contract command

def test_status_command_exactly_as_the_contract(tmp_path) -> None:
    region = write_staff_region(tmp_path / "r", [
        sanction("A", "2025-03-01", 9), sanction("B", "2025-03-02", 3, staff="S2", resp="none"),
        sanction("C", "2025-01-10", 12, staff="S2", fraud="1")])
    out = tmp_path / "s.csv"
    r = run_cli("staff", "status", "--data", region, "--as-of", "2025-03-15", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "STAFF_NO_RESPONSIBILITY" in r.stderr and "处理决定 B" in r.stderr
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [
        ["staff_id", "year_points", "status", "suspended_until", "barred_until"],
        ["S1", "9", "suspended", "2025-04-01", ""],
        ["S2", "12", "terminated", "", "2028-01-10"],
    ]


@pytest.mark.parametrize("args, msg", [
    (["--as-of", "2025-02-30"], "不是有效日期"),
    (["--as-of", "2025-03-01", "--data", "/nonexistent/dir"], "目录不存在"),
])
def test_status_command_errors_are_one_line(tmp_path, args, msg) -> None:
    region = write_staff_region(tmp_path / "r", [])
    full = ["staff", "status", "--data", region, "--out", tmp_path / "o.csv", *args]
    r = run_cli(*full)
    assert r.returncode == 2 and r.stderr.startswith("错误：") and msg in r.stderr and "Traceback" not in r.stderr


def test_status_command_reads_the_tiny_region_and_a_bad_staff_file(tmp_path) -> None:
    region = write_region(tmp_path / "r")
    r = run_cli("staff", "status", "--data", region, "--as-of", "2024-12-31", "--out", tmp_path / "o.csv")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o.csv").read_text(encoding="utf-8").splitlines()[1] == "D440203000001,4,active,,"
    (region / "staff.csv").write_bytes(b"\x00\x01binary")
    r = run_cli("staff", "status", "--data", region, "--as-of", "2024-12-31", "--out", tmp_path / "o.csv")
    assert r.returncode == 2 and "staff.csv" in r.stderr and "Traceback" not in r.stderr


def test_summary_for_make_demo(tmp_path) -> None:
    from yibao.staff import year_summary

    region = write_region(tmp_path / "r")
    rows = [sanction("S9", "2024-03-01", 3, staff="D440203000001")]  # 6 + 3 = 9
    with (region / "sanctions.csv").open("a", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    load_region(region, tmp_path / "ws")
    s = year_summary(tmp_path / "ws", 2024)
    # C0001 (2024-03-01, attending D440203000001, not emergency) is inside the suspension 03-01..04-01; issue 13:
    # only the person's own line is withheld (line 2, 阿莫西林胶囊 7.50 on 03-02), not the case's 9,000.25
    assert s == {"year": 2024, "suspended": 1, "terminated": 0, "withheld": Decimal("7.50")}
    assert year_summary(region, 2024)["withheld"] is None
    r = run_cli("staff", "summary", "--year", "2024", "-w", tmp_path / "ws")
    assert "暂停 1 人，终止 0 人" in r.stdout and "7.50 元" in r.stdout, r.stderr
    assert json.dumps(str(s["withheld"]))


# --------------------------------------------------------------------------- institutions

def test_institution_shares_and_notification_lists(tmp_path) -> None:
    staff = [
        ["S1", "甲医生", "1", "physician", "H001", "2020-01-01"],
        ["S2", "乙药师", "2", "pharmacist", "H001", "2020-01-01"],
        ["S3", "丙护士", "3", "nurse", "H001", "2020-01-01"],
        ["S4", "丁医生", "4", "physician", "H002", "2020-01-01"],
        ["S5", "戊医生", "5", "physician", "H001", "2026-01-01"],  # registered after the year: not counted
    ]
    region = write_staff_region(tmp_path / "r", [
        sanction("A", "2025-03-01", 9), sanction("B", "2025-05-01", 12, staff="S2"),
        sanction("C", "2024-12-20", 11, staff="S4", inst="H002")], staff=staff)
    load_region(region, tmp_path / "ws")
    out = tmp_path / "out"
    r = run_cli("staff", "institutions", "--year", "2025", "--out", out, "-w", tmp_path / "ws")
    assert r.returncode == 0, r.stderr
    with (out / "institution_shares.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = [(x["institution_id"], x["registered"], x["suspended"], x["terminated"], x["share"], x["flagged"])
                for x in csv.DictReader(f)]
    # H001: S1 suspended, S2 terminated of 3 registered; H002: S4's suspension runs into 2025 (until 2025-03-20)
    assert rows == [("H001", "3", "1", "1", "0.6667", "1"), ("H002", "1", "1", "0", "1.0000", "1")]
    with (out / "notification_list.csv").open(encoding="utf-8-sig", newline="") as f:
        lst = [(x["regulator"], x["staff_id"], x["status"], x["end_date"], x["year_points"]) for x in csv.DictReader(f)]
    assert lst == [("卫生健康部门", "S1", "暂停", "2025-04-01", "9"), ("卫生健康部门", "S4", "暂停", "2025-03-20", "0"),
                   ("药监部门", "S2", "终止", "", "12")]
    assert (out / "staff_institutions.xlsx").stat().st_size > 0


def test_ledger_commands_refuse_with_one_line(tmp_path) -> None:
    r = run_cli("staff", "record", "S1", "-w", tmp_path / "none")
    assert r.returncode == 2 and "工作区不存在" in r.stderr and not (tmp_path / "none").exists()
    path = _ws(tmp_path, [])
    r = run_cli("staff", "notice", "N1", "--staff", "NOBODY", "--institution", "H001", "--date", "2025-05-01",
                "--points", "3", "--basis", "admin_penalty", "--responsibility", "main", "-w", path)
    assert r.returncode == 2 and "不在人员表" in r.stderr and r.stderr.count("\n") == 1
    r = run_cli("staff", "repair", "R1", "--staff", "S1", "--date", "2025-05-01", "-w", path)
    assert r.returncode == 2 and "至少一项" in r.stderr


def test_unsigned_files_only_when_the_policy_allows(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("YIBAO_EXCHANGE_KEY", raising=False)
    a = _ws(tmp_path, [sanction("A", "2025-03-01", 9)], name="a")
    b = _ws(tmp_path, [], name="b")
    ws = open_ledger(a)
    try:
        sync_from_workspace(ws)
        r = export(ws, load_policy(), tmp_path / "u.jsonl", "440200")
        assert not r.signed and '"alg":"SHA-256"' in (tmp_path / "u.jsonl").read_text(encoding="utf-8")
    finally:
        ws.close()
    pol_file = tmp_path / "p.toml"
    pol_file.write_text("[exchange]\nallow_unsigned = true\n", encoding="utf-8")
    env = {"YIBAO_EXCHANGE_KEY": ""}
    r = run_cli("staff", "import", tmp_path / "u.jsonl", "-w", b, env=env)
    assert r.returncode == 2 and "未签名" in r.stderr
    r = run_cli("staff", "import", tmp_path / "u.jsonl", "-w", b, "--policy", pol_file, env=env)
    assert r.returncode == 0 and "新增事件 1 条" in r.stdout, r.stderr


def test_status_command_reports_bad_rows_and_goes_on(tmp_path) -> None:
    region = write_staff_region(tmp_path / "r", [sanction("A", "2025-02-30", 9), sanction("B", "2025-03-01", 9),
                                                 sanction("C", "2025-03-01", 9, staff="NOBODY")])
    r = run_cli("staff", "status", "--data", region, "--as-of", "2025-03-01", "--out", tmp_path / "o.csv")
    assert r.returncode == 0, r.stderr
    assert "sanctions 第 1 行 [BAD_DATE]" in r.stderr and "sanctions 第 3 行 [UNKNOWN_STAFF]" in r.stderr
    assert "S1,9,suspended,2025-04-01," in (tmp_path / "o.csv").read_text(encoding="utf-8")


def test_periods_from_workspace_include_imported_periods(two_regions) -> None:
    import yibao.staff as staff

    file, b = two_regions
    assert staff.periods_from_workspace(b).num_rows == 0
    ws = open_ledger(b)
    try:
        import_file(ws, load_policy(), file)
    finally:
        ws.close()
    t = staff.periods_from_workspace(b)
    assert t.schema.equals(QUALIFICATION_PERIODS)
    assert [tuple(r.values()) for r in t.to_pylist()] == [
        ("S1", "suspended", D("2025-03-01"), D("2025-05-01"), "440200:suspended:S1:2025-03-01", True)]
