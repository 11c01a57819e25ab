"""The agency's decisions on manual reimbursement claims in the store (SQLite and PostgreSQL): approve with the
amount the calculator computed, refuse with the reason in Chinese, a decision again (the newest stands, the
history stays), the refusals (no reason, an approval of a claim the rules refuse), and the audit chain."""

from __future__ import annotations

import pytest

from yibao.store import audit
from yibao.store import claim_decisions as cd

APPROVED = {"claim_id": "CL0001", "decision": "approved", "reason": "予以报销", "fund_reimbursed": "6715.00"}
LATE = {"claim_id": "CL0002", "decision": "refused", "reason": "不予报销：超过出院之日起 1 个月的申报期限",
        "fund_reimbursed": "0.00"}


def test_decisions_with_amount_actor_time_history_and_audit(store):
    d = cd.record_decision(store, "CL0001", 2025, "approved", "", computed=APPROVED, actor="agency1", role="agency")
    assert (d["decision_zh"], d["fund_reimbursed"], d["computed_decision"], d["actor"]) == \
        ("予以报销", "6715.00", "approved", "agency1")
    # refused at the window although the rules approve (the amount kept is then 0.00, the rules' amount beside it)
    d2 = cd.record_decision(store, "CL0001", 2025, "refused", "发票经核查为伪造", computed=APPROVED,
                            actor="agency2", role="agency")
    assert (d2["fund_reimbursed"], d2["reason"], d2["computed_decision"]) == ("0.00", "发票经核查为伪造", "approved")
    hist = cd.decisions(store, "CL0001")
    assert [(h["decision_zh"], h["fund_reimbursed"], h["actor"]) for h in hist] == [
        ("不予报销", "0.00", "agency2"), ("予以报销", "6715.00", "agency1")]  # newest first: it stands
    assert all(h["at"] for h in hist) and hist[0]["at"] >= hist[1]["at"]
    late = cd.record_decision(store, "CL0002", 2025, "refused", "超过出院之日起 1 个月的申报期限", computed=LATE,
                              actor="agency1", role="agency")
    assert late["computed_reason"] == LATE["reason"] and cd.decisions(store, "CL9999") == []
    ev = audit.events(store, 5)
    assert [(e["action"], e["object"]) for e in ev[:3]] == [
        ("outarea.claim_refused", "claim:CL0002"), ("outarea.claim_refused", "claim:CL0001"),
        ("outarea.claim_approved", "claim:CL0001")]
    assert audit.verify(store).ok


def test_what_is_refused_changes_nothing(store):
    with pytest.raises(cd.DecisionRefused, match="不予报销须写明理由"):
        cd.record_decision(store, "CL0002", 2025, "refused", "  ", computed=LATE, actor="agency1", role="agency")
    with pytest.raises(cd.DecisionRefused, match="按规则不予报销.*不能予以报销"):
        cd.record_decision(store, "CL0002", 2025, "approved", "同意", computed=LATE, actor="agency1", role="agency")
    with pytest.raises(cd.DecisionRefused, match="approved / refused"):
        cd.record_decision(store, "CL0001", 2025, "maybe", "", computed=APPROVED, actor="agency1", role="agency")
    assert cd.decisions(store, "CL0001") == [] and cd.decisions(store, "CL0002") == []
