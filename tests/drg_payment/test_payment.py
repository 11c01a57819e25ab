"""DRG payment by hand: weights from history, outliers, by-item cases, base rate and the year's amounts."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from yibao.drg.payment import DRG_PAYMENT
from yibao.drg.pipelines import payment_fixture
from yibao.drg.policy import DrgPolicyError, load_payment_policy
from yibao.drg.settlement import settle_drg_year
from yibao.engine.runner import LocalRunner
from yibao.settle.bands import DepositBand, OverBand


class Bands:
    saving_keep_rate = D("0.50")
    saving_keep_cap = D("0.10")
    band_mode = "marginal"
    over_bands = (OverBand(D("0.05"), D("0.60")), OverBand(D("0.10"), D("0.50")), OverBand(None, D("0")))
    deposit_return = (DepositBand(D("0"), D("1")),)


@pytest.fixture(scope="module")
def run():
    src = payment_fixture()
    return src, LocalRunner().run_pipeline(DRG_PAYMENT, src)


def test_weights_from_history_by_hand(run) -> None:
    src, _ = run
    w = {r["group_id"]: r for r in src["drg_weights"].to_pylist()}
    # GB19: 2023 mean 10 000, 2024 mean (12 000 + 8 000) / 2 = 10 000, years weighted 2:7 → 10 000
    # ES33: 2023 6 000, 2024 4 000 → (2 × 6 000 + 7 × 4 000) / 9 = 4 444.44
    # all cases: 2023 (10 000 + 6 000) / 2 = 8 000, 2024 24 000 / 3 = 8 000 → reference 8 000
    assert (w["GB19"]["avg_cost"], w["GB19"]["relative"]) == (D("10000.00"), D("1.2500"))
    assert (w["ES33"]["avg_cost"], w["ES33"]["relative"]) == (D("4444.44"), D("0.5556"))


def test_case_weights_outliers_and_by_item(run) -> None:
    _, out = run
    c = {r["case_id"]: r for r in out["drg_case_pay"].to_pylist()}
    # B1: 40 000 > 3 × 10 000 → 1.25 × ((4 − 3) + 1) = 2.5, × level-3 coefficient 1.1 = 2.75
    assert (c["B1"]["outlier"], c["B1"]["adjusted_weight"], c["B1"]["case_weight"]) == ("high", D("2.5000"),
                                                                                         D("2.7500"))
    # B2: 1 000 < 0.4 × 4 444.44 → 0.5556 × 1 000 / 4 444.44 = 0.1250
    assert (c["B2"]["outlier"], c["B2"]["case_weight"]) == ("low", D("0.1250"))
    assert [(k, c[k]["method"], c[k]["item_reason"]) for k in ("B3", "B4", "B5")] == [
        ("B3", "item", "long_stay"), ("B4", "item", "not_grouped"), ("B5", "item", "no_weight")]


def test_year_base_rate_and_amounts(run) -> None:
    src, out = run
    y = settle_drg_year(2025, out["drg_pay_units"], src["institutions"], {"employee": D("100000.00")},
                        load_payment_policy(), Bands, {}, D("100"))
    s = y.drg["employee"]
    # by item: 3 500 + 2 000 + 2 000 booked, paid first → DRG budget 92 500 over 2.75 + 0.125 = 2.875
    assert s.budget == D("92500.00") and s.units == D("2.8750")
    assert s.value_shown == D("32173.913043")
    amounts = {c.institution_id: c.amount for c in s.clearing}
    # 92 500 × 2.75 / 2.875 = 88 478.2608…, × 0.125 / 2.875 = 4 021.7391…: the odd fen to the larger remainder
    assert amounts == {"H3": D("88478.26"), "H2": D("4021.74")}
    assert sum(amounts.values()) == s.budget
    assert {i["institution_id"]: i["paid"] for i in y.item} == {"H2": D("3500.00"), "H3": D("4000.00")}


def test_bad_policy_names_the_key(tmp_path) -> None:
    p = tmp_path / "drg.toml"
    p.write_text('[payment]\nhigh_ratio = "0.5"\n', encoding="utf-8")
    with pytest.raises(DrgPolicyError, match="payment.high_ratio"):
        load_payment_policy(p)


def test_year_files_cases_csv_and_statements(run, tmp_path) -> None:
    """``write_drg_year``: cases.csv (every case of the year, Chinese labels) and one statement per institution
    with its own cases."""
    from openpyxl import load_workbook

    from yibao.drg.report import CASE_COLUMNS, write_drg_year

    src, out = run
    y = settle_drg_year(2025, out["drg_pay_units"], src["institutions"], {"employee": D("100000.00")},
                        load_payment_policy(), Bands, {}, D("100"))
    files = write_drg_year(y, src["drg_weights"], out["drg_case_pay"], tmp_path)
    lines = (tmp_path / "cases.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == ",".join(zh for _, zh in CASE_COLUMNS)
    b1 = next(ln for ln in lines if ln.startswith("B1,"))
    assert ",高倍率," in b1 and ",按 DRG," in b1 and ",2.7500," in b1
    b3 = next(ln for ln in lines if ln.startswith("B3,"))
    assert ",按项目," in b3
    year_cases = [r for r in out["drg_case_pay"].to_pylist() if r["settle_year"] == 2025]
    assert len(lines) == 1 + len(year_cases)
    statements = sorted(p.name for p in (tmp_path / "statements").iterdir())
    assert statements and all(tmp_path / "statements" / s in files for s in statements)
    h3 = load_workbook(tmp_path / "statements" / "H3.xlsx")["病例"]
    ids = {row[0] for row in h3.iter_rows(values_only=True)}
    assert {r["case_id"] for r in year_cases if r["institution_id"] == "H3"} <= ids
    assert not {r["case_id"] for r in year_cases if r["institution_id"] != "H3"} & ids
