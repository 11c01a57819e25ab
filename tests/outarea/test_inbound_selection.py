"""The inbound selection (外地参保人员在本地就医, yibao.settle.inbound) wired into the budget and DIP/DRG settlement on a
small ``synth --out-of-area`` region: with ``inbound_in_local = false`` the inbound cases are not in the totals, with
true they are, and the difference is Σ of the inbound cases, counted here by hand from the region's CSV files."""

from __future__ import annotations

import csv
from decimal import Decimal as D

import pytest
from conftest import run_cli

from yibao.contract.standards import find_standards

REGION = "4402"  # 440200: the synthetic region's city; its codes share the first 4 digits
YEAR = "2025"


def rows(path):
    with open(path, encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    std = find_standards()
    if std is None:
        pytest.skip("CHS-DRG standards not found")
    base = tmp_path_factory.mktemp("inbound")
    region, ws = base / "region", base / "ws"
    assert run_cli("synth", "--out", region, "--seed", "7", "--cases", "3000", "--out-of-area").returncode == 0
    assert run_cli("load", region, "--workspace", ws).returncode == 0
    policy = (region / "budget_policy.toml").read_text(encoding="utf-8")
    for flag in ("false", "true"):
        (base / f"bp_{flag}.toml").write_text(policy + f'\n[benefit]\nregion_code = "440200"\n\n[out_of_area]\n'
                                              f"inbound_in_local = {flag}\n", encoding="utf-8")
    assert run_cli("dip", "build", "-w", ws, "--out", base / "cat", "--standards", std).returncode == 0
    assert run_cli("dip", "score", "-w", ws, "--catalogue", base / "cat", "--out", base / "scored").returncode == 0
    for flag in ("false", "true"):
        bp = base / f"bp_{flag}.toml"
        for args in (("drg", "settle", "-w", ws, "--standards", std, "--budget-policy", bp, "--no-statements",
                      "--out", base / f"drg_{flag}"),
                     ("dip", "settle", "-w", ws, "--scored", base / "scored", "--budget-policy", bp,
                      "--out", base / f"dip_{flag}"),
                     ("budget", "--policy", bp, "-w", ws, "--out", base / f"budget_{flag}")):
            r = run_cli(*args)
            assert r.returncode == 0, (args, r.stderr)
    # by hand: the cases of 2025 at our institutions of persons insured elsewhere
    insured = {r["person_id"]: r["region_code"] for r in rows(region / "insured.csv")}
    inst = {r["institution_id"]: r for r in rows(region / "institutions.csv")}
    inbound = [c for c in rows(region / "cases.csv") if c["settle_date"].startswith(YEAR)
               and inst[c["institution_id"]]["region_code"].startswith(REGION)
               and not insured[c["person_id"]].startswith(REGION)]
    return base, inbound, inst


def fund(cases):
    return sum((D(c["fund_paid"]) for c in cases), D("0.00"))


def test_drg_settlement_keeps_the_inbound_cases_only_when_the_policy_says_so(demo):
    base, inbound, _ = demo
    inpatient = [c for c in inbound if c["setting"] == "inpatient"]
    assert len(inpatient) == 2
    out = {f: {r["病例号"]: r for r in rows(base / f"drg_{f}" / "cases.csv")} for f in ("false", "true")}
    assert set(out["true"]) - set(out["false"]) == {c["case_id"] for c in inpatient}
    assert set(out["false"]) <= set(out["true"])
    booked = {f: sum((D(r["统筹基金记账"]) for r in t.values()), D(0)) for f, t in out.items()}
    assert booked["true"] - booked["false"] == fund(inpatient) == D("9417.14")


def test_dip_settlement_keeps_the_inbound_cases_only_when_the_policy_says_so(demo):
    base, inbound, inst = demo
    clearing = {f: rows(base / f"dip_{f}" / "clearing.csv") for f in ("false", "true")}
    # per capita (按人头): the outpatient cases at the hospitals and primary institutions
    capita = [c for c in inbound if c["setting"] == "outpatient" and inst[c["institution_id"]]["kind"] != "pharmacy"]
    booked = {f: sum((D(r["统筹基金记账"]) for r in t if r["结算方式"] == "按人头"), D(0)) for f, t in clearing.items()}
    assert capita and booked["true"] - booked["false"] == fund(capita)
    # DIP points: the two inbound stays are not grouped (未入组) — counted among the unscored only with true
    summary = {f: (base / f"dip_{f}" / "summary.json").read_text(encoding="utf-8") for f in ("false", "true")}
    assert summary["false"] != summary["true"]


def test_the_budget_year_keeps_the_inbound_cases_only_when_the_policy_says_so(demo):
    base, inbound, _ = demo
    months = {f: rows(base / f"budget_{f}" / "months.csv") for f in ("false", "true")}
    split = {r["机构编码"] for r in months["true"]}  # the institutions the budget splits over (no pharmacies)
    booked = {f: sum((D(r["记账金额"]) for r in t), D(0)) for f, t in months.items()}
    assert booked["true"] - booked["false"] == fund([c for c in inbound if c["institution_id"] in split])
    visits = {f: sum(int(r["人次"]) for r in t) for f, t in months.items()}
    assert visits["true"] - visits["false"] == len([c for c in inbound if c["institution_id"] in split])
