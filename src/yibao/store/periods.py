"""Settlement periods of record (结算期) and their statements (结算单), with four eyes and versions.

A period is one pot (``employee.inpatient`` …: scheme × setting, settled by the method the period
policy names) × one month of a settlement year, or the year-end clearing. For one period there is
one **statement of record** per institution: the one of the newest *issued* version.

States of a version: ``draft`` (prepared: computed by a run) → ``checked`` (复核) → ``issued`` (签发);
an issued version becomes ``superseded`` when its correction is issued. Rules, enforced here and by
CHECK constraints of the tables (migration 0003):

- four eyes (双人复核): the checker and the issuer are not the preparer;
- an issued period is locked: running it again is refused (409); its statements' amounts cannot be
  updated nor its statements deleted (triggers);
- a correction (更正) is a new version with a reason, prepared again from the data, and says which
  version it replaces; it goes through check and issue like the first;
- the hospital confirms (对账确认) or disputes (提出异议, with a reason) its issued statement within
  ``confirm_working_days`` working days of the issue date (:mod:`yibao.store.workdays`);
- every state change is in the audit log, in the same transaction.

Money is integer fen here; the computation of a statement is kept as its lines (JSON).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    func,
    select,
)

from yibao.contract.errors import RefusedInput
from yibao.engine.money import from_fen, to_fen
from yibao.store import audit
from yibao.store.db import Store, now_iso
from yibao.store.findings import TransitionRefused
from yibao.store.schema import metadata
from yibao.store.workdays import china_today, load_calendar

STATES = ("draft", "checked", "issued", "superseded")
STATE_ZH = {"draft": "草稿（待复核）", "checked": "已复核（待签发）", "issued": "已签发", "superseded": "已被更正版本取代"}
REPLIES = {"confirm": "confirmed", "dispute": "disputed"}
REPLY_ZH = {None: "待确认", "confirmed": "已确认", "disputed": "有异议"}
AGENCY_ROLES = frozenset({"agency"})  # who prepares, checks, issues and corrects periods (经办)

periods = Table(
    "settlement_periods", metadata,
    Column("period_id", Integer, primary_key=True, autoincrement=True),
    Column("pot", String(32), nullable=False),           # scheme.setting
    Column("scheme", String(16), nullable=False),
    Column("setting", String(16), nullable=False),
    Column("method", String(16), nullable=False),        # dip / drg / per_capita
    Column("year", Integer, nullable=False),
    Column("month", Integer),                            # 1–12; NULL = the year-end clearing
    Column("period_key", String(16), nullable=False),    # "2025-03" / "2025-clearing"
    Column("version", Integer, nullable=False),
    Column("replaces_id", Integer, ForeignKey("settlement_periods.period_id")),
    Column("reason", Text),                              # the correction's reason (version > 1)
    Column("cutoff", String(10), nullable=False),        # data cut-off date (数据截止日)
    Column("status", String(16), nullable=False),
    Column("prepared_by", String(128), nullable=False),
    Column("prepared_at", String(40), nullable=False),
    Column("checked_by", String(128)),
    Column("checked_at", String(40)),
    Column("issued_by", String(128)),
    Column("issued_at", String(40)),
    Column("issue_date", String(10)),
    Column("agency", Text, nullable=False),              # issuing agency (签发机构)
    Column("total_fen", BigInteger, nullable=False),
    Column("inputs", Text, nullable=False),              # JSON: what the run read
    Column("summary", Text, nullable=False),             # JSON: the pot's figures
    UniqueConstraint("pot", "period_key", "version", name="uq_period_version"),
    CheckConstraint("checked_by IS NULL OR checked_by <> prepared_by", name="ck_period_checker_not_preparer"),
    CheckConstraint("issued_by IS NULL OR issued_by <> prepared_by", name="ck_period_issuer_not_preparer"),
    CheckConstraint("status IN ('draft', 'checked', 'issued', 'superseded')", name="ck_period_status"),
    Index("ix_periods_pot_year", "pot", "year"),
)

statements = Table(
    "settlement_statements", metadata,
    Column("statement_id", Integer, primary_key=True, autoincrement=True),
    Column("period_id", Integer, ForeignKey("settlement_periods.period_id"), nullable=False),
    Column("number", String(80), nullable=False),        # 结算单编号 (the same across versions)
    Column("institution_id", String(32), nullable=False),
    Column("institution_name", Text, nullable=False),
    Column("units", String(40), nullable=False),
    Column("cases", Integer, nullable=False),
    Column("gross_fen", BigInteger, nullable=False),
    Column("deposit_fen", BigInteger, nullable=False),
    Column("deductions_fen", BigInteger, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),    # paid this period (clearing: the transfer)
    Column("items", Text, nullable=False),               # JSON [[label, value], …]: the computation
    Column("reply", String(16)),                         # confirmed / disputed
    Column("reply_reason", Text),
    Column("replied_by", String(128)),
    Column("replied_at", String(40)),
    Column("reply_deadline", String(10)),
    UniqueConstraint("period_id", "institution_id", name="uq_statement_institution"),
    Index("ix_statements_institution", "institution_id"),
)


class PeriodRefused(TransitionRefused, RefusedInput):
    """A refused period action: ``status`` the HTTP status (403/404/409/422), one Chinese line, exit 2."""

    def __init__(self, status: int, code: str, message: str) -> None:
        RefusedInput.__init__(self, message)  # .message is the one line (YibaoError)
        self.status, self.code = status, code


@dataclass(frozen=True)
class Actor:
    username: str
    role: str
    institution_id: str | None = None
    client: str = ""


def period_key(year: int, month: int | None) -> str:
    return f"{year}-clearing" if month is None else f"{year}-{month:02d}"


def statement_number(pot: str, year: int, month: int | None, institution_id: str) -> str:
    """结算单编号: pot, period and institution — a correction keeps the number and raises the version."""
    scheme, setting = pot.split(".")
    return f"JS-{period_key(year, month)}-{scheme[:3].upper()}-{setting[:2].upper()}-{institution_id}"


# --- preparing (a run) ---------------------------------------------------------------------------------

def _latest(con: Connection, pot: str, key: str):
    return con.execute(select(periods).where(periods.c.pot == pot, periods.c.period_key == key)
                       .order_by(periods.c.version.desc()).limit(1)).mappings().first()


def _require_agency(actor: Actor, what: str) -> None:
    if actor.role not in AGENCY_ROLES:
        raise PeriodRefused(403, "forbidden", f"只有经办人员可以{what}结算期")


def _insert_statements(con: Connection, pid: int, pot: str, year: int, month: int | None, lines: list[dict],
                       names: dict[str, str]) -> int:
    total = 0
    rows = []
    for ln in lines:
        fen = to_fen(ln["amount"])
        total += fen
        i = ln["institution_id"]
        rows.append({"period_id": pid, "number": statement_number(pot, year, month, i), "institution_id": i,
                     "institution_name": names.get(i, ""), "units": str(ln["units"]), "cases": int(ln["cases"]),
                     "gross_fen": to_fen(ln["gross"]), "deposit_fen": to_fen(ln["deposit"]),
                     "deductions_fen": to_fen(ln["deductions"]), "amount_fen": fen,
                     "items": json.dumps(ln["items"], ensure_ascii=False)})
    if rows:
        con.execute(statements.insert(), rows)
    return total


def prepare(store: Store, *, pot: str, method: str, year: int, month: int | None, cutoff: date,
            lines: list[dict], names: dict[str, str], agency: str, inputs: dict, summary: dict, actor: Actor,
            correct_of: int | None = None, reason: str | None = None) -> dict:
    """Record a run: a new draft (version 1), the open draft recomputed, or (``correct_of``) a correction.

    Refused (409) when the newest version is issued and this is not a correction of it; a correction
    needs the id of the newest issued version and a reason.
    """
    _require_agency(actor, "计算")
    scheme, setting = pot.split(".")
    key = period_key(year, month)
    with store.begin() as con:
        last = _latest(con, pot, key)
        now = now_iso()
        if correct_of is not None:
            if not (reason or "").strip():
                raise PeriodRefused(422, "invalid_request", "更正须说明理由")
            if last is None or last["period_id"] != correct_of:
                newest = f"（最新版本为第 {last['version']} 版，编号 {last['period_id']}）" if last else ""
                raise PeriodRefused(409, "conflict", f"只能更正该结算期的最新版本{newest}")
            if last["status"] != "issued":
                raise PeriodRefused(409, "conflict", f"第 {last['version']} 版尚未签发（{STATE_ZH[last['status']]}），"
                                                      "无须更正：直接重新计算即可")
            version, replaces = last["version"] + 1, last["period_id"]
        elif last is not None and last["status"] in ("issued", "superseded"):
            raise PeriodRefused(409, "conflict",
                                f"{_label(last)} 第 {last['version']} 版已签发并锁定，不能重新计算；如需更正，请提出更正"
                                f"（POST /api/periods/{last['period_id']}/correct 或 yibao period correct）")
        else:
            version, replaces = (last["version"], last["replaces_id"]) if last else (1, None)
            reason = last["reason"] if last else None
        values = {"pot": pot, "scheme": scheme, "setting": setting, "method": method, "year": year, "month": month,
                  "period_key": key, "version": version, "replaces_id": replaces, "reason": reason,
                  "cutoff": cutoff.isoformat(), "status": "draft", "prepared_by": actor.username,
                  "prepared_at": now, "checked_by": None, "checked_at": None, "agency": agency, "total_fen": 0,
                  "inputs": json.dumps(inputs, ensure_ascii=False, sort_keys=True, default=str),
                  "summary": json.dumps(summary, ensure_ascii=False, sort_keys=True, default=str)}
        if correct_of is None and last is not None:  # the open draft (or checked) version: recomputed in place
            pid = last["period_id"]
            con.execute(statements.delete().where(statements.c.period_id == pid))
            con.execute(periods.update().where(periods.c.period_id == pid).values(**values))
            action = "period.recompute"
        else:
            pid = con.execute(periods.insert().values(**values)).inserted_primary_key[0]
            action = "period.correct" if correct_of is not None else "period.prepare"
        total = _insert_statements(con, pid, pot, year, month, lines, names)
        con.execute(periods.update().where(periods.c.period_id == pid).values(total_fen=total))
        audit.append(con, actor=actor.username, role=actor.role, action=action, object=f"period:{pid}",
                     client=actor.client, detail={"pot": pot, "period": key, "version": version,
                                                  "statements": len(lines), "total": str(from_fen(total)),
                                                  **({"reason": reason, "replaces": replaces}
                                                     if correct_of is not None else {})})
    return get_period(store, pid)


def refuse_if_locked(store: Store, pot: str, year: int, month: int | None) -> None:
    """409 before any computation when the period's newest version is issued (a run would be refused)."""
    with store.begin() as con:
        last = _latest(con, pot, period_key(year, month))
    if last is not None and last["status"] in ("issued", "superseded"):
        raise PeriodRefused(409, "conflict",
                            f"{_label(last)} 第 {last['version']} 版已签发并锁定，不能重新计算；如需更正，请提出更正"
                            f"（POST /api/periods/{last['period_id']}/correct 或 yibao period correct）")


