"""Splitting each pot over the institutions (总额指标分解, 人社部发〔2012〕70号 三（三）（四）).

Pots per scheme (险种): 住院 ``inpatient`` = the regional total (``final_total``, the hospital
settlement total of 韶关 第五–七条); 门诊 ``outpatient`` = ``outpatient_pooling`` (普通门诊统筹).

For one pot, each eligible institution *i* gets a weight, exactly (rational numbers):

1. history: for each of the three years before the budget year, the institution's Σ fund_paid,
   人次 and 人数 in the pot's scheme × setting, weighted ``history_weights`` (default 1:2:7);
   years without any case in the region are left out and the weights renormalised over the
   years present (shown as weighted averages; the shares are unaffected by the common divisor);
2. score = Σ over the bases b (fund_paid, visits, persons) of basis_b × X_i,b / Σ_j X_j,b,
   where a basis whose pot-wide sum is zero is left out;
3. weight = score × level_factor × category_factor × months in force / 12;
4. primary-care floor (基层保底): when the weights of ``kind = primary`` add up to less than
   ``primary_floor[setting]`` of all weights, the primary weights are scaled so that they add
   up to exactly that share;
5. groups (optional, ``split.groups``): the pot is first split over the groups (Σ of their
   members' weights), group transfers ``[[split.adjustments]]`` with ``from_group`` are applied,
   then each group's quota is split over its members; without groups the pot is one group;
6. institution transfers (``from_institution`` / ``to_institution``) are applied last.

Every split is :func:`yibao.engine.money.allocate` (largest remainder in fen), so the quotas of
a pot add up to the pot exactly. Transfers move whole amounts, so they keep the sum too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from yibao.budget.policy import SplitPolicy
from yibao.contract.errors import BadPolicy
from yibao.contract.vocab import KIND_ZH, SCHEME_ZH, SETTING_ZH, level_zh
from yibao.engine.money import FEN, ZERO, allocate, allocate_exact, decimal_view, fen_half_up, round_to  # noqa: F401 (re-exported)

CATEGORY_ZH = {"general": "综合", "tcm": "中医", "specialist": "专科", "maternal_child": "妇幼", "other": "其他"}
BASES = ("fund_paid", "visits", "persons")


class BudgetError(BadPolicy, ValueError):
    """A budget that cannot be computed from these data and this policy (one Chinese line; exit 2)."""


@dataclass(frozen=True)
class Institution:
    institution_id: str
    name: str
    kind: str
    level: int
    category: str
    agreement_start: date
    agreement_end: date | None

    def months_in_force(self, year: int) -> tuple[int, ...]:
        """Months of ``year`` in which the agreement is in force on at least one day."""
        out = []
        for m in range(1, 13):
            first = date(year, m, 1)
            last = date(year + (m == 12), m % 12 + 1, 1)  # exclusive
            if self.agreement_start < last and (self.agreement_end is None or self.agreement_end >= first):
                out.append(m)
        return tuple(out)

    def group(self, group_by: Sequence[str]) -> str:
        return "-".join(str(getattr(self, c)) for c in group_by)

    def group_zh(self, group_by: Sequence[str]) -> str:
        zh = {"kind": KIND_ZH, "category": CATEGORY_ZH}
        return "·".join(level_zh(getattr(self, c)) if c == "level" else zh[c].get(getattr(self, c), str(getattr(self, c)))
                        for c in group_by)


def pot_zh(pot: str) -> str:
    scheme, setting = pot.split(".")
    return f"{SCHEME_ZH[scheme]}{SETTING_ZH[setting]}"


@dataclass
class QuotaRow:
    pot: str
    institution_id: str
    name: str
    kind: str
    level: int
    category: str
    group: str
    group_zh: str
    months_in_force: int
    hist_fund_paid: Decimal  # weighted average over the years present, to the fen (display)
    hist_visits: Decimal
    hist_persons: Decimal
    factor: Decimal  # level × category × months/12 (4 decimals, display)
    base_share: Decimal  # share of the pot's weights before the primary floor (6 decimals, display)
    floor_applied: bool
    share: Decimal  # final share of the pot's weights (6 decimals, display)
    group_quota: Decimal  # the group's quota after group transfers (whole pot when no groups)
    split_quota: Decimal  # the institution's part of its group quota
    adjustment: Decimal  # net institution transfers (+ received, − given)
    quota: Decimal
    weight: Fraction  # exact weight (not written)


@dataclass(frozen=True)
class AdjustmentRow:
    index: int
    pot: str
    level: str  # group / institution
    from_: str
    to: str
    amount: Decimal
    note: str


def history_years(year: int, years_present: set[int], weights: Sequence[Decimal]) -> dict[int, Decimal]:
    """The history years used (budget year −3, −2, −1) with their weights, years absent from the data left out."""
    return {y: w for y, w in zip((year - 3, year - 2, year - 1), weights) if y in years_present and w > 0}


def split_pot(pot: str, amount: Decimal, institutions: Sequence[Institution], year: int,
              history: Mapping[tuple, tuple[int, int, Decimal]], hist_weights: Mapping[int, Decimal],
              sp: SplitPolicy) -> tuple[list[QuotaRow], list[AdjustmentRow]]:
    """Split one pot's ``amount`` over the eligible ``institutions`` (see the module docstring).

    ``history[(institution_id, year, scheme, setting)] = (visits, persons, fund_paid)``.
    """
    scheme, setting = pot.split(".")
    insts = sorted(institutions, key=lambda i: i.institution_id)
    wsum = sum(hist_weights.values(), Decimal(0))
    # 1. weighted history per institution and basis (exact)
    xs: dict[str, dict[str, Fraction]] = {}
    for inst in insts:
        acc = {b: Fraction(0) for b in BASES}
        for y, w in hist_weights.items():
            visits, persons, fund = history.get((inst.institution_id, y, scheme, setting), (0, 0, ZERO))
            acc["fund_paid"] += Fraction(w) * Fraction(fund)
            acc["visits"] += Fraction(w) * visits
            acc["persons"] += Fraction(w) * persons
        xs[inst.institution_id] = acc
    totals = {b: sum((xs[i.institution_id][b] for i in insts), Fraction(0)) for b in BASES}
    # 2.–3. score and weight
    base: dict[str, Fraction] = {}
    factors: dict[str, Fraction] = {}
    for inst in insts:
        score = sum((Fraction(sp.basis[b]) * xs[inst.institution_id][b] / totals[b]
                     for b in BASES if totals[b] and sp.basis[b]), Fraction(0))
        f = (Fraction(sp.level_factor[str(inst.level)]) * Fraction(sp.category_factor[inst.category])
             * Fraction(len(inst.months_in_force(year)), 12))
        factors[inst.institution_id] = f
        base[inst.institution_id] = score * f
    total_w = sum(base.values(), Fraction(0))
    if amount and not total_w:
        raise BudgetError(f"{pot_zh(pot)}：近三年没有可用于分解的结算数据（或全部权重为 0），"
                          f"无法分解 {amount} 元")
    # 4. primary-care floor
    weights = dict(base)
    floor = Fraction(sp.primary_floor[setting])
    primary = {i.institution_id for i in insts if i.kind == "primary"}
    s_p = sum((w for k, w in base.items() if k in primary), Fraction(0))
    s_np = total_w - s_p
    floor_applied = False
    if floor and total_w and s_p / total_w < floor and s_p > 0:
        floor_applied = True
        if floor == 1:
            weights = {k: (w if k in primary else Fraction(0)) for k, w in base.items()}
        else:
            k_ = floor * s_np / ((1 - floor) * s_p)
            weights = {k: (w * k_ if k in primary else w) for k, w in base.items()}
    final_w = sum(weights.values(), Fraction(0))
    # 5. groups, group transfers, within-group split
    group_by = sp.group_by if sp.groups else ()
    groups: dict[str, list[Institution]] = {}
    for inst in insts:
        groups.setdefault(inst.group(group_by) if group_by else "all", []).append(inst)
    gnames = sorted(groups)
    gw = [sum((weights[i.institution_id] for i in groups[g]), Fraction(0)) for g in gnames]
    gq = dict(zip(gnames, allocate_exact(amount, gw) if any(gw) else [ZERO] * len(gnames)))
    adj_rows: list[AdjustmentRow] = []
    mine = [a for a in sp.adjustments if a.pot == pot]
    for a in (a for a in mine if a.from_group is not None):
        for g in (a.from_group, a.to_group):
            if g not in gq:
                raise BudgetError(f"{a.key}：{pot_zh(pot)}没有分组 {g!r}（可选：{', '.join(gnames)}）")
        if a.amount > gq[a.from_group]:
            raise BudgetError(f"{a.key}：调出 {a.amount} 元超过分组 {a.from_group} 的指标 {gq[a.from_group]} 元")
        gq[a.from_group] -= a.amount
        gq[a.to_group] += a.amount
        adj_rows.append(AdjustmentRow(a.index, pot, "group", a.from_group, a.to_group, a.amount, a.note))
    quotas: dict[str, Decimal] = {}
    for g in gnames:
        members = groups[g]
        mw = [weights[i.institution_id] for i in members]
        if gq[g] and not any(mw):
            raise BudgetError(f"{pot_zh(pot)}：分组 {g} 的机构没有历史数据，无法在组内分解 {gq[g]} 元")
        parts = allocate_exact(gq[g], mw) if any(mw) else [ZERO] * len(members)
        quotas.update({i.institution_id: p for i, p in zip(members, parts)})
    split_quota = dict(quotas)
    # 6. institution transfers
    for a in (a for a in mine if a.from_institution is not None):
        for k in (a.from_institution, a.to_institution):
            if k not in quotas:
                raise BudgetError(f"{a.key}：机构 {k} 不参与{pot_zh(pot)}指标分解")
        if a.amount > quotas[a.from_institution]:
            raise BudgetError(f"{a.key}：调出 {a.amount} 元超过机构 {a.from_institution} 的指标 "
                              f"{quotas[a.from_institution]} 元")
        quotas[a.from_institution] -= a.amount
        quotas[a.to_institution] += a.amount
        adj_rows.append(AdjustmentRow(a.index, pot, "institution", a.from_institution, a.to_institution,
                                      a.amount, a.note))
    rows = []
    for inst in insts:
        k = inst.institution_id
        g = inst.group(group_by) if group_by else "all"
        rows.append(QuotaRow(
            pot, k, inst.name, inst.kind, inst.level, inst.category, g,
            inst.group_zh(group_by) if group_by else "全部", len(inst.months_in_force(year)),
            fen_half_up(xs[k]["fund_paid"] / Fraction(wsum)) if wsum else ZERO,
            decimal_view(xs[k]["visits"] / Fraction(wsum), 2) if wsum else ZERO,
            decimal_view(xs[k]["persons"] / Fraction(wsum), 2) if wsum else ZERO,
            decimal_view(factors[k], 4),
            decimal_view(base[k] / total_w, 6) if total_w else ZERO, floor_applied,
            decimal_view(weights[k] / final_w, 6) if final_w else ZERO,
            gq[g], split_quota[k], quotas[k] - split_quota[k], quotas[k], weights[k]))
    return rows, adj_rows
