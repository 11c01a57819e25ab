"""A hand-computed tiny region for ``yibao assess`` (year 2025); every expected value is worked out in
the comments and in tests/assess/test_assess.py.

Institutions: H1, H2 (county 350102), H3, H4, D1 (county 350103) — H1…H4 are level-2 hospitals (one
peer group of 4), D1 a pharmacy; H9 has cases only in 2024 (no rows).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from regions import write_csv

from yibao.contract.schema import TABLES

VALID_PROC = "47.0900"    # in chs-drg-1.1 valid_procedures.csv (其他阑尾切除术)
OTHER_PROC = "89.0300"    # not in it

INSTITUTIONS = [
    dict(institution_id="H1", name="一院", kind="hospital", level="2", category="general", region_code="350102"),
    dict(institution_id="H2", name="二院", kind="hospital", level="2", category="general", region_code="350102"),
    dict(institution_id="H3", name="三院", kind="hospital", level="2", category="general", region_code="350103"),
    dict(institution_id="H4", name="四院", kind="hospital", level="2", category="general", region_code="350103"),
    dict(institution_id="D1", name="药房", kind="pharmacy", level="0", category="other", region_code="350103"),
    dict(institution_id="H9", name="九院", kind="hospital", level="2", category="general", region_code="350103"),
]
PERSONS = [f"P{n}" for n in range(1, 10)]


def _scheme(person: str) -> str:
    return "employee" if int(person[1:]) % 2 else "resident"


def _case(case_id, person, inst, setting, admit, discharge, settle, cost, self_pay, ooe, **kw):
    total, sp, ex = Decimal(cost), Decimal(self_pay), Decimal(ooe)
    return dict(case_id=case_id, person_id=person, institution_id=inst, scheme=_scheme(person), sex="1",
                age_years="50", setting=setting, admit_date=admit, discharge_date=discharge,
                principal_dx=kw.pop("dx", "K35.800"), total_cost=cost, fund_paid=str(total - sp - ex),
                self_pay=self_pay, out_of_pocket_excluded=ooe, settle_date=settle, emergency=kw.pop("emergency", "0"),
                discharge_mode=kw.pop("mode", "1" if setting == "inpatient" else ""), **kw)


CASES = [
    # H1 -----------------------------------------------------------------------------------------------
    _case("A0", "P1", "H1", "inpatient", "2024-12-10", "2024-12-16", "2024-12-20", "4000.00", "500.00", "0.00"),
    # 15 days after A0's discharge (A0 settled in 2024): a readmission; LOS 3
    _case("A1", "P1", "H1", "inpatient", "2024-12-31", "2025-01-03", "2025-01-05", "6000.00", "1000.00", "200.00"),
    # same-day stay: LOS 1; referred out (mode 2); a valid procedure, elective
    _case("A2", "P2", "H1", "inpatient", "2025-03-01", "2025-03-01", "2025-03-02", "1000.00", "100.00", "0.00",
          mode="2", procedures=VALID_PROC),
    # 16 days after A2's discharge: not a readmission; LOS 3; a procedure not in the list
    _case("A3", "P2", "H1", "inpatient", "2025-03-17", "2025-03-20", "2025-03-21", "3000.00", "500.00", "100.00",
          procedures=OTHER_PROC),
    _case("O1", "P3", "H1", "outpatient", "2025-02-01", "2025-02-01", "2025-02-01", "100.00", "20.00", "10.00"),
    _case("O2", "P3", "H1", "outpatient", "2025-02-10", "2025-02-10", "2025-02-10", "50.00", "10.00", "0.00"),
    _case("O3", "P4", "H1", "outpatient", "2025-05-05", "2025-05-05", "2025-05-05", "150.00", "30.00", "5.00"),
    # H2: no outpatient visit (zero denominators); B2 admitted the day B1 ends (day 0: a readmission), died
    _case("B1", "P6", "H2", "inpatient", "2025-06-01", "2025-06-05", "2025-06-06", "5000.00", "800.00", "200.00"),
    _case("B2", "P6", "H2", "inpatient", "2025-06-05", "2025-06-08", "2025-06-09", "2000.00", "300.00", "0.00",
          mode="5"),
    # H3: P1 comes 2 days after A1 — another institution, so no readmission
    _case("C1", "P7", "H3", "inpatient", "2025-07-01", "2025-07-11", "2025-07-12", "8000.00", "1000.00", "500.00"),
    _case("C2", "P1", "H3", "inpatient", "2025-01-05", "2025-01-06", "2025-01-07", "2000.00", "200.00", "0.00"),
    _case("O6", "P7", "H3", "outpatient", "2025-08-01", "2025-08-01", "2025-08-01", "200.00", "40.00", "0.00"),
    # H4: settled on the last day of 2025 (counted) and in 2026 (not)
    _case("E1", "P8", "H4", "inpatient", "2025-12-20", "2025-12-28", "2025-12-31", "4000.00", "400.00", "0.00"),
    _case("E2", "P8", "H4", "inpatient", "2025-12-29", "2026-01-01", "2026-01-02", "9999.00", "0.00", "0.00"),
    # D1 pharmacy: 1.00 / 32.00 = 0.03125 → 0.0313 (half-up)
    _case("O4", "P5", "D1", "outpatient", "2025-04-01", "2025-04-01", "2025-04-01", "16.00", "0.50", "0.00"),
    _case("O5", "P5", "D1", "outpatient", "2025-04-03", "2025-04-03", "2025-04-03", "16.00", "0.25", "0.25"),
    # H9: 2024 only
    _case("Z1", "P9", "H9", "inpatient", "2024-05-01", "2024-05-03", "2024-05-04", "3000.00", "300.00", "0.00"),
]

FEES = [  # (case, kind, amount)
    ("A0", "drug", "999.00"),                              # 2024 case: not counted
    ("A1", "drug", "600.00"), ("A1", "service", "5400.00"),
    ("A2", "drug", "250.00"), ("A2", "material", "750.00"),
    ("O1", "drug", "80.00"), ("O1", "service", "20.00"),
    ("C1", "drug", "2000.00"), ("C1", "service", "6000.00"),
    ("O4", "drug", "16.00"), ("O5", "drug", "15.00"), ("O5", "service", "1.00"),
]

# What a person computes by hand for 2025 (contract indicators; None = blank, denominator 0).
EXPECTED = {
    "H1": {
        "inpatient_cases": "3",                 # A1, A2, A3
        "outpatient_visits": "3",               # O1, O2, O3
        "cost_per_inpatient_case": "3333.3333",  # 10000.00 / 3
        "cost_per_outpatient_visit": "100.0000",  # 300.00 / 3
        "avg_los": "2.3333",                    # (3 + 1 + 3) / 3
        "inpatient_per_person": "1.5000",       # 3 / {P1, P2}
        "outpatient_per_person": "1.5000",      # 3 / {P3, P4}
        "admission_rate": "1.0000",             # 3 / 3
        "readmission_15d_rate": "0.3333",       # A1 (day 15) / 3; A3 (day 16) not
        "referral_out_rate": "0.3333",          # A2 / 3
        "burden_share": "0.1917",               # (1660.00 + 315.00) / 10300.00 = 0.191747…
        "out_of_catalogue_share": "0.0306",     # 315.00 / 10300.00 = 0.030582…
        "drug_share": "0.1310",                 # 930.00 / 7100.00 = 0.130985… (A0's 999.00 not counted)
        "surgery_rate": "0.3333",               # A2 / 3
    },
    "H2": {
        "inpatient_cases": "2", "outpatient_visits": "0", "cost_per_inpatient_case": "3500.0000",
        "cost_per_outpatient_visit": None, "avg_los": "3.5000", "inpatient_per_person": "2.0000",
        "outpatient_per_person": None, "admission_rate": None, "readmission_15d_rate": "0.5000",
        "referral_out_rate": "0.0000", "burden_share": "0.1857",   # 1300 / 7000 = 0.185714…
        "out_of_catalogue_share": "0.0286",                       # 200 / 7000 = 0.028571…
        "drug_share": None, "surgery_rate": "0.0000",
    },
    "H3": {
        "inpatient_cases": "2", "outpatient_visits": "1", "cost_per_inpatient_case": "5000.0000",
        "cost_per_outpatient_visit": "200.0000", "avg_los": "5.5000", "inpatient_per_person": "1.0000",
        "outpatient_per_person": "1.0000", "admission_rate": "2.0000", "readmission_15d_rate": "0.0000",
        "referral_out_rate": "0.0000", "burden_share": "0.1706",   # 1740 / 10200 = 0.170588…
        "out_of_catalogue_share": "0.0490",                       # 500 / 10200 = 0.049019…
        "drug_share": "0.2500", "surgery_rate": "0.0000",
    },
    "H4": {
        "inpatient_cases": "1", "outpatient_visits": "0", "cost_per_inpatient_case": "4000.0000",
        "cost_per_outpatient_visit": None, "avg_los": "8.0000", "inpatient_per_person": "1.0000",
        "outpatient_per_person": None, "admission_rate": None, "readmission_15d_rate": "0.0000",
        "referral_out_rate": "0.0000", "burden_share": "0.1000", "out_of_catalogue_share": "0.0000",
        "drug_share": None, "surgery_rate": "0.0000",
    },
    "D1": {
        "inpatient_cases": "0", "outpatient_visits": "2", "cost_per_inpatient_case": None,
        "cost_per_outpatient_visit": "16.0000", "avg_los": None, "inpatient_per_person": None,
        "outpatient_per_person": "2.0000", "admission_rate": "0.0000", "readmission_15d_rate": None,
        "referral_out_rate": None, "burden_share": "0.0313",      # 1.00 / 32.00 = 0.03125 → half-up
        "out_of_catalogue_share": "0.0078",                       # 0.25 / 32 = 0.0078125
        "drug_share": "0.9688",                                   # 31 / 32 = 0.96875 → half-up
        "surgery_rate": None,
    },
}


def _rows(name: str, dicts: list[dict]) -> list[list[str]]:
    cols = TABLES[name].column_names
    return [[str(d.get(c, "")) for c in cols] for d in dicts]


def write_hand_region(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    insts = [{**i, "agreement_start": "2020-01-01"} for i in INSTITUTIONS]
    insured = [dict(person_id=p, sex="1", birth_date="1975-01-01", scheme=_scheme(p), region_code="350102")
               for p in PERSONS]
    staff = [dict(staff_id=s, role="physician", institution_id=i, registered_on="2020-01-01")
             for s, i in (("S1", "H1"), ("S2", "H1"), ("S3", "H2"))]
    fees = [dict(case_id=c, line_no=str(n), item_code=("X1" if k == "drug" else "SV1"), item_kind=k,
                 fee_category="western_drug" if k == "drug" else "other", service_date="2025-01-01",
                 quantity="1", unit_price=a, amount=a) for n, (c, k, a) in enumerate(FEES, start=1)]
    catalog = [dict(item_code="X1", item_name="药一", item_kind="drug", **{"class": "A"}, valid_from="2020-01-01"),
               dict(item_code="X2", item_name="药二", item_kind="drug", **{"class": "B"}, valid_from="2020-01-01",
                    min_level="2"),
               dict(item_code="X3", item_name="药三", item_kind="drug", **{"class": "C"}, valid_from="2020-01-01"),
               dict(item_code="SV1", item_name="诊疗", item_kind="service", **{"class": "A"}, valid_from="2020-01-01")]
    for name, rows in (("institutions", insts), ("insured", insured), ("staff", staff), ("catalog", catalog),
                       ("cases", CASES), ("fee_items", fees)):
        write_csv(directory / f"{name}.csv", TABLES[name].column_names, _rows(name, rows))
    return directory