# --- check and issue (four eyes) ----------------------------------------------------------------------

def check(store: Store, period_id: int, actor: Actor) -> dict:
    """复核: a draft becomes checked; the checker is not the preparer."""
    _require_agency(actor, "复核")
    with store.begin() as con:
        p = _get(con, period_id)
        if p["status"] != "draft":
            raise PeriodRefused(409, "conflict", f"{_label(p)} 第 {p['version']} 版{STATE_ZH[p['status']]}，不能复核")
        if p["prepared_by"] == actor.username:
            raise PeriodRefused(409, "four_eyes", f"复核人不能是计算人（{actor.username}）：须由另一名经办人员复核")
        con.execute(periods.update().where(periods.c.period_id == period_id)
                    .values(status="checked", checked_by=actor.username, checked_at=now_iso()))
        audit.append(con, actor=actor.username, role=actor.role, action="period.check", object=f"period:{period_id}",
                     client=actor.client, detail={"pot": p["pot"], "period": p["period_key"], "version": p["version"]})
    return get_period(store, period_id)


def issue(store: Store, period_id: int, actor: Actor, issue_date: date | None = None,
          confirm_working_days: int = 10) -> dict:
    """签发: a checked version becomes issued (the statement of record); the issuer is not the preparer.
    The version it corrects becomes superseded. Each statement gets the hospital's reply deadline."""
    _require_agency(actor, "签发")
    day = issue_date or china_today()
    deadline = load_calendar().add_working_days(day, confirm_working_days)
    with store.begin() as con:
        p = _get(con, period_id)
        if p["status"] != "checked":
            raise PeriodRefused(409, "conflict", f"{_label(p)} 第 {p['version']} 版{STATE_ZH[p['status']]}，"
                                                  "须先复核才能签发" if p["status"] == "draft" else
                                f"{_label(p)} 第 {p['version']} 版{STATE_ZH[p['status']]}，不能签发")
        if p["prepared_by"] == actor.username:
            raise PeriodRefused(409, "four_eyes", f"签发人不能是计算人（{actor.username}）：须由另一名经办人员签发")
        now = now_iso()
        con.execute(periods.update().where(periods.c.period_id == period_id)
                    .values(status="issued", issued_by=actor.username, issued_at=now, issue_date=day.isoformat()))
        con.execute(statements.update().where(statements.c.period_id == period_id)
                    .values(reply_deadline=deadline.isoformat()))
        if p["replaces_id"] is not None:
            con.execute(periods.update().where(periods.c.period_id == p["replaces_id"]).values(status="superseded"))
            audit.append(con, actor=actor.username, role=actor.role, action="period.supersede",
                         object=f"period:{p['replaces_id']}", client=actor.client,
                         detail={"by": period_id, "version": p["version"]})
        audit.append(con, actor=actor.username, role=actor.role, action="period.issue", object=f"period:{period_id}",
                     client=actor.client, detail={"pot": p["pot"], "period": p["period_key"], "version": p["version"],
                                                  "issue_date": day.isoformat(), "total": str(from_fen(p["total_fen"])),
                                                  "reply_deadline": deadline.isoformat()})
    return get_period(store, period_id)


