"""sqlmoney.div_round against Python's Decimal (ROUND_HALF_UP), property-based."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yibao.engine.sqlmoney import div_round

CON = duckdb.connect()


def expected(num: Decimal, den: Decimal, scale: int) -> Decimal | None:
    if den == 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 60
        return (num / den).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)


def sql_value(num: Decimal, den: Decimal, num_scale: int, den_scale: int, scale: int) -> Decimal | None:
    n = f"CAST('{num}' AS DECIMAL(18, {num_scale}))"
    d = f"CAST('{den}' AS DECIMAL(18, {den_scale}))"
    return CON.cursor().execute(f"SELECT {div_round(n, d, num_scale=num_scale, den_scale=den_scale, scale=scale)}").fetchone()[0]


@st.composite
def operands(draw):
    num_scale, den_scale, scale = draw(st.integers(0, 4)), draw(st.integers(0, 4)), draw(st.integers(0, 4))
    num = Decimal(draw(st.integers(-10**9, 10**9))).scaleb(-num_scale)
    den = Decimal(draw(st.integers(-10**6, 10**6))).scaleb(-den_scale)
    return num, den, num_scale, den_scale, scale


@settings(max_examples=400, deadline=None)
@given(operands())
def test_div_round_matches_decimal_half_up(args):
    num, den, num_scale, den_scale, scale = args
    assert sql_value(num, den, num_scale, den_scale, scale) == expected(num, den, scale)


@pytest.mark.parametrize(("num", "den", "want"), [
    ("0.01", "2", "0.01"),  # 0.005: half-up, not banker's 0.00
    ("-0.01", "2", "-0.01"),  # ties away from zero
    ("1.00", "3", "0.33"),
    ("2.00", "3", "0.67"),
    ("300.00", "1000", "0.30"),
    ("9999999999999999.99", "1", "9999999999999999.99"),
])
def test_div_round_examples(num, den, want):
    assert sql_value(Decimal(num), Decimal(den), 2, 0, 2) == Decimal(want)


def test_div_round_type_and_nulls():
    rel = CON.cursor().sql(f"SELECT {div_round('sum(x)', 'count(x)', num_scale=2)} AS avg FROM (SELECT NULL::DECIMAL(18,2) AS x)")
    assert str(rel.types[0]) == "DECIMAL(18,2)"
    assert rel.fetchall() == [(None,)]
    with pytest.raises(ValueError):
        div_round("a", "b", scale=-1)
