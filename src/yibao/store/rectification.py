"""Rectification of an overrun (超总额整改) as records of the store: the agency issues the notice that
``yibao assess --budget`` wrote (``overrun.csv``), the institution answers, the agency follows up.

State machine (:data:`TRANSITIONS`)::

    issued ──respond (hospital of the institution; after the due date too, marked late)──▶ responded
    issued | responded ──follow_up (agency, supervisor: rectified / not_rectified)──▶ closed

A notice is identified by year × pot × institution (``rect_id`` = ``R`` + 16 hex digits of SHA-256): issuing the
same file again changes nothing. Money in fen (integers). Every change is an audit entry in the same transaction.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select, update

from yibao.contract.errors import BadFile, MissingData, RefusedInput
from yibao.store import audit
from yibao.store.db import Store, now_iso
from yibao.store.schema import rectifications
from yibao.store.workdays import china_today

__all__ = ["issue_file", "list_notices", "respond", "follow_up", "TRANSITIONS", "STATUS_ZH", "RESULT_ZH",
           "RectificationRefused"]

STATUS_ZH = {"issued": "已下发", "responded": "机构已反馈", "closed": "已跟踪办结"}
RESULT_ZH = {"rectified": "整改到位", "not_rectified": "未整改到位"}


@dataclass(frozen=True)
class Transition:
    action: str
    from_status: tuple[str, ...]
    to_status: str
    roles: frozenset[str]


TRANSITIONS = (
    Transition("respond", ("issued",), "responded", frozenset({"hospital"})),
    Transition("follow_up", ("issued", "responded"), "closed", frozenset({"agency", "supervisor"})),
)
BY_ACTION = {t.action: t for t in TRANSITIONS}


class RectificationRefused(RefusedInput):
    """A step the notice's state or the user's role does not allow (the API answers 409 / 403)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def _fen(text: str | None) -> int | None:
    if text in (None, ""):
        return None
    return int((Decimal(text) * 100).to_integral_value())


def _id(year: int, pot: str, institution: str) -> str:
    return "R" + hashlib.sha256(f"{year}|{pot}|{institution}".encode()).hexdigest()[:16].upper()


