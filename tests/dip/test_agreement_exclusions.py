"""Issue 13 §4 and §5: DIP pays only services the institution's service agreement covers (韶关办法第四条), and
every deduction it does not apply is reported with its reason, so that applied + not applied = given.

The tiny region (employee scheme, settlement year 2025, inpatient pot 100 000.00):

    institution  agreement              case  discharge    settled      points  fund booked
    H001         2020-01-01 – (open)    A1    2025-03-10   2025-03-12   1 200   7 000.00
    H001                                A2    2025-05-10   2025-05-11     800   5 000.00
    H002         2020-01-01 – 2024-12-31 X1   2024-12-28   2025-01-06     500   4 000.00  covered: served in term
    H002                                X2    2025-02-10   2025-02-12   1 500   9 000.00  outside: not paid

Which date counts is the service date (discharge), not the settlement date: X1, settled in 2025 after the
agreement ended, is paid; X2 is not. Year points 1 200 + 800 + 500 = 2 500 → 40 yuan a point:
H001 2 000 × 40 = 80 000.00, H002 500 × 40 = 20 000.00. (Paying X2 too would give 4 000 points → 25 yuan a point
and H002 (500 + 1 500) × 25 = 50 000.00.)

Deductions given (192.12 in all):

    line 2  H001 2025 inpatient   100.00  applied
    line 3  H002 2025 inpatient    50.00  applied (H002 has a settled case, X1)
    line 4  D001 2025 outpatient   12.12  not applied: a pharmacy is not in the per-capita pot
    line 5  H001 2024 inpatient    30.00  not applied: another settlement year
                                  ------
    applied 150.00 + not applied 42.12 = given 192.12
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal as D
from pathlib import Path

import pyarrow as pa
import pytest
from regions import INSTITUTIONS, INSURED, write_csv, write_region

from yibao.contract.schema import TABLES
from yibao.dip.policy import load_policy
from yibao.dip.reports import write_year
from yibao.dip.settlement import Budgets, run_settlement
from yibao.engine.loading import load_region
from yibao.settle.agreement import months_in_force
from yibao.settle.bands import DepositBand, OverBand
from yibao.settle.deductions import read_deductions


class Bands:
    saving_keep_rate = D("0.50")
    saving_keep_cap = D("0.10")
    band_mode = "marginal"
    over_bands = (OverBand(D("0.05"), D("0.60")), OverBand(D("0.10"), D("0.50")), OverBand(None, D("0")))
    deposit_return = (DepositBand(D("0"), D("1")),)


CASES = [  # id, institution, admit, discharge, settle, total, fund
    ("A1", "H001", "2025-03-01", "2025-03-10", "2025-03-12", "10000.00", "7000.00"),
    ("A2", "H001", "2025-05-01", "2025-05-10", "2025-05-11", "8000.00", "5000.00"),
    ("X1", "H002", "2024-12-20", "2024-12-28", "2025-01-06", "6000.00", "4000.00"),
    ("X2", "H002", "2025-02-01", "2025-02-10", "2025-02-12", "12000.00", "9000.00"),
]
POINTS = {"A1": "1200.0000", "A2": "800.0000", "X1": "500.0000", "X2": "1500.0000"}


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("agreement")
    inst = [r[:7] + (["2024-12-31"] if r[0] == "H002" else r[7:]) for r in INSTITUTIONS]
    cases = []
    for cid, i, a, d, s, total, fund in CASES:
        row = {"case_id": cid, "person_id": "P0001", "institution_id": i, "scheme": "employee", "sex": "1",
               "age_years": "59", "setting": "inpatient", "admit_date": a, "discharge_date": d,
               "principal_dx": "K80.100", "emergency": "0", "total_cost": total, "fund_paid": fund,
               "self_pay": str(D(total) - D(fund)), "out_of_pocket_excluded": "0.00", "settle_date": s}
        cases.append([row.get(c, "") for c in TABLES["cases"].column_names])
    region = write_region(base / "region", {"institutions": inst, "insured": INSURED, "cases": cases})
    load_region(region, base / "ws")
    ded = base / "deductions.csv"
    write_csv(ded, ["institution_id", "year", "setting", "source", "amount", "findings"], [
        ["H001", "2025", "inpatient", "review", "100.00", "1"], ["H002", "2025", "inpatient", "review", "50.00", "1"],
        ["D001", "2025", "outpatient", "review", "12.12", "2"], ["H001", "2024", "inpatient", "review", "30.00", "1"]])
    return base


def _scored() -> pa.Table:
    schema = pa.schema([("case_id", pa.string()), ("institution_id", pa.string()), ("scheme", pa.string()),
                        ("settle_year", pa.int32()), ("settle_month", pa.int32()), ("points", pa.decimal128(18, 4)),
                        ("principal_dx", pa.string()), ("los_days", pa.int32()), ("status", pa.string()),
                        ("total_cost", pa.decimal128(18, 2)), ("fund_paid", pa.decimal128(18, 2))])
    rows = [{"case_id": c, "institution_id": i, "scheme": "employee", "settle_year": int(s[:4]),
             "settle_month": int(s[5:7]), "points": D(POINTS[c]), "principal_dx": "K80.100", "los_days": 9,
             "status": "scored", "total_cost": D(t), "fund_paid": D(f)} for c, i, _, _, s, t, f in CASES]
    return pa.Table.from_pylist(rows, schema=schema)


def _settle(ws: Path):
    return run_settlement(ws / "ws", _scored(), 2025, Budgets({"employee": D("100000.00")}, {}, {}), load_policy(),
                          Bands, {}, D("100"), given=read_deductions(ws / "deductions.csv"))


def test_only_services_the_agreement_covers_are_paid(ws):
    y = _settle(ws)
    s = y.dip["employee"]
    assert s.units == D("2500.0000") and s.value_shown == D("40.000000")
    by = {c.institution_id: c for c in s.clearing}
    assert (by["H001"].units, by["H001"].units_money) == (D("2000.0000"), D("80000.00"))
    assert (by["H002"].units, by["H002"].cases, by["H002"].units_money) == (D("500.0000"), 1, D("20000.00"))
    assert by["H002"].booked == D("4000.00")  # X2's 9 000.00 booked is not counted either
    assert [(r["case_id"], r["institution_id"], r["fund_paid"], r["total_cost"]) for r in y.excluded] == [
        ("X2", "H002", D("9000.00"), D("12000.00"))]
    why = y.excluded[0]["reason"]
    assert "服务日期晚于服务协议结束日期" in why and "2024-12-31" in why and "第四条" in why


def test_every_deduction_is_applied_or_listed_to_the_fen(ws):
    y = _settle(ws)
    d = y.deductions
    applied = sum((c.deductions for c in y.dip["employee"].clearing), D("0.00"))
    assert applied == d["applied"] == D("150.00")
    rest = [(r["line"], r["institution_id"], r["amount"]) for r in d["not_applied"]]
    assert rest == [(4, "D001", D("12.12")), (5, "H001", D("30.00"))]
    assert "药店不参加按人头结算" in d["not_applied"][0]["reason"]
    assert "扣款所属结算年度 2024" in d["not_applied"][1]["reason"]
    assert d["applied"] + sum(r["amount"] for r in d["not_applied"]) == d["given"] == D("192.12")


def test_the_files_and_the_summary(ws, tmp_path):
    y = _settle(ws)
    write_year(y, tmp_path / "out", statements=False)
    ex = list(csv.DictReader((tmp_path / "out" / "exclusions.csv").open(encoding="utf-8-sig")))
    assert [(r["机构编码"], r["病例号"], r["统筹基金记账（不予支付）"]) for r in ex] == [("H002", "X2", "9000.00")]
    na = list(csv.DictReader((tmp_path / "out" / "deductions_not_applied.csv").open(encoding="utf-8-sig")))
    assert [(r["机构编码"], r["未扣减金额"]) for r in na] == [("D001", "12.12"), ("H001", "30.00")]
    s = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert s["outside_agreement"]["cases"] == 1 and s["outside_agreement"]["fund_paid"] == "9000.00"
    assert s["deductions"] == {"given": "192.12", "applied": "150.00", "not_applied": "42.12",
                               "line": "扣款：给出 192.12 元，本次结算扣减 150.00 元，未扣减 42.12 元"
                                       "（2 笔，原因见 deductions_not_applied.csv）"}


def test_an_institution_wholly_outside_its_agreement_takes_no_deduction(ws, tmp_path):
    # without X1, H002 has no settled case in 2025: its 50.00 is not clawed back from a payment it never had
    scored = _scored().filter(pa.compute.not_equal(_scored().column("case_id"), "X1"))
    y = run_settlement(ws / "ws", scored, 2025, Budgets({"employee": D("100000.00")}, {}, {}), load_policy(),
                       Bands, {}, D("100"), given=read_deductions(ws / "deductions.csv"))
    assert "H002" not in {c.institution_id for c in y.dip["employee"].clearing}
    h002 = [r for r in y.deductions["not_applied"] if r["institution_id"] == "H002"]
    assert [r["amount"] for r in h002] == [D("50.00")]
    assert h002[0]["reason"].startswith("该机构本年度住院服务均在服务协议期外")
    assert y.deductions["applied"] == D("100.00")


def test_months_in_force_for_per_capita_units():
    import datetime as dt

    assert months_in_force(dt.date(2020, 1, 1), dt.date(2025, 3, 1), 2025) == {1, 2, 3}
    assert months_in_force(dt.date(2025, 11, 30), None, 2025) == {11, 12}
    assert months_in_force(dt.date(2020, 1, 1), dt.date(2024, 12, 31), 2025) == set()
