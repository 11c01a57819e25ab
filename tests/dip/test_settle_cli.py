"""yibao dip settle / simulate on a generated region: conservation, determinism, the scenario's effect."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest


def _csv(path: Path) -> list[dict]:
    return list(csv.DictReader(path.open(encoding="utf-8-sig")))


@pytest.fixture(scope="module")
def region(tmp_path_factory) -> Path:
    from conftest import run_cli
    from regions import generated_workspace

    base = tmp_path_factory.mktemp("dipsettle")
    generated_workspace(base, seed=11, cases=4000)
    (base / "dip.toml").write_text('[catalogue]\nyears = [2023, 2024]\nyear_weights = ["3", "7"]\n', encoding="utf-8")
    for args in (("build", "--out", base / "cat"), ("score", "--catalogue", base / "cat", "--out", base / "s")):
        r = run_cli("dip", *args, "-w", base / "ws", "--policy", base / "dip.toml")
        assert r.returncode == 0, r.stderr
    return base


def test_settle_conserves_every_fen_and_is_deterministic(region: Path) -> None:
    from conftest import run_cli

    for out in ("y1", "y2"):
        r = run_cli("dip", "settle", "-w", region / "ws", "--scored", region / "s", "--policy", region / "dip.toml",
                    "--budget-policy", region / "region" / "budget_policy.toml", "--out", region / out)
        assert r.returncode == 0, r.stderr
    assert "结算点值" in r.stdout
    for f in sorted(p.relative_to(region / "y1") for p in (region / "y1").rglob("*") if p.is_file()):
        assert (region / "y1" / f).read_bytes() == (region / "y2" / f).read_bytes(), f
    clearing = [r for r in _csv(region / "y1" / "clearing.csv") if r["结算方式"] == "按病种分值"]
    values = _csv(region / "y1" / "point_values.csv")
    for scheme in ("职工", "城乡居民"):
        mine = [r for r in clearing if r["险种"] == scheme]
        budget = next(Decimal(v["预算（元）"]) for v in values if v["险种"] == scheme and v["点值类型"] == "结算点值")
        # Σ points × value = the budget exactly (largest remainder), each within a fen of points × value
        assert sum(Decimal(r["按点值应付"]) for r in mine) == budget
        value = next(Decimal(v["点值（元/点）"]) for v in values if v["险种"] == scheme and v["点值类型"] == "结算点值")
        for r in mine:
            assert abs(Decimal(r["按点值应付"]) - Decimal(r["年度点数/人月"]) * value) <= Decimal("0.01") + \
                Decimal(r["年度点数/人月"]) * Decimal("0.0000005")
            assert Decimal(r["已预付"]) + Decimal(r["清算拨付（负数为退回）"]) == Decimal(r["年度应付"])
    pre = _csv(region / "y1" / "prepayments.csv")
    assert all(Decimal(p["实际拨付"]) + Decimal(p["预留质量保证金"]) == Decimal(p["应预付"]) for p in pre)
    every = {r["机构编码"] for r in _csv(region / "y1" / "clearing.csv")} | \
        {r["机构编码"] for r in _csv(region / "y1" / "bed_day.csv")}
    assert sorted(p.stem for p in (region / "y1" / "statements").glob("*.xlsx")) == sorted(every)


def test_simulate_budget_cut_leaves_points_and_real_results(region: Path) -> None:
    from conftest import run_cli

    before = {p: p.read_bytes() for p in (region / "s").iterdir()}
    (region / "cut.toml").write_text('name = "预算下调 10%"\n[budget]\ninpatient_factor = "0.90"\n', encoding="utf-8")
    r = run_cli("dip", "simulate", "-w", region / "ws", "--catalogue", region / "cat", "--policy", region / "dip.toml",
                "--budget-policy", region / "region" / "budget_policy.toml", "--scenario", region / "cut.toml",
                "--out", region / "sim")
    assert r.returncode == 0, r.stderr
    assert {p: p.read_bytes() for p in (region / "s").iterdir()} == before  # the real scoring is untouched
    totals = _csv(region / "sim" / "comparison_totals.csv")
    for t in totals:
        base, scen = Decimal(t["基准：住院统筹预算"]), Decimal(t["情景：住院统筹预算"])
        assert scen == (base * Decimal("0.90")).quantize(Decimal("0.01"))
        assert t["基准：年度点数"] == t["情景：年度点数"]  # the same cases and scores
        assert Decimal(t["情景：结算点值"]) < Decimal(t["基准：结算点值"])
    rows = _csv(region / "sim" / "comparison.csv")
    assert rows and all(Decimal(r["情景：按点值应付"]) <= Decimal(r["基准：按点值应付"]) for r in rows)
    bad = run_cli("dip", "simulate", "-w", region / "ws", "--catalogue", region / "cat",
                  "--budget-policy", region / "region" / "budget_policy.toml", "--scenario", region / "nope.toml",
                  "--out", region / "sim2")
    assert bad.returncode == 2 and "情景文件不存在" in bad.stderr and "Traceback" not in bad.stderr
