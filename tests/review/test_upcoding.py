"""Rule C07 by meaning (issue 17 §1, upcoding): a secondary diagnosis that is a CC or MCC of the CHS-DRG tables, not
excluded by the principal diagnosis, without any of the items that usually accompany it in the region (learned:
support and lift); the evidence table stays the local override, and the fallback without the tables, said once."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from yibao.contract.errors import BadFile
from yibao.contract.standards import cc_tables, find_standards
from yibao.review.check import Checker
from yibao.review.run import FALLBACK_NOTE, run

from .logicgen import by_single_case_forms, by_sql, case_json, handmade_c07_region, rules

C07_ONLY = ("C07",)


def _review(r: dict, with_standards: bool = True):
    src = {k: v for k, v in r.items() if k not in ("qualification_periods", "params", "cc_codes", "cc_exclusions")}
    std = (r["cc_codes"], r["cc_exclusions"]) if with_standards else None
    return run(src, rules(r["params"], C07_ONLY), periods=r["qualification_periods"], standards=std)


def test_cc_tables_reads_the_published_files(tmp_path):
    (tmp_path / "mcc.csv").write_text("code,exclusion_table\nJ96.000,109\n", encoding="utf-8")
    (tmp_path / "cc.csv").write_text("code,exclusion_table\nE11.900,50\nJ96.000,7\n", encoding="utf-8")
    (tmp_path / "cc_exclusions.csv").write_text("principal_dx,exclusion_table\nJ18.900,109\n", encoding="utf-8")
    (tmp_path / "diagnoses.csv").write_text("code,name\nJ96.000,急性呼吸衰竭\n", encoding="utf-8")
    cc, cce = cc_tables(tmp_path)
    assert cc.to_pylist() == [{"code": "E11.900", "level": "cc", "exclusion_table": 50, "name": None},
                              {"code": "J96.000", "level": "mcc", "exclusion_table": 109, "name": "急性呼吸衰竭"}]
    assert cce.to_pylist() == [{"principal_dx": "J18.900", "exclusion_table": 109}]
    (tmp_path / "cc.csv").write_text("code,exclusion_table\nE11.900,x\n", encoding="utf-8")
    with pytest.raises(BadFile, match="第 2 行"):
        cc_tables(tmp_path)


def test_the_shipped_standards_have_the_complications_of_the_varied_region():
    from yibao.synth.vary import COMPLICATIONS

    std = find_standards()
    if std is None:
        pytest.skip("CHS-DRG tables not found")
    cc, _ = cc_tables(std)
    levels = dict(zip(cc.column("code").to_pylist(), cc.column("level").to_pylist()))
    assert {code: levels.get(code) for code, _ in COMPLICATIONS} == {
        "D65.x00": "mcc", "I26.900": "mcc", "J81.x00": "mcc", "J80.x00": "mcc", "G93.600": "cc", "K92.208": "cc"}


def test_a_complication_without_what_usually_accompanies_it_is_found():
    r = handmade_c07_region()
    res = _review(r)
    # learned by hand (logicgen.handmade_c07_region): 7 inpatient stays with lines, ERCP in 3 of them, K80.100 a
    # complication of 4 (C4's principal K80.100 excludes it), 3 of them with ERCP; BED in all 7 (lift 1.00)
    assert res.dx_evidence.to_pylist() == [{
        "dx": "K80.100", "item_code": "ERCP", "item_name": "经内镜逆行胰胆管造影", "n_dx_cases": 4, "n_with_item": 3,
        "n_item_cases": 3, "n_cases": 7, "support": Decimal("0.7500"), "lift": Decimal("1.75")}]
    f = res.findings.to_pylist()
    assert [(x["case_id"], x["rule_id"], x["amount"]) for x in f] == [("C3", "C07", Decimal("900.00"))]
    assert f[0]["message"] == ("诊断 K80.100（胆囊结石伴胆囊炎，严重并发症或合并症 MCC）在本区 4 例编码该诊断的住院病例中"
                               "通常伴有 经内镜逆行胰胆管造影（75.0%），本次住院明细中没有，疑高套病组")
    assert res.notes == []
    # both forms of the logic agree there (the single-case form reads the learned table through Lookup)
    assert by_single_case_forms(r) == by_sql(r)


def test_near_misses_thresholds_exclusion_and_the_override():
    r = handmade_c07_region()
    # lift 1.75 < 1.80: nothing accompanies K80.100, nothing is judged
    r2 = {**r, "params": {"C07": {**r["params"]["C07"], "min_lift": "1.80"}}}
    res2 = _review(r2)
    assert res2.findings.num_rows == 0 and res2.dx_evidence.num_rows == 0
    # support 0.75 < 0.80
    r3 = {**r, "params": {"C07": {**r["params"]["C07"], "min_support": "0.80"}}}
    assert _review(r3).findings.num_rows == 0
    # 4 stays < min_cases 5
    r4 = {**r, "params": {"C07": {**r["params"]["C07"], "min_cases": 5}}}
    assert _review(r4).findings.num_rows == 0
    # the evidence table lists K80: its groups decide (a line named 胆囊 supports it), not the learned items
    rs = rules(r["params"], C07_ONLY)
    rs = replace(rs, evidence={"diagnosis": [{"dx_prefix": "K80", "name": "胆石症", "evidence": ["gb"]}],
                               "group": [{"name": "gb", "zh": "胆道处理", "keywords": ["胆"], "item_codes": []}]})
    src = {k: v for k, v in r.items() if k not in ("qualification_periods", "params", "cc_codes", "cc_exclusions")}
    res = run(src, rs, periods=r["qualification_periods"], standards=(r["cc_codes"], r["cc_exclusions"]))
    assert sorted(x["case_id"] for x in res.findings.to_pylist()) == ["C3", "C4"]  # C4: principal K80.100, no 胆 line
    assert all("需有胆道处理费用支持" in m for m in res.findings.column("message").to_pylist())


def test_without_the_standards_c07_judges_the_evidence_table_only_and_says_so():
    r = handmade_c07_region()
    res = _review(r, with_standards=False)
    assert res.findings.num_rows == 0 and res.dx_evidence.num_rows == 0
    assert res.notes == [FALLBACK_NOTE] and "C07" in FALLBACK_NOTE and "CC/MCC" in FALLBACK_NOTE


def test_the_before_the_fact_check_reads_the_learned_table():
    r = handmade_c07_region()
    res = _review(r)
    rs = rules(r["params"], C07_ONLY)
    std = (r["cc_codes"], r["cc_exclusions"])
    ch = Checker(r["catalog"], r["institutions"], rs, r["qualification_periods"], dx_evidence=res.dx_evidence,
                 standards=std)
    case = case_json(r, "C3")
    fast, sql = ch.check(case), ch.check(case, method="sql")
    assert fast == sql and [f["rule_id"] for f in fast["findings"]] == ["C07"]
    assert ch.check(case_json(r, "C0"))["findings"] == []  # ERCP billed: supported
    # before the fact with nothing learned: the learned part finds nothing
    assert Checker(r["catalog"], r["institutions"], rs, standards=std).check(case)["findings"] == []
