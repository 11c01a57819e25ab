"""``yibao review --benefit-policy FILE``: the review and the benefit check B01 composed in the interfaces layer.

The review capability never imports the benefit capability (capabilities do not import each other,
tests/test_import_graph.py); this module, like ``yibao outarea``'s, is where the two meet. After the review has run
(:func:`yibao.review.run.run_workspace`), :func:`add_benefit_check` computes every case settled in the benefit
policy's year with the benefit calculator, turns the differences into B01 findings (the review's six columns) and
returns the review's result with them merged in the review's order (``case_id, line_no, rule_id``; B01 is
case-level, ``line_no`` blank) and the rule set with B01 listed. Everything downstream of the review — findings.csv,
the summaries, deductions.csv (a ``reject`` B01 finding deducts the over-booked amount), the workbook, the store's
findings workflow (``record_review``) and ``--evaluate`` — then treats B01 like any other rule.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pyarrow as pa

from yibao.benefit.check import RULE_ID, RULE_NAME, findings
from yibao.benefit.policy import load_policy
from yibao.benefit.run import compute_workspace
from yibao.contract.errors import BadOption
from yibao.contract.params import Values
from yibao.engine.workspace import Workspace
from yibao.review.ruleset import Rule, RuleSet
from yibao.review.run import ReviewResult

B01 = Rule(
    id=RULE_ID, name=RULE_NAME, category="政策类", severity="reject", amount="excess", window="当次就诊",
    logic="benefit", message="统筹基金记账与按待遇政策计算的应支付金额之差超过容差（算式见审核说明）",
    basis="种子 004（量与费：支付金额须与待遇政策计算结果一致）；待遇政策见 --benefit-policy（docs/benefit.md）",
    targets="fund_overbooked", params={},
)


def benefit_policy(paths: Path | list[Path]) -> tuple[Values, ...]:
    """The benefit policies of ``--benefit-policy`` (repeatable: one file per policy year, ``benefit.year``), read
    before the review runs: a bad file, or two files of the same year, is refused at once."""
    pols, seen = [], {}
    for path in paths if isinstance(paths, (list, tuple)) else [paths]:
        pol = load_policy(path)
        y = pol["benefit.year"]
        if y in seen:
            raise BadOption(f"待遇政策文件 {seen[y]} 与 {path} 都是 {y} 年的政策（benefit.year），每年只能给一个")
        seen[y] = path
        pols.append(pol)
    return tuple(sorted(pols, key=lambda p: p["benefit.year"]))


def add_benefit_check(workspace: Path, res: ReviewResult, rs: RuleSet, pols: Values | tuple[Values, ...]) \
        -> tuple[ReviewResult, RuleSet, list[dict]]:
    """The review's result with the B01 findings merged in, the rule set with B01 listed, and one summary per
    policy (year, cases computed, B01 findings, rejects). Every policy (one file holds one year's rules,
    ``benefit.year``) computes the cases settled in its year — a case is computed with the policy of its settlement
    year, the accumulations (per-year deductible, annual cap) restart each year; cases of a year without a policy
    are not checked. Persons insured elsewhere are not checked (their region's policy applies)."""
    if any(r.id == RULE_ID for r in rs.rules):
        raise BadOption(f"规则 {RULE_ID} 已在审核规则中，不能与 --benefit-policy 同时使用")
    pols = pols if isinstance(pols, tuple) else (pols,)
    summaries, parts = [], []
    with Workspace(Path(workspace), read_only=True) as ws:
        for pol in pols:
            result = compute_workspace(ws, pol)
            part = findings(ws.con, result, pol["benefit.tolerance"], pol["benefit.region_code"])
            parts.append(part)
            summaries.append((pol, result.num_rows))
    # only the cases the review saw (not quarantined)
    kept = [part.filter(pa.compute.is_in(part.column("case_id"), value_set=res.cases.column("case_id")))
            for part in parts]
    found = pa.concat_tables(kept).cast(res.findings.schema)
    merged = pa.concat_tables([res.findings, found]).sort_by(
        [("case_id", "ascending", "at_end"), ("line_no", "ascending", "at_end"), ("rule_id", "ascending", "at_end")])
    summary = [{"year": pol["benefit.year"], "region_code": pol["benefit.region_code"], "computed": computed,
                "findings": k.num_rows,
                "reject": pa.compute.sum(pa.compute.equal(k.column("severity"), "reject")).as_py() or 0}
               for (pol, computed), k in zip(summaries, kept)]
    return replace(res, findings=merged), replace(rs, rules=rs.rules + (B01,)), summary
