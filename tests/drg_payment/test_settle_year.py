"""``yibao.drg.settle_year`` as a library (issue 14 item 1): the DRG year of a workspace in one call, the same
one ``yibao drg settle`` makes, and its ``settled_through`` cut-off for a settlement period."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pyarrow.compute as pc
import pytest

from yibao.budget.policy import load_policy
from yibao.budget.year import settlement_pots
from yibao.contract.standards import find_standards
from yibao.drg import load_standards, settle_year, write_settlement
from yibao.drg.report import summary_lines


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    from yibao.engine.loading import load_region
    from yibao.synth import generate

    std = find_standards(None)
    if std is None:
        pytest.skip("the CHS-DRG standards directory is needed")
    base = tmp_path_factory.mktemp("drgyear")
    generate(base / "region", seed=11, cases=3000)
    load_region(base / "region", base / "ws")
    bp = load_policy(base / "region" / "budget_policy.toml")
    return base / "ws", load_standards(std), bp


def test_one_call_settles_the_year_and_money_adds_up(region, tmp_path) -> None:
    ws, std, bp = region
    r = settle_year(ws, std, settlement_pots(bp), bp.sections.clearing, None, bp.year)
    for scheme, s in r.year.drg.items():
        # the DRG budget is the inpatient pot less what the by-item cases booked, and the clearing shares it out
        item = sum((i["paid"] for i in r.year.item if i["scheme"] == scheme), D("0"))
        assert s.budget == max(settlement_pots(bp).inpatient[scheme] - item, D("0"))
        assert sum(c.amount for c in s.clearing) == s.budget
    files = write_settlement(r, tmp_path / "out", statements=False)
    assert {f.name for f in files} >= {"weights.csv", "cases.csv", "clearing.csv", "summary.json"}
    lines = summary_lines(r, tmp_path / "out", files, statements=False)
    assert lines[0].startswith(f"分组标准 {std.version}；权重年度 {r.history}")


def test_a_cut_off_leaves_out_the_cases_settled_later(region) -> None:
    ws, std, bp = region
    full = settle_year(ws, std, settlement_pots(bp), bp.sections.clearing, None, bp.year)
    half = settle_year(ws, std, settlement_pots(bp), bp.sections.clearing, None, bp.year,
                       settled_through=dt.date(bp.year, 6, 30))

    def year_cases(r, months):
        t = r.case_pay.filter(pc.equal(r.case_pay.column("settle_year"), bp.year))
        return sorted(c for c, m in zip(t.column("case_id").to_pylist(), t.column("settle_month").to_pylist())
                      if m in months)

    assert year_cases(half, range(7, 13)) == []
    # the cases settled by June are the same ones, whether or not the rest of the year is there
    assert year_cases(half, range(1, 7)) == year_cases(full, range(1, 7)) != []
    # the monthly settlement still has twelve months; those after the cut-off carry no case weight
    assert all(not m.units for s in half.year.drg.values() for m in s.months if m.month > 6)
    assert any(m.units for s in half.year.drg.values() for m in s.months if m.month <= 6)
