"""Review runs and findings of record (审核疑点), their state machine, and the deductions at stake.

A review run on a workspace is recorded as a ``review_runs`` row; each finding gets a stable
``finding_id`` (``F`` + the first 16 hex digits of SHA-256 of ``case_id|line_no|rule_id``), so the
same finding found again by a later run is the same row: its status, appeal and decision carry
over, its amount and message are those of the newest run. The API lists the findings of the
latest run (``last_run_id``).

State machine (:data:`TRANSITIONS`, the one table the server and the tests read)::

    open ──appeal (hospital, own institution, on or before the deadline)──▶ appealed
    open | appealed ──investigate (supervisor, with its own deadline)──▶ investigation  (调查核实)
    open | appealed | investigation ──decision upheld (supervisor)──▶ upheld
    open | appealed | investigation ──decision overturned (supervisor)──▶ overturned   (never deducted; terminal)
    open | upheld ──finalize (supervisor, agency)──▶ final
    open, appeal deadline passed ──(lazily, by the system)──▶ final   (:func:`finalize_due`)

Deadlines (docs/findings-workflow.md): a new finding's appeal deadline (``deadline``) is
:attr:`WorkflowPolicy.appeal_working_days` working days (:mod:`yibao.store.workdays`) after the day
of its publication (the day, in China, its run was recorded); a finding sent to investigation gets
``investigation_deadline``. Deductions for settlement (:func:`deduction_rows`) count upheld and
final reject findings only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

import duckdb
import pyarrow as pa
from sqlalchemy import and_, func, select, update

from yibao.engine.csvfile import rows_csv
from yibao.engine.runner import query_arrow
from yibao.store import audit
from yibao.store.db import Store, now_iso
from yibao.store.schema import finding_transitions, findings, review_runs
from yibao.store.workdays import Calendar, china_date, china_today, load_calendar

# The contract's statuses, then ``investigation`` (调查核实), an extra state of this workflow.
CONTRACT_STATUSES = ("open", "appealed", "upheld", "overturned", "final")
STATUSES = CONTRACT_STATUSES + ("investigation",)
STATUS_ZH = {"open": "初审待处理", "appealed": "已申诉", "upheld": "复审维持", "overturned": "复审撤销", "final": "已终结",
             "investigation": "调查核实中"}
DEDUCTED = ("upheld", "final")          # deducted at settlement
PENDING = ("open", "appealed", "investigation")  # at stake, not deducted yet


@dataclass(frozen=True)
class WorkflowPolicy:
    """The time limits of the findings workflow, in working days (工作日).

    Source: the national rule base framework (两库: 《医疗保障基金智能审核和监控知识库、规则库管理办法（试行）》,
    国家医疗保障局) sets the steps 初审 → 复审 → 申诉 → 调查核实 → 违规处理, each with a time limit, and
    leaves the number of days to the region (local rule). The defaults below are this project's local
    rule: 10 working days to appeal from publication, 20 working days for an investigation.
    """

    appeal_working_days: int = 10
    investigation_working_days: int = 20


WORKFLOW_POLICY = WorkflowPolicy()
SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class Transition:
    action: str
    from_statuses: frozenset[str]
    to_status: str
    roles: frozenset[str]
    own_institution: bool  # the actor's institution must be the finding's (hospital users)


TRANSITIONS = (
    Transition("appeal", frozenset({"open"}), "appealed", frozenset({"hospital"}), True),
    Transition("uphold", frozenset({"open", "appealed", "investigation"}), "upheld", frozenset({"supervisor"}), False),
    Transition("overturn", frozenset({"open", "appealed", "investigation"}), "overturned", frozenset({"supervisor"}),
               False),
    Transition("finalize", frozenset({"open", "upheld"}), "final", frozenset({"supervisor", "agency"}), False),
    Transition("investigate", frozenset({"open", "appealed"}), "investigation", frozenset({"supervisor"}), False),
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
               c.setting, c.dept_code, coalesce(l.staff_id, c.attending_staff_id) AS staff_id,
               'F' || substr(sha256(f.case_id || '|' || coalesce(CAST(f.line_no AS VARCHAR), '') || '|' || f.rule_id),
                             1, 16) AS base_id
        FROM findings f LEFT JOIN cases c USING (case_id)
        LEFT JOIN lines l ON l.case_id = f.case_id AND l.line_no = f.line_no),
    n AS (SELECT *, row_number() OVER (PARTITION BY base_id ORDER BY severity, amount, message) AS k FROM f)
    SELECT CASE WHEN k = 1 THEN base_id ELSE base_id || '-' || CAST(k AS VARCHAR) END AS finding_id,
           case_id, CAST(line_no AS INTEGER) AS line_no, rule_id, severity,
           CAST(coalesce(amount, 0) * 100 AS BIGINT) AS amount_fen, coalesce(message, '') AS message,
           institution_id, strftime(settle_date, '%Y-%m-%d') AS settle_date,
           CAST(year(settle_date) AS INTEGER) AS settle_year, setting, dept_code, staff_id
    FROM n ORDER BY finding_id
"""