# --- the hospital's reply ------------------------------------------------------------------------------

def reply(store: Store, statement_id: int, action: str, reason: str, actor: Actor, today: date | None = None) -> dict:
    """对账确认 (confirm) or 提出异议 (dispute, with a reason) by the statement's own hospital, by the deadline."""
    if action not in REPLIES:
        raise PeriodRefused(422, "invalid_request", f"未知操作 {action}")
    if actor.role != "hospital":
        raise PeriodRefused(403, "forbidden", "只有医疗机构可以确认结算单或提出异议")
    if action == "dispute" and not (reason or "").strip():
        raise PeriodRefused(422, "invalid_request", "提出异议须说明理由")
    day = today or china_today()
    with store.begin() as con:
        s = _statement_row(con, statement_id, actor)
        p = _get(con, s["period_id"])
        if p["status"] != "issued":
            raise PeriodRefused(409, "conflict", f"该结算单所属版本{STATE_ZH[p['status']]}，请对最新签发版本确认")
        if s["reply"] is not None:
            raise PeriodRefused(409, "conflict", f"该结算单已{REPLY_ZH[s['reply']]}（{s['replied_at'][:10]}），不能再次操作")
        if s["reply_deadline"] and day.isoformat() > s["reply_deadline"]:
            raise PeriodRefused(409, "deadline_passed", f"对账确认期限 {s['reply_deadline']} 已过，视为无异议")
        con.execute(statements.update().where(statements.c.statement_id == statement_id)
                    .values(reply=REPLIES[action], reply_reason=(reason or "").strip() or None,
                            replied_by=actor.username, replied_at=now_iso()))
        audit.append(con, actor=actor.username, role=actor.role, action=f"statement.{action}",
                     object=f"statement:{statement_id}", client=actor.client,
                     detail={"period": p["period_id"], "version": p["version"], "institution_id": s["institution_id"],
                             **({"reason": reason.strip()} if action == "dispute" else {})})
    return get_statement(store, statement_id, actor)


