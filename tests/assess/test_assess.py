"""``yibao assess`` on a hand-computed tiny region (tests/assess/handregion.py): every contract indicator,
zero denominators, a same-day stay, readmissions on day 15 and 16, an earlier case settled the year
before, surgery_rate only with --standards, order of columns and rows, determinism; the aggregates, the
peer bands, the policy's indicators and the score."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import run_cli, standards_dir

from assess.handregion import EXPECTED, write_hand_region
from yibao.assess import assess
from yibao.assess.policy import CONTRACT_INDICATORS, PolicyError, load_policy
from yibao.contract.derived import QUALIFICATION_PERIODS
from yibao.contract.errors import MissingData

STD = standards_dir()
NEEDS_STD = pytest.mark.skipif(STD is None or not (STD / "valid_procedures.csv").is_file(),
                               reason="CHS-DRG standards (valid_procedures.csv) absent: set YIBAO_STANDARDS")


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("assess")
    region = write_hand_region(base / "region")
    r = run_cli("load", region, "--workspace", base / "ws")
    assert r.returncode == 0, r.stderr
    return base / "ws"


def read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def header(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8-sig").splitlines()[0].split(",")


def _expected_rows(with_surgery: bool) -> list[tuple[str, str, str]]:
    rows = []
    for inst in sorted(EXPECTED):
        for ind in CONTRACT_INDICATORS:
            if ind == "surgery_rate" and not with_surgery:
                continue
            v = EXPECTED[inst][ind]
            if v is not None and ind in ("inpatient_cases", "outpatient_visits"):
                v = f"{v}.0000"
            rows.append((inst, ind, "" if v is None else v))
    return rows


def test_nothing_was_quarantined(ws):
    import duckdb

    con = duckdb.connect(str(ws / "yibao.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM quarantine").fetchall()[0][0] == 0
        assert con.execute("SELECT count(*) FROM cases").fetchall()[0][0] == 17
    finally:
        con.close()


def test_contract_indicators_without_standards(ws, tmp_path):
    r = run_cli("assess", "--workspace", ws, "--year", "2025", "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "机构 5 家" in r.stdout
    f = tmp_path / "indicators.csv"
    assert header(f) == ["institution_id", "indicator", "value"]
    got = [(r["institution_id"], r["indicator"], r["value"]) for r in read(f)]
    assert got == _expected_rows(with_surgery=False)  # values, blanks, row order (institution, contract order)
    assert not any(i == "H9" for i, _, _ in got)       # no case settled in 2025
    assert not any(ind == "surgery_rate" for _, ind, _ in got)


@NEEDS_STD
def test_contract_indicators_with_standards(ws, tmp_path):
    r = run_cli("assess", "--workspace", ws, "--year", "2025", "--out", tmp_path, "--standards", STD)
    assert r.returncode == 0, r.stderr
    got = [(r["institution_id"], r["indicator"], r["value"]) for r in read(tmp_path / "indicators.csv")]
    assert got == _expected_rows(with_surgery=True)
    assert ("H1", "surgery_rate", "0.3333") in got   # A2's 47.0900 counts, A3's 89.0300 does not


def test_edge_cases_by_name(ws, tmp_path):
    """The edge cases the contract singles out, each visible in one value."""
    assess(ws, 2025, tmp_path)
    v = {(r["institution_id"], r["indicator"]): r["value"] for r in read(tmp_path / "indicators.csv")}
    assert v["H1", "avg_los"] == "2.3333"              # A2 same-day = 1 day: (3 + 1 + 3) / 3 (0 would give 2.0000)
    assert v["H1", "readmission_15d_rate"] == "0.3333"  # A1: day 15 after A0 (settled 2024) counts; A3 day 16 not
    assert v["H2", "readmission_15d_rate"] == "0.5000"  # B2 admitted the day B1 ended: day 0 counts
    assert v["H3", "readmission_15d_rate"] == "0.0000"  # C2 2 days after A1 — another institution
    assert v["H2", "admission_rate"] == ""              # 0 outpatient visits: blank
    assert v["H2", "drug_share"] == ""                  # no fee lines: blank
    assert v["D1", "burden_share"] == "0.0313"          # 0.03125 half-up (banker's rounding would give 0.0312)
    assert v["H4", "inpatient_cases"] == "1.0000"       # E1 settled 2025-12-31 counts, E2 settled 2026 not


def test_output_is_deterministic(ws, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assess(ws, 2025, a)
    assess(ws, 2025, b)
    files = sorted(p.name for p in a.iterdir())
    assert "assessment.xlsx" in files and "indicators.csv" in files
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_aggregates_by_pot_county_region(ws, tmp_path):
    assess(ws, 2025, tmp_path)
    pot = {(r["scheme"], r["setting"], r["indicator"]): r["value"] for r in read(tmp_path / "indicators_by_pot.csv")}
    # employee inpatient: A1 (P1, H1), C1 (P7, H3), C2 (P1, H3): 16000.00 / 3; persons {P1, P7} across institutions
    assert pot["employee", "inpatient", "inpatient_cases"] == "3.0000"
    assert pot["employee", "inpatient", "cost_per_inpatient_case"] == "5333.3333"
    assert pot["employee", "inpatient", "inpatient_per_person"] == "1.5000"
    assert pot["employee", "inpatient", "admission_rate"] == ""  # no outpatient visit in an inpatient pot
    county = {(r["region_code"], r["indicator"]): r["value"] for r in read(tmp_path / "indicators_by_county.csv")}
    assert county["350102", "inpatient_cases"] == "5.0000"            # H1 3 + H2 2
    assert county["350102", "cost_per_inpatient_case"] == "3400.0000"  # 17000.00 / 5
    region = {r["indicator"]: r["value"] for r in read(tmp_path / "indicators_region.csv")}
    assert region["inpatient_cases"] == "8.0000" and region["outpatient_visits"] == "6.0000"
    assert region["readmission_15d_rate"] == "0.2500"                 # (A1 + B2) / 8
    assert region["inpatient_per_person"] == "1.6000"                 # 8 / {P1, P2, P6, P7, P8}: P1 at H1 and H3 once
    assert header(tmp_path / "indicators_region.csv") == ["indicator", "value"]


def test_peer_bands_type7_quartiles(ws, tmp_path):
    assess(ws, 2025, tmp_path)
    b = {(r["institution_id"], r["indicator"]): r for r in read(tmp_path / "peer_bands.csv")}
    row = b["H3", "cost_per_inpatient_case"]  # peers H1 3333.3333, H2 3500, H4 4000, H3 5000
    assert (row["peers"], row["q1"], row["median"], row["q3"]) == ("4", "3458.3333", "3750.0000", "4250.0000")
    # IQR 791.6667 × 1.5 = 1187.50005: 3458.3333 − … = 2270.83325 → 2270.8333; 4250 + … → 5437.5001
    assert (row["band_low"], row["band_high"], row["position"], row["flag"]) == ("2270.8333", "5437.5001", "within",
                                                                                 "false")
    assert b["D1", "outpatient_visits"]["position"] == ""  # one pharmacy: fewer than min_peers, no band


def test_band_flags_with_a_narrow_band(ws, tmp_path):
    pol = tmp_path / "p.toml"
    pol.write_text("[bands]\niqr_multiple = \"0\"\n", encoding="utf-8")
    assess(ws, 2025, tmp_path / "out", policy=pol)
    b = {(r["institution_id"], r["indicator"]): r for r in read(tmp_path / "out" / "peer_bands.csv")}
    # avg_los of the peers: 2.3333, 3.5, 5.5, 8 → Q1 3.2083, Q3 6.1250; band = [Q1, Q3]
    assert (b["H1", "avg_los"]["q1"], b["H1", "avg_los"]["q3"]) == ("3.2083", "6.1250")
    assert (b["H1", "avg_los"]["position"], b["H1", "avg_los"]["flag"]) == ("below", "true")
    assert (b["H4", "avg_los"]["position"], b["H4", "avg_los"]["flag"]) == ("above", "true")
    assert b["H2", "avg_los"]["position"] == "within"


def test_policy_indicators(ws, tmp_path):
    stock = tmp_path / "stock.csv"
    stock.write_text("institution_id,item_code\nH1,X1\nH1,X3\nD1,X1\nD1,X2\n", encoding="utf-8")
    periods = pa.table({"staff_id": ["S1", "S3"], "status": ["suspended", "terminated"],
                        "start_date": [date(2025, 3, 1), date(2024, 6, 1)],
                        "end_date": [date(2025, 6, 1), date(2025, 1, 1)],
                        "source_id": ["x", "y"], "emergency_paid": [None, None]}, schema=QUALIFICATION_PERIODS)
    assess(ws, 2025, tmp_path / "out", stocking=stock, periods=periods, standards=STD)
    v = {(r["institution_id"], r["indicator"]): r["value"] for r in read(tmp_path / "out" / "extra_indicators.csv")}
    assert v["H1", "revisit_rate"] == "0.3333"          # O2: 9 days after O1, same person, same K35 category
    assert v["D1", "revisit_rate"] == "0.5000"          # O5: 2 days after O4
    # H1: X1 (甲) and X2 (乙, min level 2) required; X3 is 丙 → 1 / 2. D1 (level 0): only X1 required → 1 / 1
    assert v["H1", "stocking_rate"] == "0.5000" and v["D1", "stocking_rate"] == "1.0000"
    assert ("H2", "stocking_rate") not in v             # not in the stocking list
    assert v["H1", "staff_sanction_share"] == "0.5000"  # S1 suspended in 2025, S2 not
    assert v["H2", "staff_sanction_share"] == "0.0000"  # S3's period ended (exclusive) on 2025-01-01
    assert v["H3", "staff_sanction_share"] == ""        # no staff
    if STD is not None:
        assert v["H1", "elective_surgery_rate"] == "1.0000"  # A2: surgical, emergency 0
        assert v["H2", "severe_case_share"] == "0.5000"      # B2 died
        assert v["H1", "severe_case_share"] == "0.0000"


SCORE_POLICY = """
[score.indicators.cost_per_outpatient_visit]
weight = 0
[score.indicators.avg_los]
weight = 0
[score.indicators.inpatient_per_person]
weight = 0
[score.indicators.admission_rate]
weight = 0
[score.indicators.readmission_15d_rate]
weight = 0
[score.indicators.referral_out_rate]
weight = 0
[score.indicators.burden_share]
weight = 0
[score.indicators.out_of_catalogue_share]
weight = 0
[score.indicators.stocking_rate]
weight = 0
[score.indicators.staff_sanction_share]
weight = 0

