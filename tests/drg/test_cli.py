"""``yibao group drg`` as a user runs it (fresh process), on the miniature standards set."""

from __future__ import annotations

import csv

from conftest import run_cli

from yibao.drg.mini import MINI_CASES

from .helpers import write_cases, write_mini


def _read(path):
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_group_drg_contract_output(tmp_path):
    std = write_mini(tmp_path / "std")
    rows = list(MINI_CASES) + [("M99", "1", 50, None, None, "K35.800", "", "", None, None)]
    cases = write_cases(tmp_path / "cases.csv", rows, extra={
        "setting": ["inpatient"] * len(MINI_CASES) + ["outpatient"],
        "total_cost": ["1000.00"] * len(rows)})
    out = tmp_path / "out" / "groups.csv"
    r = run_cli("group", "drg", "--standards", std, cases, out)
    assert r.returncode == 0, r.stderr
    got = _read(out)
    assert list(got[0]) == ["case_id", "status", "mdc", "adrg", "drg", "mdc_name", "adrg_name", "drg_name"]
    by_id = {g["case_id"]: g for g in got}
    assert "M99" not in by_id and len(by_id) == len(MINI_CASES)
    for row in MINI_CASES:
        g = by_id[row[0]]
        assert (g["status"], g["drg"] or None) == (row[8], row[9])
        if row[9]:
            assert (g["mdc"], g["adrg"]) == (row[9][0], row[9][:3])
        else:
            assert g["mdc"] == g["adrg"] == ""
    line = r.stdout.strip().splitlines()[0]
    assert line.startswith("DRG 分组：30 例，跳过门诊 1 行；分组成功（ok）")
    assert "缺新生儿体重（missing_newborn_weight）1" in line and "版本" in line


def test_reduced_layout_and_absent_columns(tmp_path):
    std = write_mini(tmp_path / "std")
    cases = tmp_path / "cases.csv"
    cases.write_text("case_id,principal_dx,sex,age_years\nA1,K35.800,1,40\nA2,K35.800,,40\nA3, K35.800 ,2,abc\n",
                     encoding="utf-8")
    out = tmp_path / "out.csv"
    r = run_cli("group", "drg", "--standards", std, cases, out)
    assert r.returncode == 0, r.stderr
    assert [(g["case_id"], g["status"], g["drg"]) for g in _read(out)] == [
        ("A1", "ok", "GZ15"), ("A2", "missing_sex", ""), ("A3", "missing_age", "")]
    assert "没有列" in r.stderr and "procedures" in r.stderr and "不是数字" in r.stderr


def test_gb18030_input(tmp_path):
    std = write_mini(tmp_path / "std")
    cases = tmp_path / "cases.csv"
    cases.write_bytes("case_id,sex,age_years,principal_dx,dept_code\nB1,1,40,K35.800,普外科\n".encode("gb18030"))
    out = tmp_path / "out.csv"
    r = run_cli("group", "drg", "--standards", std, cases, out)
    assert r.returncode == 0, r.stderr
    assert _read(out)[0]["drg"] == "GZ15"


def test_explain_option(tmp_path):
    std = write_mini(tmp_path / "std")
    cases = write_cases(tmp_path / "cases.csv", [MINI_CASES[3]])
    r = run_cli("group", "drg", "--standards", std, cases, tmp_path / "o.csv", "--explain", "M04")
    assert r.returncode == 0, r.stderr
    assert "R57.000 是 MCC（排除表 40），但与主要诊断的排除表相同" in r.stdout


def test_bad_standards_is_one_line_naming_file_and_row(tmp_path):
    from yibao.drg.mini import FILES

    std = write_mini(tmp_path / "std", adrgs_csv=FILES["adrgs.csv"].replace("GZ1,G,3,", "GZ1,Q,3,"))
    cases = write_cases(tmp_path / "cases.csv", [MINI_CASES[0]])
    r = run_cli("group", "drg", "--standards", std, cases, tmp_path / "o.csv")
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert "adrgs.csv" in lines[0] and "第 17 行" in lines[0] and "Q" in lines[0]
    assert not (tmp_path / "o.csv").exists()


def test_missing_inputs_are_one_line_errors(tmp_path):
    std = write_mini(tmp_path / "std")
    r = run_cli("group", "drg", "--standards", tmp_path / "nowhere", tmp_path / "c.csv", tmp_path / "o.csv")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "nowhere" in r.stderr
    r = run_cli("group", "drg", "--standards", std, tmp_path / "c.csv", tmp_path / "o.csv")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "c.csv" in r.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("id,sex\n1,1\n", encoding="utf-8")
    r = run_cli("group", "drg", "--standards", std, bad, tmp_path / "o.csv")
    assert r.returncode != 0 and "case_id" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_duplicate_case_ids_are_one_line_error(tmp_path):
    """The grouper keys its steps by case_id: a file naming one case twice is refused, whole, in one line."""
    std = write_mini(tmp_path / "std")
    rows = [MINI_CASES[0], MINI_CASES[1], MINI_CASES[0]]
    cases = write_cases(tmp_path / "cases.csv", rows)
    out = tmp_path / "o.csv"
    r = run_cli("group", "drg", "--standards", std, cases, out)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1
    assert "case_id 重复" in r.stderr and MINI_CASES[0][0] in r.stderr and "cases.csv" in r.stderr
    assert not out.exists()
