"""Settlement by unit value (点值法): two hospitals by hand in both conventions, and conservation."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from yibao.engine.money import ZERO
from yibao.settle.bands import DepositBand, OverBand
from yibao.settle.units import UnitMonth, UnitPolicy, settle_scheme


class Bands:
    """The budget issue's default bands (docs/budget-policy.md)."""

    saving_keep_rate = D("0.50")
    saving_keep_cap = D("0.10")
    band_mode = "marginal"
    over_bands = (OverBand(D("0.05"), D("0.60")), OverBand(D("0.10"), D("0.50")), OverBand(None, D("0")))
    deposit_return = (DepositBand(D("90"), D("1")), DepositBand(D("80"), D("0.9")), DepositBand(D("70"), D("0.7")),
                      DepositBand(D("60"), D("0.5")), DepositBand(D("0"), D("0")))


# H1: 6 000 points, total cost 800 000, booked fund 640 000; H2: 4 000 points, 500 000, 350 000 (all in January)
MONTHS = [UnitMonth("H1", 1, D("6000"), 60, D("800000.00"), D("640000.00")),
          UnitMonth("H2", 1, D("4000"), 50, D("500000.00"), D("350000.00"))]
SCORES = {"H1": D("95"), "H2": D("75")}
DEDUCT = {"H2": D("1234.56")}


def _by(rows, inst):
    return next(r for r in rows if r.institution_id == inst)


def test_fund_convention_two_hospitals_by_hand() -> None:
    s = settle_scheme("employee", D("1000000.00"), MONTHS, UnitPolicy("fund"), Bands, SCORES, D("100"), DEDUCT)
    # annual value 1 000 000 ÷ 10 000 = 100 yuan a point
    assert s.value_shown == D("100.000000")
    h1, h2 = _by(s.clearing, "H1"), _by(s.clearing, "H2")
    assert (h1.amount, h2.amount) == (D("600000.00"), D("400000.00"))
    # January: 1 000 000 / 12 = 83 333.33 r 4 fen → months 1–4 get 83 333.34; split 6:4 → 50 000.00 / 33 333.34
    jan = [p for p in s.prepayments if p.month == 1]
    assert [(p.gross, p.deposit, p.paid) for p in jan] == [
        (D("50000.00"), D("2500.00"), D("47500.00")), (D("33333.34"), D("1666.67"), D("31666.67"))]
    assert s.months[0].budget == D("83333.34") and s.months[4].budget == D("83333.33")
    # H1 over by 40 000 (6.67 %): 30 000 × 0.6 + 10 000 × 0.5 = 23 000 borne by the fund → base 623 000
    assert (h1.overrun, h1.overrun_fund_share, h1.overrun_borne, h1.base) == (
        D("40000.00"), D("23000.00"), D("17000.00"), D("623000.00"))
    assert (h1.deposit_returned, h1.entitlement, h1.final_transfer) == (D("2500.00"), D("623000.00"), D("575500.00"))
    # H2 under by 50 000: keeps min(25 000, 40 000) → base 375 000; score 75 → 70 % of 1 666.67 back
    assert (h2.saving, h2.saving_kept, h2.base) == (D("50000.00"), D("25000.00"), D("375000.00"))
    assert (h2.deposit_returned, h2.deposit_deducted) == (D("1166.67"), D("500.00"))
    assert (h2.entitlement, h2.prepaid, h2.final_transfer) == (D("373265.44"), D("31666.67"), D("341598.77"))
    assert s.balance == D("1000000.00") - D("623000.00") - D("373265.44")


def test_total_cost_convention_two_hospitals_by_hand() -> None:
    pol = UnitPolicy("total_cost", reimbursement_ratio=D("0.8"))
    s = settle_scheme("employee", D("1000000.00"), MONTHS, pol, Bands, SCORES, D("100"), DEDUCT,
                      month_weights=[1] + [0] * 11)
    # B' = 1 000 000 ÷ 0.8 = 1 250 000 → 125 a point; less the patients' own payments
    assert s.budget_units_money == D("1250000.00") and s.value_shown == D("125.000000")
    h1, h2 = _by(s.clearing, "H1"), _by(s.clearing, "H2")
    assert (h1.units_money, h1.patient_paid, h1.amount) == (D("750000.00"), D("160000.00"), D("590000.00"))
    assert (h2.units_money, h2.patient_paid, h2.amount) == (D("500000.00"), D("150000.00"), D("350000.00"))
    # H1 over by 50 000 on 590 000: 29 500 × 0.6 + 20 500 × 0.5 = 27 950
    assert (h1.overrun_fund_share, h1.base) == (D("27950.00"), D("617950.00"))
    assert (h1.prepaid, h1.deposit_withheld, h1.final_transfer) == (D("560500.00"), D("29500.00"), D("57450.00"))
    # H2 booked exactly its amount: no saving, no overrun
    assert (h2.saving, h2.overrun, h2.base) == (ZERO, ZERO, D("350000.00"))
    assert (h2.deposit_deducted, h2.entitlement, h2.final_transfer) == (D("5250.00"), D("343515.44"), D("11015.44"))


def test_ratio_from_data() -> None:
    s = settle_scheme("employee", D("990000.00"), MONTHS, UnitPolicy("total_cost"), Bands, {}, D("100"))
    # r = 990 000 / 1 300 000; B' = 990 000 ÷ r = 1 300 000
    assert s.budget_units_money == D("1300000.00")
    assert "990000.00" in s.ratio_source


money = st.integers(0, 10**9).map(lambda f: D(f) / 100)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["A", "B", "C", "D"]), st.integers(1, 12),
                          st.integers(0, 10**8), st.integers(1, 10**8), st.integers(0, 100)), min_size=1, max_size=25),
       money, st.sampled_from(["fund", "total_cost"]))
def test_no_fen_appears_or_vanishes(rows, budget, convention) -> None:
    seen, months = set(), []
    for inst, m, units, cost_fen, fund_pct in rows:
        if (inst, m) in seen:
            continue
        seen.add((inst, m))
        cost = D(cost_fen) / 100
        months.append(UnitMonth(inst, m, D(units) / 10000, 1, cost, (cost * fund_pct / 100).quantize(D("0.01"))))
    s = settle_scheme("resident", budget, months, UnitPolicy(convention), Bands, {"A": D("65")}, D("100"),
                      {"B": D("10.00")})
    if s.units > 0:
        assert sum((c.units_money for c in s.clearing), ZERO) == s.budget_units_money
    if convention == "fund":
        for mv in s.months:
            if mv.units > 0:
                assert sum((p.gross for p in s.prepayments if p.month == mv.month), ZERO) == mv.budget
    for p in s.prepayments:
        assert p.paid + p.deposit == p.gross and p.deposit >= 0
    for c in s.clearing:
        assert c.prepaid + c.final_transfer == c.entitlement
        assert c.deposit_returned + c.deposit_deducted == c.deposit_withheld
        assert c.base == (c.booked + c.saving_kept if c.booked <= c.amount else c.amount + c.overrun_fund_share)