[score.indicators.cost_per_inpatient_case]
weight = 60
direction = "lower"
target = "3500"
tolerance = "0.20"

[score.indicators.drug_share]
weight = 40
direction = "lower"
target = "0.20"
zero_at = "0.40"
tolerance = "{tol}"

[[score.staged_targets]]
region_code = "350103"
year = 2025
stage = 1
source = "测试：350103 县 2025 年第一阶段“六指标”目标"
cost_per_inpatient_case = "5000"
"""


def test_score_by_hand(ws, tmp_path):
    pol = tmp_path / "score.toml"
    pol.write_text(SCORE_POLICY.replace('tolerance = "{tol}"\n', ""), encoding="utf-8")
    assess(ws, 2025, tmp_path / "out", policy=pol)
    totals = {r["institution_id"]: r["score"] for r in read(tmp_path / "out" / "score_totals.csv")}
    # H1: 3333.3333 ≤ 3500 → 60; drug 0.1310 ≤ 0.20 → 40 → 100.00
    # H2: 3500 = target → 60; drug share blank → not applicable → 60 / 60 → 100.00
    # H3 (350103: staged target 5000, zero at 6000): 5000 → 60; drug 0.25 → 40 × (0.40 − 0.25) / 0.20 = 30 → 90.00
    # H4: 4000 ≤ 5000 → 60; no drug share → 100.00
    # D1: no inpatient cost; drug 0.9688 ≥ 0.40 → 0 → 0 / 40 → 0.00
    assert totals == {"D1": "0.00", "H1": "100.00", "H2": "100.00", "H3": "90.00", "H4": "100.00"}
    rows = {(r["institution_id"], r["indicator"]): r for r in read(tmp_path / "out" / "scores.csv")}
    h3 = rows["H3", "drug_share"]
    assert (h3["value"], h3["target"], h3["zero_at"], h3["points"]) == ("0.2500", "0.2000", "0.4000", "30.0000")
    assert rows["H3", "cost_per_inpatient_case"]["target_source"].startswith("分阶段目标 350103 2025 第1阶段")
    assert rows["H2", "drug_share"]["applicable"] == "false"
    assert rows["H3", "total"]["points"] == "90.00"
    assert header(tmp_path / "out" / "scores.csv")[:4] == ["institution_id", "indicator", "value", "target"]


def test_score_linear_between_target_and_zero(ws, tmp_path):
    pol = tmp_path / "score.toml"
    pol.write_text(SCORE_POLICY.replace('tolerance = "{tol}"\n', "").replace('region_code = "350103"', 'region_code = "350199"'),
                   encoding="utf-8")
    assess(ws, 2025, tmp_path / "out", policy=pol)
    rows = {(r["institution_id"], r["indicator"]): r for r in read(tmp_path / "out" / "scores.csv")}
    # H4 without the staged target: 4000 against 3500, zero at 4200: 60 × 200 / 700 = 17.142857… → 17.1429;
    # total 17.1429 / 60 × 100 = 28.5715 → 28.57
    assert rows["H4", "cost_per_inpatient_case"]["points"] == "17.1429"
    assert rows["H4", "total"]["points"] == "28.57"
    assert rows["H3", "cost_per_inpatient_case"]["points"] == "0.0000"  # 5000 ≥ 4200


def test_bad_policy_and_missing_year(ws, tmp_path):
    pol = tmp_path / "bad.toml"
    pol.write_text(SCORE_POLICY.replace('tolerance = "{tol}"', 'tolerance = "0.1"'), encoding="utf-8")
    with pytest.raises(PolicyError, match="tolerance 与 zero_at"):
        load_policy(pol)
    with pytest.raises(MissingData, match="没有 2030 年结算的病例"):
        assess(ws, 2030, tmp_path / "x")
    r = run_cli("assess", "--workspace", ws, "--year", "2030", "--out", tmp_path / "y")
    assert r.returncode == 2 and r.stderr.startswith("错误：") and "Traceback" not in r.stderr
    r = run_cli("assess", "--workspace", ws, "--year", "2025", "--out", tmp_path / "z", "--policy", pol)
    assert r.returncode == 2 and "tolerance" in r.stderr


def test_workbook_has_chinese_headers_formats_and_charts(ws, tmp_path):
    from openpyxl import load_workbook

    assess(ws, 2025, tmp_path)
    wb = load_workbook(tmp_path / "assessment.xlsx")
    assert wb.sheetnames[:2] == ["机构指标", "图表"]
    sh = wb["机构指标"]
    head = [c.value for c in sh[4]]
    assert head[:5] == ["机构编码", "机构名称", "机构类型", "级别", "区县代码"]
    assert "次均住院费用" in head and "药品费用占比" in head and "15日内再住院率" in head
    col = head.index("次均住院费用") + 1
    rate = head.index("药品费用占比") + 1
    assert sh.cell(row=5, column=col).number_format == "#,##0.00"
    assert sh.cell(row=5, column=rate).number_format == "0.00%"
    assert sh.cell(row=6, column=1).value == "H1"
    assert sh.cell(row=6, column=col).value == pytest.approx(3333.3333)  # display copy; the CSV is exact
    assert sh.cell(row=5, column=col).value is None                       # D1: blank, denominator 0
    assert len(wb["图表"]._charts) == len([h for h in head[5:] if h])


def test_cli_reads_staff_periods_from_the_workspace(ws, tmp_path):
    r = run_cli("assess", "--workspace", ws, "--year", "2025", "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    v = {(r["institution_id"], r["indicator"]): r["value"] for r in read(tmp_path / "extra_indicators.csv")}
    assert v["H1", "staff_sanction_share"] == "0.0000"  # no sanctions loaded


@NEEDS_STD
def test_standards_with_only_valid_procedures(ws, tmp_path):
    """--standards needs only valid_procedures.csv for the contract; without mcc.csv the severe share is left out."""
    std = tmp_path / "std"
    std.mkdir()
    (std / "valid_procedures.csv").write_bytes((STD / "valid_procedures.csv").read_bytes())
    r = run_cli("assess", "--workspace", ws, "--year", "2025", "--out", tmp_path / "out", "--standards", std)
    assert r.returncode == 0, r.stderr
    assert "没有 mcc.csv" in r.stderr
    got = [(x["institution_id"], x["indicator"], x["value"]) for x in read(tmp_path / "out" / "indicators.csv")]
    assert got == _expected_rows(with_surgery=True)
    extra = {x["indicator"] for x in read(tmp_path / "out" / "extra_indicators.csv")}
    assert "elective_surgery_rate" in extra and "severe_case_share" not in extra
