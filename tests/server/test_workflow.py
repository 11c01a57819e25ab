"""The findings workflow (issue 16 §1): working days and the holiday calendar, appeal deadlines, the lazy
finalize, investigation, the workbench's filters and paging, bulk decisions, the deductions of record."""

from __future__ import annotations

import csv
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from yibao.server.app import Settings, create_app
from yibao.store import audit
from yibao.store import findings as fnd
from yibao.store.schema import finding_transitions, findings
from yibao.store.workdays import HOLIDAYS_FILE, china_date, load_calendar

from .conftest import F_H001_REJECT, F_H001_WARN, F_H002_REJECT, PASSWORD, ROLE_USER

ROLES = ("admin", "agency", "supervisor", "hospital", "auditor")


# --- working days ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("start,n,expected", [
    ("2026-12-03", 10, "2026-12-17"),  # Thu + 10: two plain weeks
    ("2026-12-04", 1, "2026-12-07"),   # Fri + 1: over the weekend
    ("2025-09-26", 1, "2025-09-28"),   # Fri + 1: Sunday 28 September 2025 is a make-up working day (调休)
    ("2025-09-30", 1, "2025-10-09"),   # National Day and Mid-Autumn 1–8 October 2025 are off
    ("2025-09-30", 2, "2025-10-10"),
    ("2025-10-10", 1, "2025-10-11"),   # Saturday 11 October 2025 is worked
    ("2026-02-13", 1, "2026-02-14"),   # Saturday 14 February 2026 is worked (Spring Festival)
    ("2026-02-14", 1, "2026-02-24"),   # Spring Festival 15–23 February 2026 is off
    ("2026-02-24", 4, "2026-02-28"),   # 25, 26, 27, then Saturday 28 (worked)
    ("2026-05-01", 0, "2026-05-01"),
    ("2024-12-31", 1, "2025-01-02"),   # New Year's Day 2025 off
])
def test_working_days_counted_by_hand(start, n, expected):
    assert load_calendar().add_working_days(date.fromisoformat(start), n) == date.fromisoformat(expected)


def test_the_holiday_file_lists_only_days_that_change_and_names_its_source():
    rows = list(csv.DictReader(HOLIDAYS_FILE.open(encoding="utf-8-sig")))
    cal = load_calendar()
    assert cal.years == {2023, 2024, 2025, 2026}
    for r in rows:
        d = date.fromisoformat(r["date"])
        assert (r["kind"] == "holiday") == (d.weekday() < 5), r  # a holiday on a weekday, a make-up day on a weekend
        assert r["source"].startswith(f"国务院办公厅关于{d.year}年部分节假日安排的通知"), r
    # weekday holidays 2023: 元旦 1, 春节 5, 清明 1, 劳动节 3, 端午 2, 中秋国庆 6 = 18; make-up days 7
    # weekday holidays 2024: 元旦 1, 春节 5, 清明 2, 劳动节 3, 端午 1, 中秋 2, 国庆 5 = 19; make-up days 8
    # weekday holidays 2025: 元旦 1, 春节 6, 清明 1, 劳动节 3, 端午 1, 国庆中秋 6 = 18; make-up days 5
    # weekday holidays 2026: 元旦 2, 春节 6, 清明 1, 劳动节 3, 端午 1, 中秋 1, 国庆 5 = 19; make-up days 6
    for year in (2023, 2024, 2025, 2026):
        days = [date(year, 1, 1) + timedelta(i) for i in range(366) if (date(year, 1, 1) + timedelta(i)).year == year]
        weekend = sum(d.weekday() >= 5 for d in days)
        hol = sum(r["kind"] == "holiday" for r in rows if r["date"].startswith(str(year)))
        work = sum(r["kind"] == "workday" for r in rows if r["date"].startswith(str(year)))
        assert sum(cal.is_working_day(d) for d in days) == len(days) - weekend - hol + work
    assert sum(cal.is_working_day(date(2025, 1, 1) + timedelta(i)) for i in range(365)) == 365 - 104 - 18 + 5
    for year, hol, work in ((2023, 18, 7), (2024, 19, 8)):
        assert sum(r["kind"] == "holiday" for r in rows if r["date"].startswith(str(year))) == hol
        assert sum(r["kind"] == "workday" for r in rows if r["date"].startswith(str(year))) == work
    assert sum(cal.is_working_day(date(2024, 1, 1) + timedelta(i)) for i in range(366)) == 366 - 104 - 19 + 8
    assert sum(r["kind"] == "holiday" for r in rows if r["date"].startswith("2025")) == 18
    assert sum(r["kind"] == "workday" for r in rows if r["date"].startswith("2025")) == 5
    assert sum(r["kind"] == "holiday" for r in rows if r["date"].startswith("2026")) == 19
    assert sum(r["kind"] == "workday" for r in rows if r["date"].startswith("2026")) == 6


