"""The scoring procedure (记分程序, seed 001 张超 answer 二是): 预先告知 → 复核 → 记分决定.

1. ``notice``: the advance notice of a proposed finding, with the deadline (notice date +
   ``procedure.review_request_days``) until which the person may ask for review. It does not score.
2. ``request_review``: the person's review request (复核申请), on or before the deadline.
3. ``opinion``: an expert's peer-review opinion (专家同行评议, 顾荣 answer 2 第四), any number.
4. ``decide``: the decision (记分决定). Without a review request it may be taken only after the
   deadline; with one it is the review decision (复核决定): upheld, changed points, or cancelled.
   Only the decision appends a ``sanction`` event — only decided sanctions count.

Each step appends ledger events (nothing is changed) and returns the letter it produces, if any.
"""

from __future__ import annotations

import datetime as dt
import json

from yibao.contract.errors import BadOption
from yibao.engine.workspace import Workspace
from yibao.staff.ledger import Entry, LedgerError, append, ledger_events, sync_from_workspace
from yibao.staff.letters import decision_letter, notice_letter
from yibao.staff.policy import StaffPolicy
from yibao.staff.rules import registration_barred_until


def _events(ws: Workspace, ref: str) -> list[dict]:
    cols = ["event_id", "staff_id", "kind", "day", "institution_id", "basis", "responsibility", "points", "fraud",
            "detail"]
    rows = ws.con.execute(f"SELECT {', '.join(cols)} FROM staff_events WHERE ref_id = ? ORDER BY event_id",
                          [ref]).fetchall()
    return [dict(zip(cols, r)) for r in rows]


def _staff_name(ws: Workspace, staff_id: str) -> str:
    try:
        rows = ws.con.execute("SELECT name FROM staff WHERE staff_id = ?", [staff_id]).fetchall()
    except Exception:  # noqa: BLE001 - a ledger without the contract tables
        rows = []
    return (rows[0][0] if rows and rows[0][0] else "") or staff_id


def _inst_name(ws: Workspace, inst: str | None) -> str:
    if not inst:
        return ""
    rows = ws.con.execute("SELECT name FROM institutions WHERE institution_id = ?", [inst]).fetchall()
    return rows[0][0] if rows and rows[0][0] else inst


def notice(ws: Workspace, pol: StaffPolicy, sanction_id: str, staff_id: str, institution_id: str, day: dt.date,
           points: int, basis: str, responsibility: str, fraud: bool = False, facts: str = "") -> str:
    where = f"处理决定 {sanction_id}"
    if _events(ws, sanction_id):
        raise LedgerError(where, "已有记录（预先告知或决定），不能重复告知")
    if responsibility not in pol.scoring_responsibilities:
        raise LedgerError(where, f"责任程度为 {responsibility}：没有责任的不记分（医保发〔2024〕23号，是谁的问题就处理谁）")
    if basis not in pol.scoring_bases:
        raise LedgerError(where, f"处理依据 {basis} 不是行政处罚或较重的协议处理，不记分（允许：{'、'.join(pol.scoring_bases)}）")
    if not pol.min_points <= points <= pol.max_points:
        raise LedgerError(where, f"记分 {points} 不在 {pol.min_points}–{pol.max_points} 分之间")
    known = ws.con.execute("SELECT count(*) FROM staff WHERE staff_id = ?", [staff_id]).fetchall()[0][0] or \
        ws.con.execute("SELECT count(*) FROM staff_events WHERE staff_id = ?", [staff_id]).fetchall()[0][0]
    if not known:
        raise LedgerError(where, f"人员 {staff_id} 不在人员表或档案中（先装载 staff 表或登记备案）")
    deadline = day + dt.timedelta(days=pol.review_request_days)
    with ws.transaction() as con:
        append(con, [Entry(staff_id, "notice", day, sanction_id, institution_id, basis, responsibility, points, fraud,
                           detail={"deadline": deadline.isoformat(), "facts": facts})])
        ws.log_event("staff_notice", {"sanction_id": sanction_id, "staff_id": staff_id})
    return notice_letter(sanction_id=sanction_id, staff_id=staff_id, name=_staff_name(ws, staff_id),
                         institution=_inst_name(ws, institution_id), day=day, points=points, basis=basis,
                         responsibility=responsibility, fraud=fraud, facts=facts, deadline=deadline)


def _noticed(ws: Workspace, sanction_id: str) -> tuple[dict, list[dict]]:
    evs = _events(ws, sanction_id)
    notes = [e for e in evs if e["kind"] == "notice"]
    if not notes:
        raise LedgerError(f"处理决定 {sanction_id}", "没有预先告知记录")
    if any(e["kind"] in ("sanction", "withdrawn") for e in evs):
        raise LedgerError(f"处理决定 {sanction_id}", "已作出决定")
    return notes[-1], evs