def disputes(store: Store) -> list[dict]:
    """Disputed statements of issued versions, newest first (for the agency)."""
    with store.begin() as con:
        rows = con.execute(select(statements, periods.c.pot, periods.c.period_key, periods.c.version)
                           .join(periods, periods.c.period_id == statements.c.period_id)
                           .where(statements.c.reply == "disputed", periods.c.status == "issued")
                           .order_by(statements.c.replied_at.desc())).mappings().all()
    return [{**_statement_view(r), "pot": r["pot"], "period_key": r["period_key"], "version": r["version"]}
            for r in rows]


# --- reading --------------------------------------------------------------------------------------------

def _label(p) -> str:
    scheme, setting = p["pot"].split(".")
    zh = {"employee": "职工", "resident": "城乡居民"}.get(scheme, scheme) + {"inpatient": "住院", "outpatient": "门诊"}.get(
        setting, setting)
    when = f"{p['year']} 年年终清算" if p["month"] is None else f"{p['year']} 年 {p['month']} 月"
    return f"{zh} {when}"


def _get(con: Connection, period_id: int):
    p = con.execute(select(periods).where(periods.c.period_id == period_id)).mappings().first()
    if p is None:
        raise PeriodRefused(404, "not_found", f"未找到结算期 {period_id}")
    return p


