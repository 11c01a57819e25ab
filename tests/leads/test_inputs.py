"""The features added in round 2 on a hand-built 2025 region, each value checked by hand:

six level-2 hospitals, two doctors each, four 5-day pneumonia stays per doctor (48 stays), admitted on
Tuesdays that are working days, except H006 whose eight stays are admitted on seven weekday public holidays and
one make-up working Sunday (调休上班) of holidays_cn.csv: its off-day share is 7/8 = 0.875, the others' 0.
H004 and H005 share four patients (each has a stay at both): 44 inpatients in all, 8 at each, so the sharing
exceeds chance by 4 − 8 × 8 / 44 = 2.545455 patients; every other pair shares none.
A DRG grouping file gives H002's stays DRG ES11 (with MCC), the others ES15; a findings file gives each of
H003's cases two findings."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import run_cli
from regions import write_region

from yibao.contract.calendar import load_holidays
from yibao.leads import Inputs, leads

HOSPITALS = [f"H00{k}" for k in range(1, 7)]
TUESDAY = date(2025, 3, 4)


def h6_days() -> list[date]:
    cal = load_holidays()
    hol = [d for d in cal.holidays if d.year == 2025 and d.month < 12][:7]
    work = [d for d in cal.workdays if d.year == 2025 and d.weekday() == 6][:1]
    assert len(hol) == 7 and len(work) == 1
    return hol + work


def hand_tables() -> dict[str, list[list[str]]]:
    inst = [[h, f"医院{h}", "hospital", "2", "general", "440203", "2020-01-01", ""] for h in HOSPITALS]
    staff, insured, cases = [], [], []
    persons: set[str] = set()
    n = 0
    special = h6_days()
    for hi, h in enumerate(HOSPITALS):
        for d in range(2):
            sid = f"D44020300{hi:02d}{d:02d}"
            staff.append([sid, "", "", "physician", h, "2020-01-01"])
            for j in range(4):
                n += 1
                pid = f"P{n:04d}"
                if h == "H005" and j < 2:
                    pid = f"P{n - 8:04d}"  # the H004 patient of the same slot (four weeks earlier): shared
                admit = special[d * 4 + j] if h == "H006" else TUESDAY + timedelta(weeks=n // 2)
                dis = admit + timedelta(days=5)
                cost = f"{8000 + 100 * ((n * 7) % 5)}.00"
                if pid not in persons:
                    insured.append([pid, "", "", "1", "1960-01-01", "employee", "440203", ""])
                    persons.add(pid)
                cases.append([f"C{n:04d}", pid, h, "employee", "1", "65", "inpatient", admit.isoformat(),
                              dis.isoformat(), "0301", sid, "J18.900", "", "", "1", "", "", "0", cost, cost, "0.00",
                              "0.00", (dis + timedelta(days=1)).isoformat()])
    return {"institutions": inst, "insured": insured, "staff": staff, "cases": cases}


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("leads_inputs")
    t = hand_tables()
    region = write_region(base / "region", t)
    r = run_cli("load", region, "--workspace", base / "ws")
    assert r.returncode == 0, r.stderr
    with (base / "grouped.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case_id", "status", "mdc", "adrg", "drg"])
        for c in t["cases"]:
            w.writerow([c[0], "ok", "E", "ES1", "ES11" if c[2] == "H002" else "ES15"])
        w.writerow(["C9999", "missing_sex", "", "", ""])  # not a case of the workspace, not grouped: ignored
    with (base / "findings.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case_id", "line_no", "rule_id", "severity", "amount", "message"])
        for c in t["cases"]:
            if c[2] == "H003":
                w.writerow([c[0], "1", "L01", "error", "10.00", "x"])
                w.writerow([c[0], "2", "L02", "error", "10.00", "y"])
    return base / "ws", base / "grouped.csv", base / "findings.csv"


def feature(out: Path, inst: str, name: str) -> str:
    with (out / "leads_features.csv").open(encoding="utf-8-sig", newline="") as f:
        return next(r["value"] for r in csv.DictReader(f)
                    if r["level"] == "institution" and r["institution_id"] == inst and r["feature"] == name)


def test_offday_share_counts_holidays_and_not_make_up_sundays(setup, tmp_path: Path) -> None:
    ws, _, _ = setup
    res = leads(ws, 2025, tmp_path / "o")
    assert float(feature(tmp_path / "o", "H006", "offday_share")) == 0.875
    assert float(feature(tmp_path / "o", "H001", "offday_share")) == 0.0
    m = {x["feature"]: x for x in res.model}
    assert "法定节假日" in m["offday_share"]["note"]


def test_shared_patients_above_chance(setup, tmp_path: Path) -> None:
    ws, _, _ = setup
    leads(ws, 2025, tmp_path / "o")
    assert feature(tmp_path / "o", "H004", "shared_patients") == "2.545455"
    assert feature(tmp_path / "o", "H005", "shared_patients") == "2.545455"
    assert feature(tmp_path / "o", "H001", "shared_patients") == "0.0"


def test_drg_and_findings_inputs_add_their_features(setup, tmp_path: Path) -> None:
    ws, grouped, findings = setup
    res = leads(ws, 2025, tmp_path / "o", inputs=Inputs(drg_grouped=grouped, findings=findings))
    m = {x["feature"]: x for x in res.model}
    assert m["cc_mcc_share"]["computed"] == "是" and m["multi_dx_share"]["computed"] == "否"
    assert "匹配 2025 年结算病例 48 例" in m["cc_mcc_share"]["note"]
    assert m["high_score_share"]["computed"] == "否" and "--dip-scored" in m["high_score_share"]["note"]
    assert float(feature(tmp_path / "o", "H002", "cc_mcc_share")) == 1.0
    assert float(feature(tmp_path / "o", "H001", "cc_mcc_share")) == 0.0
    assert float(feature(tmp_path / "o", "H003", "findings_per100")) == 200.0
    assert float(feature(tmp_path / "o", "H004", "findings_per100")) == 0.0
    first = next(o for o in res.leads if o["institution_id"] == "H002")
    assert "伴 CC/MCC 的 DRG 病例占比 100.0%" in first["reasons"]


def test_cli_reports_what_was_not_computed(setup, tmp_path: Path) -> None:
    ws, grouped, _ = setup
    r = run_cli("leads", "--workspace", ws, "--year", "2025", "--out", tmp_path / "c", "--drg-grouped", grouped)
    assert r.returncode == 0, r.stderr
    assert "未计算的特征：" in r.stdout and "每百例审核疑点数（未计算：未提供审核结果（--findings））" in r.stdout
    with (tmp_path / "c" / "leads_model.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [x["feature"] for x in rows if x["computed"] == "否"] == [
        "multi_dx_share", "high_score_share", "deviation_share", "points_cost_ratio", "findings_per100"]


def test_a_file_that_is_not_a_grouping_is_refused(setup, tmp_path: Path) -> None:
    ws, _, findings = setup
    r = run_cli("leads", "--workspace", ws, "--year", "2025", "--out", tmp_path / "x", "--drg-grouped", findings)
    assert r.returncode == 2 and r.stderr.startswith("错误：") and "缺少列 drg、status" in r.stderr
    assert not (tmp_path / "x").exists()


def test_leads_import_records_a_run_once(setup, tmp_path: Path) -> None:
    ws, _, _ = setup
    out = tmp_path / "run"
    assert run_cli("leads", "--workspace", ws, "--year", "2025", "--out", out).returncode == 0
    r = run_cli("leads-import", out, "--workspace", ws, "--year", "2025")
    assert r.returncode == 0, r.stderr
    assert "2025 年 18 条线索，均为待核查" in r.stdout  # 6 institutions + 12 doctors
    r = run_cli("leads-import", out, "--workspace", ws, "--year", "2025")
    assert r.returncode == 0 and "已导入过（18 条），未作改动" in r.stdout
    r = run_cli("leads-import", tmp_path, "--workspace", ws, "--year", "2025")
    assert r.returncode == 2 and r.stderr.startswith("错误：") and "leads.csv" in r.stderr
