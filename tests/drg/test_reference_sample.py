"""Agreement with the reference grouper on ``reference_sample`` (README there): 100 %, for every version
in ``shared/standards`` (CHS-DRG 1.1 and Beijing 2022, whose length-of-stay and age rules, alternatives
and secondary-diagnosis tests are data in its tables).

Where the sample says ``ok``, a match is ``ok`` with the same MDC, ADRG and DRG; where it says
``invalid_input`` or ``ungroupable``, any status but ``ok`` matches (the grouper's reason codes
are more precise). Checked for the set-based step, for the per-case explanation path, and for the
command line. Skipped, with the reason, when a standards directory is absent.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from conftest import run_cli

from yibao.drg.cases import read_cases
from yibao.drg.explain import group_one
from yibao.drg.grouper import PRECHECK_STATUSES, group_table
from yibao.drg.standards import load_standards

pytestmark = pytest.mark.standards

# version folder → cases the reference grouper groups (status ok) in its sample
VERSIONS = {"chs-drg-1.1": 2863, "beijing-2022": 2865}


@pytest.fixture(params=sorted(VERSIONS))
def version(request, standards) -> tuple[Path, int]:
    """A version folder beside the default one (``shared/standards/<version>``) and its sample's ok count."""
    d = standards.parent / request.param
    if not (d / "drgs.csv").is_file():
        pytest.skip(f"{d} absent")
    return d, VERSIONS[request.param]


def _sample(standards: Path) -> Path:
    d = standards / "reference_sample"
    if not (d / "cases.csv").is_file():
        pytest.skip(f"{d} absent")
    return d


def _expected(d: Path) -> dict[str, dict]:
    with (d / "expected.csv").open(encoding="utf-8", newline="") as f:
        return {r["case_id"]: r for r in csv.DictReader(f)}


def _mismatches(expected: dict[str, dict], got: dict[str, dict]) -> list:
    bad = []
    for cid, e in expected.items():
        g = got.get(cid)
        if g is None:
            bad.append((cid, e, None))
        elif e["status"] == "ok":
            if (g["status"], g["mdc"] or "", g["adrg"] or "", g["drg"] or "") != ("ok", e["mdc"], e["adrg"], e["drg"]):
                bad.append((cid, e, g))
        elif g["status"] == "ok":
            bad.append((cid, e, g))
        elif e["status"] == "invalid_input" and g["status"] not in PRECHECK_STATUSES:
            bad.append((cid, e, g))
    return bad


def test_sql_agrees_100_percent(version):
    standards, ok = version
    d = _sample(standards)
    std = load_standards(standards)
    result = group_table(read_cases(d / "cases.csv").table, std)
    got = {r["case_id"]: r for r in result.to_pylist()}
    expected = _expected(d)
    assert len(got) == len(expected) == 3000
    bad = _mismatches(expected, got)
    assert not bad, f"{len(bad)} disagreements, e.g. {bad[:3]}"
    assert Counter(r["status"] for r in got.values())["ok"] == ok


def test_explanation_path_agrees(version):
    standards, _ = version
    d = _sample(standards)
    std = load_standards(standards)
    table = read_cases(d / "cases.csv").table
    sql = {r["case_id"]: r for r in group_table(table, std).to_pylist()}
    diffs = [cid for row in table.to_pylist() if group_one(row, std).as_row() != sql[(cid := row["case_id"])]]
    assert not diffs, diffs[:5]


def test_cli_on_the_sample(version, tmp_path):
    standards, ok = version
    d = _sample(standards)
    out = tmp_path / "out.csv"
    r = run_cli("group", "drg", "--standards", standards, d / "cases.csv", out)
    assert r.returncode == 0, r.stderr
    assert "3,000 例" in r.stdout and f"分组成功（ok）{ok:,}" in r.stdout
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:5] == ["case_id", "status", "mdc", "adrg", "drg"]  # the contract's, then the names
    assert list(rows[0])[5:] == ["mdc_name", "adrg_name", "drg_name"]
    named = next(r for r in rows if r["status"] == "ok")
    assert named["mdc_name"] and named["adrg_name"] and named["drg_name"]
    assert not _mismatches(_expected(d), {r["case_id"]: r for r in rows})