def _months_now(con: Connection, pot: str, year: int) -> dict[int, tuple[int, int]]:
    """month → (period_id, version) of the months of record (issued) of a pot's year."""
    rows = con.execute(select(periods.c.month, periods.c.period_id, periods.c.version).where(
        periods.c.pot == pot, periods.c.year == year, periods.c.status == "issued", periods.c.month.is_not(None))).all()
    return {m: (pid, v) for m, pid, v in rows}


def _stale_months(con: Connection, p, now: dict[int, tuple[int, int]] | None = None) -> list[dict]:
    """For an issued clearing: the months whose version of record is not the one the clearing paid against
    (a month corrected and issued after the clearing was computed). Empty for anything else."""
    if p["month"] is not None or p["status"] != "issued":
        return []
    now = _months_now(con, p["pot"], p["year"]) if now is None else now
    used = json.loads(p["summary"]).get("months_of_record")
    out = []
    if used is None:  # a clearing recorded before it kept its months: a month issued after it was computed
        later = con.execute(select(periods.c.month).where(
            periods.c.pot == p["pot"], periods.c.year == p["year"], periods.c.month.is_not(None),
            periods.c.status == "issued", periods.c.issued_at > p["prepared_at"])).scalars().all()
        used = {str(m): None for m in range(1, 13)}
        changed = set(later)
    else:
        changed = {int(m) for m, pid in used.items() if now.get(int(m), (None,))[0] != pid}
    for m in sorted(changed):
        pid, v = now.get(m, (None, None))
        out.append({"month": m, "was_period_id": used.get(str(m)), "period_id": pid, "version": v})
    return out


def stale_notice(p, stale: list[dict]) -> str | None:
    """The Chinese notice of a clearing that needs a new version (None when it does not)."""
    if not stale:
        return None
    months = "、".join(f"{s['month']} 月" + (f"（现为第 {s['version']} 版，编号 {s['period_id']}）" if s["version"] else
                                           "（已无签发版本）") for s in stale)
    return (f"须重新清算：本清算签发后，{months}的月度预付已更正；本清算按更正前的月度预付计算，已不是按记录版本的清算。"
            f"请更正本清算（yibao period correct {p['period_id']} --reason … 或 POST /api/periods/{p['period_id']}/correct）")


