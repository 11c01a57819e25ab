"""Exact money arithmetic in DuckDB SQL (金额精确运算).

DuckDB divides ``DECIMAL / DECIMAL`` into ``DOUBLE``, so an average such as "cost per case"
written as ``sum(total_cost) / count(*)`` silently goes through floating point. The helpers here
build SQL that divides in integers instead: both operands are scaled to whole numbers
(e.g. yuan → fen, 元 → 分) as ``HUGEINT``, the quotient is rounded half-up (ties away from zero,
as Python's ``decimal.ROUND_HALF_UP``) in integer arithmetic, and the result is rebuilt as a
``DECIMAL(18, scale)`` by a decimal multiplication, which DuckDB keeps exact.
"""

from __future__ import annotations


def div_round(num: str, den: str, *, num_scale: int = 0, den_scale: int = 0, scale: int = 2,
              precision: int = 18, nonneg: bool = False, int_type: str = "HUGEINT") -> str:
    """SQL for ``ROUND_HALF_UP(num / den, scale)`` as ``DECIMAL(precision, scale)``, exactly.

    ``num`` and ``den`` are SQL expressions holding decimals with at most ``num_scale`` and
    ``den_scale`` fractional digits (integers: 0). The result is NULL when either side is NULL
    or ``den`` is 0. Example: ``div_round("sum(total_cost)", "count(*)", num_scale=2)`` is the
    average cost per case in yuan, rounded to the fen.

    Hot paths may say more about their operands: ``nonneg=True`` when ``num ≥ 0`` and ``den > 0``
    are guaranteed (the quotient is then ``(2n + d) // 2d`` without signs), and
    ``int_type="BIGINT"`` when every scaled operand and ``2n + d`` are known to stay below 9.2 × 10^18.
    Both give the same numbers as the default where their guarantee holds, only faster.
    """
    if min(num_scale, den_scale, scale) < 0 or not 0 < precision <= 18 or scale > precision:
        raise ValueError("div_round: scales must be ≥ 0 and precision in 1..18")
    shift = scale - num_scale + den_scale  # power of ten that makes the quotient's unit 10^-scale
    if int_type not in ("HUGEINT", "BIGINT"):
        raise ValueError("div_round: int_type is HUGEINT or BIGINT")
    n = _unscaled(num, num_scale, int_type) + (f" * {10 ** shift}" if shift > 0 else "")
    d = _unscaled(den, den_scale, int_type) + (f" * {10 ** -shift}" if shift < 0 else "")
    if nonneg:
        quotient = f"((2 * ({n}) + ({d})) // (2 * nullif({d}, 0)))"
    else:
        quotient = (
            f"(sign({n}) * sign({d}) * ((2 * abs({n}) + abs({d})) // (2 * abs(nullif({d}, 0)))))"
        )
    return (f"CAST(CAST({quotient} AS DECIMAL(38, 0)) * CAST({_unit(scale)} AS DECIMAL({scale + 1}, {scale}))"
            f" AS DECIMAL({precision}, {scale}))")


def _unscaled(expr: str, scale: int, int_type: str = "HUGEINT") -> str:
    """The whole number ``expr × 10^scale`` as an integer (exact when ``expr`` has ≤ ``scale`` decimals)."""
    if scale == 0:
        return f"CAST(({expr}) AS {int_type})"
    if int_type == "BIGINT":
        return f"CAST(CAST(({expr}) AS DECIMAL(18, {scale})) * {10 ** scale} AS BIGINT)"
    return f"CAST(CAST(({expr}) AS DECIMAL(38, {scale})) * {10 ** scale} AS HUGEINT)"


def _unit(scale: int) -> str:
    return "1" if scale == 0 else "0." + "0" * (scale - 1) + "1"
