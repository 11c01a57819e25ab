"""The fast path's filters (yibao.review.check): written for the current definition of their logic, used when
they are, never trusted when they are not, and a rule the fast path cannot run is reported, not skipped."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from yibao.contract.errors import BadOption
from yibao.review import check
from yibao.review.check import CASE_FILTERS, LINE_FILTERS, Checker, case_facts, evaluate_case, plan_coverage
from yibao.review.logic import LINE_LOGIC, SET_LOGIC
from yibao.review.ruleset import load_rules

from .builder import Region
from .test_check import _case_json


def test_every_fast_filter_matches_its_logic():
    """A filter names the definition it was written for; a logic changed since (its SQL or its single-case form)
    must have its filter checked again — the fast path does not use it meanwhile (``stale_filter``)."""
    stale = []
    for table, logics in ((LINE_FILTERS, LINE_LOGIC), (CASE_FILTERS, SET_LOGIC)):
        for name, (fp, _) in table.items():
            assert name in logics, f"filter for a logic that does not exist: {name}"
            now = check._fingerprint(logics[name].one)
            if now != fp:
                stale.append(f"{name}: written for {fp}, the logic is now {now}")
    assert not stale, "check these filters against their logic, then update the fingerprint: " + "; ".join(stale)
    cov = plan_coverage(load_rules())
    assert cov["stale_filter"] == [] and cov["not_run"] == []
    # every shipped line rule is filtered: none runs its single-case form on every line of a 300-line stay
    assert cov["every_line"] == []


def _stay(n_days: int = 100) -> Region:
    """A clean stay of 300 lines (bed, nursing, a drug each day), plus a second bed line over its price cap."""
    first = date(2024, 7, 1)
    r = Region()
    r.case("A", admit=str(first), discharge=str(first + timedelta(days=n_days)), daily=False)
    for d in range(n_days):
        day = str(first + timedelta(days=d))
        r.line("A", "BED", day, "1", "80.00")
        r.line("A", "NUR", day, "1", "28.00")
        r.line("A", "CEF", day, "2", "5.20")
    r.line("A", "BED", str(first + timedelta(days=n_days // 2)), "1", "95.00")  # cap 80.00: 15.00 over (L02)
    return r


def test_a_long_stay_gives_the_sql_findings_and_the_filters_are_what_finds_them(monkeypatch):
    t = _stay().tables()
    rs = load_rules()
    ch = Checker(t["catalog"], t["institutions"], rs, t["qualification_periods"])
    case = _case_json(t, "A")
    assert len(case["lines"]) == 301
    fast = ch.check(case)
    assert fast == ch.check(case, method="sql")
    l02 = [(f["line_no"], f["amount"]) for f in fast["findings"] if f["rule_id"] == "L02"]
    assert l02 == [(301, "15.00")]  # 95.00 − 80.00 on the one line
    # the filter is what selects the lines: a filter that keeps none loses the finding (so it is really used) …
    fp = LINE_FILTERS["price_over_cap"][0]
    monkeypatch.setitem(LINE_FILTERS, "price_over_cap", (fp, lambda p: lambda a, c: None))
    rs2 = replace(rs)  # (a new rule set: compiled afresh)
    ch2 = Checker(t["catalog"], t["institutions"], rs2, t["qualification_periods"])
    assert "L02" not in {f["rule_id"] for f in ch2.check(case)["findings"]}
    # … and the same wrong filter for another definition of the logic is not used: the finding is back
    monkeypatch.setitem(LINE_FILTERS, "price_over_cap", ("0" * 12, lambda p: lambda a, c: None))
    rs3 = replace(rs)
    ch3 = Checker(t["catalog"], t["institutions"], rs3, t["qualification_periods"])
    assert ch3.coverage()["stale_filter"] == ["L02"]
    assert ch3.check(case) == fast


def test_a_rule_the_fast_path_cannot_run_is_reported():
    """(The rule files refuse an unknown logic and so does the SQL path; a rule set built in code reaches the fast
    path as it is, which names the rule instead of passing over it.)"""
    rs = load_rules()
    odd = replace(rs.by_id("L02"), id="X99", logic="no_such_logic")
    rs = replace(rs, rules=(*rs.rules, odd))
    assert plan_coverage(rs)["not_run"] == ["X99"]
    t = _stay(3).tables()
    ch = Checker(t["catalog"], t["institutions"], load_rules(), t["qualification_periods"])
    row, person, lines = ch.parse(_case_json(t, "A"))
    c = case_facts(row, person, ch.look)
    with pytest.raises(BadOption, match="X99 的逻辑 no_such_logic 没有单病例形式"):
        evaluate_case(rs, ch.look, c, lines, [c])
