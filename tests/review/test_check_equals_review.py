"""The fast single-case path gives the workspace review's findings (issue 16 §2): every case of a generated
region, sent as a hospital system sends it (settlement-list fields and fee lines as JSON strings), through the
pre-check (``Precheck.check``: the checker's compiled rules with their line and case filters, the person's
other cases of the workspace for the history rules) and through ``yibao review --workspace`` — the same
findings, rule by rule: case, line, rule, severity, amount and message.

The rules compared are every enabled rule of the shipped rule set the fast path runs (``Checker.coverage``);
the test fails if a rule is not run, or runs nowhere in the region (each rule that finds something in the
review must find the same here)."""

from __future__ import annotations

import csv
from collections import Counter
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import regions
from conftest import run_cli

from yibao.server.precheck import Precheck

CASE_COLS = ["case_id", "person_id", "institution_id", "scheme", "sex", "age_years", "setting", "admit_date",
             "discharge_date", "dept_code", "attending_staff_id", "principal_dx", "secondary_dx", "procedures",
             "discharge_mode", "emergency", "total_cost", "fund_paid", "self_pay", "out_of_pocket_excluded"]
LINE_COLS = ["line_no", "item_code", "item_name", "item_kind", "fee_category", "service_date", "quantity",
             "unit_price", "amount", "staff_id"]


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    return regions.generated_workspace(tmp_path_factory.mktemp("check-eq"), seed=23, cases=1500)


def _text(v):
    if v is None or isinstance(v, (bool, int, list)):
        return v
    return v.isoformat() if hasattr(v, "isoformat") else str(v)


def _requests(ws: Path) -> list[dict]:
    """Every case of the workspace as pre-check input: the fields as text, the way the HIS sends them."""
    con = duckdb.connect(str(ws / "yibao.duckdb"), read_only=True)
    try:
        cases = {}
        for row in con.execute(f"SELECT {', '.join(CASE_COLS)} FROM main.cases ORDER BY case_id").fetchall():
            c = {k: _text(v) for k, v in zip(CASE_COLS, row)}
            c["lines"] = []
            cases[c["case_id"]] = c
        for row in con.execute(f"SELECT case_id, {', '.join(LINE_COLS)} FROM main.fee_items "
                               "ORDER BY case_id, line_no").fetchall():
            cases[row[0]]["lines"].append({k: _text(v) for k, v in zip(LINE_COLS, row[1:])})
    finally:
        con.close()
    return [c for c in cases.values() if c["lines"]]


def test_fast_check_gives_the_findings_of_the_workspace_review(ws, tmp_path):
    p = run_cli("review", "--workspace", str(ws), "--out", str(tmp_path / "out"))
    assert p.returncode == 0, p.stderr
    with open(tmp_path / "out" / "findings.csv", encoding="utf-8-sig", newline="") as fh:
        review = [r for r in csv.DictReader(fh)]
    svc = Precheck(ws)
    L = svc.load()
    cov = L.checker.coverage()
    assert cov["not_run"] == [] and cov["stale_filter"] == []
    ran = set(cov["filtered"]) | set(cov["every_line"]) | set(cov["whole_case"])
    assert ran == {r.id for r in L.rs.enabled}

    requests = _requests(ws)
    with_lines = {c["case_id"] for c in requests}
    want = Counter((r["case_id"], int(r["line_no"]) if r["line_no"] else None, r["rule_id"], r["severity"],
                    Decimal(r["amount"]), r["message"]) for r in review if r["case_id"] in with_lines)
    got = Counter()
    for c in requests:
        for f in svc.check(c)["findings"]:
            got[(c["case_id"], f["line_no"], f["rule_id"], f["severity"], Decimal(f["amount"]), f["message"])] += 1
    missing, extra = want - got, got - want
    assert not missing and not extra, (sorted(missing)[:5], sorted(extra)[:5])
    # the comparison is not empty: the region's injected patterns make 19 rules find something (45 findings with
    # seed 23), line rules, case rules and the rules over the person's history among them
    rules = Counter(k[2] for k in want.elements())
    assert len(rules) >= 15 and sum(rules.values()) >= 40, rules
    assert {"L02", "L05", "L12", "C01", "C05", "C03", "C04"} <= set(rules), rules
    assert any(k[1] is not None for k in want) and any(k[1] is None for k in want)
    # cases without fee lines cannot be pre-checked (the checker asks for at least one line)
    assert len(requests) >= 1400
