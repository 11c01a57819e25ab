"""Review runs and findings of record (审核疑点), their state machine, and the deductions at stake.

A review run on a workspace is recorded as a ``review_runs`` row; each finding gets a stable
``finding_id`` (``F`` + the first 16 hex digits of SHA-256 of ``case_id|line_no|rule_id``), so the
same finding found again by a later run is the same row: its status, appeal and decision carry
over, its amount and message are those of the newest run. The API lists the findings of the
latest run (``last_run_id``).

State machine (:data:`TRANSITIONS`, the one table the server and the tests read)::

    open ──appeal (hospital, own institution)──▶ appealed
    open | appealed ──decision upheld (supervisor)──▶ upheld
    open | appealed ──decision overturned (supervisor)──▶ overturned   (no longer deducted; terminal)
    open | upheld ──finalize (supervisor, agency)──▶ final

Deadlines (appeal within N working days, investigation) come with issue 16's workflow; the
``deadline`` column and ``finding_transitions`` are there for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import duckdb
import pyarrow as pa
from sqlalchemy import func, select, update

from yibao.engine.runner import query_arrow
from yibao.store import audit
from yibao.store.db import Store, now_iso
from yibao.store.schema import finding_transitions, findings, review_runs

STATUSES = ("open", "appealed", "upheld", "overturned", "final")
STATUS_ZH = {"open": "初审待处理", "appealed": "已申诉", "upheld": "复审维持", "overturned": "复审撤销", "final": "已终结"}


@dataclass(frozen=True)
class Transition:
    action: str
    from_statuses: frozenset[str]
    to_status: str
    roles: frozenset[str]
    own_institution: bool  # the actor's institution must be the finding's (hospital users)


TRANSITIONS = (
    Transition("appeal", frozenset({"open"}), "appealed", frozenset({"hospital"}), True),
    Transition("uphold", frozenset({"open", "appealed"}), "upheld", frozenset({"supervisor"}), False),
    Transition("overturn", frozenset({"open", "appealed"}), "overturned", frozenset({"supervisor"}), False),
    Transition("finalize", frozenset({"open", "upheld"}), "final", frozenset({"supervisor", "agency"}), False),
)
BY_ACTION = {t.action: t for t in TRANSITIONS}


class TransitionRefused(Exception):
    """``status`` is the HTTP status the server answers (403 role, 404 not found, 409 wrong state)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def fen_to_yuan(fen: int | None) -> str:
    return f"{(Decimal(int(fen or 0)) / 100).quantize(Decimal('0.01'))}"


# --- recording a run -------------------------------------------------------------------------------------

_PREPARE = """
    WITH f AS (
        SELECT f.case_id, f.line_no, f.rule_id, f.severity, f.amount, f.message, c.institution_id, c.settle_date,
               'F' || substr(sha256(f.case_id || '|' || coalesce(CAST(f.line_no AS VARCHAR), '') || '|' || f.rule_id),
                             1, 16) AS base_id
        FROM findings f LEFT JOIN cases c USING (case_id)),
    n AS (SELECT *, row_number() OVER (PARTITION BY base_id ORDER BY severity, amount, message) AS k FROM f)
    SELECT CASE WHEN k = 1 THEN base_id ELSE base_id || '-' || CAST(k AS VARCHAR) END AS finding_id,
           case_id, CAST(line_no AS INTEGER) AS line_no, rule_id, severity,
           CAST(coalesce(amount, 0) * 100 AS BIGINT) AS amount_fen, coalesce(message, '') AS message,
           institution_id, strftime(settle_date, '%Y-%m-%d') AS settle_date,
           CAST(year(settle_date) AS INTEGER) AS settle_year
    FROM n ORDER BY finding_id
"""


def prepare(findings_tbl: pa.Table, cases_tbl: pa.Table) -> list[dict]:
    """The rows to record: findings joined with their case's institution and settlement date, with ids."""
    con = duckdb.connect()
    try:
        con.register("findings", findings_tbl.select(["case_id", "line_no", "rule_id", "severity", "amount",
                                                      "message"]))
        con.register("cases", cases_tbl.select(["case_id", "institution_id", "settle_date"]))
        return query_arrow(con, _PREPARE).to_pylist()
    finally:
        con.close()


def record_run(store: Store, findings_tbl: pa.Table, cases_tbl: pa.Table, *, workspace: str, rules_digest: str,
               started_at: str, actor: str, cases: int, client: str = "cli") -> int:
    """Record one review run and its findings (new ones ``open``; known ones keep their status). Returns run_id."""
    rows = prepare(findings_tbl, cases_tbl)
    ts = now_iso()
    with store.begin() as con:
        run_id = con.execute(review_runs.insert().values(
            started_at=started_at, recorded_at=ts, actor=actor, workspace=workspace, rules_digest=rules_digest,
            cases=cases, findings=len(rows)).returning(review_runs.c.run_id)).scalar_one()
        ins = _insert(store.dialect)
        for i in range(0, len(rows), 5000):
            chunk = [{**r, "status": "open", "first_run_id": run_id, "last_run_id": run_id, "published_at": ts,
                      "status_changed_at": ts, "version": 1} for r in rows[i:i + 5000]]
            stmt = ins(findings)
            con.execute(stmt.on_conflict_do_update(index_elements=["finding_id"], set_={
                c: stmt.excluded[c] for c in ("case_id", "line_no", "rule_id", "severity", "amount_fen", "message",
                                              "institution_id", "settle_date", "settle_year", "last_run_id")}),
                chunk)
        audit.append(con, actor=actor, role="cli", action="review.run", object=f"review_run:{run_id}",
                     client=client, detail={"findings": len(rows), "cases": cases, "workspace": workspace,
                                            "rules_digest": rules_digest})
    return run_id