def test_new_findings_get_the_appeal_deadline_of_their_publication(store):
    f = fnd.get(store, F_H001_REJECT)
    with store.begin() as con:
        published = con.execute(select(findings.c.published_at).where(findings.c.finding_id == F_H001_REJECT)).scalar()
    expected = load_calendar().add_working_days(china_date(published), fnd.WORKFLOW_POLICY.appeal_working_days)
    assert f["deadline"] == expected.isoformat() and fnd.WORKFLOW_POLICY.appeal_working_days == 10
    # C0001 (tests/regions.py): inpatient, department 0301, attending doctor D440203000001
    assert (f["setting"], f["dept_code"], f["staff_id"]) == ("inpatient", "0301", "D440203000001")
    assert fnd.get(store, F_H002_REJECT)["setting"] == "outpatient"


def test_a_line_finding_names_the_lines_staff_when_the_lines_are_given(store, workspace):
    from .conftest import review_result

    res = review_result(workspace)
    fnd.record_run(store, res.findings, res.cases, workspace=str(workspace), rules_digest="t", started_at="t",
                   actor="t", cases=2, lines_tbl=res.lines)
    assert fnd.get(store, F_H001_REJECT)["staff_id"] == "D440203000002"   # C0001 line 1 (床位费)
    assert fnd.get(store, F_H001_WARN)["staff_id"] == "D440203000001"     # case-level: the attending doctor


def _set(store, finding_id, status, deadline="2026-12-17"):
    with store.begin() as con:
        con.execute(update(findings).where(findings.c.finding_id == finding_id)
                    .values(status=status, deadline=deadline, investigation_deadline=None, version=1))


# --- the lazy finalize --------------------------------------------------------------------------------------

def test_a_finding_not_appealed_by_its_deadline_becomes_final_as_it_is(store):
    for fid in (F_H001_REJECT, F_H001_WARN, F_H002_REJECT):
        _set(store, fid, "open")
    _set(store, F_H002_REJECT, "appealed")
    assert fnd.finalize_due(store, date(2026, 12, 17)) == []          # on the deadline day: still open
    done = fnd.finalize_due(store, date(2026, 12, 18))
    assert done == sorted([F_H001_REJECT, F_H001_WARN])              # the appealed one stays appealed
    assert [fnd.get(store, f)["status"] for f in (F_H001_REJECT, F_H001_WARN, F_H002_REJECT)] == \
        ["final", "final", "appealed"]
    assert fnd.finalize_due(store, date(2026, 12, 18)) == []          # nothing twice
    ev = audit.events(store, 2)
    assert {(e["actor"], e["action"]) for e in ev} == {("system", "finding.finalize.deadline")}
    assert {e["object"] for e in ev} == {f"finding:{F_H001_REJECT}", f"finding:{F_H001_WARN}"}
    assert audit.verify(store).ok
    with store.begin() as con:
        t = con.execute(select(finding_transitions).where(finding_transitions.c.finding_id == F_H001_REJECT)) \
            .mappings().one()
    assert (t["from_status"], t["to_status"]) == ("open", "final") and "2026-12-17" in t["reason"]


def test_investigation_has_its_own_deadline_then_a_decision(store):
    _set(store, F_H001_REJECT, "appealed")
    out = fnd.transition(store, F_H001_REJECT, "investigate", actor="super1", role="supervisor",
                         institution_id=None, reason="调取病历核实", today=date(2026, 9, 18))
    # 20 working days from Fri 18 Sep 2026: Sun 20 Sep is worked, 25 Sep and 1–7 Oct are off, Sat 10 Oct worked
    assert out["status"] == "investigation" and out["investigation_deadline"] == "2026-10-22"
    out = fnd.transition(store, F_H001_REJECT, "overturn", actor="super1", role="supervisor", institution_id=None,
                         reason="核实无误", today=date(2026, 10, 30))
    assert out["status"] == "overturned"
    _set(store, F_H002_REJECT, "open")
    with pytest.raises(fnd.TransitionRefused) as exc:
        fnd.transition(store, F_H002_REJECT, "investigate", actor="super1", role="supervisor", institution_id=None,
                       reason="r", today=date(2026, 12, 10), deadline=date(2026, 12, 1))
    assert exc.value.status == 422


