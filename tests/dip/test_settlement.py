"""DIP settlement over the pipelines' aggregates: bed days, per capita, point values, deductions (by hand)."""

from __future__ import annotations

from decimal import Decimal as D

from yibao.dip.examples import example_settle_sources
from yibao.dip.policy import load_policy
from yibao.dip.settlement import (
    DIP_PER_CAPITA,
    DIP_SETTLE_UNITS,
    Budgets,
    history_from_units,
    settle_year,
    split_deductions,
)
from yibao.engine.runner import LocalRunner
from yibao.settle.bands import DepositBand, OverBand


class Bands:
    saving_keep_rate = D("0.50")
    saving_keep_cap = D("0.10")
    band_mode = "marginal"
    over_bands = (OverBand(D("0.05"), D("0.60")), OverBand(D("0.10"), D("0.50")), OverBand(None, D("0")))
    deposit_return = (DepositBand(D("90"), D("1")), DepositBand(D("0"), D("0")))


def _year(budgets: Budgets, deductions=None):
    src = example_settle_sources()
    r = LocalRunner()
    units = r.run_pipeline(DIP_SETTLE_UNITS, src)["dip_settle_units"]
    cap = r.run_pipeline(DIP_PER_CAPITA, src)
    return units, settle_year(2025, units, cap["dip_capita_units"], cap["dip_capita_booked"], src["institutions"],
                              budgets, load_policy(), Bands, {}, D("100"), deductions, history_from_units(units))


BUDGETS = Budgets({"employee": D("100000.00"), "resident": D("50000.00")},
                  {"employee": D("0.00"), "resident": D("3000.00")},
                  {"employee": D("40000.00"), "resident": D("0.00")})


def test_bed_day_cases_leave_dip_and_share_a_capped_pot() -> None:
    _, y = _year(BUDGETS)
    beds = {(b.institution_id, b.bed_kind): b for b in y.bed_day}
    # H2 (二级) F20 schizophrenia 90 days × 220 = 19 800; H3 (三级) Z50 rehabilitation 75 days × 400 = 30 000
    assert (beds[("H2", "psychiatric")].standard, beds[("H3", "rehabilitation")].standard) == (D("19800.00"),
                                                                                            D("30000.00"))
    # 49 800 > the employee bed_day figure 40 000 → shared 19 800 : 30 000, largest remainder in fen
    assert (beds[("H2", "psychiatric")].payable, beds[("H3", "rehabilitation")].payable) == (D("15903.61"),
                                                                                          D("24096.39"))
    assert y.bed_day_capped["employee"]


def test_dip_points_values_and_unscored() -> None:
    _, y = _year(BUDGETS)
    emp = y.dip["employee"]
    # employee 2025 DIP points: H3 1 200 + 800 (C7 is a bed-day case, C5 too) → value 100 000 / 2 000 = 50
    assert emp.units == D("2000.0000") and emp.value_shown == D("50.000000")
    assert [c.institution_id for c in emp.clearing] == ["H3"] and emp.clearing[0].amount == D("100000.00")
    # budget point value from the history (2024: 1 000 points) = 100 000 / 1 000
    bpv = next(v for v in y.point_values if v["scheme"] == "employee" and v["kind"] == "budget")
    assert bpv["value"] == D("100.000000")
    assert sum(r["cases"] for r in y.unscored) == 1  # C4: ungroupable, never in the point totals
    assert y.dip["resident"].units == D("950.5000")


def test_per_capita_by_attributed_persons() -> None:
    _, y = _year(BUDGETS)
    c = y.capita["resident"]
    # persons: A → P1 (2 visits), B → P1 (1 each at P1 and P2: the lower code), C → H3; P2 booked but nobody attributed
    by = {x.institution_id: x for x in c.clearing}
    assert {i: x.units for i, x in by.items()} == {"H3": D("12"), "P1": D("24"), "P2": D("0")}
    assert (by["P1"].amount, by["H3"].amount, by["P2"].amount) == (D("2000.00"), D("1000.00"), D("0.00"))


def test_deductions_split_over_schemes_and_deducted() -> None:
    units, _ = _year(BUDGETS)
    ded = split_deductions({"H3": D("100.00")}, units, 2025)
    assert ded == {("employee", "H3"): D("100.00")}
    _, y = _year(BUDGETS, ded)
    h3 = y.dip["employee"].clearing[0]
    assert h3.deductions == D("100.00") and h3.entitlement == h3.base - h3.deposit_deducted - D("100.00")
