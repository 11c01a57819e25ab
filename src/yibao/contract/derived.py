"""Tables one capability produces and another consumes (派生表).

A capability never imports another; when one needs another's result, the interfaces layer runs
the first and hands its output to the second as a table of a shape fixed here — the one
definition of that shape, used by producer, consumer and tests alike.
"""

from __future__ import annotations

import pyarrow as pa

# Payment-qualification periods (医保支付资格 暂停/终止 periods), produced by ``yibao.staff`` from the
# staff/sanctions/repairs ledger and consumed by ``yibao.review`` (rule: service by suspended or
# terminated staff, emergency exempt) and by settlement deductions.
#   status      'suspended' (暂停) or 'terminated' (终止)
#   start_date  first day without qualification (the decision date), inclusive
#   end_date    first day with qualification again, exclusive; NULL = open (terminated, not re-registered)
#   source_id   the sanction (or ledger event) that started or last extended the period
#   emergency_paid  services to an emergency case (急诊、抢救, ``cases.emergency``) during the period are
#               still settled; NULL = the seed's rule (true for 'suspended', false for 'terminated'); the
#               staff capability writes it from its policy key ``staff.emergency_paid_statuses``
QUALIFICATION_PERIODS = pa.schema([
    pa.field("staff_id", pa.string(), nullable=False),
    pa.field("status", pa.string(), nullable=False),
    pa.field("start_date", pa.date32(), nullable=False),
    pa.field("end_date", pa.date32()),
    pa.field("source_id", pa.string()),
    pa.field("emergency_paid", pa.bool_()),
])

# The money effect of a period without qualification — the one definition, used by the staff capability's
# settlement effect (yibao.staff.settlement) and by the claims review (rule L11, logic ``suspended_staff``,
# and its Python twin in yibao.review.check). Seed 001 (医保发〔2024〕23号, 顾荣 answer 1):
# "暂停期内提供服务发生的医保费用不予结算（急救、抢救除外）…终止期内所提供服务发生的医保费用将不予结算".
# "提供服务" is the person's own services, so:
#   a fee line is not settled when its own staff member (``fee_items.staff_id``, 开单/执行人员) has a period
#   covering the line's ``service_date`` (start_date ≤ day < end_date), unless the case is an emergency and
#   every period covering that day has ``emergency_paid``; the amount not settled is the line's ``amount``.
# Lines of other staff on a case attended by such a person are their services, settled as usual (the review
# flags the case itself, rule C08, as a warning without an amount). Termination has no emergency exception.


def emergency_paid_sql(alias: str = "") -> str:
    """SQL: whether a QUALIFICATION_PERIODS row lets an emergency case's services be settled (NULL → the seed)."""
    p = f"{alias}." if alias else ""
    return f"coalesce({p}emergency_paid, {p}status = 'suspended')"


def emergency_paid(period: dict) -> bool:
    """The same for one period as a dict (the review's before-the-fact check)."""
    v = period.get("emergency_paid")
    return period["status"] == "suspended" if v is None else bool(v)


def as_qualification_periods(t: pa.Table) -> pa.Table:
    """A periods table in the exact schema; one written before ``emergency_paid`` existed gets it as NULL."""
    if "emergency_paid" not in t.column_names:
        t = t.append_column("emergency_paid", pa.nulls(t.num_rows, pa.bool_()))
    return t.select(QUALIFICATION_PERIODS.names).cast(QUALIFICATION_PERIODS)

# Settlement deductions (扣款) per institution, produced by claims review (and staff sanctions) and
# consumed by the settlement cycle (DIP/DRG year-end): the fund does not pay ``amount``.
#   year        settlement year of the cases the deductions come from
#   setting     'inpatient' or 'outpatient' (the cases' setting): inpatient deductions reduce the DIP/DRG
#               clearing, outpatient ones the outpatient pooling (按人头) clearing
#   source      'review' (智能审核 reject findings) or another named source
#   amount      yuan, DECIMAL(18,2), ≥ 0
DEDUCTIONS = pa.schema([
    pa.field("institution_id", pa.string(), nullable=False),
    pa.field("year", pa.int32(), nullable=False),
    pa.field("setting", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("amount", pa.decimal128(18, 2), nullable=False),
    pa.field("findings", pa.int64(), nullable=False),
])