# --- the state machine over HTTP: status × action × role × before/after the deadline -------------------------

ALLOWED = {  # (action, from status) → (to status, roles); the same table as test_store.ALLOWED
    ("appeal", "open"): ("appealed", {"hospital"}),
    ("uphold", "open"): ("upheld", {"supervisor"}), ("uphold", "appealed"): ("upheld", {"supervisor"}),
    ("uphold", "investigation"): ("upheld", {"supervisor"}),
    ("overturn", "open"): ("overturned", {"supervisor"}), ("overturn", "appealed"): ("overturned", {"supervisor"}),
    ("overturn", "investigation"): ("overturned", {"supervisor"}),
    ("finalize", "open"): ("final", {"supervisor", "agency"}), ("finalize", "upheld"): ("final", {"supervisor", "agency"}),
    ("investigate", "open"): ("investigation", {"supervisor"}),
    ("investigate", "appealed"): ("investigation", {"supervisor"}),
}
ACTION_ROLES = {"appeal": {"hospital"}, "uphold": {"supervisor"}, "overturn": {"supervisor"},
                "finalize": {"supervisor", "agency"}, "investigate": {"supervisor"}}
REQUEST = {"appeal": ("appeal", {"reason": "申诉理由"}),
           "uphold": ("decision", {"decision": "upheld", "reason": "维持"}),
           "overturn": ("decision", {"decision": "overturned", "reason": "撤销"}),
           "finalize": ("finalize", {"reason": "终结"}),
           "investigate": ("investigation", {"reason": "调查核实"})}
BEFORE, AFTER = date(2026, 12, 17), date(2026, 12, 18)  # the deadline day itself, and the day after


def expected(start: str, action: str, role: str, when: str) -> tuple[int, str]:
    """(HTTP status, status afterwards). After the appeal deadline an open finding is final as it is (for a
    role that may act at all: a 403 changes nothing), so every action on it is then refused with 409."""
    if role not in ACTION_ROLES[action]:
        return 403, start
    if start == "open" and when == "after":
        return 409, "final"
    if (action, start) in ALLOWED:
        return 200, ALLOWED[(action, start)][0]
    return 409, start


TABLE = [(s, a, r, w) for s in fnd.STATUSES for a in REQUEST for r in ROLES for w in ("before", "after")]

# A few rows written out by hand (they must agree with the rule above).
HAND = {("open", "appeal", "hospital", "before"): (200, "appealed"),
        ("open", "appeal", "hospital", "after"): (409, "final"),
        ("open", "appeal", "supervisor", "after"): (403, "open"),
        ("appealed", "uphold", "supervisor", "after"): (200, "upheld"),
        ("investigation", "overturn", "supervisor", "before"): (200, "overturned"),
        ("investigation", "appeal", "hospital", "before"): (409, "investigation"),
        ("upheld", "finalize", "agency", "after"): (200, "final"),
        ("overturned", "finalize", "agency", "before"): (409, "overturned"),
        ("final", "overturn", "supervisor", "before"): (409, "final"),
        ("open", "finalize", "agency", "after"): (409, "final"),
        ("open", "uphold", "hospital", "before"): (403, "open")}


def test_the_hand_rows_agree_with_the_table():
    assert len(TABLE) == 6 * 5 * 5 * 2
    assert {k: expected(*k) for k in HAND} == HAND
    assert {(a, s): (to, r) for (a, s), (to, r) in ALLOWED.items()} == \
        {(t.action, s): (t.to_status, set(t.roles)) for t in fnd.TRANSITIONS for s in t.from_statuses}


def test_state_machine_over_http(store, workspace):
    day = {"today": BEFORE}
    app = create_app(Settings(store=store, workspace=workspace, today=lambda: day["today"]))
    got, want = {}, {}
    with TestClient(app) as c:
        heads = {r: {"Authorization": "Bearer " + c.post("/api/login", json={
            "username": ROLE_USER[r], "password": PASSWORD}).json()["token"]} for r in ROLES}
        for start, action, role, when in TABLE:
            _set(store, F_H001_REJECT, start)
            day["today"] = BEFORE if when == "before" else AFTER
            path, body = REQUEST[action]
            r = c.post(f"/api/findings/{F_H001_REJECT}/{path}", json=body, headers=heads[role])
            got[(start, action, role, when)] = (r.status_code, fnd.get(store, F_H001_REJECT)["status"])
            want[(start, action, role, when)] = expected(start, action, role, when)
            if r.status_code == 200:
                assert r.json()["status"] == got[(start, action, role, when)][1]
            if (start, action, role, when) == ("open", "appeal", "hospital", "after"):
                assert r.json()["error"]["code"] == "deadline_passed" and "申诉期限 2026-12-17 已过" in \
                    r.json()["error"]["message"]
    assert got == want


