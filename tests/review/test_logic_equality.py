"""One definition per rule logic (issue 14 §2): every logic of yibao.review.logic is one record holding its SQL
and its single-case form, and the two give the same findings on generated regions (Hypothesis).

- ``test_single_case_check_both_methods_agree``: the before-the-fact check (``Checker.check``) of each generated
  case, by the single-case forms (``fast``) and by the review pipeline's SQL over the one case (``sql``);
- ``test_region_pipeline_equals_single_case_forms``: the review pipeline over a generated region of several
  cases and persons, against each case's single-case evaluation with the person's other cases as history
  (the readmission, overlap and visit-frequency logics need them);
- ``test_every_logic_is_triggered_and_agrees``: for every logic, the generator finds a region where it fires
  (Hypothesis ``find``; C06, which needs a learned category and a peer stay, on a region built by hand), and
  there both paths agree — so no logic is compared only on misses;
- ``test_a_logic_without_its_single_case_form_fails_at_import``.

The rules are the shipped files (``review/rules/*.toml``), every rule enabled (the templates too), with a few
integer parameters drawn (a visit limit of 0 lets one case exceed it; a course limit of 1 day needs 2 days).
"""
from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from hypothesis import given, settings

from yibao.review import logic
from yibao.review.check import Checker
from yibao.review.logic import LINE_LOGIC, SET_LOGIC, LineLogic, SetLogic

from .logicgen import SLOW, _logic_rules, by_single_case_forms, by_sql, case_json, region, rules


@settings(SLOW, max_examples=40)
@given(region(max_cases=2))
def test_single_case_check_both_methods_agree(r):
    ch = Checker(r["catalog"], r["institutions"], rules(r["params"]), r["qualification_periods"])
    for cid in r["cases"].column("case_id").to_pylist():
        case = case_json(r, cid)
        if not case["lines"]:  # the check needs at least one line (BadFile)
            continue
        assert ch.check(case) == ch.check(case, method="sql"), cid


@settings(SLOW, max_examples=60)
@given(region(max_cases=4))
def test_region_pipeline_equals_single_case_forms(r):
    assert by_single_case_forms(r) == by_sql(r)


def test_every_shipped_logic_has_one_record_with_both_forms():
    assert set(_logic_rules()) <= set(LINE_LOGIC) | set(SET_LOGIC)
    for name, lg in {**LINE_LOGIC, **SET_LOGIC}.items():
        assert lg.name == name and callable(lg.one)
        assert (lg.cond if isinstance(lg, LineLogic) else lg.sql).strip()


def test_a_logic_without_its_single_case_form_fails_at_import():
    with pytest.raises(TypeError, match="one"):
        LineLogic(name="x", cond="TRUE", amount="l.amount")  # the record cannot be built without it
    with pytest.raises(TypeError, match="single-case form"):
        SetLogic(name="x", shape=logic.PERSON, sql="SELECT 1", one=None)
    # a module that declares a logic and gives no function for it does not import
    src = Path(logic.__file__).read_text(encoding="utf-8")
    src = src.replace("\nrequire_single_case_forms()\n",
                      '\nline_logic("no_twin", "TRUE", "l.amount")\nrequire_single_case_forms()\n')
    mod = types.ModuleType("yibao_review_logic_variant")
    sys.modules[mod.__name__] = mod
    try:
        with pytest.raises(TypeError, match="rule logic without a single-case form: no_twin"):
            exec(compile(src, "logic_variant.py", "exec"), mod.__dict__)  # noqa: S102 (the module, changed)
    finally:
        del sys.modules[mod.__name__]
    assert "no_twin" not in LINE_LOGIC
