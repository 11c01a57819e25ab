"""The agency's decisions on manual reimbursement claims (零星报销, issue 21) as records of the store.

The out-of-area check computes, for every claim, what the rules give — 予以报销 with the amount the benefit
calculator computes, or 不予报销 with the reason (late, a missing document, no filing) — and the claim's page shows
it. The agency (经办) then decides: approve (予以报销) or refuse (不予报销, the reason in Chinese required). A decision
is stored with the amount computed at that moment (``fund_reimbursed``; 0.00 when refused), the rules' own
decision and reason beside it, who decided and when. A claim the rules refuse cannot be approved (no payment was
computed for it: its data is corrected first, then it is computed and decided again); a claim the rules approve
may be refused with a reason (e.g. an invoice found forged at the window). Every decision
is an audit entry in the same transaction. A claim may be decided again (e.g. after a missing document came in):
the newest decision stands, the earlier ones stay in its history.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from sqlalchemy import Column, Index, Integer, String, Table, Text, select

from yibao.contract.errors import RefusedInput
from yibao.store import audit
from yibao.store.db import Store, now_iso
from yibao.store.schema import metadata

__all__ = ["DECISION_ZH", "DecisionRefused", "claim_decisions", "decisions", "record_decision"]

DECISION_ZH = {"approved": "予以报销", "refused": "不予报销"}

claim_decisions = Table(
    "claim_decisions", metadata,
    Column("decision_id", Integer, primary_key=True, autoincrement=True),
    Column("claim_id", String(32), nullable=False),
    Column("year", Integer, nullable=False),
    Column("decision", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("fund_reimbursed", String(24), nullable=False),
    Column("computed_decision", String(16), nullable=False),
    Column("computed_reason", Text, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("at", String(40), nullable=False),
    Index("ix_claim_decisions_claim", "claim_id", "decision_id"),
)


class DecisionRefused(RefusedInput):
    """A decision the input does not allow (422)."""

    status = 422


def record_decision(store: Store, claim_id: str, year: int, decision: str, reason: str, *, computed: dict,
                    actor: str, role: str, client: str = "") -> dict:
    """Store the agency's ``decision`` (approved / refused) on a claim; ``computed``: the rules' row for the claim
    (``decision``, ``reason``, ``fund_reimbursed``, as the out-of-area check gives it). An approval keeps the
    computed amount, a refusal 0.00 and needs a reason. Returns the stored decision."""
    if decision not in DECISION_ZH:
        raise DecisionRefused(f"审核决定应为 予以报销 或 不予报销（approved / refused）：{decision}")
    reason = (reason or "").strip()
    if decision == "refused" and not reason:
        raise DecisionRefused("不予报销须写明理由")
    try:
        amount = Decimal(str(computed["fund_reimbursed"])).quantize(Decimal("0.01"))
    except (KeyError, InvalidOperation):
        raise DecisionRefused(f"零星报销申请 {claim_id} 没有计算结果") from None
    if decision == "approved" and computed.get("decision") != "approved":
        # the rules refuse it (late, a document missing, no filing), so no payment was computed: an approval would
        # keep no amount. The claim's data is corrected first (e.g. the missing document entered), then decided.
        raise DecisionRefused(f"零星报销申请 {claim_id} 按规则不予报销（{computed.get('reason') or ''}），"
                              "不能予以报销：请先补正申报资料并重新计算")
    kept = amount if decision == "approved" else Decimal("0.00")
    row = {"claim_id": claim_id, "year": int(year), "decision": decision, "reason": reason,
           "fund_reimbursed": f"{kept:.2f}", "computed_decision": str(computed.get("decision") or ""),
           "computed_reason": str(computed.get("reason") or ""), "actor": actor, "role": role, "at": now_iso()}
    with store.begin() as con:
        new_id = con.execute(claim_decisions.insert().values(**row)).inserted_primary_key[0]
        audit.append(con, actor=actor, role=role, action=f"outarea.claim_{decision}", object=f"claim:{claim_id}",
                     client=client, detail={"year": int(year), "fund_reimbursed": row["fund_reimbursed"],
                                            "computed_decision": row["computed_decision"]})
    return {**row, "decision_id": new_id, "decision_zh": DECISION_ZH[decision]}


def decisions(store: Store, claim_id: str) -> list[dict]:
    """Every decision on a claim, newest first (the first one stands)."""
    with store.begin() as con:
        rows = con.execute(select(claim_decisions).where(claim_decisions.c.claim_id == claim_id)
                           .order_by(claim_decisions.c.decision_id.desc())).mappings().all()
    return [{**dict(r), "decision_zh": DECISION_ZH.get(r["decision"], r["decision"])} for r in rows]
