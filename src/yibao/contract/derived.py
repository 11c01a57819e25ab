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
QUALIFICATION_PERIODS = pa.schema([
    pa.field("staff_id", pa.string(), nullable=False),
    pa.field("status", pa.string(), nullable=False),
    pa.field("start_date", pa.date32(), nullable=False),
    pa.field("end_date", pa.date32()),
    pa.field("source_id", pa.string()),
])

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
