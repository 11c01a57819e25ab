"""Shared settlement machinery (结算): what budget control, DIP and DRG all need, written once.

This package sits between the engine and the capabilities: it imports only ``yibao.contract`` and
``yibao.engine``, and capabilities (``yibao.budget``, ``yibao.dip``, ``yibao.drg``) call it — they never
call each other (docs/adr/0003-shared-settlement.md).

- :mod:`yibao.settle.bands` — 结余留用、超支分担 bands and the quality-deposit return (质量保证金).
- :mod:`yibao.settle.units` — settlement by value of a unit (点值): DIP points, DRG weights and
  per-capita persons are all "units"; a budget divided by the units gives the unit value, monthly
  (provisional, 预付) and at the year end (清算).
- :mod:`yibao.settle.pots` — the pots a budget year hands to DIP and DRG (:class:`Budgets`).
- :mod:`yibao.settle.agreement` — cases outside the service agreement (服务协议期外), excluded.
- :mod:`yibao.settle.deductions` — review deductions (扣款) applied to a settlement.
- :mod:`yibao.settle.relative` — the group-year steps of relative indicators.
- :mod:`yibao.settle.report` — the statements' columns, sheets, CSV files and head (签发机构).
"""

from yibao.settle.bands import DepositBand, OverBand, deposit_share, fund_share, share
from yibao.settle.deductions import Deduction, read_deductions
from yibao.settle.pots import Budgets, require_settle_year
from yibao.settle.report import Issuer, issuer_from, statement_head
from yibao.settle.units import SchemeSettlement, UnitPolicy, settle_scheme

__all__ = [
    "Budgets", "Deduction", "DepositBand", "Issuer", "OverBand", "SchemeSettlement", "UnitPolicy", "deposit_share",
    "fund_share", "issuer_from", "read_deductions", "require_settle_year", "settle_scheme", "share",
    "statement_head",
]
