"""The DIP year-end clearing returns the quality deposit by the assessment score (``dip settle --scores``):
hand-typed scores stay possible only as a recorded override with a reason."""

from __future__ import annotations

import csv
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from conftest import run_cli
from regions import generated_workspace

from yibao.assess.clearing import clearing_scores, parse_reasons
from yibao.contract.errors import BadFile, BadOption

D = Decimal


def _csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _totals(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("institution_id,score,points,applicable_weight\n" + "".join(f"{i},{s},,\n" for i, s in rows),
                    encoding="utf-8")
    return path


def test_scores_from_the_file_and_a_recorded_override(tmp_path):
    f = _totals(tmp_path / "t.csv", [("H1", "65.40"), ("H2", "92.00"), ("H3", "")])
    used, rows = clearing_scores(f, {"H2": D("80")}, parse_reasons(["H2=复核后现场检查扣分"]))
    assert used == {"H1": D("65.40"), "H2": D("80")}  # H3: blank → default_score applies
    rec = {r["institution_id"]: r for r in rows}
    assert rec["H2"]["source"] == "手工得分（覆盖考核得分）" and rec["H2"]["reason"] == "复核后现场检查扣分"
    assert rec["H2"]["assessed_score"] == D("92.00")
    assert rec["H3"]["source"] == "考核得分为空，按 default_score"
    with pytest.raises(BadOption, match="--score-reason H2=理由"):
        clearing_scores(f, {"H2": D("80")}, {})
    with pytest.raises(BadOption, match="没有其手工得分"):
        clearing_scores(f, {}, {"H9": "x"})
    with pytest.raises(BadFile, match="超出 0–100"):
        clearing_scores(_totals(tmp_path / "bad.csv", [("H1", "101")]), {}, {})


@pytest.fixture(scope="module")
def region(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("assess_clearing")
    generated_workspace(base, seed=11, cases=4000)
    (base / "dip.toml").write_text('[catalogue]\nyears = [2023, 2024]\nyear_weights = ["3", "7"]\n', encoding="utf-8")
    for args in (("build", "--out", base / "cat"), ("score", "--catalogue", base / "cat", "--out", base / "s")):
        r = run_cli("dip", *args, "-w", base / "ws", "--policy", base / "dip.toml")
        assert r.returncode == 0, r.stderr
    return base


def test_dip_settle_returns_the_deposit_by_the_assessment_score(region: Path):
    r = run_cli("assess", "--workspace", region / "ws", "--year", "2025", "--out", region / "assess")
    assert r.returncode == 0, r.stderr
    scores = {t["institution_id"]: t["score"] for t in _csv(region / "assess" / "score_totals.csv")}
    r = run_cli("dip", "settle", "-w", region / "ws", "--scored", region / "s", "--policy", region / "dip.toml",
                "--budget-policy", region / "region" / "budget_policy.toml", "--no-statements",
                "--scores", region / "assess" / "score_totals.csv", "--out", region / "y")
    assert r.returncode == 0, r.stderr
    assert "质量保证金按考核得分返还" in r.stdout
    # the budget defaults' deposit_return bands: ≥ 90 → 1, ≥ 80 → 0.9, ≥ 70 → 0.7, ≥ 60 → 0.5, else 0
    bands = [(D(90), D(1)), (D(80), D("0.9")), (D(70), D("0.7")), (D(60), D("0.5")), (D(0), D(0))]
    rows = [c for c in _csv(region / "y" / "clearing.csv") if c["结算方式"] == "按病种分值" and D(c["质量保证金"]) > 0]
    assert rows
    low = 0
    for c in rows:
        inst = c["机构编码"]
        assert D(c["考核得分"]) == D(scores[inst])       # the score the clearing used is the assessment's
        share = next(s for m, s in bands if D(scores[inst]) >= m)
        withheld = D(c["质量保证金"])
        returned = (withheld * share).quantize(D("0.01"), ROUND_HALF_UP)
        assert D(c["返还保证金"]) == returned and D(c["扣减保证金"]) == withheld - returned
        low += share < 1
    assert low >= 1, "no institution scored below 90: the test shows no withheld deposit"
    rec = {x["institution_id"]: x for x in _csv(region / "y" / "score_sources.csv")}
    assert all(rec[c["机构编码"]]["source"] == "考核得分（yibao assess）" for c in rows)


def test_dip_settle_hand_override_needs_a_reason(region: Path, tmp_path):
    pol = tmp_path / "budget.toml"
    if not (region / "assess" / "score_totals.csv").exists():
        r = run_cli("assess", "--workspace", region / "ws", "--year", "2025", "--out", region / "assess")
        assert r.returncode == 0, r.stderr
    top = _csv(region / "assess" / "score_totals.csv")[0]
    first, typed = top["institution_id"], "55" if top["score"] != "55.00" else "56"
    pol.write_text((region / "region" / "budget_policy.toml").read_text(encoding="utf-8")
                   + f'\n[clearing.scores]\n"{first}" = "{typed}"\n', encoding="utf-8")
    args = ["dip", "settle", "-w", region / "ws", "--scored", region / "s", "--policy", region / "dip.toml",
            "--budget-policy", pol, "--no-statements", "--scores", region / "assess" / "score_totals.csv"]
    r = run_cli(*args, "--out", tmp_path / "a")
    assert r.returncode == 2 and "--score-reason" in r.stderr and "Traceback" not in r.stderr
    r = run_cli(*args, "--score-reason", f"{first}=飞行检查发现问题，考核委员会决定", "--out", tmp_path / "b")
    assert r.returncode == 0, r.stderr
    rec = {x["institution_id"]: x for x in _csv(tmp_path / "b" / "score_sources.csv")}
    assert rec[first]["score_used"] == typed and rec[first]["reason"] == "飞行检查发现问题，考核委员会决定"
    assert f"手工覆盖 1 家（{first}" in r.stdout


def _assessed(region: Path) -> dict[str, str]:
    if not (region / "assess" / "score_totals.csv").exists():
        r = run_cli("assess", "--workspace", region / "ws", "--year", "2025", "--out", region / "assess")
        assert r.returncode == 0, r.stderr
    return {t["institution_id"]: t["score"] for t in _csv(region / "assess" / "score_totals.csv")}


def test_budget_year_clearing_reads_the_assessment_score(region: Path, tmp_path):
    scores = _assessed(region)
    r = run_cli("budget", "--policy", region / "region" / "budget_policy.toml", "--workspace", region / "ws",
                "--out", tmp_path, "--scores", region / "assess" / "score_totals.csv")
    assert r.returncode == 0, r.stderr
    assert "质量保证金按考核得分返还" in r.stdout
    bands = [(D(90), D(1)), (D(80), D("0.9")), (D(70), D("0.7")), (D(60), D("0.5")), (D(0), D(0))]
    rows = [c for c in _csv(tmp_path / "clearing.csv") if c["机构编码"] in scores and scores[c["机构编码"]]]
    assert rows
    low = 0
    for c in rows:
        s = D(scores[c["机构编码"]])
        assert D(c["考核得分"]) == s and c["得分来源"] == "考核得分"
        share = next(x for m, x in bands if s >= m)
        assert D(c["保证金返还比例"]) == share
        returned = (D(c["预留质量保证金"]) * share).quantize(D("0.01"), ROUND_HALF_UP)
        assert D(c["返还保证金"]) == returned and D(c["扣减保证金"]) == D(c["预留质量保证金"]) - returned
        low += share < 1 and D(c["预留质量保证金"]) > 0
    assert low >= 1
    bad = run_cli("budget", "--policy", region / "region" / "budget_policy.toml", "--out", tmp_path / "x",
                  "--scores", region / "assess" / "score_totals.csv")
    assert bad.returncode == 2 and "--workspace" in bad.stderr


def test_drg_clearing_reads_the_assessment_score(region: Path, tmp_path):
    from conftest import standards_dir

    std = standards_dir()
    if std is None:
        pytest.skip("CHS-DRG standards directory absent (set YIBAO_STANDARDS)")
    scores = _assessed(region)
    r = run_cli("drg", "settle", "-w", region / "ws", "--standards", std, "--no-statements",
                "--budget-policy", region / "region" / "budget_policy.toml",
                "--scores", region / "assess" / "score_totals.csv", "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    rows = [c for c in _csv(tmp_path / "clearing.csv") if D(c["质量保证金"] or 0) > 0]
    assert rows
    assert all(D(c["考核得分"]) == D(scores[c["机构编码"]]) for c in rows)
    assert (tmp_path / "score_sources.csv").is_file()
