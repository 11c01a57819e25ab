"""The review pipeline's registration (流水线登记) with its small example region (tests/parity runs it on
DuckDB and Spark). The pipeline itself — steps and SQL — is built by :func:`yibao.review.rulesql.build_pipeline`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pyarrow as pa

from yibao.contract.derived import QUALIFICATION_PERIODS
from yibao.contract.schema import TABLES
from yibao.contract.standards import CC_CODES, CC_EXCLUSIONS
from yibao.engine.registry import register
from yibao.review.ruleset import load_rules
from yibao.review.rulesql import build_pipeline

__all__ = ["REVIEW", "review_fixture"]


def _table(name: str, rows: list[dict]) -> pa.Table:
    schema = TABLES[name].arrow_schema()
    cols = {f.name: [r.get(f.name) for r in rows] for f in schema}
    return pa.table(cols, schema=schema)


def review_fixture() -> dict[str, pa.Table]:
    """A tiny region with one instance of most rules' findings (hand-checkable)."""
    D = date.fromisoformat
    M = Decimal
    inst = [
        {"institution_id": "H1", "name": "甲医院", "kind": "hospital", "level": 3, "category": "general",
         "region_code": "440200", "agreement_start": D("2020-01-01")},
        {"institution_id": "H2", "name": "乙医院", "kind": "hospital", "level": 1, "category": "general",
         "region_code": "440200", "agreement_start": D("2020-01-01")},
    ]
    insured = [
        {"person_id": "P1", "sex": "1", "birth_date": D("1960-05-01"), "scheme": "employee", "region_code": "440200"},
        {"person_id": "P2", "sex": "2", "birth_date": D("2018-03-01"), "scheme": "resident", "region_code": "440200",
         "death_date": None},
        {"person_id": "P3", "sex": "2", "birth_date": D("1950-01-01"), "scheme": "resident", "region_code": "440200",
         "death_date": D("2024-02-01")},
        *({"person_id": f"P{3 + i}", "sex": "1", "birth_date": D("1955-01-01"), "scheme": "employee",
           "region_code": "440200"} for i in (1, 2, 3)),
    ]
    cat = [
        {"item_code": "BED", "item_name": "床位费", "item_kind": "facility", "class": "A", "price_cap": M("80.00"),
         "max_daily_qty": M("1"), "valid_from": D("2020-01-01")},
        {"item_code": "NUR", "item_name": "Ⅱ级护理", "item_kind": "service", "class": "A", "price_cap": M("24.00"),
         "max_daily_qty": M("1"), "valid_from": D("2020-01-01"), "valid_to": D("2024-06-30")},
        {"item_code": "NUR", "item_name": "Ⅱ级护理", "item_kind": "service", "class": "A", "price_cap": M("28.00"),
         "max_daily_qty": M("1"), "valid_from": D("2024-07-01")},
        {"item_code": "DRG1", "item_name": "注射用美罗培南", "item_kind": "drug", "class": "B",
         "self_pay_ratio": M("0.10"), "price_cap": M("62.00"), "max_daily_qty": M("6"), "min_level": 2,
         "valid_from": D("2020-01-01")},
        {"item_code": "PSA", "item_name": "前列腺特异性抗原测定", "item_kind": "service", "class": "A",
         "price_cap": M("60.00"), "max_daily_qty": M("1"), "sex_limit": "1", "valid_from": D("2020-01-01")},
        {"item_code": "INS", "item_name": "甘精胰岛素注射液", "item_kind": "drug", "class": "B",
         "self_pay_ratio": M("0.10"), "price_cap": M("178.00"), "max_daily_qty": M("2"),
         "indications": ["E10", "E11"], "valid_from": D("2020-01-01")},
        {"item_code": "THY", "item_name": "注射用胸腺五肽", "item_kind": "drug", "class": "C", "price_cap": M("80.00"),
         "max_daily_qty": M("2"), "valid_from": D("2020-01-01")},
        {"item_code": "KID", "item_name": "小儿氨酚黄那敏颗粒", "item_kind": "drug", "class": "A",
         "price_cap": M("12.00"), "max_daily_qty": M("2"), "max_age": 14, "valid_from": D("2020-01-01")},
        {"item_code": "ERCP", "item_name": "经内镜逆行胰胆管造影", "item_kind": "service", "class": "A",
         "price_cap": M("920.00"), "max_daily_qty": M("1"), "valid_from": D("2020-01-01")},
    ]

    def case(cid, pid, inst_id, setting, a, d, dx, total, fund, excl, sec=None, emergency=False, staff="S1"):
        return {"case_id": cid, "person_id": pid, "institution_id": inst_id, "scheme": "employee",
                "setting": setting, "admit_date": D(a), "discharge_date": D(d), "attending_staff_id": staff,
                "principal_dx": dx, "secondary_dx": sec, "emergency": emergency, "total_cost": M(total),
                "fund_paid": M(fund), "self_pay": M(total) - M(fund) - M(excl), "out_of_pocket_excluded": M(excl),
                "settle_date": D(d), "discharge_mode": "1" if setting == "inpatient" else None}

    cases = [
        case("C1", "P1", "H1", "inpatient", "2024-06-28", "2024-07-02", "J18.900", "1000.00", "700.00", "0.00"),
        case("C2", "P1", "H1", "inpatient", "2024-07-10", "2024-07-12", "J18.000", "500.00", "350.00", "0.00",
             sec=["J96.000"]),
        case("C3", "P1", "H2", "inpatient", "2024-07-11", "2024-07-13", "I10.x00", "300.00", "200.00", "0.00"),
        case("C4", "P2", "H2", "outpatient", "2024-03-05", "2024-03-05", "J06.900", "200.00", "100.00", "0.00"),
        case("C5", "P3", "H1", "outpatient", "2024-03-01", "2024-03-01", "I10.x00", "50.00", "30.00", "0.00"),
        case("C6", "P1", "H1", "inpatient", "2024-09-01", "2024-09-10", "K80.100", "900.00", "600.00", "0.00",
             staff="S2"),
        # C07 learns: K80.100 (an MCC) is a complication of U1–U3, ERCP accompanies it (2 of 3, lift 7/3); U3 has none
        *(case(f"U{i}", f"P{3 + i}", "H1", "inpatient", f"2024-10-0{i}", f"2024-10-0{i + 1}", "K81.000",
               "1000.00", "800.00", "0.00", sec=["K80.100"]) for i in (1, 2, 3)),
    ]
    L = []

    def line(cid, no, code, name, kind, cat_, day, q, p, amt=None, staff="S1"):
        L.append({"case_id": cid, "line_no": no, "item_code": code, "item_name": name, "item_kind": kind,
                  "fee_category": cat_, "service_date": D(day), "quantity": M(q), "unit_price": M(p),
                  "amount": M(amt) if amt is not None else (M(q) * M(p)).quantize(M("0.01")), "staff_id": staff})

    for i, day in enumerate(["2024-06-28", "2024-06-29", "2024-06-30", "2024-07-01"]):
        line("C1", 2 * i + 1, "BED", "床位费", "facility", "bed", day, "1", "80.00")
        # nursing: 24 yuan until June 30, 28 from July 1 (the version valid on the service date)
        line("C1", 2 * i + 2, "NUR", "Ⅱ级护理", "service", "nursing", day, "1", "28.00")
    line("C1", 9, "DRG1", "注射用美罗培南", "drug", "western_drug", "2024-06-29", "8", "62.00")  # over qty
    line("C1", 10, "DRG1", "注射用美罗培南", "drug", "western_drug", "2024-06-30", "2", "20.00")  # substitution
    line("C1", 11, "THY", "注射用胸腺五肽", "drug", "western_drug", "2024-06-30", "1", "80.00")  # C billed to fund
    line("C1", 12, "BED", "床位费", "facility", "bed", "2024-07-01", "1", "80.00")  # duplicate
    line("C1", 13, "XXX", "不在目录的项目", "service", "other", "2024-07-01", "1", "10.00", "12.00")
    line("C2", 1, "BED", "床位费", "facility", "bed", "2024-07-10", "1", "80.00")
    line("C2", 2, "BED", "床位费", "facility", "bed", "2024-07-11", "1", "80.00")
    line("C2", 3, "PSA", "前列腺特异性抗原测定", "service", "lab", "2024-07-10", "1", "60.00")
    line("C3", 1, "BED", "床位费", "facility", "bed", "2024-07-11", "1", "80.00")
    line("C3", 2, "INS", "甘精胰岛素注射液", "drug", "western_drug", "2024-07-11", "1", "178.00")
    line("C4", 1, "PSA", "前列腺特异性抗原测定", "service", "lab", "2024-03-05", "1", "60.00")
    line("C4", 2, "KID", "小儿氨酚黄那敏颗粒", "drug", "western_drug", "2024-03-05", "1", "12.00")
    line("C5", 1, "KID", "小儿氨酚黄那敏颗粒", "drug", "western_drug", "2024-03-01", "1", "12.00")
    line("C6", 1, "BED", "床位费", "facility", "bed", "2024-09-01", "1", "80.00", staff="S2")
    line("C6", 2, "NUR", "Ⅱ级护理", "service", "nursing", "2024-09-09", "1", "28.00", staff="S2")
    # the CHS-DRG complication tables (contract.standards.cc_tables): J96.000 an MCC, excluded for a principal J96
    cc = pa.table({"code": ["J96.000", "K80.100"], "level": ["mcc", "mcc"],
                   "exclusion_table": pa.array([109, 70], pa.int32()), "name": ["急性呼吸衰竭", "胆囊结石伴胆囊炎"]},
                  schema=CC_CODES)
    cce = pa.table({"principal_dx": ["J96.000"], "exclusion_table": pa.array([109], pa.int32())}, schema=CC_EXCLUSIONS)
    for i in (1, 2, 3):
        line(f"U{i}", 1, "BED", "床位费", "facility", "bed", f"2024-10-0{i}", "1", "80.00")
        if i < 3:
            line(f"U{i}", 2, "ERCP", "经内镜逆行胰胆管造影", "service", "surgery", f"2024-10-0{i}", "1", "920.00")
    periods = pa.table({"staff_id": ["S2"], "status": ["suspended"], "start_date": [D("2024-08-15")],
                        "end_date": [D("2024-09-05")], "source_id": ["CF1"], "emergency_paid": [True]},
                        schema=QUALIFICATION_PERIODS)
    return {"institutions": _table("institutions", inst), "insured": _table("insured", insured),
            "catalog": _table("catalog", cat), "cases": _table("cases", cases), "fee_items": _table("fee_items", L),
            "qualification_periods": periods, "cc_codes": cc, "cc_exclusions": cce}


def fixture_rules():
    """The shipped rules with C07's learning thresholds lowered (2 stays, support 0.50, lift 1.5) so that the tiny
    fixture learns an accompanying item (the shipped 20 stays and lift 3 need a region)."""
    rs = load_rules()
    return replace(rs, rules=tuple(replace(r, params={**r.params, "min_cases": 2, "min_lift": "1.5"})
                                   if r.id == "C07" else r for r in rs.rules))


REVIEW = register(build_pipeline(fixture_rules()), fixture=review_fixture)
