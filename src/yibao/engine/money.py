"""Money (金额): exact yuan amounts, one rounding rule, allocation by largest remainder in fen.

Rules every module follows:

- An amount is a :class:`decimal.Decimal` in yuan with two decimals (fen 分) — in DuckDB a
  ``DECIMAL(18,2)``. Never a float in anything that is summed or paid.
- One rounding rule, 四舍五入 (``ROUND_HALF_UP``: 0.005 → 0.01, −0.005 → −0.01), applied
  explicitly with :func:`round_money` / :func:`round_to`; never implicitly.
- Splitting an amount over weights uses :func:`allocate`: each part gets the floor of its exact
  share in fen, and the fen left over go one each to the largest remainders (ties: the earlier
  position first), so the parts always sum exactly to the amount.

The SQL counterparts (exact division with half-up rounding, allocation with window functions)
are in :mod:`yibao.engine.sqlmoney`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext
from fractions import Fraction
from math import gcd, lcm
from typing import Iterable, Sequence

ROUNDING = ROUND_HALF_UP
ROUNDING_NAME = "四舍五入 (ROUND_HALF_UP)"
FEN = Decimal("0.01")
ZERO = Decimal("0.00")
_CTX = Context(prec=60, rounding=ROUNDING)


class MoneyError(ValueError):
    """A value that is not an acceptable amount of money."""


def money(value: str | int | Decimal) -> Decimal:
    """Parse an exact amount in yuan; refuses floats and more than two decimals."""
    if isinstance(value, float):
        raise MoneyError(f"float is not money: {value!r}")
    if isinstance(value, bool):
        raise MoneyError(f"bool is not money: {value!r}")
    try:
        d = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation as exc:
        raise MoneyError(f"not a number: {value!r}") from exc
    if not d.is_finite():
        raise MoneyError(f"not a finite amount: {value!r}")
    if d != d.quantize(FEN, context=_CTX):
        raise MoneyError(f"more than 2 decimals: {value!r}")
    return d.quantize(FEN, context=_CTX)


def round_to(value: Decimal | int, places: int) -> Decimal:
    """Round half up (四舍五入) to ``places`` decimals."""
    if isinstance(value, float):
        raise MoneyError(f"float is not money: {value!r}")
    return Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUNDING, context=_CTX)


def round_money(value: Decimal | int) -> Decimal:
    """Round half up (四舍五入) to the fen."""
    return round_to(value, 2)


def div(numerator: Decimal | int, denominator: Decimal | int, places: int = 2) -> Decimal:
    """Exact quotient rounded half up to ``places`` decimals (no intermediate float)."""
    if Decimal(denominator) == 0:
        raise ZeroDivisionError("division of money by zero")
    with localcontext(_CTX):
        return round_to(Decimal(numerator) / Decimal(denominator), places)


def to_fen(amount: Decimal) -> int:
    """Yuan → integer fen; the amount must already be a whole number of fen."""
    fen = Decimal(amount) * 100
    if fen != fen.to_integral_value():
        raise MoneyError(f"not a whole number of fen: {amount!r}")
    return int(fen)


def from_fen(fen: int) -> Decimal:
    return (Decimal(int(fen)) / 100).quantize(FEN)


def _integer_weights(weights: Sequence[Decimal | int]) -> list[int]:
    """Scale exact decimal weights to integers with the same ratios."""
    ds = []
    for w in weights:
        if isinstance(w, float):
            raise MoneyError(f"float weight: {w!r}")
        d = Decimal(w)
        if d < 0 or not d.is_finite():
            raise MoneyError(f"weights must be finite and ≥ 0: {w!r}")
        ds.append(d)
    exp = min((d.as_tuple().exponent for d in ds), default=0)
    scale = Decimal(1).scaleb(-min(exp, 0))
    return [int(d * scale) for d in ds]


def allocate(total: Decimal, weights: Sequence[Decimal | int]) -> list[Decimal]:
    """Split ``total`` over ``weights`` in proportion, by largest remainder in fen.

    The parts sum exactly to ``total``; each part differs from its exact share by less than
    one fen. Ties between equal remainders go to the earlier position. A negative total is
    split as its absolute value and negated. All-zero weights are an error (nothing to split by).
    """
    total_fen = to_fen(money(total) if not isinstance(total, Decimal) else total)
    iw = _integer_weights(weights)
    wsum = sum(iw)
    if not iw:
        if total_fen:
            raise MoneyError("cannot allocate a non-zero amount over no weights")
        return []
    if wsum == 0:
        raise MoneyError("cannot allocate over weights that are all zero")
    sign = -1 if total_fen < 0 else 1
    t = abs(total_fen)
    floors, rems = zip(*(divmod(t * w, wsum) for w in iw))
    left = t - sum(floors)
    order = sorted(range(len(iw)), key=lambda i: (-rems[i], i))
    parts = list(floors)
    for i in order[:left]:
        parts[i] += 1
    return [from_fen(sign * p) for p in parts]


def total(amounts: Iterable[Decimal]) -> Decimal:
    """Exact sum of amounts (refuses floats)."""
    s = Decimal(0)
    for a in amounts:
        if isinstance(a, float):
            raise MoneyError(f"float is not money: {a!r}")
        s += a
    return s.quantize(FEN) if s == s.quantize(FEN) else s


def fmt(amount: Decimal) -> str:
    """Format yuan with exactly two decimals and no exponent (``1234.50``)."""
    return f"{round_money(amount):.2f}"


# --- exact rational amounts (fractions.Fraction), for shares that must not be rounded twice ------------

def allocate_exact(total: Decimal, weights: Sequence[Fraction | int]) -> list[Decimal]:
    """:func:`allocate` over exact rational weights (scaled to integers, no rounding of the weights)."""
    fr = [Fraction(w) for w in weights]
    den = lcm(*(f.denominator for f in fr)) if fr else 1
    ints = [int(f * den) for f in fr]
    g = 0
    for i in ints:
        g = gcd(g, i)
    if g > 1:
        ints = [i // g for i in ints]
    digits = max((len(str(i)) for i in ints), default=1) + len(str(int(abs(total) * 100))) + 10
    with localcontext(Context(prec=max(digits, 60))):
        return allocate(total, ints)


def fen_half_up(x: Fraction) -> Decimal:
    """A rational amount of yuan rounded half up (四舍五入) to the fen."""
    n = x * 100
    sign = -1 if n < 0 else 1
    fen = (abs(n.numerator) * 2 + n.denominator) // (2 * n.denominator)
    return (Decimal(sign * fen) / 100).quantize(FEN)


def decimal_view(x: Fraction, places: int) -> Decimal:
    """A rational shown with ``places`` decimals, half up (display only; never summed)."""
    with localcontext(Context(prec=60)):
        return round_to(Decimal(x.numerator) / Decimal(x.denominator), places)
