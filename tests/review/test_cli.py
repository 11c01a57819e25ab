"""`yibao review` as outside checks call it: contract columns, stable output, quarantine, evaluation, errors."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pyarrow.csv as pacsv
import pytest
from conftest import run_cli

from yibao.review.pipelines import review_fixture


@pytest.fixture(scope="module")
def region(tmp_path_factory) -> Path:
    """The pipeline fixture written as a region directory, plus one fee line whose case does not exist."""
    d = tmp_path_factory.mktemp("region")
    t = review_fixture()
    staff = ["staff_id,name,role,institution_id,registered_on", "S1,甲,physician,H1,2020-01-01",
             "S2,乙,physician,H1,2020-01-01"]
    (d / "staff.csv").write_text("\n".join(staff) + "\n", encoding="utf-8")
    for name in ("institutions", "insured", "catalog", "cases", "fee_items"):
        tab = t[name]
        for col in tab.column_names:  # lists as a|b, booleans as 1/0 (the contract's text forms)
            typ = tab.schema.field(col).type
            if str(typ).startswith("list"):
                import pyarrow.compute as pc

                tab = tab.set_column(tab.column_names.index(col), col, pc.binary_join(tab[col], "|"))
            elif str(typ) == "bool":
                import pyarrow.compute as pc

                tab = tab.set_column(tab.column_names.index(col), col,
                                     pc.if_else(tab[col], "1", "0"))
        pacsv.write_csv(tab, d / f"{name}.csv")
    with open(d / "fee_items.csv", "a", encoding="utf-8") as fh:
        fh.write('"NOPE",1,BED,床位费,facility,bed,2024-07-01,1,80.00,80.00,S1\n')
    (d / "labels.csv").write_text("case_id,pattern\nC5,dead_patient\nC4,restricted_item\nC1,split_admission\n",
                                  encoding="utf-8")
    return d


def test_review_writes_the_contract_findings(region, tmp_path):
    out = tmp_path / "out"
    p = run_cli("review", "--data", str(region), "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert "fee_items 1 行" in p.stdout  # the line of an unknown case was quarantined, not reviewed
    lines = (out / "findings.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == ("case_id,line_no,rule_id,severity,amount,message,"  # the contract's columns, then added ones
                        "institution_id,person_id,staff_id,dept_code,admit_date,settle_year,item_code")
    rows = list(csv.DictReader(lines))
    assert ("C5", "", "C02", "reject", "30.00") in [(r["case_id"], r["line_no"], r["rule_id"], r["severity"], r["amount"])
                                                  for r in rows]
    assert all(r["severity"] in ("reject", "warn") for r in rows)
    keys = [(r["case_id"], int(r["line_no"]) if r["line_no"] else 10**9, r["rule_id"]) for r in rows]
    assert keys == sorted(keys)
    # deductions = the reject amounts per institution and settlement year
    ded = list(csv.DictReader((out / "deductions.csv").open(encoding="utf-8-sig")))
    want: dict = {}
    inst = {"C1": "H1", "C2": "H1", "C3": "H2", "C4": "H2", "C5": "H1", "C6": "H1"}
    for r in rows:
        if r["severity"] == "reject":
            want[inst[r["case_id"]]] = want.get(inst[r["case_id"]], Decimal(0)) + Decimal(r["amount"])
    got: dict = {}
    for d in ded:  # one row per institution × year × setting
        assert d["setting"] in ("inpatient", "outpatient") and d["source"] == "review"
        got[d["institution_id"]] = got.get(d["institution_id"], Decimal(0)) + Decimal(d["amount"])
    assert got == want
    assert [d["source"] for d in ded] == ["review"] * len(ded) and {d["year"] for d in ded} == {"2024"}
    assert (out / "summary_by_institution.csv").exists() and (out / "top_rules.csv").exists()
    # the same data gives the same bytes
    out2 = tmp_path / "out2"
    assert run_cli("review", "--data", str(region), "--out", str(out2)).returncode == 0
    for name in ("findings.csv", "deductions.csv", "summary_by_rule.csv"):
        assert (out / name).read_bytes() == (out2 / name).read_bytes(), name


def test_review_evaluate_reports_recall_and_precision(region, tmp_path):
    p = run_cli("review", "--data", str(region), "--out", str(tmp_path / "o"), "--evaluate", str(region / "labels.csv"))
    assert p.returncode == 0, p.stderr
    ev = {r["pattern"]: r for r in csv.DictReader((tmp_path / "o" / "evaluation.csv").open(encoding="utf-8-sig"))}
    assert ev["dead_patient"]["recall"] == "1.0000" and ev["dead_patient"]["precision"] == "1.0000"
    assert ev["restricted_item"]["labelled"] == "1" and ev["restricted_item"]["true_positive"] == "1"
    # restricted findings: C3 (indication), C4 (sex), C5 (age) → 1 of 3 flagged cases is labelled
    assert ev["restricted_item"]["flagged"] == "3" and ev["restricted_item"]["precision"] == "0.3333"
    # split admission: C2 is flagged, C1 is labelled → recall 0, precision 0
    assert ev["split_admission"]["recall"] == "0.0000"


def test_review_errors_are_one_chinese_line(region, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[rules.NOPE]\nenabled = false\n", encoding="utf-8")
    for args in (("--data", str(region), "--out", str(tmp_path / "o"), "--rules", str(bad)),
                 ("--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")),
                 ("--out", str(tmp_path / "o")),
                 ("--workspace", str(tmp_path), "--out", str(tmp_path / "o")),
                 ("--data", str(region), "--out", str(tmp_path / "o"), "--memory-limit", "lots")):
        p = run_cli("review", *args)
        assert p.returncode == 2, args
        assert p.stderr.startswith("错误") and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_review_workspace_mode_equals_data_mode(region, tmp_path):
    ws = tmp_path / "ws"
    assert run_cli("load", str(region), "--workspace", str(ws)).returncode == 0
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli("review", "--workspace", str(ws), "--out", str(a)).returncode == 0
    assert run_cli("review", "--data", str(region), "--out", str(b)).returncode == 0
    assert (a / "findings.csv").read_bytes() == (b / "findings.csv").read_bytes()
    c = tmp_path / "c"  # a DuckDB memory limit (spilling to disk when exceeded) changes nothing in the results
    assert run_cli("review", "--workspace", str(ws), "--out", str(c), "--memory-limit", "256MB").returncode == 0
    assert (a / "findings.csv").read_bytes() == (c / "findings.csv").read_bytes()
