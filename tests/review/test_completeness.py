"""Completeness of the settlement list (C31–C33, seed 004 五): hand-made cases with their near misses."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pyarrow as pa

from yibao.contract.standards import empty_cc_tables
from yibao.engine.loading import load_region
from yibao.engine.runner import LocalRunner
from yibao.review.evaluation import evaluate, read_labels
from yibao.review.ruleset import load_rules
from yibao.review.rulesql import build_pipeline
from yibao.review.run import run, run_workspace
from yibao.synth import generate

from .builder import Region, review

M = Decimal


def hits(findings, rule_id):
    return [(f["case_id"], f["amount"], f["message"]) for f in findings if f["rule_id"] == rule_id]


def test_a_case_with_only_totals_and_no_lines_is_flagged_in_both_settings():
    r = Region()
    r.case("IN", daily=False, total="1234.56", fund="864.19")              # inpatient, no line at all
    r.case("OUT", setting="outpatient", total="20.00", fund="14.00")
    r.lines = [x for x in r.lines if x["case_id"] != "OUT"]                # outpatient visit, its line dropped
    r.case("ZERO", daily=False, total="0.00", fund="0.00")                 # nothing to itemise: near miss
    r.case("CENT", daily=False, total="0.01", fund="0.00")                 # one fen and no line: flagged
    r.case("FULL")                                                         # lines present: clean
    f = hits(review(r, "C31"), "C31")
    assert [(c, a) for c, a, _ in f] == [("CENT", M("0.00")), ("IN", M("864.19")), ("OUT", M("14.00"))]
    msg = dict((c, m) for c, _, m in f)["IN"]
    assert msg == ("结算清单医疗费用总额 1234.56 元，但没有任何费用明细（只传总费用、未传清单），"
                   "统筹基金支付 864.19 元无明细可审")


def test_lines_not_adding_up_to_the_total_beyond_one_fen():
    # a clean 3-day stay: 3 × (80.00 + 28.00 + 10.40) = 355.20
    r = Region()
    r.case("EXACT")                                   # the total the lines make
    r.case("ATTOL", total="355.21")                   # exactly at the tolerance (0.01): not flagged
    r.case("UNDER", total="355.19")                   # one fen under the lines, at the tolerance: not flagged
    r.case("OVER2", total="355.22")                   # one fen over the tolerance: flagged, 0.02
    r.case("LESS2", total="355.18")                   # lines 0.02 more than the total: flagged
    r.case("SHORT", total="5000.00")                  # a list that itemises a fraction of the total
    f = hits(review(r, "C32"), "C32")
    assert [(c, a) for c, a, _ in f] == [("LESS2", M("0.02")), ("OVER2", M("0.02")), ("SHORT", M("4644.80"))]
    m = dict((c, m) for c, _, m in f)
    assert m["SHORT"] == ("费用明细 9 条合计 355.20 元，结算清单医疗费用总额 5000.00 元，相差 4644.80 元（明细少于总额），"
                          "超过容差 0.01 元")
    assert "（明细多于总额）" in m["LESS2"]


def test_a_case_without_lines_is_not_a_sum_mismatch_and_a_wider_tolerance_is_a_parameter(tmp_path):
    r = Region()
    r.case("NOLINES", daily=False, total="100.00")
    r.case("OVER2", total="355.22")
    f = review(r, "C31", "C32")
    assert [(x["case_id"], x["rule_id"]) for x in f] == [("NOLINES", "C31"), ("OVER2", "C32")]
    local = tmp_path / "local.toml"
    local.write_text('[rules.C32.params]\ntolerance = "0.05"\n', encoding="utf-8")
    assert review(r, "C32", override=local) == []


def test_payment_parts_that_do_not_make_the_total():
    r = Region()
    r.case("OK", total="100.00", fund="70.00", self_pay="20.00", excluded="10.00", daily=False)
    r.line("OK", "REG", "2024-07-01", "5", "20.00")
    r.case("FEN", total="100.00", fund="70.00", self_pay="20.01", excluded="10.00", daily=False)   # one fen over
    r.line("FEN", "REG", "2024-07-01", "5", "20.00")
    r.case("FENU", total="100.00", fund="70.00", self_pay="19.99", excluded="10.00", daily=False)  # one fen under
    r.line("FENU", "REG", "2024-07-01", "5", "20.00")
    r.case("ZERO", total="0.00", fund="0.00", self_pay="0.00", daily=False)                       # zero cost: fine
    f = hits(review(r, "C33"), "C33")
    assert [(c, a) for c, a, _ in f] == [("FEN", M("0.01")), ("FENU", M("0.01"))]
    assert dict((c, m) for c, _, m in f)["FEN"] == (
        "统筹基金支付 70.00 元 + 个人自付 20.01 元 + 个人自费 10.00 元 = 100.01 元，与医疗费用总额 100.00 元相差 0.01 元")


def _partitioned(step, tables, key, parts=2):
    """The step applied as the Spark runner does: ``main`` split into partitions on ``key``, each with the
    broadcast tables whole."""
    main = tables[step.main]
    keys = main.column(key).to_pylist()
    bucket = {k: i % parts for i, k in enumerate(sorted(set(keys)))}
    out = []
    for i in range(parts):
        mask = pa.array([bucket[v] == i for v in keys])
        out.append(step.apply({step.main: main.filter(mask), **{b: tables[b] for b in step.broadcast}}))
    return sorted(row["case_id"] for t in out for row in t.to_pylist())


def test_a_case_whose_lines_sit_in_another_partition_is_not_missing_its_lines():
    # the person step is split by person and the case-lines step by case: the lines of a case are never in the
    # person's partition of the cases, so the person step must see the lines whole (broadcast)
    r = Region()
    r.case("A", person="M60")
    r.case("B", person="F30", total="500.00")
    r.case("NONE", person="K05", daily=False, total="80.00")
    t = r.tables()
    periods = t.pop("qualification_periods")
    rs = load_rules().only("C31", "C32")
    p = build_pipeline(rs)
    steps = {s.name: s for s in p.steps}
    assert "fee_items" in steps["review_person_findings"].broadcast
    assert "fee_items" not in build_pipeline(load_rules().only("C33")).steps[3].broadcast  # only when needed
    cc, cce = empty_cc_tables()  # the CHS-DRG complication tables, a source of the pipeline (C07): none here
    src = {**t, "qualification_periods": periods, "cc_codes": cc, "cc_exclusions": cce}
    out = LocalRunner().run_pipeline(p, src)
    tables = {**src, **{k: out[k] for k in ("review_cases", "review_reference_prices", "review_dx_profiles",
                                            "review_dx_evidence")}}
    assert _partitioned(steps["review_person_findings"], tables, "person_id") == ["NONE"]
    assert _partitioned(steps["review_case_line_findings"], tables, "case_id") == ["B"]
    whole = run(t, rs, periods=periods).findings.to_pylist()
    assert [(x["case_id"], x["rule_id"]) for x in whole] == [("B", "C32"), ("NONE", "C31")]



def test_the_generators_completeness_faults_are_what_c31_to_c33_find(tmp_path):
    """``synth --faults`` (3 000 cases, seed 3): each labelled fault is exactly one finding of its rule and no
    other case is flagged (recall and precision 1); the faults are what their labels say in the files — no
    line at all, one lab or exam line missing from the sum, self_pay moved so that the parts miss the total."""
    region, ws = tmp_path / "region", tmp_path / "ws"
    summary = generate(region, 3, 3000, faults=True)
    assert {k: summary["labels"][k] for k in ("no_fee_lines", "lines_total_mismatch", "payment_parts_mismatch")} \
        == {"no_fee_lines": 4, "lines_total_mismatch": 4, "payment_parts_mismatch": 4}
    load_region(region, ws)
    rs = load_rules()
    res = run_workspace(ws, rs)
    ev = {r["pattern"]: r for r in evaluate(res.findings, read_labels(region / "labels.csv"), rs).to_pylist()}
    for pat, rule in (("no_fee_lines", "C31"), ("lines_total_mismatch", "C32"), ("payment_parts_mismatch", "C33")):
        assert (ev[pat]["rules"], ev[pat]["labelled"], ev[pat]["flagged"], ev[pat]["true_positive"]) == (rule, 4, 4, 4)
    con = duckdb.connect()
    q = f"""
        WITH c AS (SELECT * FROM read_csv('{region}/cases.csv', all_varchar=true)),
        l AS (SELECT case_id, pattern FROM read_csv('{region}/labels.csv')),
        f AS (SELECT case_id, count(*) AS n, sum(CAST(amount AS DECIMAL(18,2))) AS s
              FROM read_csv('{region}/fee_items.csv', all_varchar=true) GROUP BY case_id)
        SELECT l.pattern, count(*), count(f.case_id),
               count(*) FILTER (WHERE f.s IS NOT NULL AND f.s < CAST(c.total_cost AS DECIMAL(18,2))),
               count(*) FILTER (WHERE CAST(c.fund_paid AS DECIMAL(18,2)) + CAST(c.self_pay AS DECIMAL(18,2))
                                      + CAST(c.out_of_pocket_excluded AS DECIMAL(18,2))
                                      <> CAST(c.total_cost AS DECIMAL(18,2)))
        FROM l JOIN c USING (case_id) LEFT JOIN f USING (case_id)
        WHERE l.pattern IN ('no_fee_lines', 'lines_total_mismatch', 'payment_parts_mismatch')
        GROUP BY l.pattern ORDER BY l.pattern"""
    # (pattern, cases, cases with lines, lines summing below the total, parts not making the total)
    assert con.sql(q).fetchall() == [("lines_total_mismatch", 4, 4, 4, 0), ("no_fee_lines", 4, 0, 0, 0),
                                     ("payment_parts_mismatch", 4, 4, 0, 4)]


def test_without_faults_the_region_has_none(tmp_path):
    summary = generate(tmp_path, 3, 300)  # the option is off by default: no fault, no count of one
    assert not {"no_fee_lines", "lines_total_mismatch", "payment_parts_mismatch"} & set(summary["labels"])