# --- the workbench ------------------------------------------------------------------------------------------

@pytest.fixture
def client(store, workspace):
    app = create_app(Settings(store=store, workspace=workspace, today=lambda: date(2026, 12, 3)))
    with TestClient(app) as c:
        yield c


def bearer(c, role):
    return {"Authorization": "Bearer " + c.post("/api/login", json={"username": ROLE_USER[role],
                                                                    "password": PASSWORD}).json()["token"]}


def test_workbench_filters_and_paging(client):
    h = bearer(client, "supervisor")

    def ids(q):
        r = client.get("/api/findings" + q, headers=h)
        assert r.status_code == 200, r.text
        return r.json()["total"], [f["finding_id"] for f in r.json()["findings"]]

    total, every = ids("")
    assert total == 3 and set(every) == {F_H001_REJECT, F_H001_WARN, F_H002_REJECT}
    assert ids("?rule_id=L05") == (2, sorted([F_H001_REJECT, F_H002_REJECT], key=every.index))
    assert ids("?institution_id=H002") == (1, [F_H002_REJECT])
    assert ids("?min_amount=200") == (2, [f for f in every if f != F_H002_REJECT])       # 200.00 and 9000.25
    assert ids("?min_amount=3.75&max_amount=200.00") == (2, [f for f in every if f != F_H001_WARN])
    assert ids("?max_amount=3.74") == (0, [])
    assert ids("?status=open&limit=1") == (3, every[:1])
    assert ids("?limit=2&offset=2") == (3, every[2:])
    assert ids("?status=investigation") == (0, [])
    one = client.get("/api/findings?rule_id=L05&institution_id=H001", headers=h).json()["findings"][0]
    assert ids(f"?dept_code={one['dept_code']}")[0] >= 1 and ids("?dept_code=NO-SUCH-DEPT") == (0, [])
    assert ids(f"?staff_id={one['staff_id']}")[0] >= 1 and ids("?staff_id=NO-SUCH-STAFF") == (0, [])
    for bad in ("?min_amount=abc", "?max_amount=1.234", "?limit=0", "?offset=-1", "?status=closed"):
        r = client.get("/api/findings" + bad, headers=h)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", bad
    hosp = bearer(client, "hospital")  # a hospital's filters stay inside its own institution
    r = client.get("/api/findings?rule_id=L05", headers=hosp).json()
    assert r["total"] == 1 and [f["finding_id"] for f in r["findings"]] == [F_H001_REJECT]


def test_bulk_decisions_with_one_reason_audited_per_finding(client, store):
    fnd.transition(store, F_H002_REJECT, "overturn", actor="super1", role="supervisor", institution_id=None,
                   reason="r", today=date(2026, 12, 3))
    body = {"finding_ids": [F_H001_REJECT, F_H001_WARN, F_H002_REJECT, "FNOSUCH"], "decision": "upheld",
            "reason": "证据充分，维持初审"}
    for role in ("admin", "agency", "hospital", "auditor"):
        assert client.post("/api/findings/decisions", json=body, headers=bearer(client, role)).status_code == 403
    r = client.post("/api/findings/decisions", json=body, headers=bearer(client, "supervisor"))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["applied"] == 2 and [f["finding_id"] for f in out["findings"]] == [F_H001_REJECT, F_H001_WARN]
    assert [(x["finding_id"], x["code"]) for x in out["refused"]] == [(F_H002_REJECT, "conflict"),
                                                                      ("FNOSUCH", "not_found")]
    assert fnd.get(store, F_H001_REJECT)["status"] == fnd.get(store, F_H001_WARN)["status"] == "upheld"
    ev = [e for e in audit.events(store, 5) if e["action"] == "finding.uphold"]
    assert sorted(e["object"] for e in ev) == sorted([f"finding:{F_H001_REJECT}", f"finding:{F_H001_WARN}"])
    assert all(e["actor"] == "super1" and "证据充分，维持初审" in e["detail"] for e in ev)
    assert client.post("/api/findings/decisions", json={**body, "finding_ids": []},
                       headers=bearer(client, "supervisor")).status_code == 422


