"""Year-end clearing (年终清算), 结余留用、超支分担 (人社部发〔2012〕70号 三（五）（七）（八）).

Per pot × institution, with Q the (mid-year adjusted) annual quota and B the year's booked
fund amount (记账, by settle_date):

- under quota (B ≤ Q): saving = Q − B; kept = min(saving × saving_keep_rate,
  Q × saving_keep_cap), each product half up to the fen; base = B + kept.
- over quota (B > Q): overrun O = B − Q. The fund's share F follows ``over_bands`` (bands of
  O / Q): ``marginal`` — each band's ``fund_share`` applies to the part of O inside the band;
  ``whole`` — the band that contains O / Q applies to all of O. F is rounded once, half up.
  The institution bears O − F. base = Q + F.
- reasonable-overrun compensation (合理超支补偿): when B > Q and the institution's 人次 in the
  pot grew by more than ``compensation_growth_threshold`` against last year (g), the overrun
  explained by the growth beyond the threshold, min(O − F, Q × (g − threshold)), is paid back
  at ``compensation_rate``. With ``compensation_cap = pot_balance`` the pot's compensations
  are limited to what the pot has left, pot − Σ (base − deposit deducted), split over them in
  proportion by :func:`allocate`.
- quality deposit (质量保证金): the assessment score (``[clearing.scores]``, else
  ``default_score``) picks the first ``deposit_return`` band with score ≥ min_score;
  returned = deposit × share (half up), deducted = deposit − returned.
- entitlement (年度应付) = base + compensation − deposit deducted.
- already transferred = paid monthly + turnover advance − turnover recovered in the months;
  final transfer (清算拨付) = entitlement − already transferred (negative: the institution
  pays back). The deposit and reserve withheld are not added separately: they are part of the
  quota, which enters through ``base``.

So Σ over institutions of (month transfers + final transfer) = Σ entitlements = what the fund
pays for the pot; the pot's balance is pot − that (positive: stays in the fund as surplus).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from yibao.budget.cycle import CycleLine
from yibao.budget.policy import ClearingPolicy
from yibao.engine.money import ZERO, allocate_exact, decimal_view, fen_half_up, fmt, round_money
from yibao.settle.bands import deposit_share, share


@dataclass
class ClearingRow:
    pot: str
    institution_id: str
    quota: Decimal  # adjusted annual quota
    booked: Decimal
    paid_monthly: Decimal
    deferred: Decimal
    deposit_withheld: Decimal
    reserve_withheld: Decimal
    saving: Decimal
    saving_kept: Decimal
    overrun: Decimal
    overrun_rate: Decimal | None  # O / Q, 4 decimals (display)
    overrun_fund_share: Decimal
    overrun_borne: Decimal
    visits_last_year: int
    visits: int
    visit_growth: Decimal | None  # 4 decimals (display)
    compensation: Decimal
    score: Decimal
    score_source: str
    deposit_return_share: Decimal
    deposit_returned: Decimal
    deposit_deducted: Decimal
    turnover_advanced: Decimal
    turnover_recovered_monthly: Decimal
    turnover_outstanding: Decimal
    entitlement: Decimal
    already_transferred: Decimal
    final_transfer: Decimal
    note: str


def clear_pot(pot: str, amount: Decimal, lines: Sequence[CycleLine], year: int, cp: ClearingPolicy,
              history: Mapping[tuple, tuple[int, int, Decimal]]) -> list[ClearingRow]:
    """Clear one pot's institutions (``history`` as in :func:`yibao.budget.split.split_pot`)."""
    scheme, setting = pot.split(".")
    rows: list[ClearingRow] = []
    raw_comp: list[Decimal] = []
    for line in lines:
        q, b = line.adjusted_quota, line.booked
        paid, deferred = line.paid, line.deferred
        score = cp.scores.get(line.institution_id, cp.default_score)
        sh = share(q, b, cp, score)
        saving, kept, over, over_rate, fshare, base = (sh.saving, sh.saving_kept, sh.overrun, sh.overrun_rate,
                                                       sh.overrun_fund_share, sh.base)
        notes = [sh.note]
        v_now = history.get((line.institution_id, year, scheme, setting), (0, 0, ZERO))[0]
        v_last = history.get((line.institution_id, year - 1, scheme, setting), (0, 0, ZERO))[0]
        growth = Fraction(v_now - v_last, v_last) if v_last else None
        comp = ZERO
        thr = Fraction(cp.compensation_growth_threshold)
        if over > 0 and growth is not None and growth > thr and over - fshare > 0:
            reasonable = min(over - fshare, fen_half_up(Fraction(q) * (growth - thr)))
            comp = round_money(reasonable * cp.compensation_rate)
            notes.append(f"人次增长 {decimal_view(growth, 4)} 超过 {cp.compensation_growth_threshold}，"
                         f"合理超支 {fmt(reasonable)} × {cp.compensation_rate} = {fmt(comp)}")
        raw_comp.append(comp)
        dshare = deposit_share(score, cp)
        returned = round_money(line.deposit * dshare)
        deducted = line.deposit - returned
        outstanding = line.turnover_advance - line.turnover_recovered
        rows.append(ClearingRow(
            pot, line.institution_id, q, b, paid, deferred, line.deposit, line.reserve, saving, kept, over, over_rate,
            fshare, over - fshare, v_last, v_now, decimal_view(growth, 4) if growth is not None else None, comp,
            score, "考核得分" if line.institution_id in cp.scores else "默认得分", dshare, returned, deducted,
            line.turnover_advance, line.turnover_recovered, outstanding, base - deducted,
            paid + line.turnover_advance - line.turnover_recovered, ZERO, "；".join(notes)))
    # compensation within what the pot has left
    if cp.compensation_cap == "pot_balance" and any(raw_comp):
        left = max(amount - sum((r.entitlement for r in rows), ZERO), ZERO)
        if sum(raw_comp) > left:
            capped = allocate_exact(left, [Fraction(c) for c in raw_comp]) if left else [ZERO] * len(rows)
            for r, c, c0 in zip(rows, capped, raw_comp):
                if c0:
                    r.note += f"；补偿受本项目剩余 {fmt(left)} 限制，按比例 {fmt(c0)} → {fmt(c)}"
            raw_comp = capped
    for r, c in zip(rows, raw_comp):
        r.compensation = c
        r.entitlement += c
        r.final_transfer = r.entitlement - r.already_transferred
        if r.deposit_deducted:
            r.note += f"；考核得分 {r.score}，返还保证金 {fmt(r.deposit_withheld)} × {r.deposit_return_share} = " \
                      f"{fmt(r.deposit_returned)}，扣减 {fmt(r.deposit_deducted)}"
    return rows
