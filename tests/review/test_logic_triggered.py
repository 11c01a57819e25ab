"""Every rule logic fires somewhere and there its two forms agree (issue 14 §2): for every logic of
yibao.review.logic, the generator finds a region where it fires (Hypothesis ``find``; C06, which needs a learned
category and a peer stay, on a region built by hand), and there the review pipeline's SQL and the single-case forms
give the same findings — so no logic is compared only on misses. (Apart from test_logic_equality.py so that the
two files run on two test workers.)"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, find, settings

from yibao.review.logic import LINE_LOGIC, SET_LOGIC

from .logicgen import LEARNED, _logic_rules, by_single_case_forms, by_sql, handmade_c06_region, region


@pytest.mark.parametrize("name", sorted([*LINE_LOGIC, *SET_LOGIC]))
def test_every_logic_is_triggered_and_agrees(name):
    ids = _logic_rules().get(name)
    assert ids, f"logic {name} is used by no shipped rule"
    if name == "low_standard_learned":
        example = handmade_c06_region()
        assert [x[2] for x in by_single_case_forms(example, tuple(ids))] == ["C06"]
    else:
        fires = lambda r: bool(by_single_case_forms(r, tuple(ids), learn=name in LEARNED))
        example = find(region(max_cases=4), fires,
                       settings=settings(max_examples=2000, deadline=None, database=None, phases=[Phase.generate],
                                         suppress_health_check=list(HealthCheck)))  # (the first found, not shrunk)
    assert by_single_case_forms(example) == by_sql(example)
