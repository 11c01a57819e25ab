"""Fraud leads (飞行检查线索) as records of the store: a run of ``yibao leads --out`` is imported, each lead's
outcome is recorded (待核查 → 已检查 → 查实 / 未查实) with its date, actor and note, and the hit rate of the
models is tracked like seed 001's "185 leads inspected, 111 confirmed" (查实率 = confirmed ÷ inspected, an
inspected lead being one 已检查, 查实 or 未查实).

States (:data:`STATUS_ZH`)::

    pending ──inspected──▶ inspected ──confirmed | not_confirmed──▶ (final)
    pending ──confirmed | not_confirmed──▶ (final)   (inspected and concluded the same day)

A run is identified by the SHA-256 of its ``leads.csv`` (``run_id`` = ``L`` + 16 hex digits): importing the
same directory again changes nothing. Each lead keeps its evidence (features with peer medians and robust z,
the cases behind it) from ``leads_features.csv`` and ``leads_cases.csv`` as JSON. Every import and every
outcome is an audit entry in the same transaction. Who may do what is the server's business (supervisor and
agency; hospital users never see leads).
"""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import date
from pathlib import Path

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text, func, select, update

from yibao.contract.errors import BadFile, MissingData, RefusedInput
from yibao.store import audit
from yibao.store.db import Store, now_iso
from yibao.store.schema import metadata

__all__ = ["import_run", "list_leads", "get_lead", "record_outcome", "hit_rate", "runs", "STATUS_ZH",
           "LeadRefused", "lead_runs", "leads", "lead_outcomes"]

STATUS_ZH = {"pending": "待核查", "inspected": "已检查", "confirmed": "查实", "not_confirmed": "未查实"}
FINAL = ("confirmed", "not_confirmed")
NEXT = {"pending": ("inspected", *FINAL), "inspected": FINAL}
LEVEL_ZH = {"institution": "机构", "doctor": "医师"}

