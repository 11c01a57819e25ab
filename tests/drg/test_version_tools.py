"""``yibao standards show / diff / impact`` on the miniature and its extension (every figure counted by hand)."""

from __future__ import annotations

import csv
from decimal import Decimal as D

import pyarrow as pa
from conftest import run_cli

from yibao.drg.mini import EXT_FILES, FILES, ext_cases, mini_cases, mini_ext_standards, mini_standards
from yibao.drg.versions import describe, diff, impact
from yibao.drg.weights import read_weights


def _dir(tmp_path, name, files):
    d = tmp_path / name
    d.mkdir()
    for n, text in files.items():
        (d / n).write_text(text, encoding="utf-8")
    return d


def test_describe_counts_kinds():
    d = describe(mini_ext_standards())
    assert d["counts"]["adrgs"] == 17 and d["counts"]["adrgs_with_alternatives"] == 1
    assert d["counts"]["drgs"] == 30  # 27 of the miniature + GE11, GE12, GE14
    assert d["rule_kinds"] == {"age_max_and_cc_or_mcc": 1, "always": 16, "cc_or_mcc": 6, "los_band": 2, "mcc": 5}
    assert d["condition_atoms"]["ANY_SDX in dx.L"] == 1 and d["rule_variables"] == ["AGE_YEARS", "LOS"]
    assert "ANY_SDX in dx.L" not in describe(mini_standards())["condition_atoms"]


def test_diff_names_what_was_added():
    rows = diff(mini_standards(), mini_ext_standards())
    got = {(r["level"], r["code"], r["change"]) for r in rows}
    assert got == {("mdc", "G", "changed"), ("adrg", "GE1", "added"),
                   ("drg", "GE11", "added"), ("drg", "GE12", "added"), ("drg", "GE14", "added")}
    g = next(r for r in rows if r["code"] == "G")
    assert g["detail"] == "主要诊断列表 +1 −0"  # K85.900


def test_impact_moves_and_weights(tmp_path):
    cases = pa.concat_tables([_conform(mini_cases()), _conform(ext_cases())])
    wb = tmp_path / "b.csv"
    wb.write_text("DRG编码,RW\nGE12,2.5\nGE14,1.25\nGZ11,1\n", encoding="utf-8")
    res = impact(cases, mini_standards(), mini_ext_standards(), None, read_weights(wb))
    moved = {r["case_id"]: (r["drg_a"], r["drg_b"]) for r in res["cases"].to_pylist() if r["moved"]}
    # the ten E cases: K85.900 is no code of the miniature (invalid_dx) — all but E08 get GE1 in the extension
    # (E08 stays ungrouped, though now for another reason: it moves from "(invalid_dx)" to "(ungroupable)")
    assert set(moved) == {f"E{i:02d}" for i in range(1, 11)}
    moves = {(r["from"], r["to"]): r["cases"] for r in res["moves"].to_pylist()}
    assert moves[("(invalid_dx)", "GE12")] == 3 and moves[("(invalid_dx)", "GE14")] == 1
    assert moves[("(invalid_dx)", "(missing_los)")] == 2
    (inst,) = res["institutions"].to_pylist()  # no institution_id column: one row
    # weights under b: GE12 × 3 = 7.5, GE14 1.25, GZ11 (M01) 1 → 9.75
    assert inst["weight_b"] == D("9.7500") and inst["weight_a"] is None and inst["cases"] == 40


def _conform(t):
    from yibao.drg.grouper import conform_cases

    return conform_cases(t)


def test_cli_show_diff(tmp_path):
    a, b = _dir(tmp_path, "a", FILES), _dir(tmp_path, "b", EXT_FILES)
    r = run_cli("standards", "show", b)
    assert r.returncode == 0, r.stderr
    assert "ADRG 17 个（其中有并列备选条件的 1 个），DRG 30 个" in r.stdout and "需要入院、出院日期" in r.stdout
    r = run_cli("standards", "diff", a, b, "--out", tmp_path / "d.csv")
    assert r.returncode == 0, r.stderr
    assert "ADRG：新增 1，删除 0，变更 0" in r.stdout and "新增：GE1" in r.stdout
    with (tmp_path / "d.csv").open(encoding="utf-8-sig") as f:
        assert len(list(csv.DictReader(f))) == 5
