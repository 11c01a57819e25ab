"""The overrun of an institution over its target, split into volume, case mix and cost per case (人社部发〔2012〕70号
三(五)), with the rectification notice: numbers checked by hand, the parts adding up to the overrun to the fen."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pyarrow as pa

from yibao.assess.overrun import RECTIFICATION, decompose


def _scored(rows):
    return pa.table({"scheme": [r[0] for r in rows], "institution_id": [r[1] for r in rows],
                     "settle_year": pa.array([r[2] for r in rows], pa.int32()),
                     "score": pa.array([D(r[3]) for r in rows], pa.decimal128(18, 4))})


def test_three_parts_by_hand():
    # target 10 000 sized on 10 weighted cases: 1 000 a case. The year: 12 cases, 15 600 booked.
    rows = [{"pot": "employee.inpatient", "institution_id": "H1", "name": "甲医院", "target": D("10000.00"),
             "booked": D("15600.00"), "cases": 12, "cases_base": D("10")},
            {"pot": "employee.inpatient", "institution_id": "H2", "name": "乙医院", "target": D("5000.00"),
             "booked": D("4000.00"), "cases": 3, "cases_base": D("5")}]
    # CMI: base years mean score 1000 (→ 1.0000), the year 1200 (→ 1.2000)
    scored = _scored([("employee", "H1", 2022, "900"), ("employee", "H1", 2024, "1100"),
                      ("employee", "H1", 2025, "1200"), ("employee", "H1", 2025, "1200")])
    out = decompose(rows, scored, 2025, RECTIFICATION.defaults(), dt.date(2026, 3, 2))
    assert [r["institution_id"] for r in out] == ["H1"]  # H2 is under its target
    r = out[0]
    assert (r["overrun"], r["overrun_rate"], r["cmi_base"], r["cmi"]) == (D("5600.00"), D("0.5600"), D("1.0000"), D("1.2000"))
    # volume (12 − 10) × 1 000 = 2 000; case mix 12 × 1 000 × (1.2 − 1) = 2 400; cost per case the rest 1 200
    assert (r["volume_effect"], r["case_mix_effect"], r["cost_effect"]) == (D("2000.00"), D("2400.00"), D("1200.00"))
    assert r["volume_effect"] + r["case_mix_effect"] + r["cost_effect"] == r["overrun"]
    assert r["main_driver"] == "病例组合（CMI）变化" and "超出年度指标 5600.00 元（超支率 56.00%）" in r["opinion"]
    assert (r["response_due"], r["follow_up_on"]) == (dt.date(2026, 3, 17), dt.date(2026, 5, 31))


def test_rounding_keeps_the_sum_and_no_history_is_said():
    rows = [{"pot": "resident.inpatient", "institution_id": "H3", "name": "丙医院", "target": D("1000.00"),
             "booked": D("1333.33"), "cases": 7, "cases_base": D("3")},
            {"pot": "resident.inpatient", "institution_id": "H4", "name": "丁医院", "target": D("100.00"),
             "booked": D("150.00"), "cases": 1, "cases_base": D("0")}]
    scored = _scored([("resident", "H3", 2024, "1000"), ("resident", "H3", 2025, "1000")])
    out = {r["institution_id"]: r for r in decompose(rows, scored, 2025, RECTIFICATION.defaults(), None)}
    a = out["H3"]  # 1000 / 3 a case: volume 4 × 333.33… = 1 333.33; the parts still add to 333.33
    assert a["volume_effect"] == D("1333.33") and a["case_mix_effect"] == D("0.00")
    assert a["volume_effect"] + a["case_mix_effect"] + a["cost_effect"] == D("333.33")
    assert a["issued_on"] is None and a["response_due"] is None
    b = out["H4"]
    assert b["volume_effect"] is None and "无法分解原因" in b["opinion"]


def test_docs_hold_the_generated_parameter_table():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "assess.md").read_text(encoding="utf-8")
    assert RECTIFICATION.markdown() in text
