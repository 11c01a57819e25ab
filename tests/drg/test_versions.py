"""City versions of CHS-DRG as data (issue 20): what Beijing 2022 adds to 1.1, on a hand-made miniature.

The extended miniature (:func:`yibao.drg.mini.mini_ext_standards`) adds ADRG GE1 to the miniature: two
alternatives (a principal diagnosis with a procedure of its list, OR a secondary diagnosis of another
list), DRG rules by age with CC (GE11), by length of stay ≥ 7 (GE12) and 2–6 days (GE14), and no
``always`` rule. Every expected answer below is worked out by hand from those tables.
"""

from __future__ import annotations

import pytest

from yibao.contract.reasons import FatalLoadError
from yibao.drg.explain import group_one
from yibao.drg.grouper import group_table
from yibao.drg.mini import EXT_CASES, EXT_FILES, ext_cases, mini_ext_standards
from yibao.drg.standards import standards_from_files


@pytest.fixture(scope="module")
def grouped():
    return {r["case_id"]: r for r in group_table(ext_cases(), mini_ext_standards()).to_pylist()}


@pytest.mark.parametrize("row", EXT_CASES, ids=[r[0] for r in EXT_CASES])
def test_hand_checked_cases_on_both_paths(row, grouped):
    cid, *_, status, adrg, drg = row
    got = grouped[cid]
    assert (got["status"], got["adrg"], got["drg"]) == (status, adrg, drg)
    assert got["mdc"] == ("G" if adrg else None)
    case = next(r for r in ext_cases().to_pylist() if r["case_id"] == cid)
    assert group_one(case, mini_ext_standards()).as_row() == got


def test_explanation_names_the_alternative_and_the_band():
    case = next(r for r in ext_cases().to_pylist() if r["case_id"] == "E07")
    text = group_one(case, mini_ext_standards()).explain()
    assert "第 2 个备选条件（共 2 个）" in text and "其他诊断 Z93.000 在 GE1 的诊断列表 second_2 中" in text
    assert "住院天数 8" in text and "第一个成立的是 GE12" in text
    case = next(r for r in ext_cases().to_pylist() if r["case_id"] == "E04")
    assert "都不成立：按分组标准，DRG 取 ADRG 代码 GE1" in group_one(case, mini_ext_standards()).explain()


def test_rules_from_kind_and_band_columns():
    rules = {r.drg: r for r in mini_ext_standards().adrgs["GE1"].rules}
    assert rules["GE14"].condition.text == "LOS >= 2 AND LOS < 7"      # written from the band columns
    assert rules["GE11"].condition.text == "CC_OR_MCC AND AGE_YEARS <= 6"
    assert rules["GE12"].condition.text == "LOS >= 7"                   # the condition column, as given
    assert mini_ext_standards().rule_variables == {"LOS", "AGE_YEARS"}


def _broken(name: str, old: str, new: str) -> str:
    files = dict(EXT_FILES)
    assert old in files[name]
    files[name] = files[name].replace(old, new, 1)
    with pytest.raises(FatalLoadError) as exc:
        standards_from_files(files, source="std")
    message = str(exc.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("name, old, new, expected", [
    ("drg_rules.csv", "GE12,GE1,2,los_band", "GE12,GE1,2,los_window", ["drg_rules.csv", "第 30 行", "los_window"]),
    ("drg_rules.csv", "los_band,LOS >= 7,7", "los_band,LOS >= 8,7", ["第 30 行", "LOS", "不一致"]),
    ("drg_rules.csv", "los_band,LOS >= 7,7", "los_band,STAY >= 7,7", ["第 30 行", "未知的条件项 'STAY >= 7'"]),
    ("drg_rules.csv", "GE11,GE1,1,age_max_and_cc_or_mcc,,,,6", "GE11,GE1,1,age_max_and_cc_or_mcc,,,,",
     ["第 29 行", "max_age_years 为空"]),
    ("adrgs.csv", "ANY_SDX in dx.second_2", "ANY_SDX in dx.second_2 AND LOS >= 3", ["adrgs.csv", "LOS", "只能用于 DRG 规则"]),
    ("adrgs.csv", "ANY_SDX in dx.second_2", "ANY_THIRD in dx.second_2", ["adrgs.csv", "未知的条件项 'ANY_THIRD"]),
    ("adrg_alternatives.csv", "GE1,2,ANY_SDX in dx.second_2", "GE1,2,ANY_DX in dx.second_2",
     ["adrg_alternatives.csv", "第 3 行", "不一致"]),
    ("drg_rules.csv", "los_band,LOS >= 7,7", "los_band,LOS >= 7 AND HAS_PROC,7", ["第 30 行", "HAS_PROC", "DRG 规则只能用"]),
])
def test_unknown_kinds_and_inconsistent_rules_stop_the_load(name, old, new, expected):
    message = _broken(name, old, new)
    for part in expected:
        assert part in message, message
