"""`yibao review --standards DIR` (rule C07): the CHS-DRG complication tables given, found, or missing — then the run
says once that C07 judged the evidence table only (stdout and notes.txt), never silently."""

from __future__ import annotations

from conftest import run_cli

from yibao.contract.standards import find_standards
from yibao.review.run import FALLBACK_NOTE

from .test_cli import region  # noqa: F401 (the pipeline fixture written as a region directory)


def test_review_with_and_without_the_standards(region, tmp_path):  # noqa: F811
    std = find_standards()
    if std is not None:
        p = run_cli("review", "--data", str(region), "--out", str(tmp_path / "with"), "--standards", str(std))
        assert p.returncode == 0, p.stderr
        assert FALLBACK_NOTE not in p.stdout and "dx_evidence.csv" in p.stdout
        assert (tmp_path / "with" / "dx_evidence.csv").read_text(encoding="utf-8-sig").startswith(
            "dx,n_dx_cases,item_code,item_name,n_with_item,n_item_cases,n_cases,support,lift")
        assert not (tmp_path / "with" / "notes.txt").exists()
    # none found (YIBAO_STANDARDS names a directory without the tables): said once, in the output and notes.txt
    p = run_cli("review", "--data", str(region), "--out", str(tmp_path / "without"),
                env={"YIBAO_STANDARDS": str(tmp_path / "nowhere")})
    assert p.returncode == 0, p.stderr
    assert p.stdout.count(FALLBACK_NOTE) == 1
    assert (tmp_path / "without" / "notes.txt").read_text(encoding="utf-8") == FALLBACK_NOTE + "\n"


def test_a_standards_option_that_is_not_a_standards_directory_is_refused(region, tmp_path):  # noqa: F811
    p = run_cli("review", "--data", str(region), "--out", str(tmp_path / "out"), "--standards", str(tmp_path))
    assert p.returncode == 2 and "不是 CHS-DRG 标准目录" in p.stdout + p.stderr
    assert not (tmp_path / "out").exists()
