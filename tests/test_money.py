"""Money: exact decimals, 四舍五入, allocation by largest remainder (property tests)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yibao.engine.money import MoneyError, allocate, div, fmt, from_fen, money, round_money, to_fen

amounts = st.integers(min_value=-10**13, max_value=10**13).map(from_fen)
weights = st.lists(st.one_of(st.integers(0, 10**9), st.decimals(min_value=0, max_value=10**6, places=4)),
                   min_size=1, max_size=40).filter(lambda ws: sum(ws) > 0)


def test_half_up_by_hand() -> None:
    assert round_money(Decimal("0.005")) == Decimal("0.01")
    assert round_money(Decimal("0.015")) == Decimal("0.02")
    assert round_money(Decimal("0.025")) == Decimal("0.03")  # banker's rounding would give 0.02
    assert round_money(Decimal("-0.005")) == Decimal("-0.01")
    assert round_money(Decimal("2.675")) == Decimal("2.68")
    assert div(Decimal("10.00"), 3) == Decimal("3.33")
    assert div(Decimal("20.00"), 3) == Decimal("6.67")
    assert div(1, 8, 2) == Decimal("0.13")


def test_money_refuses_float_and_extra_decimals() -> None:
    with pytest.raises(MoneyError):
        money(0.1)  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        money("1.005")
    with pytest.raises(MoneyError):
        money("abc")
    assert money("1.500") == Decimal("1.50") and fmt(money("7")) == "7.00"


def test_allocate_by_hand() -> None:
    # 100.00 over 1:1:1 → 33.34, 33.33, 33.33 (the leftover fen to the earliest of equal remainders)
    assert allocate(Decimal("100.00"), [1, 1, 1]) == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    # 1:2:7 year weights on 10.00 → 1.00, 2.00, 7.00 exactly
    assert allocate(Decimal("10.00"), [1, 2, 7]) == [Decimal("1.00"), Decimal("2.00"), Decimal("7.00")]
    # 0.05 over 1:1 → 0.03, 0.02; largest remainder wins over position: 1.00 over 0.3:0.7 with 0.01 fen
    assert allocate(Decimal("0.05"), [1, 1]) == [Decimal("0.03"), Decimal("0.02")]
    assert allocate(Decimal("0.10"), [Decimal("0.26"), Decimal("0.74")]) == [Decimal("0.03"), Decimal("0.07")]
    assert allocate(Decimal("-100.00"), [1, 1, 1]) == [Decimal("-33.34"), Decimal("-33.33"), Decimal("-33.33")]
    with pytest.raises(MoneyError):
        allocate(Decimal("1.00"), [0, 0])


@settings(max_examples=400, deadline=None)
@given(amounts, weights)
def test_allocation_conserves_every_fen(total: Decimal, ws: list) -> None:
    parts = allocate(total, ws)
    assert sum(parts) == total
    assert all(p == p.quantize(Decimal("0.01")) for p in parts)
    wsum = sum(Decimal(w) for w in ws)
    for p, w in zip(parts, ws):
        exact = total * Decimal(w) / wsum
        assert abs(p - exact) < Decimal("0.01")


@settings(max_examples=300, deadline=None)
@given(amounts, weights)
def test_allocation_is_deterministic_and_zero_weight_gets_zero(total: Decimal, ws: list) -> None:
    assert allocate(total, ws) == allocate(total, list(ws))
    for p, w in zip(allocate(total, ws), ws):
        if Decimal(w) == 0:
            assert p == 0


@settings(max_examples=400, deadline=None)
@given(st.integers(-10**15, 10**15), st.integers(1, 10**9), st.integers(0, 6))
def test_div_matches_decimal_quantize(n: int, d: int, places: int) -> None:
    # oracle in integers: half up away from zero
    q, r = divmod(abs(n) * 10**places, d)
    q += 2 * r >= d
    expected = (Decimal(q if n >= 0 else -q) / Decimal(10**places)).quantize(Decimal(1).scaleb(-places))
    assert div(n, d, places) == expected


@given(amounts)
def test_fen_roundtrip(a: Decimal) -> None:
    assert from_fen(to_fen(a)) == a