_CASE_COLUMNS = ("case_id", "institution_id", "settle_date", "setting", "dept_code", "attending_staff_id")


def prepare(findings_tbl: pa.Table, cases_tbl: pa.Table, lines_tbl: pa.Table | None = None) -> list[dict]:
    """The rows to record: findings joined with their case's institution, settlement date, setting, department
    and staff (the line's, else the case's attending doctor), with ids."""
    con = duckdb.connect()
    try:
        con.register("findings", findings_tbl.select(["case_id", "line_no", "rule_id", "severity", "amount",
                                                      "message"]))
        cases_tbl = cases_tbl.select([c for c in _CASE_COLUMNS if c in cases_tbl.column_names])
        for c in _CASE_COLUMNS:
            if c not in cases_tbl.column_names:
                cases_tbl = cases_tbl.append_column(c, pa.nulls(cases_tbl.num_rows, pa.string()))
        con.register("cases", cases_tbl)
        if lines_tbl is None or "staff_id" not in lines_tbl.column_names:
            lines_tbl = pa.table({"case_id": pa.array([], pa.string()), "line_no": pa.array([], pa.int32()),
                                  "staff_id": pa.array([], pa.string())})
        con.register("lines", lines_tbl.select(["case_id", "line_no", "staff_id"]))
        return query_arrow(con, _PREPARE).to_pylist()
    finally:
        con.close()


def record_run(store: Store, findings_tbl: pa.Table, cases_tbl: pa.Table, *, workspace: str, rules_digest: str,
               started_at: str, actor: str, cases: int, client: str = "cli", lines_tbl: pa.Table | None = None,
               policy: WorkflowPolicy = WORKFLOW_POLICY, calendar: Calendar | None = None) -> int:
    """Record one review run and its findings (new ones ``open`` with their appeal deadline; known ones keep
    their status and deadline). Returns run_id."""
    rows = prepare(findings_tbl, cases_tbl, lines_tbl)
    ts = now_iso()
    deadline = appeal_deadline(china_date(ts), policy, calendar).isoformat()
    with store.begin() as con:
        run_id = con.execute(review_runs.insert().values(
            started_at=started_at, recorded_at=ts, actor=actor, workspace=workspace, rules_digest=rules_digest,
            cases=cases, findings=len(rows)).returning(review_runs.c.run_id)).scalar_one()
        ins = _insert(store.dialect)
        for i in range(0, len(rows), 5000):
            chunk = [{**r, "status": "open", "first_run_id": run_id, "last_run_id": run_id, "published_at": ts,
                      "status_changed_at": ts, "version": 1, "deadline": deadline} for r in rows[i:i + 5000]]
            stmt = ins(findings)
            con.execute(stmt.on_conflict_do_update(index_elements=["finding_id"], set_={
                c: stmt.excluded[c] for c in ("case_id", "line_no", "rule_id", "severity", "amount_fen", "message",
                                              "institution_id", "settle_date", "settle_year", "last_run_id",
                                              "setting", "dept_code", "staff_id")}),
                chunk)
        audit.append(con, actor=actor, role="cli", action="review.run", object=f"review_run:{run_id}",
                     client=client, detail={"findings": len(rows), "cases": cases, "workspace": workspace,
                                            "rules_digest": rules_digest, "appeal_deadline": deadline})
    return run_id


