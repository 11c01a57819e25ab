"""Settlement by the value of a unit (点值法): monthly prepayment (按月预付) and year-end clearing (年终清算).

DIP points (分值), DRG weights (权重 × 机构系数) and per-capita persons (按人头) are all *units*: a budget
divided by the units earned gives the value of one unit, and each institution is paid its units × that
value. One scheme (职工 or 城乡居民) is settled at a time; everything is exact (``Decimal`` money,
``Fraction`` values, largest-remainder allocation in fen).

Two conventions (``convention``, a policy switch):

- ``fund`` — the budget counts fund money only: value = B ÷ U; an institution's amount
  A_i = its share of B by units (largest remainder, so Σ A_i = B to the fen).
- ``total_cost`` — the budget counts total cost: B' = B ÷ r, with r the region's reimbursement ratio
  (统筹基金支付比例; given, or Σ fund_paid ÷ Σ total_cost of the year's cases); A'_i = its share of B' by
  units (Σ A'_i = B'), and the fund amount A_i = A'_i − the patient payments of its own cases
  (total_cost − fund_paid), never below zero.

Monthly (month m, with B_m the month's part of B by the seasonality weights): the provisional value
v_m = B_m ÷ U_m (or B_m ÷ r ÷ U_m); each institution's gross prepayment is its share of B_m (or of
B_m ÷ r, less its patients' payments) by its month units — with ``prepay_cap = booked`` at most the fund it
booked that month; the quality deposit (质量保证金)
``round(gross × deposit_rate)`` is withheld and the rest paid.

Year end, per institution: A_i against the fund amount it booked (记账) by the bands of
:mod:`yibao.settle.bands` (结余留用、超支分担) → base; the deposit is returned by the assessment score;
entitlement = base − deposit deducted − deductions (claims review, sanctions); final transfer =
entitlement − what the months paid (negative: the institution pays back).

Identities (asserted): Σ_i A_i = B (or Σ A'_i = B'); per month Σ_i gross = B_m (fund convention);
per institution Σ paid + deposit withheld = Σ gross; Σ paid + final transfer = entitlement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from yibao.engine.money import ZERO, allocate, allocate_exact, decimal_view, fen_half_up, fmt, round_money, to_fen
from yibao.settle.bands import Bands, deposit_share, share

MONTHS = tuple(range(1, 13))
CONVENTIONS = ("fund", "total_cost")
CONVENTION_ZH = {"fund": "按基金口径（预算只含统筹基金）",
                 "total_cost": "按总费用口径（预算按报销比例折算为总费用，再扣除个人负担）"}


class SettlementError(ValueError):
    """An impossible settlement input (a programming or data error, never a user's typo)."""


@dataclass(frozen=True)
class UnitMonth:
    """One institution's month: units earned, cases, and the money of those cases."""

    institution_id: str
    month: int
    units: Decimal
    cases: int
    total_cost: Decimal
    fund_paid: Decimal

    @property
    def patient_paid(self) -> Decimal:
        return self.total_cost - self.fund_paid


@dataclass(frozen=True)
class UnitPolicy:
    convention: str = "fund"
    reimbursement_ratio: Decimal | None = None  # None = from the data (Σ fund_paid ÷ Σ total_cost)
    deposit_rate: Decimal = Decimal("0.05")
    prepay_cap: str = "none"  # "booked": a month's gross prepayment is at most the fund booked that month
    value_places: int = 6  # unit values are shown with this many decimals (display; amounts use exact values)


@dataclass
class MonthValue:
    month: int
    budget: Decimal  # B_m, fund money
    budget_units_money: Decimal  # B_m (fund) or B_m ÷ r (total cost), to the fen
    units: Decimal
    value: Decimal | None  # provisional unit value (display)


@dataclass
class Prepayment:
    institution_id: str
    month: int
    units: Decimal
    cases: int
    gross_units_money: Decimal  # its share of the month's budget by units (before patient payments)
    patient_paid: Decimal  # total-cost convention: subtracted; fund convention: shown, not used
    gross: Decimal  # fund money due for the month
    deposit: Decimal
    paid: Decimal


@dataclass
class Clearing:
    institution_id: str
    units: Decimal
    cases: int
    total_cost: Decimal
    booked: Decimal  # fund_paid booked by the institution (记账)
    units_money: Decimal  # A_i (fund) or A'_i (total cost)
    patient_paid: Decimal
    amount: Decimal  # A_i: fund money its units earn
    saving: Decimal
    saving_kept: Decimal
    overrun: Decimal
    overrun_rate: Decimal | None
    overrun_fund_share: Decimal
    overrun_borne: Decimal
    base: Decimal
    deposit_withheld: Decimal
    score: Decimal
    deposit_return_share: Decimal
    deposit_returned: Decimal
    deposit_deducted: Decimal
    deductions: Decimal
    entitlement: Decimal
    prepaid: Decimal
    final_transfer: Decimal
    note: str


@dataclass
class SchemeSettlement:
    scheme: str
    convention: str
    budget: Decimal  # B, fund money
    ratio: Fraction | None  # r (total-cost convention)
    ratio_source: str
    budget_units_money: Decimal  # B or B'
    units: Decimal
    value: Fraction | None  # exact annual unit value
    months: list[MonthValue]
    prepayments: list[Prepayment]
    clearing: list[Clearing]

    @property
    def value_shown(self) -> Decimal | None:
        return decimal_view(self.value, 6) if self.value is not None else None

    @property
    def ratio_shown(self) -> Decimal | None:
        return decimal_view(self.ratio, 6) if self.ratio is not None else None

    @property
    def entitled(self) -> Decimal:
        return sum((c.entitlement for c in self.clearing), ZERO)

    @property
    def balance(self) -> Decimal:
        """What stays in the fund: B − Σ entitlements (negative: the year cost more than its budget)."""
        return self.budget - self.entitled


def _units_weight(u: Decimal) -> int:
    """Units (at most 4 decimals) as integer weights for :func:`allocate`."""
    w = u.scaleb(4)
    if w != w.to_integral_value():
        raise SettlementError(f"units with more than 4 decimals: {u}")
    return int(w)


def month_budgets(budget: Decimal, weights: Sequence[int] | None) -> list[Decimal]:
    """B split over the 12 months by ``weights`` (e.g. last year's booked fund in fen), else equally."""
    w = list(weights) if weights is not None and any(weights) else [1] * 12
    if len(w) != 12 or any(x < 0 for x in w):
        raise SettlementError("month weights must be 12 numbers ≥ 0")
    return allocate(budget, w)


def settle_scheme(scheme: str, budget: Decimal, months: Sequence[UnitMonth], policy: UnitPolicy, bands: Bands,
                  scores: Mapping[str, Decimal], default_score: Decimal,
                  deductions: Mapping[str, Decimal] | None = None,
                  month_weights: Sequence[int] | None = None) -> SchemeSettlement:
    """Settle one scheme's year: month values and prepayments, the annual value, each institution's clearing."""
    if policy.convention not in CONVENTIONS:
        raise SettlementError(f"unknown convention {policy.convention!r}")
    if budget < 0:
        raise SettlementError("budget < 0")
    deductions = dict(deductions or {})
    rows = sorted(months, key=lambda r: (r.institution_id, r.month))
    insts = sorted({r.institution_id for r in rows} | set(deductions))
    total_cost = sum((r.total_cost for r in rows), ZERO)
    fund_paid = sum((r.fund_paid for r in rows), ZERO)

    ratio: Fraction | None = None
    ratio_source = ""
    if policy.convention == "total_cost":
        if policy.reimbursement_ratio is not None:
            ratio, ratio_source = Fraction(policy.reimbursement_ratio), "政策文件 reimbursement_ratio"
        elif total_cost > 0 and fund_paid > 0:
            ratio = Fraction(fund_paid) / Fraction(total_cost)
            ratio_source = f"本年病例 统筹基金 {fmt(fund_paid)} ÷ 医疗总费用 {fmt(total_cost)}"
        else:
            ratio, ratio_source = Fraction(1), "本年无病例费用，按 1"
        if ratio <= 0:
            raise SettlementError("reimbursement ratio must be > 0")

    def in_units_money(amount: Decimal) -> Decimal:
        return amount if ratio is None else fen_half_up(Fraction(amount) / ratio)

    # --- months ---------------------------------------------------------------------------------
    mb = month_budgets(budget, month_weights)
    by_month: dict[int, list[UnitMonth]] = {m: [] for m in MONTHS}
    for r in rows:
        if r.month not in by_month:
            raise SettlementError(f"month {r.month} out of 1–12")
        by_month[r.month].append(r)
    month_values, prepay = [], []
    for m in MONTHS:
        mrows = by_month[m]
        units = sum((r.units for r in mrows), Decimal(0))
        money = in_units_money(mb[m - 1])
        value = decimal_view(Fraction(money) / Fraction(units), policy.value_places) if units > 0 else None
        month_values.append(MonthValue(m, mb[m - 1], money, units, value))
        shares = allocate(money, [_units_weight(r.units) for r in mrows]) if units > 0 else [ZERO] * len(mrows)
        for r, s in zip(mrows, shares):
            gross = s if ratio is None else max(s - r.patient_paid, ZERO)
            if policy.prepay_cap == "booked":
                gross = min(gross, max(r.fund_paid, ZERO))
            dep = round_money(gross * policy.deposit_rate)
            prepay.append(Prepayment(r.institution_id, m, r.units, r.cases, s, r.patient_paid, gross, dep, gross - dep))
        if ratio is None and units > 0 and policy.prepay_cap == "none":
            assert sum(shares, ZERO) == money, "month prepayments must add up to the month's budget"

    # --- year end -------------------------------------------------------------------------------
    per: dict[str, dict] = {i: {"units": Decimal(0), "cases": 0, "total_cost": ZERO, "fund_paid": ZERO} for i in insts}
    for r in rows:
        p = per[r.institution_id]
        p["units"] += r.units
        p["cases"] += r.cases
        p["total_cost"] += r.total_cost
        p["fund_paid"] += r.fund_paid
    units_total = sum((p["units"] for p in per.values()), Decimal(0))
    money_total = in_units_money(budget)
    value = Fraction(money_total) / Fraction(units_total) if units_total > 0 else None
    shares = allocate(money_total, [_units_weight(per[i]["units"]) for i in insts]) if units_total > 0 \
        else [ZERO] * len(insts)
    if units_total > 0:
        assert sum(shares, ZERO) == money_total, "institution amounts must add up to the budget"
    paid_by: dict[str, tuple[Decimal, Decimal]] = {}
    for p in prepay:
        d, w = paid_by.get(p.institution_id, (ZERO, ZERO))
        paid_by[p.institution_id] = (d + p.paid, w + p.deposit)
    clearing = []
    for i, units_money in zip(insts, shares):
        p = per[i]
        patient = p["total_cost"] - p["fund_paid"]
        amount = units_money if ratio is None else max(units_money - patient, ZERO)
        score = scores.get(i, default_score)
        sh = share(amount, p["fund_paid"], bands, score)
        prepaid, withheld = paid_by.get(i, (ZERO, ZERO))
        dshare = deposit_share(score, bands)
        returned = round_money(withheld * dshare)
        deducted = withheld - returned
        ded = deductions.get(i, ZERO)
        entitlement = sh.base - deducted - ded
        notes = []
        if value is not None:
            notes.append(f"点数 {p['units']} × 点值 {decimal_view(value, policy.value_places)} → {fmt(units_money)}"
                         "（按点数分配预算，最大余数法到分）")
        if ratio is not None:
            notes.append(f"减个人负担 {fmt(patient)} → 基金应付 {fmt(amount)}")
        notes.append(f"记账 {fmt(p['fund_paid'])}；{sh.note}")
        if withheld:
            notes.append(f"考核得分 {score}，返还保证金 {fmt(withheld)} × {dshare} = {fmt(returned)}")
        if ded:
            notes.append(f"扣款 {fmt(ded)}")
        notes.append(f"年度应付 {fmt(entitlement)} − 已预付 {fmt(prepaid)} = 清算拨付 {fmt(entitlement - prepaid)}")
        clearing.append(Clearing(
            i, p["units"], p["cases"], p["total_cost"], p["fund_paid"], units_money, patient, amount,
            sh.saving, sh.saving_kept, sh.overrun, sh.overrun_rate, sh.overrun_fund_share, sh.overrun_borne,
            sh.base, withheld, score, dshare, returned, deducted, ded, entitlement, prepaid, entitlement - prepaid,
            "；".join(notes)))
    return SchemeSettlement(scheme, policy.convention, budget, ratio, ratio_source, money_total, units_total, value,
                            month_values, prepay, clearing)


def last_year_weights(month_fund: Mapping[int, Decimal]) -> list[int] | None:
    """Seasonality weights from last year's booked fund by month (fen); None when there is none."""
    w = [max(to_fen(month_fund.get(m, ZERO)), 0) for m in MONTHS]
    return w if any(w) else None


def pro_rata_cap(amounts: Sequence[Decimal], cap: Decimal) -> tuple[list[Decimal], bool]:
    """Amounts as they are when Σ ≤ cap, else ``cap`` split in proportion to them (largest remainder)."""
    total = sum(amounts, ZERO)
    if total <= cap:
        return list(amounts), False
    return allocate_exact(cap, [Fraction(a) for a in amounts]), True


def booked_by_institution(rows: Iterable[Mapping], year: int, method: str | None = None) \
        -> dict[str, dict[str, Decimal]]:
    """Σ ``fund_paid`` per institution and scheme of aggregate rows (``year``, ``scheme``, ``institution_id``,
    ``fund_paid`` and, when ``method`` is given, ``method``) of one year: the weights of :func:`split_deductions`."""
    out: dict[str, dict[str, Decimal]] = {}
    for r in rows:
        if r["year"] == year and (method is None or r["method"] == method):
            b = out.setdefault(r["institution_id"], {})
            b[r["scheme"]] = b.get(r["scheme"], ZERO) + r["fund_paid"]
    return out


def split_deductions(by_institution: Mapping[str, Decimal], booked: Mapping[str, Mapping[str, Decimal]],
                     schemes: Sequence[str] = ("employee", "resident")) -> dict[tuple[str, str], Decimal]:
    """Institution deductions (扣款) split over its schemes by the fund it booked in each (largest remainder).

    An institution with nothing booked takes the whole deduction on the first scheme.
    """
    out: dict[tuple[str, str], Decimal] = {}
    for inst, amount in sorted(by_institution.items()):
        b = booked.get(inst, {})
        mine = [s for s in schemes if b.get(s, ZERO) > 0] or [schemes[0]]
        weights = [to_fen(b[s]) if s in b and b[s] > 0 else 1 for s in mine]
        for s, part in zip(mine, allocate(amount, weights)):
            if part:
                out[(s, inst)] = part
    return out
