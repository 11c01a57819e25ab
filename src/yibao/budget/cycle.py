"""The monthly cycle (按月结算, 人社部发〔2012〕70号 三（七）), per pot × institution.

1. Withhold from the annual quota Q: quality deposit ``deposit = Q × deposit_rate`` and
   clearing reserve ``reserve = Q × clearing_rate`` (each half up to the fen). The rest,
   ``monthly budget = Q − deposit − reserve``, is split over the months in force by
   :func:`allocate`: equally (``flat``) or by last year's booked months (``last_year``: the
   institution's own pot months; when it has none, the region's pot months; else flat).
2. Mid-year adjustment (``midyear_month`` k > 0): an institution whose 人次 in months 1..k
   differ from the same months last year by more than ``midyear_threshold`` (ratio rounded
   half up to 4 decimals) is flagged. When any is, the pot's remaining month quotas (months
   > k, all institutions) are re-split: each institution's remaining quotas weighted by its
   ratio when flagged, by 1 otherwise; its new remainder is spread over its months > k in
   proportion to the old ones. The pot is unchanged; the institutions' annual quotas move
   by the difference (``adjustment``). The withheld amounts stay those of the original quota.
3. Each month pays ``min(booked, month quota)`` (``monthly_cap = monthly``) or, with
   ``cumulative``, whatever keeps the year-to-date payment at ``min(year-to-date booked,
   year-to-date quota)``; the rest of the booked amount is deferred to the clearing
   (暂缓拨付; under ``cumulative`` a negative deferral is an earlier deferral paid now).
4. Turnover fund (周转金): ``Q × turnover_rate`` advanced in the first month in force,
   recovered in ``turnover_recovery_month`` (0: at the clearing).

Identities, per pot × institution: Σ month quotas + deposit + reserve = adjusted quota;
Σ paid + Σ deferred = Σ booked; month transfer = paid + advance − recovery.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from yibao.budget.policy import CyclePolicy
from yibao.budget.split import Institution
from yibao.engine.money import ZERO, allocate, div, round_money, to_fen

MONTHS = tuple(range(1, 13))


@dataclass
class MonthRow:
    pot: str
    institution_id: str
    month: int
    in_force: bool
    planned_quota: Decimal  # month quota before the mid-year adjustment
    adjustment: Decimal
    quota: Decimal
    booked: Decimal
    paid: Decimal
    deferred: Decimal
    turnover_advance: Decimal
    turnover_recovery: Decimal
    transfer: Decimal  # paid + advance − recovery
    visits: int


@dataclass
class CycleLine:
    """One pot × institution over the year."""

    pot: str
    institution_id: str
    quota: Decimal  # from the split
    deposit: Decimal
    reserve: Decimal
    monthly_budget: Decimal
    seasonality: str  # own / region / flat
    midyear_ratio: Decimal | None  # 人次 months 1..k this year / last year (4 decimals)
    midyear_flagged: bool
    adjustment: Decimal  # mid-year change of the annual quota
    turnover_advance: Decimal
    turnover_recovered: Decimal  # in the months
    months: list[MonthRow] = field(default_factory=list)

    @property
    def adjusted_quota(self) -> Decimal:
        return self.quota + self.adjustment

    @property
    def booked(self) -> Decimal:
        return sum((m.booked for m in self.months), ZERO)

    @property
    def paid(self) -> Decimal:
        return sum((m.paid for m in self.months), ZERO)

    @property
    def deferred(self) -> Decimal:
        return sum((m.deferred for m in self.months), ZERO)


def _month_weights(inst: Institution, year: int, pot: str, cp: CyclePolicy,
                   months: Mapping[tuple, tuple[int, Decimal]], region_last: Mapping[int, Decimal]) -> tuple[list[int], str]:
    scheme, setting = pot.split(".")
    live = set(inst.months_in_force(year))
    mask = [1 if m in live else 0 for m in MONTHS]
    if cp.seasonality == "last_year":
        own = [to_fen(months.get((inst.institution_id, year - 1, m, scheme, setting), (0, ZERO))[1]) * k
               for m, k in zip(MONTHS, mask)]
        if any(w > 0 for w in own) and all(w >= 0 for w in own):
            return own, "own"
        reg = [to_fen(region_last.get(m, ZERO)) * k for m, k in zip(MONTHS, mask)]
        if any(w > 0 for w in reg) and all(w >= 0 for w in reg):
            return reg, "region"
    return mask, "flat"


def run_cycle(pot: str, quotas: Sequence[tuple[Institution, Decimal]], year: int, cp: CyclePolicy,
              months: Mapping[tuple, tuple[int, Decimal]]) -> list[CycleLine]:
    """The year's months for one pot. ``months[(institution_id, year, month, scheme, setting)] = (visits, fund_paid)``."""
    scheme, setting = pot.split(".")
    region_last: dict[int, Decimal] = {}
    for (_, y, m, s, t), (_, fund) in months.items():
        if y == year - 1 and s == scheme and t == setting:
            region_last[m] = region_last.get(m, ZERO) + fund
    lines: list[CycleLine] = []
    for inst, q in sorted(quotas, key=lambda x: x[0].institution_id):
        deposit = round_money(q * cp.deposit_rate)
        # both parts are rounded half-up on their own; the reserve never takes more than the deposit left,
        # so the monthly budget is never negative (deposit_rate + clearing_rate = 1 with an odd fen)
        reserve = min(round_money(q * cp.clearing_rate), q - deposit)
        budget = q - deposit - reserve
        weights, how = _month_weights(inst, year, pot, cp, months, region_last)
        planned = allocate(budget, weights) if any(weights) else [ZERO] * 12
        live = set(inst.months_in_force(year))
        rows = []
        for m, mq in zip(MONTHS, planned):
            visits, booked = months.get((inst.institution_id, year, m, scheme, setting), (0, ZERO))
            rows.append(MonthRow(pot, inst.institution_id, m, m in live, mq, ZERO, mq, booked, ZERO, ZERO, ZERO,
                                 ZERO, ZERO, visits))
        lines.append(CycleLine(pot, inst.institution_id, q, deposit, reserve, budget, how, None, False, ZERO,
                               ZERO, ZERO, rows))
    if 0 < cp.midyear_month < 12:
        _midyear(lines, year, cp, months, scheme, setting)
    for line, (inst, _) in zip(lines, sorted(quotas, key=lambda x: x[0].institution_id)):
        _pay(line, inst, year, cp)
    return lines