def appeal_deadline(published: date, policy: WorkflowPolicy = WORKFLOW_POLICY,
                    calendar: Calendar | None = None) -> date:
    """The last day a finding published on ``published`` may be appealed."""
    return (calendar or load_calendar()).add_working_days(published, policy.appeal_working_days)


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
            "settle_date": r["settle_date"], "run_id": r["last_run_id"], "status_changed_at": r["status_changed_at"],
            "deadline": r["deadline"], "investigation_deadline": r["investigation_deadline"],
            "setting": r["setting"], "dept_code": r["dept_code"], "staff_id": r["staff_id"]}


def yuan_to_fen(text: str | None) -> int | None:
    """A decimal amount in yuan (``"200"``, ``"3.75"``) as integer fen; None stays None."""
    if text is None or str(text).strip() == "":
        return None
    try:
        d = Decimal(str(text).strip())
    except InvalidOperation:
        raise ValueError(f"金额格式不正确：{text}") from None
    if not d.is_finite() or d != d.quantize(Decimal("0.01")):
        raise ValueError(f"金额应为至多两位小数的数：{text}")
    return int(d * 100)


@dataclass(frozen=True)
class Filters:
    """The supervisor's workbench filters (all optional; amounts in yuan, inclusive)."""
    institution_id: str | None = None
    dept_code: str | None = None
    staff_id: str | None = None
    rule_id: str | None = None
    status: str | None = None
    min_amount: str | None = None
    max_amount: str | None = None


def search(store: Store, flt: Filters = Filters(), limit: int | None = None, offset: int = 0) -> dict:
    """The findings of the latest run that match ``flt``: ``{"total": N, "findings": [page]}``, ordered by
    institution, case and id; ``limit``/``offset`` page them (``total`` counts them all)."""
    with store.begin() as con:
        run = latest_run(con)
        if run is None:
            return {"total": 0, "findings": []}
        conds = [findings.c.last_run_id == run]
        for col in ("institution_id", "dept_code", "staff_id", "rule_id", "status"):
            v = getattr(flt, col)
            if v is not None:
                conds.append(findings.c[col] == v)
        lo, hi = yuan_to_fen(flt.min_amount), yuan_to_fen(flt.max_amount)
        if lo is not None:
            conds.append(findings.c.amount_fen >= lo)
        if hi is not None:
            conds.append(findings.c.amount_fen <= hi)
        where = and_(*conds)
        total = int(con.execute(select(func.count()).select_from(findings).where(where)).scalar_one())
        q = (select(findings).where(where)
             .order_by(findings.c.institution_id, findings.c.case_id, findings.c.finding_id))
        if limit:
            q = q.limit(limit)
        if offset:
            q = q.offset(offset)
        return {"total": total, "findings": [as_json(r) for r in con.execute(q).mappings()]}


def list_latest(store: Store, institution_id: str | None = None, status: str | None = None,
                limit: int | None = None) -> list[dict]:
    return search(store, Filters(institution_id=institution_id, status=status), limit)["findings"]


def get(store: Store, finding_id: str) -> dict | None:
    with store.begin() as con:
        r = con.execute(select(findings).where(findings.c.finding_id == finding_id)).mappings().first()
        return as_json(r) if r else None


def _by_status(con, run: int, *conds) -> dict[str, tuple[int, int]]:
    q = (select(findings.c.status, func.sum(findings.c.amount_fen), func.count())
         .where(findings.c.last_run_id == run, findings.c.severity == "reject", *conds)
         .group_by(findings.c.status))
    return {s: (int(a or 0), int(n)) for s, a, n in con.execute(q)}


