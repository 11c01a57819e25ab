"""The store of record on SQLite and on PostgreSQL: migrations, the append-only audit chain, findings,
the state machine, deductions, logins."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError

from yibao.store import audit
from yibao.store import findings as fnd
from yibao.store.schema import audit_log, findings, metadata
from yibao.store.users import LoginPolicy, LoginRefused, authenticate

from .conftest import F_H001_REJECT, F_H001_WARN, F_H002_REJECT, PASSWORD, record_review_run


def test_migration_creates_the_schema_of_schema_py(store):
    insp = inspect(store.engine)
    tables = set(insp.get_table_names())
    assert {t.name for t in metadata.sorted_tables} <= tables
    assert "alembic_version" in tables
    for t in metadata.sorted_tables:
        assert [c["name"] for c in insp.get_columns(t.name)] == [c.name for c in t.columns], t.name
    with store.begin() as con:
        # the newest migration of the chain (its id is not pinned: the chain grows)
        from alembic.script import ScriptDirectory

        from yibao.store.db import MIGRATIONS

        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        assert con.execute(text("SELECT version_num FROM alembic_version")).scalar() == head


def test_reopening_migrates_nothing_and_keeps_the_secret(store, workspace, store_url):
    from yibao.store.db import open_store

    again = open_store(workspace, store_url)
    try:
        assert again.secret == store.secret and len(store.secret) == 32
    finally:
        again.close()


def test_findings_recorded_with_stable_ids_and_exact_money(store):
    got = {f["finding_id"]: f for f in fnd.list_latest(store)}
    assert set(got) == {F_H001_REJECT, F_H001_WARN, F_H002_REJECT}
    assert got[F_H001_REJECT]["amount"] == "200.00" and got[F_H001_REJECT]["institution_id"] == "H001"
    assert got[F_H001_WARN]["amount"] == "9000.25" and got[F_H001_WARN]["severity"] == "warn"
    assert got[F_H002_REJECT]["amount"] == "3.75" and got[F_H002_REJECT]["institution_id"] == "H002"
    assert {f["status"] for f in got.values()} == {"open"}
    with store.begin() as con:  # integer fen in the store, never a float
        assert con.execute(select(findings.c.amount_fen).where(findings.c.finding_id == F_H002_REJECT)) \
            .scalar() == 375


def test_a_second_run_keeps_ids_and_status(store, workspace):
    fnd.transition(store, F_H001_REJECT, "appeal", actor="hosp1", role="hospital", institution_id="H001",
                   reason="床位费按日计")
    run2 = record_review_run(store, workspace)
    assert run2 == 2
    got = {f["finding_id"]: f for f in fnd.list_latest(store)}
    assert set(got) == {F_H001_REJECT, F_H001_WARN, F_H002_REJECT}
    assert got[F_H001_REJECT]["status"] == "appealed" and got[F_H001_REJECT]["run_id"] == 2


def test_deductions_count_every_status_but_overturned(store):
    d = fnd.deductions(store, "H001", 2024)
    assert (d["total"], d["findings"]) == ("200.00", 1)  # the warning (9000.25) is not money at stake
    assert fnd.deductions(store, "H002", 2024)["total"] == "3.75"
    assert fnd.deductions(store, "H001", 2025)["total"] == "0.00"
    fnd.transition(store, F_H001_REJECT, "appeal", actor="hosp1", role="hospital", institution_id="H001", reason="r")
    d = fnd.deductions(store, "H001", 2024)
    assert d["total"] == "200.00" and d["by_status"]["appealed"] == "200.00" and d["by_status"]["open"] == "0.00"
    fnd.transition(store, F_H001_REJECT, "overturn", actor="super1", role="supervisor", institution_id=None,
                   reason="核实无误")
    d = fnd.deductions(store, "H001", 2024)
    assert d["total"] == "0.00" and d["by_status"]["overturned"] == "200.00"


# Every action × every status × every role: the state machine as a table (issue 16: "a tested table").
ROLES = ("admin", "agency", "supervisor", "hospital", "auditor")
ALLOWED = {  # (action, from status) → (to status, roles that may)
    ("appeal", "open"): ("appealed", {"hospital"}),
    ("uphold", "open"): ("upheld", {"supervisor"}),
    ("uphold", "appealed"): ("upheld", {"supervisor"}),
    ("overturn", "open"): ("overturned", {"supervisor"}),
    ("overturn", "appealed"): ("overturned", {"supervisor"}),
    ("finalize", "open"): ("final", {"supervisor", "agency"}),
    ("finalize", "upheld"): ("final", {"supervisor", "agency"}),
    # issue 16: investigation (调查核实), then a decision
    ("investigate", "open"): ("investigation", {"supervisor"}),
    ("investigate", "appealed"): ("investigation", {"supervisor"}),
    ("uphold", "investigation"): ("upheld", {"supervisor"}),
    ("overturn", "investigation"): ("overturned", {"supervisor"}),
}
PATH_TO = {"open": [], "appealed": [("appeal", "hospital")], "upheld": [("uphold", "supervisor")],
           "overturned": [("overturn", "supervisor")], "final": [("finalize", "agency")],
           "investigation": [("investigate", "supervisor")]}


def test_the_state_machine_table_matches_the_code():
    code = {(t.action, s): (t.to_status, set(t.roles)) for t in fnd.TRANSITIONS for s in t.from_statuses}
    assert code == ALLOWED


@pytest.mark.parametrize("action", ["appeal", "uphold", "overturn", "finalize", "investigate"])
@pytest.mark.parametrize("start", fnd.STATUSES)
def test_state_machine(store, action, start):
    for step, role in PATH_TO[start]:
        fnd.transition(store, F_H001_REJECT, step, actor="x", role=role, institution_id="H001", reason="r")
    assert fnd.get(store, F_H001_REJECT)["status"] == start
    to, roles = ALLOWED.get((action, start), (None, set(fnd.BY_ACTION[action].roles)))
    for role in ROLES:
        if role not in roles:
            with pytest.raises(fnd.TransitionRefused) as exc:
                fnd.transition(store, F_H001_REJECT, action, actor="x", role=role, institution_id="H001", reason="r")
            assert exc.value.status == 403
    allowed_role = sorted(roles)[0]
    if to is None:
        with pytest.raises(fnd.TransitionRefused) as exc:
            fnd.transition(store, F_H001_REJECT, action, actor="x", role=allowed_role, institution_id="H001",
                           reason="r")
        assert exc.value.status == 409
        assert fnd.get(store, F_H001_REJECT)["status"] == start
    else:
        out = fnd.transition(store, F_H001_REJECT, action, actor="x", role=allowed_role, institution_id="H001",
                             reason="理由")
        assert out["status"] == to == fnd.get(store, F_H001_REJECT)["status"]
        last = audit.events(store, 1)[0]
        assert (last["action"], last["object"]) == (f"finding.{action}", f"finding:{F_H001_REJECT}")


def test_a_hospital_cannot_touch_another_institutions_finding(store):
    with pytest.raises(fnd.TransitionRefused) as exc:
        fnd.transition(store, F_H002_REJECT, "appeal", actor="hosp1", role="hospital", institution_id="H001",
                       reason="r")
    assert exc.value.status == 404
    assert fnd.get(store, F_H002_REJECT)["status"] == "open"


# --- the audit log --------------------------------------------------------------------------------------

def test_audit_chain_verifies(store):
    v = audit.verify(store)
    assert v.ok and v.entries == 7  # six users added and one review run
    assert [e["action"] for e in audit.events(store, 2)] == ["review.run", "user.add"]


def test_triggers_refuse_update_and_delete_then_an_edit_breaks_the_chain(store):
    with pytest.raises(DBAPIError, match="append-only"):
        with store.begin() as con:
            con.execute(audit_log.update().where(audit_log.c.seq == 3).values(actor="mallory"))
    with pytest.raises(DBAPIError, match="append-only"):
        with store.begin() as con:
            con.execute(audit_log.delete().where(audit_log.c.seq == 3))
    assert audit.verify(store).ok
    with store.begin() as con:  # someone with the database owner's rights drops the triggers
        if store.dialect == "postgresql":
            con.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            con.execute(text("DROP TRIGGER audit_log_no_update"))
        con.execute(audit_log.update().where(audit_log.c.seq == 3).values(actor="mallory"))
    v = audit.verify(store)
    assert not v.ok and v.broken_seq == 3 and "改动" in v.reason


def test_a_deleted_entry_is_found(store):
    with store.begin() as con:
        if store.dialect == "postgresql":
            con.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            con.execute(text("DROP TRIGGER audit_log_no_delete"))
        con.execute(audit_log.delete().where(audit_log.c.seq == 4))
    v = audit.verify(store)
    assert not v.ok and v.broken_seq == 4 and "删除" in v.reason


# --- logins ---------------------------------------------------------------------------------------------

def test_login_and_lockout(store):
    policy = LoginPolicy(max_failures=3, lock_minutes=15)
    assert authenticate(store, "hosp1", PASSWORD, policy=policy).institution_id == "H001"
    for _ in range(2):
        with pytest.raises(LoginRefused) as exc:
            authenticate(store, "hosp1", "wrong", client="10.0.0.9", policy=policy)
        assert exc.value.code == "bad_credentials"
    assert authenticate(store, "hosp1", PASSWORD, policy=policy).username == "hosp1"  # success resets the count
    for _ in range(3):
        with pytest.raises(LoginRefused):
            authenticate(store, "hosp1", "wrong", policy=policy)
    with pytest.raises(LoginRefused) as exc:  # locked: even the right password is refused
        authenticate(store, "hosp1", PASSWORD, policy=policy)
    assert exc.value.code == "account_locked"
    events = audit.events(store, 4)
    assert [(e["actor"], e["action"]) for e in events] == [("hosp1", "login.failure")] * 4
    assert [json.loads(e["detail"])["reason"] for e in events] == ["account_locked"] + ["bad_credentials"] * 3
    assert json.loads(events[1]["detail"])["locked_until"] is not None  # the third failure locked the name
    assert sum(e["client"] == "10.0.0.9" for e in audit.events(store, 10)) == 2  # the client address is kept


def test_an_unknown_name_is_refused_like_a_wrong_password_and_audited(store):
    with pytest.raises(LoginRefused) as exc:
        authenticate(store, "nobody-here", "x", client="10.1.2.3")
    assert exc.value.code == "bad_credentials"
    e = audit.events(store, 1)[0]
    assert (e["actor"], e["action"], e["client"]) == ("nobody-here", "login.failure", "10.1.2.3")


def test_passwords_are_argon2_hashes(store):
    from yibao.store.schema import users

    with store.begin() as con:
        hashes = [h for (h,) in con.execute(select(users.c.password_hash))]
    assert len(hashes) == 6 and all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)


@pytest.mark.slow
def test_deductions_of_record_equal_the_review_deductions_csv(tmp_path):
    """On a synthetic region: per institution and year, the store's total (all findings open) equals the
    review's own deductions (summed over settings), to the fen."""
    from regions import generated_workspace

    from yibao.review.outputs import summaries
    from yibao.review.ruleset import load_rules
    from yibao.review.run import run_workspace
    from yibao.staff import periods_from_workspace
    from yibao.store.db import open_store
    from yibao.store.findings import record_run

    ws = generated_workspace(tmp_path, seed=7, cases=3000)
    rs = load_rules(None)
    res = run_workspace(ws, rs, periods_from_workspace(ws))
    expected: dict = {}
    for r in summaries(res, rs)["deductions"].to_pylist():
        key = (r["institution_id"], r["year"])
        expected[key] = expected.get(key, 0) + r["amount"]
    assert len(expected) > 5
    with open_store(ws) as st:
        record_run(st, res.findings, res.cases, workspace=str(ws), rules_digest="t", started_at="t", actor="t",
                   cases=res.counts["cases"])
        got = {k: fnd.deductions(st, *k)["total"] for k in expected}
        assert len(fnd.list_latest(st)) == res.findings.num_rows
    assert got == {k: f"{v:.2f}" for k, v in expected.items()}