lead_runs = Table(
    "lead_runs", metadata,
    Column("run_id", String(24), primary_key=True),
    Column("year", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("leads", Integer, nullable=False),
    Column("imported_by", String(128), nullable=False),
    Column("imported_at", String(40), nullable=False),
)
leads = Table(
    "leads", metadata,
    Column("lead_id", String(24), primary_key=True),
    Column("run_id", String(24), ForeignKey("lead_runs.run_id"), nullable=False),
    Column("year", Integer, nullable=False),
    Column("level", String(16), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("institution_id", String(32), nullable=False),
    Column("staff_id", String(32), nullable=False),
    Column("score", String(16), nullable=False),
    Column("reasons", Text, nullable=False),
    Column("evidence", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_on", String(10)),
    Column("status_by", String(128)),
    Column("status_note", Text),
    Column("status_at", String(40)),
    Index("ix_leads_run", "run_id", "level", "rank"),
)
lead_outcomes = Table(
    "lead_outcomes", metadata,
    Column("outcome_id", Integer, primary_key=True, autoincrement=True),
    Column("lead_id", String(24), ForeignKey("leads.lead_id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("on_date", String(10), nullable=False),
    Column("note", Text, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("at", String(40), nullable=False),
)


class LeadRefused(RefusedInput):
    """A step the lead's state does not allow (409) or a value out of range (422)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def _read(path: Path) -> list[dict]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        raise BadFile(f"{path}: 文件不存在（不是 yibao leads --out 的输出目录）") from None
    except UnicodeDecodeError as exc:
        raise BadFile(f"{path}: 不是 UTF-8 编码（字节位置 {exc.start}）") from None


def import_run(store: Store, out_dir: Path, year: int, *, actor: str, role: str = "cli") -> tuple[str, int, bool]:
    """Record the leads of a ``yibao leads --out`` directory: (run_id, leads, whether it is new)."""
    d = Path(out_dir)
    try:
        raw = (d / "leads.csv").read_bytes()
    except FileNotFoundError:
        raise BadFile(f"{d}: 缺少 leads.csv（不是 yibao leads --out 的输出目录）") from None
    rows = _read(d / "leads.csv")
    need = ("rank", "level", "institution_id", "staff_id", "score", "reasons")
    if rows and any(c not in rows[0] for c in need):
        raise BadFile(f"{d / 'leads.csv'}: 缺少列 {'、'.join(c for c in need if c not in rows[0])}")
    feats = _read(d / "leads_features.csv")
    cases = _read(d / "leads_cases.csv") if (d / "leads_cases.csv").is_file() else []
    run_id = "L" + hashlib.sha256(raw + str(year).encode()).hexdigest()[:16].upper()
    key = lambda r: (r["level"], r["institution_id"], r["staff_id"] if r["level"] == "doctor" else "")  # noqa: E731
    by_f: dict[tuple, list] = {}
    for f in feats:
        by_f.setdefault(key(f), []).append({k: f[k] for k in ("feature", "feature_zh", "value", "peer_median",
                                                             "robust_z", "peer_group", "cases")})
    by_c: dict[tuple, list] = {}
    for c in cases:
        by_c.setdefault(key(c), []).append({k: v for k, v in c.items() if k not in ("level", "rank")})
    at = now_iso()
    with store.begin() as con:
        if con.execute(select(lead_runs.c.run_id).where(lead_runs.c.run_id == run_id)).first():
            return run_id, len(rows), False
        con.execute(lead_runs.insert().values(run_id=run_id, year=year, source=str(d), leads=len(rows),
                                              imported_by=actor, imported_at=at))
        values = []
        for r in rows:
            k = key(r)
            lid = "LD" + hashlib.sha256(f"{run_id}|{'|'.join(k)}".encode()).hexdigest()[:16].upper()
            values.append({"lead_id": lid, "run_id": run_id, "year": year, "level": r["level"], "rank": int(r["rank"]),
                           "institution_id": r["institution_id"], "staff_id": r["staff_id"] or "",
                           "score": r["score"], "reasons": r["reasons"], "status": "pending",
                           "evidence": json.dumps({"features": by_f.get(k, []), "cases": by_c.get(k, [])},
                                                  ensure_ascii=False, sort_keys=True)})
        if values:
            con.execute(leads.insert(), values)
        audit.append(con, actor=actor, role=role, action="leads.import", object=f"lead_run:{run_id}",
                     detail={"year": year, "leads": len(rows), "source": d.name})
    return run_id, len(rows), True


def runs(store: Store) -> list[dict]:
    with store.begin() as con:
        return [dict(r) for r in con.execute(
            select(lead_runs).order_by(lead_runs.c.imported_at.desc(), lead_runs.c.run_id)).mappings()]


def _latest_run(con, year: int | None) -> str | None:
    q = select(lead_runs.c.run_id).order_by(lead_runs.c.imported_at.desc(), lead_runs.c.run_id).limit(1)
    if year is not None:
        q = q.where(lead_runs.c.year == year)
    r = con.execute(q).first()
    return r[0] if r else None


def _out(r, evidence: bool = False) -> dict:
    d = dict(r)
    ev = d.pop("evidence")
    if evidence:
        d["evidence"] = json.loads(ev)
    d["status_zh"] = STATUS_ZH[d["status"]]
    d["level_zh"] = LEVEL_ZH.get(d["level"], d["level"])
    return d


def list_leads(store: Store, *, year: int | None = None, run_id: str | None = None,
               level: str | None = None) -> tuple[str | None, list[dict]]:
    """(the run shown — ``run_id`` or the newest of ``year`` —, its leads by level and rank)."""
    with store.begin() as con:
        rid = run_id or _latest_run(con, year)
        if rid is None:
            return None, []
        q = select(leads).where(leads.c.run_id == rid)
        if level is not None:
            q = q.where(leads.c.level == level)
        rows = con.execute(q.order_by(leads.c.level.desc(), leads.c.rank)).mappings().all()
    return rid, [_out(r) for r in rows]


def get_lead(store: Store, lead_id: str) -> dict:
    with store.begin() as con:
        r = con.execute(select(leads).where(leads.c.lead_id == lead_id)).mappings().first()
        if r is None:
            raise MissingData(f"未找到线索 {lead_id}")
        hist = con.execute(select(lead_outcomes).where(lead_outcomes.c.lead_id == lead_id)
                           .order_by(lead_outcomes.c.outcome_id)).mappings().all()
    d = _out(r, evidence=True)
    d["history"] = [{**dict(h), "status_zh": STATUS_ZH[h["status"]]} for h in hist]
    return d


def record_outcome(store: Store, lead_id: str, status: str, on_date: str, note: str, *, actor: str, role: str,
                   client: str = "") -> dict:
    """Move a lead to ``status`` (inspected / confirmed / not_confirmed) on ``on_date`` with a note."""
    if status not in STATUS_ZH or status == "pending":
        raise LeadRefused(f"结果应为 已检查、查实 或 未查实（inspected / confirmed / not_confirmed）：{status}", 422)
    try:
        day = date.fromisoformat(on_date)
    except (TypeError, ValueError):
        raise LeadRefused(f"日期应为 YYYY-MM-DD：{on_date}", 422) from None
    if not (note or "").strip():
        raise LeadRefused("请填写核查说明", 422)
    at = now_iso()
    with store.begin() as con:
        r = con.execute(select(leads.c.status).where(leads.c.lead_id == lead_id)).first()
        if r is None:
            raise MissingData(f"未找到线索 {lead_id}")
        if status not in NEXT.get(r[0], ()):
            raise LeadRefused(f"线索当前为“{STATUS_ZH[r[0]]}”，不能改为“{STATUS_ZH[status]}”")
        con.execute(update(leads).where(leads.c.lead_id == lead_id).values(
            status=status, status_on=day.isoformat(), status_by=actor, status_note=note.strip(), status_at=at))
        con.execute(lead_outcomes.insert().values(lead_id=lead_id, status=status, on_date=day.isoformat(),
                                                  note=note.strip(), actor=actor, role=role, at=at))
        audit.append(con, actor=actor, role=role, action=f"leads.{status}", object=f"lead:{lead_id}", client=client,
                     detail={"from": r[0], "on": day.isoformat()})
    return get_lead(store, lead_id)


def hit_rate(store: Store, run_id: str | None) -> dict:
    """Counts of a run's leads by outcome and 查实率 = confirmed ÷ inspected (None before any inspection)."""
    out = {"leads": 0, "pending": 0, "inspected": 0, "confirmed": 0, "not_confirmed": 0}
    if run_id is None:
        return {**out, "inspected_total": 0, "rate": None, "by_level": {}}
    with store.begin() as con:
        rows = con.execute(select(leads.c.level, leads.c.status, func.count()).where(leads.c.run_id == run_id)
                           .group_by(leads.c.level, leads.c.status)).all()
    by_level: dict[str, dict] = {}
    for lv, st, n in rows:
        out[st] += n
        out["leads"] += n
        b = by_level.setdefault(lv, {"leads": 0, "pending": 0, "inspected": 0, "confirmed": 0, "not_confirmed": 0})
        b[st] += n
        b["leads"] += n
    for b in [out, *by_level.values()]:
        b["inspected_total"] = b["inspected"] + b["confirmed"] + b["not_confirmed"]
        b["rate"] = (f"{b['confirmed'] / b['inspected_total'] * 100:.1f}%" if b["inspected_total"] else None)
    out["by_level"] = by_level
    return out