def issue_file(store: Store, overrun_csv: Path, year: int, *, actor: str, role: str = "cli") -> tuple[int, int]:
    """Record the notices of an ``overrun.csv`` (``yibao assess --budget … --issued-on D``): (new, already there)."""
    try:
        with Path(overrun_csv).open(encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise BadFile(f"{overrun_csv}: 文件不存在") from None
    need = ("pot", "institution_id", "name", "overrun", "opinion", "issued_on", "response_due", "follow_up_on")
    if rows and any(c not in rows[0] for c in need):
        raise BadFile(f"{overrun_csv}: 不是 yibao assess 的 overrun.csv（缺少列 "
                      f"{', '.join(c for c in need if c not in rows[0])}）")
    undated = [r["institution_id"] for r in rows if not r["issued_on"]]
    if undated:
        raise BadFile(f"{overrun_csv}: {len(undated)} 条整改意见没有下发日期（请用 yibao assess --issued-on 日期 重新生成）")
    new = old = 0
    at = now_iso()
    with store.begin() as con:
        for r in rows:
            rid = _id(year, r["pot"], r["institution_id"])
            if con.execute(select(rectifications.c.rect_id).where(rectifications.c.rect_id == rid)).first():
                old += 1
                continue
            con.execute(rectifications.insert().values(
                rect_id=rid, year=year, pot=r["pot"], institution_id=r["institution_id"], institution_name=r["name"],
                overrun_fen=_fen(r["overrun"]), volume_fen=_fen(r.get("volume_effect")),
                case_mix_fen=_fen(r.get("case_mix_effect")), cost_fen=_fen(r.get("cost_effect")),
                opinion=r["opinion"], issued_on=r["issued_on"], response_due=r["response_due"],
                follow_up_on=r["follow_up_on"], status="issued", issued_by=actor, issued_at=at))
            audit.append(con, actor=actor, role=role, action="rectification.issue", object=f"rectification:{rid}",
                         detail={"year": year, "pot": r["pot"], "institution_id": r["institution_id"],
                                 "overrun": r["overrun"]})
            new += 1
    return new, old


def _out(r) -> dict:
    d = dict(r._mapping)
    for k in ("overrun", "volume", "case_mix", "cost"):
        fen = d.pop(f"{k}_fen")
        d[k] = None if fen is None else f"{Decimal(fen) / 100:.2f}"
    d["status_zh"] = STATUS_ZH[d["status"]]
    d["result_zh"] = RESULT_ZH.get(d["result"] or "", "")
    d["overdue"] = d["status"] == "issued" and china_today().isoformat() > d["response_due"]
    return d


def list_notices(store: Store, *, year: int | None = None, institution_id: str | None = None) -> list[dict]:
    q = select(rectifications)
    if year is not None:
        q = q.where(rectifications.c.year == year)
    if institution_id is not None:
        q = q.where(rectifications.c.institution_id == institution_id)
    with store.begin() as con:
        rows = con.execute(q.order_by(rectifications.c.year, rectifications.c.pot, rectifications.c.overrun_fen.desc(),
                                      rectifications.c.institution_id)).all()
    return [_out(r) for r in rows]


def _step(store: Store, rect_id: str, action: str, *, actor: str, role: str, institution_id: str | None,
          values: dict, detail: dict) -> dict:
    t = BY_ACTION[action]
    with store.begin() as con:
        row = con.execute(select(rectifications).where(rectifications.c.rect_id == rect_id)).first()
        if row is None or (role == "hospital" and row.institution_id != institution_id):
            raise MissingData(f"没有整改意见 {rect_id}")  # another institution's: 404, not 403
        if role not in t.roles:
            raise RectificationRefused(f"角色 {role} 不能{ {'respond': '反馈', 'follow_up': '跟踪办结'}[action] }整改意见", 403)
        if row.status not in t.from_status:
            raise RectificationRefused(f"整改意见 {rect_id} 当前状态为“{STATUS_ZH[row.status]}”，"
                                       f"不能再{ {'respond': '反馈', 'follow_up': '跟踪办结'}[action] }")
        con.execute(update(rectifications).where(rectifications.c.rect_id == rect_id).values(status=t.to_status, **values))
        audit.append(con, actor=actor, role=role, action=f"rectification.{action}", object=f"rectification:{rect_id}",
                     detail=detail)
        row = con.execute(select(rectifications).where(rectifications.c.rect_id == rect_id)).first()
    return _out(row)


def respond(store: Store, rect_id: str, text: str, *, actor: str, role: str, institution_id: str | None) -> dict:
    """The institution's answer (原因分析与整改措施); after the due date it is taken and marked late."""
    if not text.strip():
        raise RectificationRefused("反馈内容不能为空", 422)
    late = china_today().isoformat() > (list_one(store, rect_id) or {}).get("response_due", "9999")
    return _step(store, rect_id, "respond", actor=actor, role=role, institution_id=institution_id,
                 values={"response": text.strip(), "responded_by": actor, "responded_at": now_iso()},
                 detail={"late": late})


def follow_up(store: Store, rect_id: str, result: str, note: str, *, actor: str, role: str,
              institution_id: str | None = None) -> dict:
    if result not in RESULT_ZH:
        raise RectificationRefused(f"跟踪结果应为 {' / '.join(RESULT_ZH)}", 422)
    if not note.strip():
        raise RectificationRefused("跟踪说明不能为空", 422)
    return _step(store, rect_id, "follow_up", actor=actor, role=role, institution_id=institution_id,
                 values={"result": result, "follow_up_note": note.strip(), "followed_up_by": actor,
                         "followed_up_at": now_iso()}, detail={"result": result})


def list_one(store: Store, rect_id: str) -> dict | None:
    with store.begin() as con:
        row = con.execute(select(rectifications).where(rectifications.c.rect_id == rect_id)).first()
    return _out(row) if row else None