def _midyear(lines: list[CycleLine], year: int, cp: CyclePolicy, months: Mapping[tuple, tuple[int, Decimal]],
             scheme: str, setting: str) -> None:
    k = cp.midyear_month
    for line in lines:
        now = sum(months.get((line.institution_id, year, m, scheme, setting), (0, ZERO))[0] for m in range(1, k + 1))
        last = sum(months.get((line.institution_id, year - 1, m, scheme, setting), (0, ZERO))[0] for m in range(1, k + 1))
        if last > 0:
            line.midyear_ratio = div(now, last, 4)
            line.midyear_flagged = abs(line.midyear_ratio - 1) > cp.midyear_threshold
    if not any(line.midyear_flagged for line in lines):
        return
    rem = [sum((r.quota for r in line.months[k:]), ZERO) for line in lines]
    pot_rem = sum(rem, ZERO)
    weights = [to_fen(r) * (int(line.midyear_ratio * 10000) if line.midyear_flagged else 10000)
               for line, r in zip(lines, rem)]
    if not any(weights):
        return
    new_rem = allocate(pot_rem, weights)
    for line, old, new in zip(lines, rem, new_rem):
        tail = line.months[k:]
        w = [to_fen(r.quota) for r in tail]
        if not any(w):
            w = [1 if r.in_force else 0 for r in tail]
        if not any(w):
            w = [1] * len(tail)
        for r, part in zip(tail, allocate(new, w)):
            r.adjustment = part - r.planned_quota
            r.quota = part
        line.adjustment = new - old


def _pay(line: CycleLine, inst: Institution, year: int, cp: CyclePolicy) -> None:
    cum_booked = cum_quota = cum_paid = ZERO
    for r in line.months:
        cum_booked += r.booked
        cum_quota += r.quota
        if cp.monthly_cap == "monthly":
            r.paid = min(r.booked, r.quota)
        else:
            r.paid = min(cum_booked, cum_quota) - cum_paid
        r.deferred = r.booked - r.paid
        cum_paid += r.paid
    live = inst.months_in_force(year)
    advance = round_money(line.quota * cp.turnover_rate)
    if advance and live:
        line.months[live[0] - 1].turnover_advance = advance
        line.turnover_advance = advance
        rm = cp.turnover_recovery_month
        if rm and rm >= live[0]:
            line.months[rm - 1].turnover_recovery = advance
            line.turnover_recovered = advance
    for r in line.months:
        r.transfer = r.paid + r.turnover_advance - r.turnover_recovery