# --- deductions of record -----------------------------------------------------------------------------------

def test_deductions_of_record_count_upheld_and_final_only(store):
    assert fnd.deduction_rows(store, 2024) == []   # all open: nothing deducted yet
    d = fnd.deductions(store, "H001", 2024)
    assert (d["total"], d["deducted"], d["pending"]) == ("200.00", "0.00", "200.00")
    fnd.transition(store, F_H001_REJECT, "uphold", actor="s", role="supervisor", institution_id=None, reason="r",
                   today=date(2026, 12, 3))
    fnd.transition(store, F_H001_WARN, "uphold", actor="s", role="supervisor", institution_id=None, reason="r",
                   today=date(2026, 12, 3))  # a warning is never money deducted
    fnd.transition(store, F_H002_REJECT, "appeal", actor="h", role="hospital", institution_id="H002", reason="r",
                   today=date(2026, 12, 3))
    assert fnd.deduction_rows(store, 2024) == [{"institution_id": "H001", "year": 2024, "setting": "inpatient",
                                                "source": "review_of_record", "amount": "200.00", "findings": 1}]
    fnd.transition(store, F_H002_REJECT, "investigate", actor="s", role="supervisor", institution_id=None,
                   reason="r", today=date(2026, 12, 3))
    assert len(fnd.deduction_rows(store, 2024)) == 1  # investigation: not yet
    fnd.transition(store, F_H002_REJECT, "uphold", actor="s", role="supervisor", institution_id=None, reason="r",
                   today=date(2026, 12, 3))
    assert [(r["institution_id"], r["amount"]) for r in fnd.deduction_rows(store, 2024)] == \
        [("H001", "200.00"), ("H002", "3.75")]
    assert fnd.deduction_rows(store, 2025) == []
    assert fnd.deductions(store, "H002", 2024)["deducted"] == "3.75"


def test_cli_finalize_and_deductions(store, workspace, store_url, tmp_path):
    from .test_serve import cli

    store_opt = ("--store", store_url) if store_url else ()
    _set(store, F_H001_REJECT, "open", "2026-12-17")
    _set(store, F_H001_WARN, "open", "2026-12-17")
    _set(store, F_H002_REJECT, "appealed", "2026-12-17")
    r = cli("findings", "finalize", "--workspace", workspace, *store_opt, "--as-of", "2026-12-17")
    assert r.returncode == 0 and "已终结 0 条疑点" in r.stdout, r.stderr
    r = cli("findings", "finalize", "--workspace", workspace, *store_opt, "--as-of", "2026-12-18")
    assert r.returncode == 0 and "已终结 2 条疑点" in r.stdout, r.stderr
    out = tmp_path / "ded.csv"
    r = cli("findings", "deductions", "--workspace", workspace, *store_opt, "--year", "2024", "--out", out,
            "--as-of", "2026-12-18")
    assert r.returncode == 0, r.stderr
    assert "扣款合计 200.00 元" in r.stdout
    text = out.read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")
    assert text.decode("utf-8-sig").splitlines() == ["institution_id,year,setting,source,amount,findings",
                                                     "H001,2024,inpatient,review_of_record,200.00,1"]
    from yibao.settle.deductions import read_deductions
    assert [(d.institution_id, d.year, d.setting, str(d.amount)) for d in read_deductions(out)] == \
        [("H001", 2024, "inpatient", "200.00")]
    r = cli("findings", "finalize", "--workspace", workspace, *store_opt, "--as-of", "18/12/2026")
    assert r.returncode == 2 and "YYYY-MM-DD" in r.stderr