def request_review(ws: Workspace, sanction_id: str, day: dt.date, reason: str = "") -> None:
    note, evs = _noticed(ws, sanction_id)
    deadline = dt.date.fromisoformat(json.loads(note["detail"])["deadline"])
    if day > deadline or day < note["day"]:
        raise LedgerError(f"处理决定 {sanction_id}", f"复核申请日期 {day} 不在告知日 {note['day']} 至期限 {deadline} 之内")
    if any(e["kind"] == "review_requested" for e in evs):
        raise LedgerError(f"处理决定 {sanction_id}", "已申请复核")
    with ws.transaction() as con:
        append(con, [Entry(note["staff_id"], "review_requested", day, sanction_id, detail={"reason": reason})])


def opinion(ws: Workspace, sanction_id: str, day: dt.date, expert: str, text: str) -> None:
    note, _ = _noticed(ws, sanction_id)
    if not expert.strip() or not text.strip():
        raise LedgerError(f"处理决定 {sanction_id}", "专家姓名和意见不能为空")
    with ws.transaction() as con:
        append(con, [Entry(note["staff_id"], "expert_opinion", day, sanction_id,
                           detail={"expert": expert.strip(), "opinion": text.strip()})])


def decide(ws: Workspace, pol: StaffPolicy, sanction_id: str, day: dt.date, points: int | None = None,
           cancel: bool = False, reason: str = "") -> str:
    note, evs = _noticed(ws, sanction_id)
    deadline = dt.date.fromisoformat(json.loads(note["detail"])["deadline"])
    reviewed = any(e["kind"] == "review_requested" for e in evs)
    where = f"处理决定 {sanction_id}"
    if day < note["day"]:
        raise LedgerError(where, f"决定日期 {day} 早于告知日期 {note['day']}")
    if not reviewed and day <= deadline:
        raise LedgerError(where, f"复核申请期限（至 {deadline}）未满且未申请复核，不能作出决定")
    if cancel and not reviewed:
        raise LedgerError(where, "未申请复核，不能撤销（撤销是复核决定）")
    final = note["points"] if points is None else points
    if not cancel and not pol.min_points <= final <= pol.max_points:
        raise LedgerError(where, f"记分 {final} 不在 {pol.min_points}–{pol.max_points} 分之间")
    outcome = "cancelled" if cancel else ("changed" if final != note["points"] else "upheld")
    entries = []
    if reviewed:
        entries.append(Entry(note["staff_id"], "review_decided", day, sanction_id,
                             detail={"outcome": outcome, "points": None if cancel else final, "reason": reason}))
    if cancel:
        entries.append(Entry(note["staff_id"], "withdrawn", day, sanction_id, detail={"reason": reason}))
    else:
        entries.append(Entry(note["staff_id"], "sanction", day, sanction_id, note["institution_id"], note["basis"],
                             note["responsibility"], final, note["fraud"], detail={"notice_event": note["event_id"]}))
    with ws.transaction() as con:
        append(con, entries)
        ws.log_event("staff_decide", {"sanction_id": sanction_id, "outcome": outcome})
    opinions = [json.loads(e["detail"]) for e in evs if e["kind"] == "expert_opinion"]
    return decision_letter(sanction_id=sanction_id, staff_id=note["staff_id"], name=_staff_name(ws, note["staff_id"]),
                           institution=_inst_name(ws, note["institution_id"]), day=day, notice_day=note["day"],
                           points=final, noticed_points=note["points"], basis=note["basis"],
                           responsibility=note["responsibility"], fraud=bool(note["fraud"]), reviewed=reviewed,
                           outcome=outcome, opinions=opinions, reason=reason)


def register(ws: Workspace, pol: StaffPolicy, staff_id: str, institution_id: str, day: dt.date) -> None:
    """A (re-)registration (登记备案) on ``day``; refused while a termination bar runs (the bar derived by
    :func:`yibao.staff.rules.registration_barred_until`). The loaded rows are synchronised into the ledger first."""
    sync_from_workspace(ws)
    until = registration_barred_until(ledger_events(ws.con, staff_id), staff_id, pol, day)
    if until is not None:
        raise BadOption(f"人员 {staff_id}：医保支付资格已终止，{until} 起方可再次登记备案")  # (the wording of the CLI)
    with ws.transaction() as con:
        append(con, [Entry(staff_id, "registration", day, f"reg:{staff_id}:{day.isoformat()}", institution_id)])