def _period_view(p, statements_count: int | None = None, stale: list[dict] | None = None) -> dict:
    out = {k: p[k] for k in ("period_id", "pot", "scheme", "setting", "method", "year", "month", "period_key",
                             "version", "replaces_id", "reason", "cutoff", "status", "prepared_by", "prepared_at",
                             "checked_by", "checked_at", "issued_by", "issued_at", "issue_date", "agency")}
    out["kind"] = "clearing" if p["month"] is None else "month"
    out["status_zh"] = STATE_ZH[p["status"]]
    out["label"] = _label(p)
    out["total"] = str(from_fen(p["total_fen"]))
    out["summary"] = json.loads(p["summary"])
    stale = stale or []
    out["needs_new_version"] = bool(stale)  # an issued clearing paid against months corrected since
    out["stale_months"] = stale
    out["notice"] = stale_notice(p, stale)
    if statements_count is not None:
        out["statements"] = statements_count
    return out


def get_period(store: Store, period_id: int) -> dict:
    with store.begin() as con:
        p = _get(con, period_id)
        n = con.execute(select(func.count()).select_from(statements)
                        .where(statements.c.period_id == period_id)).scalar_one()
        stale = _stale_months(con, p)
    return _period_view(p, n, stale)


def period_row(store: Store, period_id: int) -> dict:
    with store.begin() as con:
        return dict(_get(con, period_id))


def list_periods(store: Store, *, year: int | None = None, pot: str | None = None, status: str | None = None,
                 institution_id: str | None = None) -> list[dict]:
    """Periods, by pot, period and version. ``institution_id`` (hospital users): only issued or superseded
    versions in which that institution has a statement."""
    q = select(periods).order_by(periods.c.pot, periods.c.year, periods.c.period_key, periods.c.version)
    if year is not None:
        q = q.where(periods.c.year == year)
    if pot is not None:
        q = q.where(periods.c.pot == pot)
    if status is not None:
        q = q.where(periods.c.status == status)
    if institution_id is not None:
        q = q.where(periods.c.status.in_(("issued", "superseded")),
                    periods.c.period_id.in_(select(statements.c.period_id)
                                            .where(statements.c.institution_id == institution_id)))
    with store.begin() as con:
        rows = con.execute(q).mappings().all()
        counts = dict(con.execute(select(statements.c.period_id, func.count()).group_by(statements.c.period_id)).all())
        stale = {r["period_id"]: _stale_months(con, r) for r in rows if r["month"] is None and r["status"] == "issued"}
    return [_period_view(r, counts.get(r["period_id"], 0), stale.get(r["period_id"])) for r in rows]


def of_record(store: Store, pot: str, year: int, month: int | None) -> dict | None:
    """The version of record of a period: its newest issued version (None when none is issued)."""
    with store.begin() as con:
        p = con.execute(select(periods).where(periods.c.pot == pot, periods.c.period_key == period_key(year, month),
                                              periods.c.status == "issued")
                        .order_by(periods.c.version.desc()).limit(1)).mappings().first()
    return None if p is None else get_period(store, p["period_id"])


def issued_months(store: Store, pot: str, year: int) -> dict[int, int]:
    """month → period_id of the version of record, for the months of ``year`` that are issued."""
    with store.begin() as con:
        rows = con.execute(select(periods.c.month, periods.c.period_id).where(
            periods.c.pot == pot, periods.c.year == year, periods.c.status == "issued",
            periods.c.month.is_not(None))).all()
    return {m: pid for m, pid in rows}


def months_of_record(store: Store, pot: str, year: int) -> dict[int, tuple[int, int]]:
    """month → (period_id, version) of the issued monthly versions of record of ``year``."""
    with store.begin() as con:
        return _months_now(con, pot, year)