@pytest.mark.slow
def test_overturning_one_finding_reduces_its_institutions_dip_deduction_by_its_amount(tmp_path):
    """On a synthetic region (settlement year 2025): review → findings of record; every reject finding upheld
    but one, F, appealed; the store copied; F upheld in one, overturned in the other; each store's deductions
    exported and settled with ``dip settle --deductions``. F's institution's 审核扣款 differs by exactly F's
    amount, the others' not at all, and the upheld run deducts the institution's 2025 inpatient rejects in full."""
    import shutil
    from decimal import Decimal

    from regions import generated_workspace

    from yibao.store.db import open_store

    from .test_serve import cli

    ws = generated_workspace(tmp_path, seed=3, cases=2000)  # 24 inpatient reject findings settled in 2025
    for args in (("dip", "build", "-w", ws, "--out", tmp_path / "cat"),
                 ("dip", "score", "-w", ws, "--catalogue", tmp_path / "cat", "--out", tmp_path / "s"),
                 ("review", "--workspace", ws, "--out", tmp_path / "rev")):
        r = cli(*args)
        assert r.returncode == 0, r.stderr
    assert "已记入记录库" in r.stdout
    today = date(2026, 12, 3)
    with open_store(ws) as st:
        rej = [f for f in fnd.list_latest(st) if f["severity"] == "reject"]
        inpatient25 = [f for f in rej if f["setting"] == "inpatient" and f["settle_date"].startswith("2025")]
        f = max(inpatient25, key=lambda x: (Decimal(x["amount"]), x["finding_id"]))
        inst = f["institution_id"]
        assert Decimal(f["amount"]) > 0
        fnd.transition(st, f["finding_id"], "appeal", actor="h", role="hospital", institution_id=inst,
                       reason="申诉", today=today)
        out = fnd.decide_many(st, [x["finding_id"] for x in rej if x["finding_id"] != f["finding_id"]], "upheld",
                              actor="s", role="supervisor", reason="维持", today=today)
        assert out["applied"] == len(rej) - 1 and out["refused"] == []
    b = tmp_path / "b.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        if (ws / f"store.sqlite3{suffix}").exists():
            shutil.copy(ws / f"store.sqlite3{suffix}", tmp_path / f"b.sqlite3{suffix}")
    stores = {"upheld": None, "overturned": f"sqlite:///{b}"}
    for decision, url in stores.items():
        with open_store(ws, url) as st:
            fnd.transition(st, f["finding_id"], "uphold" if decision == "upheld" else "overturn", actor="s",
                           role="supervisor", institution_id=None, reason="复审", today=today)
        extra = ("--store", url) if url else ()
        r = cli("findings", "deductions", "--workspace", ws, *extra, "--year", "2025", "--out",
                tmp_path / f"{decision}.csv", "--as-of", "2026-12-03")
        assert r.returncode == 0, r.stderr
        r = cli("dip", "settle", "-w", ws, "--scored", tmp_path / "s", "--budget-policy",
                tmp_path / "region" / "budget_policy.toml", "--out", tmp_path / f"settle-{decision}",
                "--no-statements", "--deductions", tmp_path / f"{decision}.csv")
        assert r.returncode == 0, r.stderr

    def deducted(decision: str) -> dict:
        out: dict = {}
        for row in csv.DictReader((tmp_path / f"settle-{decision}" / "clearing.csv").open(encoding="utf-8-sig")):
            out[row["机构编码"]] = out.get(row["机构编码"], Decimal("0")) + Decimal(row["审核扣款"])
        return out

    up, over = deducted("upheld"), deducted("overturned")
    assert up[inst] - over[inst] == Decimal(f["amount"])
    assert {k: v for k, v in up.items() if k != inst} == {k: v for k, v in over.items() if k != inst}
    by_hand = sum((Decimal(x["amount"]) for x in inpatient25 if x["institution_id"] == inst), Decimal("0"))
    assert up[inst] == by_hand


@pytest.mark.slow
def test_once_every_finding_is_final_the_deductions_of_record_are_the_reviews_own(tmp_path):
    """Every reject finding final (their deadline passed): the exported rows are the review's deductions.csv
    rows (institution, year, setting, amount, findings), year by year, to the fen."""
    from regions import generated_workspace

    from yibao.review.outputs import summaries
    from yibao.review.ruleset import load_rules
    from yibao.review.run import run_workspace
    from yibao.staff import periods_from_workspace
    from yibao.store.db import open_store

    ws = generated_workspace(tmp_path, seed=7, cases=3000)
    rs = load_rules(None)
    res = run_workspace(ws, rs, periods_from_workspace(ws))
    review = [(r["institution_id"], r["year"], r["setting"], f"{r['amount']:.2f}", r["findings"])
              for r in summaries(res, rs)["deductions"].to_pylist()]
    with open_store(ws) as st:
        fnd.record_run(st, res.findings, res.cases, workspace=str(ws), rules_digest="t", started_at="t", actor="t",
                       cases=res.counts["cases"], lines_tbl=res.lines)
        assert fnd.deduction_rows(st) == []
        assert len(fnd.finalize_due(st, date(2099, 1, 1))) == res.findings.num_rows
        ours = [(r["institution_id"], r["year"], r["setting"], r["amount"], r["findings"])
                for r in fnd.deduction_rows(st)]
        assert audit.verify(st).ok
    assert len(review) > 10 and sorted(ours) == sorted(review)