def deductions(store: Store, institution_id: str, year: int) -> dict:
    """Money at stake: reject findings of the latest run, cases settled in ``year``, not overturned (the
    contract's ``total``); ``deducted`` is what a settlement takes now (upheld and final), ``pending`` what
    is not decided yet (open, appealed, investigation)."""
    with store.begin() as con:
        run = latest_run(con)
        by = {}
        if run is not None:
            by = _by_status(con, run, findings.c.institution_id == institution_id, findings.c.settle_year == year)
    counted = [s for s in STATUSES if s != "overturned"]
    total = sum(by.get(s, (0, 0))[0] for s in counted)
    return {"institution_id": institution_id, "year": year, "total": fen_to_yuan(total),
            "findings": sum(by.get(s, (0, 0))[1] for s in counted),
            "deducted": fen_to_yuan(sum(by.get(s, (0, 0))[0] for s in DEDUCTED)),
            "pending": fen_to_yuan(sum(by.get(s, (0, 0))[0] for s in PENDING)),
            "by_status": {s: fen_to_yuan(by.get(s, (0, 0))[0]) for s in STATUSES},
            "run_id": run}


# The DEDUCTIONS layout read by ``dip settle --deductions`` and ``drg settle --deductions``
# (yibao.settle.deductions.read_deductions).
DEDUCTION_COLUMNS = ("institution_id", "year", "setting", "source", "amount", "findings")
DEDUCTION_SOURCE = "review_of_record"


def deduction_rows(store: Store, year: int | None = None) -> list[dict]:
    """The settlement deductions of record: reject findings of the latest run that are upheld or final,
    summed per institution, settlement year and setting (in fen, as integers; ``amount`` a yuan string).
    Overturned findings are never deducted; open, appealed and investigation ones not yet."""
    with store.begin() as con:
        run = latest_run(con)
        if run is None:
            return []
        setting = func.coalesce(findings.c.setting, "inpatient")
        conds = [findings.c.last_run_id == run, findings.c.severity == "reject", findings.c.status.in_(DEDUCTED),
                 findings.c.institution_id.is_not(None), findings.c.settle_year.is_not(None)]
        if year is not None:
            conds.append(findings.c.settle_year == year)
        q = (select(findings.c.institution_id, findings.c.settle_year, setting.label("setting"),
                    func.sum(findings.c.amount_fen), func.count())
             .where(*conds).group_by(findings.c.institution_id, findings.c.settle_year, setting)
             .order_by(findings.c.institution_id, findings.c.settle_year, setting))
        return [{"institution_id": i, "year": int(y), "setting": st, "source": DEDUCTION_SOURCE,
                 "amount": fen_to_yuan(a), "findings": int(n)} for i, y, st, a, n in con.execute(q)]


def export_deductions(store: Store, year: int, out, as_of: date | None = None, *, actor: str = SYSTEM_ACTOR
                      ) -> tuple[list[dict], str]:
    """Finalize what is due on ``as_of``, then write :func:`deduction_rows` of ``year`` to ``out`` (the
    DEDUCTIONS CSV, UTF-8 with BOM), atomically; audited. Returns (rows, total in yuan)."""
    finalize_due(store, as_of, actor=actor, client="cli")
    rows = deduction_rows(store, year)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(rows_csv(DEDUCTION_COLUMNS, [[r[c] for c in DEDUCTION_COLUMNS] for r in rows]))
    tmp.replace(out)
    total = fen_to_yuan(sum(int(Decimal(r["amount"]) * 100) for r in rows))
    audit.record(store, actor=actor, role="cli", action="deductions.export", object=f"deductions:{year}",
                 client="cli", detail={"rows": len(rows), "total": total, "file": out.name})
    return rows, total


# --- changing status ---------------------------------------------------------------------------------------

