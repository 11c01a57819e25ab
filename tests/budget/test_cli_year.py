"""`yibao budget --workspace`: a generated region's year end to end, books closed to the fen."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

from conftest import run_cli
from regions import generated_workspace


def test_generated_region_year_closes_exactly(tmp_path: Path) -> None:
    generated_workspace(tmp_path, seed=3, cases=6000)
    out = tmp_path / "out"
    r = run_cli("budget", "--policy", tmp_path / "region" / "budget_policy.toml", "--out", out,
                "--workspace", tmp_path / "ws")
    assert r.returncode == 0, r.stderr
    for name in ("totals.csv", "pots.csv", "quotas.csv", "months.csv", "clearing.csv", "institutions.csv",
                 "statements/全市汇总.xlsx", "statements/公开_2025年总额控制结果.csv"):
        assert (out / name).is_file(), name
    assert len(list((out / "statements" / "机构").glob("*.xlsx"))) >= 10
    pots = list(csv.DictReader((out / "pots.csv").open(encoding="utf-8-sig")))
    totals = {row["scheme"]: row for row in csv.DictReader((out / "totals.csv").open(encoding="utf-8-sig"))}
    for p in pots:
        amount, paid, balance = (Decimal(p[k]) for k in ("项目总额", "基金支付合计", "项目结余（正数留存基金）"))
        assert paid + balance == amount  # no fen appears or vanishes
        assert Decimal(p["月度实际拨付合计"]) + Decimal(p["清算拨付合计"]) == paid
    inpatient = {p["项目"]: Decimal(p["项目总额"]) for p in pots if p["项目"].endswith(".inpatient")}
    assert inpatient == {f"{s}.inpatient": Decimal(t["final_total"]) for s, t in totals.items()}
