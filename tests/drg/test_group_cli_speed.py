"""``yibao group drg`` at engine speed (issue 19 §2): the fast ways of reading a cases file give what the exact
ways give, the counts are right by hand, a file naming a case twice is still refused whole, and the command's
start-up does not load the payment side (docs/scale.md §2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from yibao.contract.reasons import FatalLoadError
from yibao.drg.cases import group_file, read_cases
from yibao.drg.mini import MINI_CASES
from yibao.drg.standards import load_standards

from .helpers import write_cases, write_mini

HEADER = "case_id,sex,age_years,principal_dx,secondary_dx,procedures,admit_date,setting\n"
CLEAN = ("C1,1,40,K35.800,E11.900|I10.x00,47.0901,2024-01-02,inpatient\n"
         "C2,2,7,K35.800,,,2024-01-03,\n"
         "C3,1,65,I21.000,R57.000,,2024-01-04,inpatient\n")
# the same cases as a messy export writes them: spaces around codes and separators, empty and trailing items
PADDED = (" C1 , 1,40 , K35.800 , E11.900 | I10.x00 |, 47.0901 ,2024-01-02 , inpatient\n"
          "C2,2 , 7,K35.800 ,|, ,2024-01-03,\n"
          "C3,1,65,I21.000,||R57.000,,2024-01-04 ,inpatient \n")


def _file(path: Path, body: str, header: str = HEADER) -> Path:
    path.write_text(header + body, encoding="utf-8")
    return path


def test_padded_file_types_like_clean_one(tmp_path):
    """Values with spaces and empty list items take the exact query; clean ones the plain split: same table."""
    clean = read_cases(_file(tmp_path / "clean.csv", CLEAN))
    padded = read_cases(_file(tmp_path / "padded.csv", PADDED))
    assert clean.table.equals(padded.table)
    rows = clean.table.to_pylist()
    assert [r["case_id"] for r in rows] == ["C1", "C2", "C3"]
    assert [r["secondary_dx"] for r in rows] == [["E11.900", "I10.x00"], [], ["R57.000"]]
    assert [r["procedures"] for r in rows] == [["47.0901"], [], []]
    assert [r["setting"] for r in rows] == ["inpatient", "", "inpatient"]
    assert [r["age_years"] for r in rows] == [40.0, 7.0, 65.0]


def test_absent_columns_are_blank_and_lists_empty(tmp_path):
    cf = read_cases(_file(tmp_path / "c.csv", "A1,K35.800\nA2,\n", header="case_id,principal_dx\n"))
    rows = cf.table.to_pylist()
    assert [r["principal_dx"] for r in rows] == ["K35.800", None]
    assert [r["secondary_dx"] for r in rows] == [[], []] and [r["procedures"] for r in rows] == [[], []]
    assert [r["sex"] for r in rows] == [None, None] and [r["age_years"] for r in rows] == [None, None]
    assert "secondary_dx" in cf.absent and "setting" not in cf.absent


def test_numbers_that_do_not_parse_are_counted_by_hand(tmp_path):
    """Blank cells (empty or only spaces) are missing, not 'not a number'; ' 7 ' is 7."""
    body = ("A1,1,40,K35.800,,,2024-01-02,\nA2,1, ,K35.800,,,2024-02-30,\nA3,1,abc,K35.800,,,,\n"
            "A4,1,,K35.800,,,   ,\nA5,1, 7 ,K35.800,,,x,\nA6,1,x1,K35.800,,,2024-01-05,outpatient\n")
    cf = read_cases(_file(tmp_path / "c.csv", body))
    assert [r["age_years"] for r in cf.table.to_pylist()] == [40.0, None, None, None, 7.0, None]
    assert cf.unparsed == {"age_years": 2, "admit_date": 2}  # abc, x1; 2024-02-30, x
    assert (cf.rows, cf.outpatient) == (6, 1)


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    return load_standards(write_mini(tmp_path_factory.mktemp("std") / "std"))


def test_duplicate_found_on_the_sorted_result_is_refused_alone(tmp_path, mini):
    """The duplicate check runs on the grouping's sorted result: the refusal names the first repeated case in file
    order, as before; no notice is printed before it and no file is written."""
    first = MINI_CASES[2][:2] + ("abc",) + MINI_CASES[2][3:]  # a number that does not parse: a notice is due
    unique = write_cases(tmp_path / "unique.csv", [first, MINI_CASES[0], MINI_CASES[1]])
    said: list[str] = []
    group_file(unique, tmp_path / "u.csv", mini, notify=said.append)
    assert said == [f"提示：{unique} 列 age_years 有 1 个值不是数字，按缺失处理"]
    said.clear()
    cases = write_cases(tmp_path / "cases.csv", [first, MINI_CASES[0], MINI_CASES[1], MINI_CASES[2], MINI_CASES[0]])
    out = tmp_path / "o.csv"
    with pytest.raises(FatalLoadError) as e:
        group_file(cases, out, mini, notify=said.append)
    assert f"case_id 重复：{MINI_CASES[2][0]}（共 2 个编号重复出现）" in str(e.value)
    assert said == [] and not out.exists()


def test_duplicate_with_an_outpatient_copy_is_refused(tmp_path, mini):
    rows = [MINI_CASES[0], MINI_CASES[1], MINI_CASES[0]]
    cases = write_cases(tmp_path / "cases.csv", rows, extra={"setting": ["inpatient", "inpatient", "outpatient"]})
    with pytest.raises(FatalLoadError) as e:
        group_file(cases, tmp_path / "o.csv", mini)
    assert f"case_id 重复：{MINI_CASES[0][0]}（共 1 个编号重复出现）" in str(e.value)


def test_summary_counts_statuses(tmp_path, mini):
    rows = list(MINI_CASES)
    done = group_file(write_cases(tmp_path / "cases.csv", rows), tmp_path / "o.csv", mini)
    ok = sum(1 for r in rows if r[8] == "ok")
    assert done.summary.startswith(f"DRG 分组：{len(rows)} 例；分组成功（ok）{ok}")


def test_group_drg_start_loads_no_payment_side():
    """``yibao group drg`` imports the CLI and the grouping; the settlement, the Excel writer, the benefit
    calculator and the review stay unloaded (over a second of imports on this machine)."""
    code = ("import sys, yibao.cli, yibao.drg.cases\n"
            "heavy = ('openpyxl', 'yibao.drg.settlement', 'yibao.drg.report', 'yibao.settle.report',\n"
            "         'yibao.benefit', 'yibao.review', 'yibao.cli.review_benefit')\n"
            "print(sorted(m for m in heavy if m in sys.modules))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={"PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"), "PATH": ""})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
