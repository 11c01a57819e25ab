"""Hypothesis: for any cases and lines (lines never above the case's total), the parts add up to the total cost —
甲类 + 乙类 + 丙类 + 无明细 = total_cost and fund + self pay + 自费 = total_cost — and the fund pays between 0 and
the policy-covered cost, never more than the year's cap per person and pot."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal as D

from benefit.util import region
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yibao.benefit.compute import compute
from yibao.benefit.policy import PARAMS

fen = st.integers(min_value=0, max_value=3_000_000)
codes = st.sampled_from(["A1", "B1", "B2", "C1", "ZZ"])
case_st = st.tuples(
    st.sampled_from(["P1", "P2", "P3"]), st.sampled_from(["H3", "H2", "H1", "X3"]),
    st.sampled_from(["employee", "resident"]), st.sampled_from(["inpatient", "outpatient"]),
    st.sampled_from(["K80.1", "E11.900", "J06.9"]), st.integers(0, 364),
    st.lists(st.tuples(codes, fen), min_size=0, max_size=5), st.integers(0, 50_000))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(case_st, min_size=1, max_size=12), st.sampled_from(["0.00", "1000.00", "300000.00"]),
       st.sampled_from(["A", "C"]))
def test_parts_add_up_to_the_total_cost(cases, cap, unlisted):
    pol = PARAMS.load(None, overrides={"benefit": {"unlisted_class": unlisted,
                                                   "cap": {"employee": {"pooling": cap, "outpatient": cap}}}})
    cs, ls = [], []
    for i, (person, inst, scheme, setting, dx, day, lines, extra) in enumerate(cases):
        date = f"2025-{1 + day // 31 % 12:02d}-{1 + day % 28:02d}"
        total = sum(a for _, a in lines) + extra
        cs.append((f"K{i:03d}", person, inst, scheme, setting, dx, str(D(total) / 100), "0.00", date))
        ls += [(f"K{i:03d}", n, code, str(D(a) / 100), date) for n, (code, a) in enumerate(lines, 1)]
    con, src = region(cs, ls)
    out = compute(con, src, pol).to_pylist()
    assert len(out) == len(cs)
    paid = defaultdict(D)
    for r in out:
        assert r["class_a"] + r["class_b"] + r["class_c"] + r["unlisted"] == r["total_cost"]
        assert r["fund_computed"] + r["self_pay_computed"] + r["excluded_computed"] == r["total_cost"]
        assert D(0) <= r["fund_computed"] <= r["covered"]
        assert r["deductible"] + r["band1"] + r["band2"] + r["band3"] == r["covered"]
        assert r["fund_uncapped"] - r["over_cap"] == r["fund_computed"]
        pot = "outpatient" if r["benefit_setting"] == "outpatient" else "pooling"
        paid[(r["person_id"], r["scheme"], pot)] += r["fund_computed"]
    for (person, scheme, pot), total in paid.items():
        assert total <= pol["benefit.cap"][scheme][pot]