def finalize_due(store: Store, as_of: date | None = None, *, actor: str = SYSTEM_ACTOR, client: str = "") -> list[str]:
    """Every ``open`` finding whose appeal deadline is before ``as_of`` (default: today in China) becomes
    ``final`` as it is (未在期限内申诉，按原审核结果终结); one transition row and one audit entry per finding.
    Returns their ids (sorted)."""
    day = (as_of or china_today()).isoformat()
    due = and_(findings.c.status == "open", findings.c.deadline.is_not(None), findings.c.deadline < day)
    with store.begin() as con:
        rows = con.execute(select(findings.c.finding_id, findings.c.deadline, findings.c.case_id).where(due)
                           .order_by(findings.c.finding_id)).all()
        if not rows:
            return []
        ts = now_iso()
        con.execute(update(findings).where(due).values(status="final", status_changed_at=ts,
                                                       version=findings.c.version + 1))
        reasons = {fid: f"申诉期限 {dl} 已过，未申诉，按原审核结果终结" for fid, dl, _ in rows}
        con.execute(finding_transitions.insert(), [
            {"finding_id": fid, "at": ts, "actor": actor, "role": SYSTEM_ACTOR, "from_status": "open",
             "to_status": "final", "reason": reasons[fid]} for fid, _, _ in rows])
        audit.append_many(con, [
            {"actor": actor, "role": SYSTEM_ACTOR, "action": "finding.finalize.deadline", "object": f"finding:{fid}",
             "client": client, "detail": {"from": "open", "to": "final", "case_id": cid, "deadline": dl,
                                          "as_of": day, "reason": reasons[fid]}}
            for fid, dl, cid in rows])
    return [r[0] for r in rows]


def transition(store: Store, finding_id: str, action: str, *, actor: str, role: str,
               institution_id: str | None, reason: str, client: str = "", today: date | None = None,
               deadline: date | None = None, policy: WorkflowPolicy = WORKFLOW_POLICY,
               calendar: Calendar | None = None) -> dict:
    """Apply one transition of :data:`TRANSITIONS` or raise :class:`TransitionRefused`; audited.

    ``today`` (default: today in China) decides the deadlines: an ``open`` finding past its appeal deadline
    is finalized first (as :func:`finalize_due` would), so that it can no longer be appealed or decided.
    ``deadline`` is the investigation's (default: ``policy.investigation_working_days`` working days from
    ``today``)."""
    t = BY_ACTION[action]
    if role not in t.roles:
        raise TransitionRefused(403, "forbidden", f"角色 {role} 无权执行此操作（{_ACTION_ZH[action]}）")
    day = today or china_today()
    refused = None
    with store.begin() as con:
        try:
            out = _apply(con, finding_id, t, actor=actor, role=role, institution_id=institution_id, reason=reason,
                         client=client, day=day, deadline=deadline, policy=policy, calendar=calendar)
        except TransitionRefused as exc:  # refused before any change (but a due finalize is kept: commit it)
            refused = exc
    if refused is not None:
        raise refused
    return out


