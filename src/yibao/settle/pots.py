"""What a budget year hands to a payment method (DIP, DRG): the pots (基金预算池) per scheme, fund money.

Defined here, in the shared settlement layer, so that the budget capability produces it
(:func:`yibao.budget.settlement_pots`) and DIP and DRG consume it without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from yibao.contract.errors import MissingData
from yibao.settle.inbound import CaseSelection

__all__ = ["Budgets", "require_settle_year"]


@dataclass(frozen=True)
class Budgets:
    """What the budget year hands to DIP and DRG, per scheme (fund money): the pots and the bed-day figure."""

    inpatient: Mapping[str, Decimal]
    outpatient: Mapping[str, Decimal]
    bed_day: Mapping[str, Decimal]
    cases: CaseSelection | None = None  # which cases are settled locally (out-of-area, yibao.settle.inbound)


def require_settle_year(years: list, year: int, source: object, budget_policy: object) -> None:
    """Refuse (exit 2, nothing written) a settlement year without a single case."""
    if year not in years:
        have = "、".join(str(y) for y in sorted({y for y in years if y is not None})) or "无"
        raise MissingData(f"{source}: 没有 {year} 年度（{budget_policy} 的 year）结算的住院病例，无法结算"
                          f"（已有的结算年度：{have}）")
