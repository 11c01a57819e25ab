"""The load's contract checks as a pipeline: same reasons as the loader, row by row."""

from __future__ import annotations

from yibao.engine.runner import LocalRunner
from yibao.quality.pipelines import CASES_CHECKS, cases_fixture


def test_cases_checks_pipeline_finds_each_planted_problem() -> None:
    out = LocalRunner().run_pipeline(CASES_CHECKS, cases_fixture())
    cells = {r["_row"]: [i["code"] for i in r["_issues"] or []] for r in out["cases_cells"].to_pylist()}
    assert cells == {
        1: [], 2: [], 3: [], 4: [], 5: [], 6: ["MONEY_NEGATIVE"], 7: ["MONEY_TOO_MANY_DECIMALS"], 8: ["BAD_ICD10"],
        9: ["BAD_ICD9"], 10: ["BAD_TYPE"], 11: [], 12: ["MISSING_KEY"], 13: ["BAD_DATE"], 14: ["BAD_ENUM"],
        15: ["BAD_RANGE"], 16: [], 17: ["BAD_ENUM"]}
    found = {(r["_row"], r["code"]) for step in ("cases_duplicates", "cases_rules", "cases_references")
             for r in out[step].to_pylist()}
    assert found == {(11, "DUPLICATE_KEY"), (5, "DISCHARGE_BEFORE_ADMISSION"), (16, "SETTLED_BEFORE_DISCHARGE"),
                     (3, "UNKNOWN_PERSON"), (4, "UNKNOWN_INSTITUTION"), (4, "UNKNOWN_STAFF")}
    # clean rows are typed: money exact, lists split
    row1 = out["cases_cells"].slice(0, 1).to_pylist()[0]
    assert str(row1["total_cost"]) == "12000.50" and row1["secondary_dx"] == ["I10.x00", "E11.900"]