def issued_paid(store: Store, pot: str, year: int) -> dict[str, Decimal]:
    """Σ per institution of what the issued monthly statements (versions of record) of ``year`` paid."""
    with store.begin() as con:
        rows = con.execute(select(statements.c.institution_id, func.sum(statements.c.amount_fen))
                           .join(periods, periods.c.period_id == statements.c.period_id)
                           .where(periods.c.pot == pot, periods.c.year == year, periods.c.status == "issued",
                                  periods.c.month.is_not(None))
                           .group_by(statements.c.institution_id)).all()
    return {i: from_fen(int(f)) for i, f in rows}


def _statement_view(s) -> dict:
    return {"statement_id": s["statement_id"], "period_id": s["period_id"], "number": s["number"],
            "institution_id": s["institution_id"], "institution_name": s["institution_name"], "units": s["units"],
            "cases": s["cases"], "gross": str(from_fen(s["gross_fen"])), "deposit": str(from_fen(s["deposit_fen"])),
            "deductions": str(from_fen(s["deductions_fen"])), "amount": str(from_fen(s["amount_fen"])),
            "items": json.loads(s["items"]), "reply": s["reply"], "reply_zh": REPLY_ZH[s["reply"]],
            "reply_reason": s["reply_reason"], "replied_by": s["replied_by"], "replied_at": s["replied_at"],
            "reply_deadline": s["reply_deadline"]}


def _statement_row(con: Connection, statement_id: int, actor: Actor | None):
    s = con.execute(select(statements).where(statements.c.statement_id == statement_id)).mappings().first()
    hidden = s is None
    if not hidden and actor is not None and actor.role == "hospital":
        p = _get(con, s["period_id"])
        hidden = s["institution_id"] != actor.institution_id or p["status"] not in ("issued", "superseded")
    if hidden:
        raise PeriodRefused(404, "not_found", f"未找到结算单 {statement_id}")
    return s


def get_statement(store: Store, statement_id: int, actor: Actor | None = None) -> dict:
    """One statement with its period (version, the version it replaces); a hospital sees only its own,
    issued ones (else 404)."""
    with store.begin() as con:
        s = _statement_row(con, statement_id, actor)
        p = _get(con, s["period_id"])
        replaced = None
        if p["replaces_id"] is not None:
            r = _get(con, p["replaces_id"])
            old = con.execute(select(statements.c.statement_id, statements.c.amount_fen).where(
                statements.c.period_id == r["period_id"], statements.c.institution_id == s["institution_id"])).first()
            replaced = {"period_id": r["period_id"], "version": r["version"],
                        "statement_id": old[0] if old else None,
                        "amount": str(from_fen(old[1])) if old else None}
        stale = _stale_months(con, p)
    return {**_statement_view(s), "period": _period_view(p, stale=stale), "replaces": replaced}


def period_statements(store: Store, period_id: int, institution_id: str | None = None) -> list[dict]:
    q = select(statements).where(statements.c.period_id == period_id).order_by(statements.c.institution_id)
    if institution_id is not None:
        q = q.where(statements.c.institution_id == institution_id)
    with store.begin() as con:
        return [_statement_view(r) for r in con.execute(q).mappings().all()]


def year_of_record(store: Store, pot: str, year: int) -> dict[str, dict[str, Decimal]]:
    """Per institution, what its statements of record paid each period (``"01"``…``"12"``, ``"clearing"``)."""
    with store.begin() as con:
        rows = con.execute(select(statements.c.institution_id, periods.c.month, statements.c.amount_fen)
                           .join(periods, periods.c.period_id == statements.c.period_id)
                           .where(and_(periods.c.pot == pot, periods.c.year == year,
                                       periods.c.status == "issued"))).all()
    out: dict[str, dict[str, Decimal]] = {}
    for i, m, fen in rows:
        out.setdefault(i, {})["clearing" if m is None else f"{m:02d}"] = from_fen(int(fen))
    return out


__all__ = ["Actor", "PeriodRefused", "STATES", "check", "disputes", "get_period", "get_statement", "issue",
           "issued_months", "issued_paid", "list_periods", "months_of_record", "stale_notice", "of_record",
           "period_key", "period_statements", "periods", "prepare", "refuse_if_locked", "reply", "statements", "year_of_record"]
