"""Year-end sharing bands (结余留用、超支分担) and the quality deposit (质量保证金).

人社部发〔2012〕70号 三（五）（八）. One rule, used by the budget clearing (quota against booked fund) and by
the DIP/DRG year-end (payment amount against booked fund): with Q what the institution is entitled to by
its quota or its points, and B the fund amount it booked (记账):

- under (B ≤ Q): saving = Q − B; kept = min(saving × saving_keep_rate, Q × saving_keep_cap), each product
  half up to the fen; base = B + kept.
- over (B > Q): overrun O = B − Q. The fund's share F follows ``over_bands`` (bands of O / Q):
  ``marginal`` — each band's ``fund_share`` applies to the part of O inside the band; ``whole`` — the band
  that contains O / Q applies to all of O. F is rounded once, half up. The institution bears O − F;
  base = Q + F.

The deposit withheld is returned by the assessment score: the first ``deposit_return`` band with
score ≥ min_score gives the share returned (half up); the rest is deducted. The kept saving reads the same
score (70号: savings are kept only where quantity and quality hold): with ``saving_by_score =
"deposit_share"`` it is multiplied by that share (half up; score 100 keeps it whole).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Protocol, Sequence

from yibao.engine.money import ZERO, decimal_view, fen_half_up, fmt, round_money


@dataclass(frozen=True)
class OverBand:
    upto: Decimal | None  # overrun / quota upper bound of the band; None = open
    fund_share: Decimal


@dataclass(frozen=True)
class DepositBand:
    min_score: Decimal
    share: Decimal


class Bands(Protocol):
    """What the rule reads from a policy (the budget's ``ClearingPolicy`` has these attributes)."""

    saving_keep_rate: Decimal
    saving_keep_cap: Decimal
    band_mode: str
    over_bands: Sequence[OverBand]
    deposit_return: Sequence[DepositBand]
    saving_by_score: str  # "deposit_share" or "none"


@dataclass(frozen=True)
class Shared:
    """The outcome of one comparison of entitlement ``quota`` with ``booked``."""

    saving: Decimal
    saving_kept: Decimal
    overrun: Decimal
    overrun_rate: Decimal | None  # O / Q, 4 decimals (display only)
    overrun_fund_share: Decimal
    base: Decimal  # what the fund owes before deposit and deductions
    note: str

    @property
    def overrun_borne(self) -> Decimal:
        return self.overrun - self.overrun_fund_share


def fund_share(overrun: Decimal, quota: Decimal, cp: Bands) -> tuple[Decimal, str]:
    """The fund's share of an overrun by the bands, half up to the fen, with how it was reached."""
    if overrun <= 0:
        return ZERO, ""
    if cp.band_mode == "whole":
        rate = Fraction(overrun) / Fraction(quota) if quota else None
        band = next(b for b in cp.over_bands if b.upto is None or (rate is not None and rate <= Fraction(b.upto)))
        return round_money(overrun * band.fund_share), f"超支 {fmt(overrun)} × {band.fund_share}"
    total, parts, lower = Fraction(0), [], Decimal(0)
    for b in cp.over_bands:
        lo = quota * lower
        hi = None if b.upto is None else quota * b.upto
        portion = max(min(overrun, hi) - lo, ZERO) if hi is not None else max(overrun - lo, ZERO)
        if portion > 0:
            total += Fraction(portion) * Fraction(b.fund_share)
            parts.append(f"{fmt(portion)} × {b.fund_share}")
        if b.upto is not None:
            lower = b.upto
    return fen_half_up(total), " + ".join(parts)


def share(quota: Decimal, booked: Decimal, cp: Bands, score: Decimal | None = None) -> Shared:
    """结余留用 or 超支分担 of ``booked`` against ``quota``, with a Chinese note naming every figure; ``score`` (the
    assessment score) scales the kept saving when the policy says so."""
    if booked <= quota:
        saving = quota - booked
        kept = min(round_money(saving * cp.saving_keep_rate), round_money(quota * cp.saving_keep_cap))
        note = (f"结余 {fmt(saving)}，留用 min({fmt(saving)} × {cp.saving_keep_rate}, "
                f"{fmt(quota)} × {cp.saving_keep_cap}) = {fmt(kept)}")
        if score is not None and getattr(cp, "saving_by_score", "none") == "deposit_share" and kept > 0:
            factor = deposit_share(score, cp)
            if factor != 1:
                scaled = round_money(kept * factor)
                note += f"；考核得分 {score} 的返还比例 {factor}，留用 {fmt(kept)} × {factor} = {fmt(scaled)}"
                kept = scaled
        return Shared(saving, kept, ZERO, None, ZERO, booked + kept, note)
    over = booked - quota
    rate = decimal_view(Fraction(over) / Fraction(quota), 4) if quota else None
    f, how = fund_share(over, quota, cp)
    note = f"超支 {fmt(over)}，基金分担 {how} = {fmt(f)}，机构承担 {fmt(over - f)}"
    return Shared(ZERO, ZERO, over, rate, f, quota + f, note)


def deposit_share(score: Decimal, cp: Bands) -> Decimal:
    """Share of the deposit returned for an assessment score (first band with score ≥ min_score)."""
    return next(b.share for b in cp.deposit_return if score >= b.min_score)
