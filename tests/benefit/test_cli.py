"""``yibao benefit compute`` refuses bad input in one Chinese line with exit 2, nothing written."""

from __future__ import annotations

from conftest import run_cli
from regions import write_region


def test_bad_policy_and_catalog_are_refused(tmp_path):
    region = write_region(tmp_path / "region")
    ws = tmp_path / "ws"
    assert run_cli("load", region, "--workspace", ws).returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('[benefit]\nregion_code = "4402"\n[benefit.rate1.employee_inpatient]\n"3" = "2"\n', encoding="utf-8")
    r = run_cli("benefit", "compute", "-w", ws, "--out", tmp_path / "o1", "--policy", bad)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "benefit.rate1.employee_inpatient.3 超出允许范围 0–1：2" in r.stderr
    bad.write_text('[benefit]\nregion_code = "4402"\n', encoding="utf-8")
    r = run_cli("benefit", "compute", "-w", ws, "--out", tmp_path / "o1", "--policy", bad)
    assert r.returncode == 2 and "benefit.region_code 应为 6 位行政区划代码" in r.stderr
    r = run_cli("benefit", "compute", "-w", ws, "--out", tmp_path / "o2", "--catalog", "4401=x.csv")
    assert r.returncode == 2 and "应写成 地区代码=目录文件" in r.stderr
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()
    # the hand-made region: C0001 (2024, employee, 三级) computed; its booked 9000.25 differs
    ok = run_cli("benefit", "compute", "-w", ws, "--out", tmp_path / "o3", "--year", "2024")
    assert ok.returncode == 0, ok.stderr
    assert "结算病例 3 例" in ok.stdout
