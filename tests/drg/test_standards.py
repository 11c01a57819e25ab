"""Standards loading and validation: counts of the real set, the miniature set, broken sets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from yibao.contract.reasons import FatalLoadError
from yibao.drg.mini import FILES, mini_standards
from yibao.drg.standards import load_standards, standards_from_files, version_of

from .helpers import write_mini

SRC = Path(__file__).resolve().parents[2] / "src" / "yibao" / "drg"


@pytest.mark.standards
def test_real_standards_counts(standards):
    std = load_standards(standards)
    assert len(std.mdcs) == 26 and [m.code for m in std.mdcs][:6] == list("APYZMN")
    assert len(std.adrgs) == 376
    assert sum(len(a.rules) for a in std.adrgs.values()) == 628
    assert len(std.valid_procedures) == 10251
    assert re.fullmatch(r"[0-9a-f]{64}", std.version)
    tables = std.tables()
    assert tables["drg_adrg"].num_rows == 376 and tables["drg_mdc"].num_rows == 26
    assert std.newborn_max_days == 28


def test_version_is_content_hash(tmp_path):
    a = load_standards(write_mini(tmp_path / "a"))
    b = load_standards(write_mini(tmp_path / "b"))
    assert a.version == b.version == version_of({k: v.encode() for k, v in FILES.items()})
    c = load_standards(write_mini(tmp_path / "c", cc_csv=FILES["cc.csv"] + "I10.x01,30\n"))
    assert c.version != a.version


def test_mini_set_loads():
    std = mini_standards()
    assert [m.code for m in std.mdcs] == list("APZMNBG")
    assert std.adrgs["GB1"].condition.proc_group_dnf == (frozenset({"1", "2"}), frozenset({"3"}))
    assert std.adrg_groups["GB1"] == {"51.2300": "1", "54.5100": "2", "51.2200": "3"}


def _broken(**changes) -> str:
    files = dict(FILES)
    for key, text in changes.items():
        name = key.replace("_csv", ".csv")
        if text is None:
            files.pop(name)
        else:
            files[name] = text
    with pytest.raises(FatalLoadError) as exc:
        standards_from_files(files, source="std")
    message = str(exc.value)
    assert "\n" not in message
    return message


def _edit(name: str, old: str, new: str) -> str:
    assert old in FILES[name]
    return FILES[name].replace(old, new, 1)


@pytest.mark.parametrize("change, expected", [
    ({"adrgs_csv": _edit("adrgs.csv", "GZ1,G,3,", "GZ1,Q,3,")}, ["std/adrgs.csv", "第 17 行", "MDC 'Q'"]),
    ({"drg_rules_csv": _edit("drg_rules.csv", "GZ15,GZ1,3,always", "GZ13,GZ1,3,always")},
     ["std/drg_rules.csv", "第 28 行", "DRG GZ13 重复"]),
    ({"drg_rules_csv": _edit("drg_rules.csv", "GZ15,GZ1,3,always", "GZ15,GZ1,3,cc_or_mcc")},
     ["std/drg_rules.csv", "第 28 行", "不是 always"]),
    ({"mcc_csv": _edit("mcc.csv", "R57.000,40", "R57.000,forty")}, ["std/mcc.csv", "第 3 行", "不是整数"]),
    ({"cc_csv": _edit("cc.csv", "I10.x00,30", "I10-x00,30")}, ["std/cc.csv", "第 3 行", "I10-x00"]),
    ({"adrgs_csv": _edit("adrgs.csv", "PDX in dx.main AND PROC_GROUPS", "PDX in dx.main AND PROC_MAGIC")},
     ["std/adrgs.csv", "第 15 行", "未知的条件项"]),
    ({"adrg_diagnoses_csv": FILES["adrg_diagnoses.csv"] + "ZZ9,main,K35.800\n"},
     ["std/adrg_diagnoses.csv", "第 16 行", "ZZ9"]),
    ({"adrg_procedures_csv": FILES["adrg_procedures.csv"] + "GZ1,main,47.0100\n"},
     ["std/adrg_procedures.csv", "第 13 行", "没有用到列表 main"]),
    ({"mdc_diagnoses_csv": FILES["mdc_diagnoses.csv"] + "G,K80.100\n"},
     ["std/mdc_diagnoses.csv", "第 15 行", "重复"]),
    ({"drgs_csv": _edit("drgs.csv", "GZ15,消化系统疾患\n", "")}, ["std/drg_rules.csv", "GZ15 不在 drgs.csv"]),
    ({"mdc_z_trauma_regions_csv": None}, ["TRAUMA_REGIONS", "mdc_z_trauma_regions.csv"]),
    ({"valid_procedures_csv": None}, ["缺少文件 valid_procedures.csv"]),
    ({"mdcs_csv": _edit("mdcs.csv", "M,4,PDX in mdc_diagnoses AND SEX == 1", "M,4,PDX in mdc_diagnoses AND SEX = 1")},
     ["std/mdcs.csv", "第 5 行", "SEX = 1"]),
])
def test_broken_sets_name_file_row_and_problem(change, expected):
    message = _broken(**change)
    for part in expected:
        assert part in message, message


def test_structured_columns_must_agree_with_the_condition():
    text = FILES["mdcs.csv"].replace("mdc,order,entry_condition", "mdc,order,entry_condition,sex")
    lines = text.splitlines()
    lines = [lines[0]] + [ln + (",1" if ln.startswith("M,") else ",") for ln in lines[1:]]
    lines = [ln.replace("N,5,PDX in mdc_diagnoses AND SEX == 2,", "N,5,PDX in mdc_diagnoses AND SEX == 2,1") for ln in lines]
    message = _broken(mdcs_csv="\n".join(lines) + "\n")
    assert "std/mdcs.csv" in message and "第 6 行" in message and "sex" in message


def test_grouping_code_holds_no_scheme():
    """No diagnosis/procedure code, MDC or ADRG of any scheme is written into the grouping code."""
    icd = re.compile(r"['\"][A-Z][0-9]{2}\.[0-9xX]|['\"][0-9]{2}\.[0-9]{2,4}['\"]|['\"][A-Z]{2}[0-9]['\"]")
    for name in ("grouper.py", "compile.py", "standards.py", "explain.py", "conditions.py", "cases.py"):
        text = (SRC / name).read_text(encoding="utf-8")
        assert not icd.findall(text), (name, icd.findall(text))


def test_every_problem_of_a_table_at_once():
    """Issue 14: a broken table names every bad row in one line (file, line, problem), not only the first."""
    mcc = _edit("mcc.csv", "R57.000,40", "R57.000,forty")
    mcc = mcc + "Q99-9,10\n"
    message = _broken(mcc_csv=mcc)
    assert message.startswith("std/mcc.csv: 2 处问题："), message
    assert "第 3 行：exclusion_table = 'forty' 不是整数" in message
    assert f"第 {len(mcc.splitlines())} 行：code = 'Q99-9' 不是合法的诊断编码" in message


def test_rows_of_the_wrong_width_are_listed_together():
    lines = FILES["cc.csv"].splitlines()
    broken = "\n".join([lines[0], lines[1] + ",x", *lines[2:], "I10.x01"]) + "\n"
    message = _broken(cc_csv=broken)
    assert message.startswith("std/cc.csv: 2 处问题：第 2 行：有 3 个字段，表头有 2 列"), message
    assert f"第 {len(lines) + 1} 行：有 1 个字段，表头有 2 列" in message
