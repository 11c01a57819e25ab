"""The hospital's view (`yibao dip hospital`): a toy scored region of three institutions, by hand."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from dip.test_dip import TOY_POLICY, TOY_SCORING, build_toy, policy
from yibao.contract.schema import INSTITUTIONS
from yibao.dip.examples import toy_cases
from yibao.dip.hospital import HospitalError, hospital_view, read_levels
from yibao.dip.scoring import score_tables, write_scores
from yibao.dip.tables import read_overrides, read_valid_procedures
from yibao.engine.runner import LocalRunner

D = Decimal


def toy_institutions3() -> pa.Table:
    inst = [("H3", 3), ("H3B", 3), ("H2", 2)]
    return pa.table({
        "institution_id": [i for i, _ in inst], "name": ["三级甲", "三级乙", "二级"], "kind": ["hospital"] * 3,
        "level": [lv for _, lv in inst], "category": ["general"] * 3, "region_code": ["440200"] * 3,
        "agreement_start": [date(2015, 1, 1)] * 3, "agreement_end": [None] * 3,
    }, schema=INSTITUTIONS.arrow_schema())


A = ["51.2300"]
TOY_SCORED = [
    # H3 (level 3, coefficient 1.2); group A K80.1|51.2300 avg 11 600.00 score 909.8039
    ("S1", "H3", "K80.100", A, "34800.00", 2025),        # high 3.0: 1 819.6078 × 1.2 = 2 183.5294
    ("S2", "H3", "K80.100", A, "2900.00", 2025),         # low 0.25: 227.4510 × 1.2 = 272.9412
    ("S3", "H3", "K80.100", A, "11600.00", 2025),        # normal: 909.8039 × 1.2 = 1 091.7647
    ("S4", "H3", "J18.900", [], "3600.00", 2025),        # 基层病种 282.3529, coefficient 1
    ("S5", "H3", "K80.500", ["99.2500"], "5777.78", 2025),  # K80#therapeutic 453.1592 × 1.2 = 543.7910
    ("S6", "H3", "I21.000", [], "5000.00", 2025),        # NO_GROUP
    ("T1", "H3B", "K80.100", A, "11600.00", 2025),       # 1 091.7647
    ("T2", "H3B", "J18.900", [], "3600.00", 2025),       # 282.3529
    ("U1", "H2", "K80.100", A, "11600.00", 2025),        # level 2 coefficient 1.0: 909.8039
    ("V1", "H3", "K80.100", A, "11600.00", 2024),        # another year: only without --year
]


def scored_dir(tmp_path: Path) -> tuple[Path, pa.Table]:
    pol = policy(tmp_path, TOY_POLICY, TOY_SCORING)
    cat = build_toy(tmp_path, pol=pol)["dip_catalogue"]
    runner = LocalRunner()
    try:
        res = score_tables({"cases": toy_cases(TOY_SCORED), "institutions": toy_institutions3()}, runner, pol, cat,
                           read_overrides(), read_valid_procedures(None))["dip_case_points"]
    finally:
        runner.close()
    write_scores(res, {"version": "DIP-toy"}, tmp_path / "scored")
    return tmp_path / "scored", toy_institutions3()


@pytest.fixture
def toy(tmp_path: Path, monkeypatch):
    d, inst = scored_dir(tmp_path)
    levels = pa.table({"institution_id": inst.column("institution_id"),
                       "level": inst.column("level").cast(pa.int64())})
    monkeypatch.setattr("yibao.dip.hospital.read_levels", lambda ws: levels if ws else read_levels(None))
    return d, policy(tmp_path, TOY_POLICY, TOY_SCORING)


def test_summary_by_hand(toy, tmp_path: Path) -> None:
    """H3 in 2025: 6 cases, 5 grouped (S6 has no group).

    points 2 183.5294 + 272.9412 + 1 091.7647 + 282.3529 + 543.7910 = 4 374.3792
    CMI (3 × 909.8039 + 282.3529 + 453.1592) / 5 / 1000 = 3 464.9238 / 5 000 = 0.69298… → 0.6930
    cost per point (34 800 + 2 900 + 11 600 + 3 600 + 5 777.78) / 4 374.3792 = 58 677.78 / 4 374.3792 = 13.41396… → 13.4140
    shares of 5 grouped: high 1 (S1), low 1 (S2), extreme 0, comprehensive 1 (S5) → 0.2000 / 0.2000 / 0 / 0.2000
    peers (H3B, level 3): 1 374.1176 points, CMI (909.8039 + 282.3529) / 2 000 = 0.5961, 15 200 / 1 374.1176 = 11.0616
    region (H3, H3B, H2): 9 cases, 8 grouped, 6 658.3007 points, CMI 5 566.8845 / 8 000 = 0.6959,
        85 477.78 / 6 658.3007 = 12.8378
    """
    scored, pol = toy
    v = hospital_view(scored, "H3", tmp_path / "out", pol, year=2025, workspace=Path("ws"))
    me, peers, reg = v.summary["institution"], v.summary["peers"], v.summary["region"]
    assert (me["cases"], me["grouped"], me["ungroupable"], me["points"]) == (6, 5, 1, D("4374.3792"))
    assert (me["cmi"], me["cost_per_point"]) == (D("0.6930"), D("13.4140"))
    assert (me["high_share"], me["low_share"], me["extreme_share"], me["comprehensive_share"]) == \
        (D("0.2000"), D("0.2000"), D("0.0000"), D("0.2000"))
    assert (peers["institutions"], peers["points"], peers["cmi"], peers["cost_per_point"]) == \
        (1, D("1374.1176"), D("0.5961"), D("11.0616"))
    assert (reg["institutions"], reg["cases"], reg["grouped"], reg["points"], reg["cmi"], reg["cost_per_point"]) == \
        (3, 9, 8, D("6658.3007"), D("0.6959"), D("12.8378"))
    groups = {g["group_id"]: g for g in v.groups}
    assert (groups["K80.1|51.2300"]["cases"], groups["K80.1|51.2300"]["points"]) == (3, D("3548.2353"))
    assert groups["K80.1|51.2300"]["mean_cost"] == D("16433.33")  # 49 300 / 3 = 16 433.333…
    assert "I21" not in "".join(groups)


def test_case_explanations_and_amounts(toy, tmp_path: Path) -> None:
    """Point value 12.3456: S1 2 183.5294 × 12.3456 = 26 956.98056… → 26 956.98; S5 543.7910 × 12.3456 = 6 713.426… → 6 713.43."""
    scored, pol = toy
    v = hospital_view(scored, "H3", tmp_path / "out", pol, year=2025, point_value=D("12.3456"))
    c = {r["case_id"]: r for r in v.cases}
    assert c["S1"]["explanation"].startswith(
        "核心病种 K80.1|51.2300 分值 909.8039；费用比 3.0000 > 2，高倍率：909.8039 × ((3.0000 − 2) + 1) = 1819.6078；"
        "× 系数 1.2000 = 2183.5294")
    assert "低倍率：909.8039 × 0.2500 = 227.4510；× 系数 1.2000 = 272.9412" in c["S2"]["explanation"]
    assert "基层病种不设等级系数" in c["S4"]["explanation"]
    assert c["S6"]["explanation"] == "未入组：目录中既无对应核心病种，也无对应综合病种，不计点数"
    assert (c["S1"]["amount"], c["S5"]["amount"], c["S6"]["amount"]) == (D("26956.98"), D("6713.43"), None)
    assert v.summary["peers"] is None  # no workspace: no peer column
    rows = list(csv.reader((tmp_path / "out" / "H3_病例明细.csv").open(encoding="utf-8-sig")))
    assert rows[0][0] == "病例号" and rows[0][-1] == "金额（元）" and len(rows) == 7
    assert (tmp_path / "out" / "H3_病种分值.xlsx").is_file()
    assert (tmp_path / "out" / "H3_概况.csv").read_bytes().startswith("\ufeff指标".encode())


def test_all_years_and_determinism(toy, tmp_path: Path) -> None:
    scored, pol = toy
    v = hospital_view(scored, "H3", tmp_path / "a", pol, workspace=Path("ws"))
    assert v.summary["institution"]["cases"] == 7  # V1 (2024) included without --year
    hospital_view(scored, "H3", tmp_path / "b", pol, workspace=Path("ws"))
    for f in v.files:
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes(), f.name


def test_unknown_institution(toy, tmp_path: Path) -> None:
    scored, pol = toy
    with pytest.raises(HospitalError, match="ZZ"):
        hospital_view(scored, "ZZ", tmp_path / "o", pol)


def test_cli_on_a_generated_region(tmp_path: Path) -> None:
    from conftest import run_cli
    from regions import generated_workspace

    generated_workspace(tmp_path, seed=5, cases=3000)
    assert run_cli("dip", "build", "-w", tmp_path / "ws", "--out", tmp_path / "cat").returncode == 0
    assert run_cli("dip", "score", "-w", tmp_path / "ws", "--catalogue", tmp_path / "cat",
                   "--out", tmp_path / "s").returncode == 0
    rows = list(csv.DictReader((tmp_path / "s" / "scored_cases.csv").open(encoding="utf-8-sig")))
    inst = min(r["institution_id"] for r in rows)
    year = max(int(r["year"]) for r in rows)
    for out in ("h1", "h2"):
        r = run_cli("dip", "hospital", "--scored", tmp_path / "s", "--institution", inst, "--year", year,
                    "-w", tmp_path / "ws", "--point-value", "10.5", "--out", tmp_path / out)
        assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in (tmp_path / "h1").iterdir() if p.name != "manifest.json")
    assert names == sorted(f"{inst}_{n}" for n in ("病种分值.xlsx", "概况.csv", "病例明细.csv", "病种汇总.csv"))
    for n in names:
        assert (tmp_path / "h1" / n).read_bytes() == (tmp_path / "h2" / n).read_bytes(), n
    detail = list(csv.DictReader((tmp_path / "h1" / f"{inst}_病例明细.csv").open(encoding="utf-8-sig")))
    mine = [r for r in rows if r["institution_id"] == inst and int(r["year"]) == year]
    assert len(detail) == len(mine) and all(d["点数计算说明"] for d in detail)
    total = sum((Decimal(r["points"]) for r in mine if r["points"]), Decimal(0))
    summary = {r[0]: r for r in csv.reader((tmp_path / "h1" / f"{inst}_概况.csv").open(encoding="utf-8-sig"))}
    assert Decimal(summary["总点数"][1]) == total
    bad = run_cli("dip", "hospital", "--scored", tmp_path / "s", "--institution", "NOPE", "--out", tmp_path / "x")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
