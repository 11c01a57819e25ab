"""Optional code translation (--map-codes): codes go through the standards' maps first; a code
without a map row stops the case with its own status."""

from __future__ import annotations

import csv

import pyarrow as pa
import pytest
from conftest import run_cli

from yibao.contract.reasons import FatalLoadError
from yibao.drg.explain import group_one
from yibao.drg.grouper import group_table
from yibao.drg.mini import FILES, mini_standards
from yibao.drg.standards import standards_from_files

from .helpers import write_mini

MAPS = {
    "diagnosis_map.csv": "source_code,grouper_code\nK35.8,K35.800\nK35.800,K35.800\nJ96.0,J96.000\nE11.9,E11.900\n",
    "procedure_map.csv": "source_code,grouper_code\n47.01,47.0100\n47.0100,47.0100\n",
}


@pytest.fixture(scope="module")
def std():
    return standards_from_files({**FILES, **MAPS}, source="mini+maps")


CASES = [
    {"case_id": "T1", "sex": "1", "age_years": 50, "principal_dx": "K35.8", "secondary_dx": ["J96.0"],
     "procedures": ["47.01"]},
    {"case_id": "T2", "sex": "1", "age_years": 50, "principal_dx": "K35.8", "secondary_dx": ["I10.x00"],
     "procedures": []},
    {"case_id": "T3", "sex": "1", "age_years": 50, "principal_dx": "K35.800", "secondary_dx": [],
     "procedures": ["47.02"]},
    {"case_id": "T4", "sex": None, "age_years": 50, "principal_dx": "K35.8", "secondary_dx": [], "procedures": []},
]


def test_map_codes(std):
    table = pa.Table.from_pylist(CASES)
    got = {r["case_id"]: r for r in group_table(table, std, map_codes=True).to_pylist()}
    assert (got["T1"]["status"], got["T1"]["drg"]) == ("ok", "GC11")
    assert got["T2"]["status"] == "unmappable_dx"
    assert got["T3"]["status"] == "unmappable_procedure"
    assert got["T4"]["status"] == "missing_sex"
    for case in CASES:
        assert group_one(case, std, map_codes=True).as_row() == got[case["case_id"]]
    # without translation the short codes match nothing
    plain = {r["case_id"]: r for r in group_table(table, std).to_pylist()}
    assert plain["T1"]["status"] == "invalid_dx"


def test_map_codes_needs_the_maps():
    with pytest.raises(FatalLoadError, match="diagnosis_map"):
        group_table(pa.Table.from_pylist(CASES), mini_standards(), map_codes=True)


def test_cli_map_codes(tmp_path):
    std = write_mini(tmp_path / "std", diagnosis_map_csv=MAPS["diagnosis_map.csv"],
                     procedure_map_csv=MAPS["procedure_map.csv"])
    cases = tmp_path / "cases.csv"
    cases.write_text("case_id,sex,age_years,principal_dx,secondary_dx,procedures\n"
                     "T1,1,50,K35.8,J96.0,47.01\nT2,1,50,K35.8,I10.x00,\n", encoding="utf-8")
    out = tmp_path / "o.csv"
    r = run_cli("group", "drg", "--standards", std, "--map-codes", cases, out)
    assert r.returncode == 0, r.stderr
    with out.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(x["case_id"], x["status"], x["drg"]) for x in rows] == [("T1", "ok", "GC11"), ("T2", "unmappable_dx", "")]
    assert "诊断不能转换（unmappable_dx）1" in r.stdout
