"""Issue 13: DRG payment settles only services the agreement covers, and reports every deduction it does not apply.

The example region (yibao.drg.pipelines.example_payment_sources) with B2 — H2's 2025 low-outlier case, weight
0.1250, 800.00 booked — outside H2's agreement (ended 2024-12-31). Without B2 the year's DRG weight is B1's 2.7500
alone: by item 3 500 + 2 000 + 2 000 = 7 500 paid first, the DRG budget 100 000 − 7 500 = 92 500 goes wholly to
H3 (92 500 ÷ 2.75 = 33 636.363636 a weight). (With B2: 2.8750, H3 88 478.26 and H2 4 021.74.)

Deductions given: H3 2025 inpatient 100.00 (applied), H3 2025 outpatient 20.00 (not applied: DRG clears the
inpatient pot only), H2 2024 inpatient 5.55 (another year) → applied 100.00 + not applied 25.55 = given 125.55.
"""

from __future__ import annotations

from decimal import Decimal as D

import pyarrow.compute as pc

from yibao.drg.payment import DRG_PAYMENT
from yibao.drg.pipelines import payment_fixture
from yibao.drg.policy import load_payment_policy
from yibao.drg.settlement import finish_drg_year, settle_drg_year
from yibao.engine.runner import LocalRunner
from yibao.settle.deductions import Deduction

from .test_payment import Bands


def test_outside_agreement_case_not_paid_and_deductions_reconciled():
    src = payment_fixture(outside_agreement=True)
    out = LocalRunner().run_pipeline(DRG_PAYMENT, src)
    pay = {r["case_id"]: r["method"] for r in out["drg_case_pay"].to_pylist()}
    assert pay["B2"] == "excluded" and pay["B1"] == "drg"
    given = [Deduction(2, "H3", 2025, "inpatient", "review", D("100.00")),
             Deduction(3, "H3", 2025, "outpatient", "review", D("20.00")),
             Deduction(4, "H2", 2024, "inpatient", "review", D("5.55"))]
    ded = {("employee", "H3"): D("100.00")}
    y = settle_drg_year(2025, out["drg_pay_units"], src["institutions"], {"employee": D("100000.00")},
                        load_payment_policy(), Bands, {}, D("100"), ded)
    s = y.drg["employee"]
    assert s.budget == D("92500.00") and s.units == D("2.7500") and s.value_shown == D("33636.363636")
    assert {c.institution_id: c.amount for c in s.clearing} == {"H3": D("92500.00")}
    finish_drg_year(y, src["settle_outside_agreement"], given)
    assert [(r["case_id"], r["fund_paid"]) for r in y.excluded] == [("B2", D("800.00"))]
    d = y.deductions
    assert d["applied"] == D("100.00")
    assert [(r["line"], r["amount"]) for r in d["not_applied"]] == [(3, D("20.00")), (4, D("5.55"))]
    assert "DRG 付费只清算住院统筹" in d["not_applied"][0]["reason"]
    assert d["applied"] + sum(r["amount"] for r in d["not_applied"]) == d["given"] == D("125.55")
    cases = out["drg_case_pay"]
    assert pc.sum(pc.equal(cases.column("method"), "excluded")).as_py() == 1