def _insert(dialect: str):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


# --- reading ---------------------------------------------------------------------------------------------

def latest_run(con) -> int | None:
    return con.execute(select(func.max(review_runs.c.run_id))).scalar()


def as_json(r) -> dict:
    return {"finding_id": r["finding_id"], "case_id": r["case_id"], "institution_id": r["institution_id"],
            "rule_id": r["rule_id"], "severity": r["severity"], "amount": fen_to_yuan(r["amount_fen"]),
            "status": r["status"], "line_no": r["line_no"], "message": r["message"],
            "settle_date": r["settle_date"], "run_id": r["last_run_id"], "status_changed_at": r["status_changed_at"]}


def list_latest(store: Store, institution_id: str | None = None, status: str | None = None,
                limit: int | None = None) -> list[dict]:
    with store.begin() as con:
        run = latest_run(con)
        if run is None:
            return []
        q = select(findings).where(findings.c.last_run_id == run)
        if institution_id is not None:
            q = q.where(findings.c.institution_id == institution_id)
        if status is not None:
            q = q.where(findings.c.status == status)
        q = q.order_by(findings.c.institution_id, findings.c.case_id, findings.c.finding_id)
        if limit:
            q = q.limit(limit)
        return [as_json(r) for r in con.execute(q).mappings()]


def get(store: Store, finding_id: str) -> dict | None:
    with store.begin() as con:
        r = con.execute(select(findings).where(findings.c.finding_id == finding_id)).mappings().first()
        return as_json(r) if r else None


def deductions(store: Store, institution_id: str, year: int) -> dict:
    """Money at stake: reject findings of the latest run, cases settled in ``year``, not overturned."""
    with store.begin() as con:
        run = latest_run(con)
        by = {}
        if run is not None:
            q = (select(findings.c.status, func.sum(findings.c.amount_fen), func.count())
                 .where(findings.c.last_run_id == run, findings.c.institution_id == institution_id,
                        findings.c.settle_year == year, findings.c.severity == "reject")
                 .group_by(findings.c.status))
            by = {s: (int(a or 0), int(n)) for s, a, n in con.execute(q)}
    counted = [s for s in STATUSES if s != "overturned"]
    total = sum(by.get(s, (0, 0))[0] for s in counted)
    return {"institution_id": institution_id, "year": year, "total": fen_to_yuan(total),
            "findings": sum(by.get(s, (0, 0))[1] for s in counted),
            "by_status": {s: fen_to_yuan(by.get(s, (0, 0))[0]) for s in STATUSES},
            "run_id": run}


# --- changing status ---------------------------------------------------------------------------------------

def transition(store: Store, finding_id: str, action: str, *, actor: str, role: str,
               institution_id: str | None, reason: str, client: str = "") -> dict:
    """Apply one transition of :data:`TRANSITIONS` or raise :class:`TransitionRefused`; audited."""
    t = BY_ACTION[action]
    if role not in t.roles:
        raise TransitionRefused(403, "forbidden", f"角色 {role} 无权执行此操作（{_ACTION_ZH[action]}）")
    with store.begin() as con:
        r = con.execute(select(findings).where(findings.c.finding_id == finding_id)).mappings().first()
        if r is None or (t.own_institution and r["institution_id"] != institution_id):
            raise TransitionRefused(404, "not_found", f"未找到审核疑点 {finding_id}")
        if r["status"] not in t.from_statuses:
            raise TransitionRefused(409, "conflict", f"审核疑点 {finding_id} 当前状态为“{STATUS_ZH[r['status']]}”，"
                                    f"不能{_ACTION_ZH[action]}")
        ts = now_iso()
        done = con.execute(update(findings).where(findings.c.finding_id == finding_id,
                                                  findings.c.version == r["version"])
                           .values(status=t.to_status, status_changed_at=ts, version=r["version"] + 1))
        if done.rowcount != 1:
            raise TransitionRefused(409, "conflict", f"审核疑点 {finding_id} 刚被他人修改，请刷新后重试")
        con.execute(finding_transitions.insert().values(finding_id=finding_id, at=ts, actor=actor, role=role,
                                                        from_status=r["status"], to_status=t.to_status,
                                                        reason=reason))
        audit.append(con, actor=actor, role=role, action=f"finding.{action}", object=f"finding:{finding_id}",
                     client=client, detail={"from": r["status"], "to": t.to_status, "case_id": r["case_id"],
                                            "reason": reason})
        out = as_json({**r, "status": t.to_status, "status_changed_at": ts})
    return out


_ACTION_ZH = {"appeal": "申诉", "uphold": "复审维持", "overturn": "复审撤销", "finalize": "终结"}