def _apply(con, finding_id: str, t: Transition, *, actor: str, role: str, institution_id: str | None, reason: str,
           client: str, day: date, deadline: date | None, policy: WorkflowPolicy, calendar: Calendar | None) -> dict:
    action = t.action
    r = con.execute(select(findings).where(findings.c.finding_id == finding_id)).mappings().first()
    if r is None or (t.own_institution and r["institution_id"] != institution_id):
        raise TransitionRefused(404, "not_found", f"未找到审核疑点 {finding_id}")
    r = dict(r)
    if r["status"] == "open" and r["deadline"] and r["deadline"] < day.isoformat():
        r = _lazy_finalize(con, r, day, client)
        if action == "appeal":
            raise TransitionRefused(409, "deadline_passed", f"审核疑点 {finding_id} 的申诉期限 {r['deadline']} 已过，"
                                    "已按原审核结果终结，不能再申诉")
    if r["status"] not in t.from_statuses:
        raise TransitionRefused(409, "conflict", f"审核疑点 {finding_id} 当前状态为“{STATUS_ZH[r['status']]}”，"
                                f"不能{_ACTION_ZH[action]}")
    values: dict = {}
    if action == "investigate":
        due = deadline or (calendar or load_calendar()).add_working_days(day, policy.investigation_working_days)
        if due < day:
            raise TransitionRefused(422, "invalid_request", f"调查核实期限 {due} 早于今天 {day}")
        values["investigation_deadline"] = due.isoformat()
    ts = now_iso()
    done = con.execute(update(findings).where(findings.c.finding_id == finding_id,
                                              findings.c.version == r["version"])
                       .values(status=t.to_status, status_changed_at=ts, version=r["version"] + 1, **values))
    if done.rowcount != 1:
        raise TransitionRefused(409, "conflict", f"审核疑点 {finding_id} 刚被他人修改，请刷新后重试")
    con.execute(finding_transitions.insert().values(finding_id=finding_id, at=ts, actor=actor, role=role,
                                                    from_status=r["status"], to_status=t.to_status,
                                                    reason=reason))
    detail = {"from": r["status"], "to": t.to_status, "case_id": r["case_id"], "reason": reason, **values}
    audit.append(con, actor=actor, role=role, action=f"finding.{action}", object=f"finding:{finding_id}",
                 client=client, detail=detail)
    return as_json({**r, "status": t.to_status, "status_changed_at": ts, "version": r["version"] + 1, **values})


def _lazy_finalize(con, r: dict, day: date, client: str) -> dict:
    ts = now_iso()
    con.execute(update(findings).where(findings.c.finding_id == r["finding_id"], findings.c.version == r["version"])
                .values(status="final", status_changed_at=ts, version=r["version"] + 1))
    why = f"申诉期限 {r['deadline']} 已过，未申诉，按原审核结果终结"
    con.execute(finding_transitions.insert().values(finding_id=r["finding_id"], at=ts, actor=SYSTEM_ACTOR,
                                                    role=SYSTEM_ACTOR, from_status="open", to_status="final",
                                                    reason=why))
    audit.append(con, actor=SYSTEM_ACTOR, role=SYSTEM_ACTOR, action="finding.finalize.deadline",
                 object=f"finding:{r['finding_id']}", client=client,
                 detail={"from": "open", "to": "final", "case_id": r["case_id"], "deadline": r["deadline"],
                         "as_of": day.isoformat(), "reason": why})
    return {**r, "status": "final", "status_changed_at": ts, "version": r["version"] + 1}


MAX_BULK = 1000


def decide_many(store: Store, finding_ids: list[str], decision: str, *, actor: str, role: str, reason: str,
                client: str = "", today: date | None = None) -> dict:
    """One decision (``upheld`` or ``overturned``) with one reason on many findings (复审批量决定), each audited
    on its own. A finding that may not take it is left as it is and listed under ``refused`` with the reason;
    the others change (all in one transaction)."""
    action = "uphold" if decision == "upheld" else "overturn"
    t = BY_ACTION[action]
    if role not in t.roles:
        raise TransitionRefused(403, "forbidden", f"角色 {role} 无权执行此操作（{_ACTION_ZH[action]}）")
    day = today or china_today()
    done, refused = [], []
    with store.begin() as con:
        for fid in dict.fromkeys(finding_ids):  # each id once, in the order given
            try:
                done.append(_apply(con, fid, t, actor=actor, role=role, institution_id=None, reason=reason,
                                   client=client, day=day, deadline=None, policy=WORKFLOW_POLICY, calendar=None))
            except TransitionRefused as exc:
                refused.append({"finding_id": fid, "code": exc.code, "message": exc.message})
    return {"decision": decision, "applied": len(done), "refused": refused, "findings": done}


_ACTION_ZH = {"appeal": "申诉", "uphold": "复审维持", "overturn": "复审撤销", "finalize": "终结",
              "investigate": "转调查核实"}
