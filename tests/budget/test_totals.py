"""The regional total (韶关 第五–七条), worked by hand.

Employee figures of the contract's example (yuan):

    contributions                   1 000 000 000.00
    deductions  300 + 50 + 40 + 5 + 30 + 1 + 20 + 10 + 4 million = 460 000 000.00
    risk reserve 3 % of contributions                                 30 000 000.00
    formula total = 1 000 − 460 − 30 million                       = 510 000 000.00

A. Floor binding, enough surplus: prior year 500 M → floor 525 M; booked 600 M → ceiling 630 M.
   Target 525 M; gap 15 M: 10 M from this year's surplus (all of it), 5 M from the accumulated
   surplus. Final 525 000 000.00.
B. Floor binding, surplus exhausted: this year's surplus 4 M, accumulated 6 M → drawn 4 M + 6 M,
   final 520 000 000.00, shortfall 5 000 000.00.
C. Ceiling binding: prior year 400 M → floor 420 M; booked 480 M → ceiling 504 M. Formula 510 M
   is above the ceiling: final 504 000 000.00, 6 000 000.00 returns to surplus, nothing drawn.
D. Floor above ceiling: prior year 500 M → floor 525 M; booked 490 M → ceiling 514 500 000.00.
   The ceiling wins: target 514.5 M, gap 4.5 M from this year's surplus; final 514 500 000.00.
E. Residents (no personal account): contributions 800 M; deductions 30 + 2 + 100 + 40 + 0.5 +
   15 + 8 + 3.5 million = 199 M; risk 24 M; formula 577 M. Prior year 560 M → floor 588 M;
   booked 600 M → ceiling 630 M. Gap 11 M from this year's surplus (20 M available): final
   588 000 000.00.
F. Half-up to the fen: prior year 100.10 × 1.05 = 105.105 → 105.11 (banker's rounding: 105.10).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from conftest import run_cli

from yibao.budget.policy import load_policy
from yibao.budget.totals import compute_totals

EMPLOYEE = {
    "contributions": "1000000000.00", "personal_account": "300000000.00", "outpatient_pooling": "50000000.00",
    "out_of_area_realtime": "40000000.00", "out_of_area_manual": "5000000.00", "special_outpatient": "30000000.00",
    "marriage_checkup": "1000000.00", "outpatient_special_items": "20000000.00", "bed_day": "10000000.00",
    "other_policy": "4000000.00", "risk_reserve_rate": "0.03", "prior_year_total": "500000000.00",
    "booked_total": "600000000.00", "current_surplus": "10000000.00", "accumulated_surplus": "200000000.00",
    "floor_rate": "1.05", "ceiling_rate": "1.05",
}
RESIDENT = {
    "contributions": "800000000.00", "out_of_area_realtime": "30000000.00", "out_of_area_manual": "2000000.00",
    "outpatient_pooling": "100000000.00", "special_outpatient": "40000000.00", "marriage_checkup": "500000.00",
    "outpatient_special_items": "15000000.00", "bed_day": "8000000.00", "other_policy": "3500000.00",
    "prior_year_total": "560000000.00", "booked_total": "600000000.00", "current_surplus": "20000000.00",
    "accumulated_surplus": "100000000.00",
}


def toml_text(funds: dict[str, dict], year: int = 2025) -> str:
    out = [f"year = {year}"]
    for scheme, keys in funds.items():
        out.append(f"[fund.{scheme}]")
        out += [f'{k} = "{v}"' for k, v in keys.items()]
    return "\n".join(out) + "\n"


def policy_file(tmp_path: Path, funds: dict[str, dict]) -> Path:
    p = tmp_path / "policy.toml"
    p.write_text(toml_text(funds), encoding="utf-8")
    return p


def totals_of(tmp_path: Path, **changes: str) -> dict[str, str]:
    t = compute_totals(load_policy(policy_file(tmp_path, {"employee": {**EMPLOYEE, **changes}})))[0]
    return dict(zip(("formula_total", "floor", "ceiling", "final_total", "current", "accumulated", "returned"),
                    t.row()[1:])) | {"shortfall": f"{t.shortfall:.2f}", "binding": t.binding}


def test_a_floor_binding_with_enough_surplus(tmp_path: Path) -> None:
    assert totals_of(tmp_path) == {
        "formula_total": "510000000.00", "floor": "525000000.00", "ceiling": "630000000.00",
        "final_total": "525000000.00", "current": "10000000.00", "accumulated": "5000000.00", "returned": "0.00",
        "shortfall": "0.00", "binding": "floor"}


def test_b_floor_binding_surplus_exhausted(tmp_path: Path) -> None:
    t = totals_of(tmp_path, current_surplus="4000000.00", accumulated_surplus="6000000.00")
    assert (t["final_total"], t["current"], t["accumulated"], t["shortfall"], t["binding"]) == (
        "520000000.00", "4000000.00", "6000000.00", "5000000.00", "floor_short")


def test_c_ceiling_binding(tmp_path: Path) -> None:
    t = totals_of(tmp_path, prior_year_total="400000000.00", booked_total="480000000.00")
    assert (t["floor"], t["ceiling"], t["final_total"], t["returned"], t["current"], t["accumulated"]) == (
        "420000000.00", "504000000.00", "504000000.00", "6000000.00", "0.00", "0.00")


def test_d_floor_above_ceiling_the_ceiling_wins(tmp_path: Path) -> None:
    t = totals_of(tmp_path, booked_total="490000000.00")
    assert (t["floor"], t["ceiling"], t["final_total"], t["current"], t["accumulated"], t["returned"]) == (
        "525000000.00", "514500000.00", "514500000.00", "4500000.00", "0.00", "0.00")


def test_e_resident_scheme_without_personal_account(tmp_path: Path) -> None:
    t = compute_totals(load_policy(policy_file(tmp_path, {"resident": RESIDENT})))[0]
    assert t.row() == ["resident", "577000000.00", "588000000.00", "630000000.00", "588000000.00",
                       "11000000.00", "0.00", "0.00"]


def test_f_half_up_to_the_fen(tmp_path: Path) -> None:
    small = {k: "0.00" for k in EMPLOYEE} | {"risk_reserve_rate": "0.03", "floor_rate": "1.05", "ceiling_rate": "1.05",
                                             "prior_year_total": "100.10", "booked_total": "1000.00",
                                             "current_surplus": "1000.00"}
    t = compute_totals(load_policy(policy_file(tmp_path, {"employee": small})))[0]
    assert f"{t.floor:.2f}" == "105.11" and f"{t.final_total:.2f}" == "105.11"


def test_cli_writes_contract_columns_and_explanation(tmp_path: Path) -> None:
    p = policy_file(tmp_path, {"employee": EMPLOYEE, "resident": RESIDENT})
    r = run_cli("budget", "--policy", p, "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader((tmp_path / "out" / "totals.csv").open(encoding="utf-8-sig")))
    assert rows[0] == ["scheme", "formula_total", "floor", "ceiling", "final_total", "drawn_from_current_surplus",
                       "drawn_from_accumulated_surplus", "returned_to_surplus"]
    assert rows[1] == ["employee", "510000000.00", "525000000.00", "630000000.00", "525000000.00",
                       "10000000.00", "5000000.00", "0.00"]
    assert rows[2][0] == "resident" and rows[2][4] == "588000000.00"
    text = (tmp_path / "out" / "totals_explained.md").read_text(encoding="utf-8")
    assert "保底生效，缺口已由结余列支" in text and "1000000000.00 × 0.03 = 30000000.00" in text
    assert "韶关" in text  # the rates name their source


@pytest.mark.parametrize("change, needle", [
    ({"drop": "contributions"}, "[fund.employee] 缺少 contributions"),
    ({"booked_total": "-1.00"}, "fund.employee.booked_total 不能为负数"),
    ({"risk_reserve_rate": "1.5"}, "fund.employee.risk_reserve_rate 超出允许范围"),
    ({"bed_day": "十万"}, "fund.employee.bed_day 不是数字"),
    ({"bed_day": "1.005"}, "fund.employee.bed_day 金额小数超过两位"),
    ({"bonus": "1"}, "未知的键：bonus"),
])
def test_bad_policy_one_line_naming_the_key_and_nothing_written(tmp_path: Path, change: dict, needle: str) -> None:
    figures = dict(EMPLOYEE)
    if "drop" in change:
        del figures[change.pop("drop")]
    figures.update(change)
    p = policy_file(tmp_path, {"employee": figures})
    out = tmp_path / "out"
    r = run_cli("budget", "--policy", p, "--out", out)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("错误：") and "Traceback" not in r.stderr
    assert needle in r.stderr and "policy.toml" in r.stderr
    assert not out.exists()


def test_resident_with_personal_account_is_refused(tmp_path: Path) -> None:
    p = policy_file(tmp_path, {"resident": RESIDENT | {"personal_account": "1.00"}})
    r = run_cli("budget", "--policy", p, "--out", tmp_path / "out")
    assert r.returncode == 2 and "没有个人账户" in r.stderr


def test_rates_default_to_the_named_source(tmp_path: Path) -> None:
    figures = {k: v for k, v in EMPLOYEE.items() if not k.endswith("_rate")}
    pol = load_policy(policy_file(tmp_path, {"employee": figures}))
    f = pol.funds["employee"]
    assert (str(f["risk_reserve_rate"]), str(f["floor_rate"]), str(f["ceiling_rate"])) == ("0.03", "1.05", "1.05")
    assert "第五、六条" in f.sources["risk_reserve_rate"]
