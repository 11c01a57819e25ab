"""Small example regions of DIP (示例数据): the fixtures of the registered pipelines (the parity suite runs each on
every engine) and the hand-checked tests.

- :func:`toy_cases`, :func:`toy_institutions`, :func:`example_region`: inpatient stays over 2023–2025
  (gallstones with and without surgery, pneumonia, and bad rows), for the catalogue and the scoring;
- :func:`example_settle_sources`: scored cases and outpatient visits for the settlement pipelines;
- ``STAYS``, ``VISITS``, :func:`example_tables`: scored stays and visits for the supervision indicators.
"""

from __future__ import annotations

import datetime as dt
from datetime import date, timedelta
from decimal import Decimal

import pyarrow as pa

from yibao.contract.schema import CASES, INSTITUTIONS
from yibao.contract.vocab import MONEY
from yibao.dip.catalogue import DIP_CATALOGUE
from yibao.dip.indicators import CASE_COLUMNS, indicator_params
from yibao.dip.policy import load_policy
from yibao.dip.settlement import OUTSIDE_AGREEMENT, UNITS, settle_sources
from yibao.dip.tables import (
    COEF_SCHEMA,
    PRIMARY_SCHEMA,
    REVIEW_SCHEMA,
    param_tables,
    read_overrides,
    read_valid_procedures,
)
from yibao.engine.runner import LocalRunner
from yibao.settle.agreement import agreement_sources

__all__ = ["toy_cases", "toy_institutions", "example_region", "example_params", "catalogue_fixture",
           "scoring_fixture", "example_settle_sources", "example_settle_sources_outside", "example_agreement_sources",
           "STAYS", "VISITS", "LEVELS", "example_tables", "indicators_fixture"]


# --- catalogue and scoring ---------------------------------------------------------------------

def toy_cases(rows: list[tuple]) -> pa.Table:
    """Cases from ``(case_id, institution_id, principal_dx, procedures, total_cost, settle_year[, setting])``."""
    schema = CASES.arrow_schema()
    recs = []
    for r in rows:
        cid, inst, dx, procs, cost, yr = r[:6]
        setting = r[6] if len(r) > 6 else "inpatient"
        d = date(yr, 6, 15)
        recs.append({
            "case_id": cid, "person_id": "P" + cid, "institution_id": inst, "scheme": "employee", "sex": "1",
            "age_years": 50, "setting": setting, "admit_date": d, "discharge_date": d, "principal_dx": dx,
            "procedures": procs, "total_cost": None if cost is None else Decimal(cost),
            "fund_paid": Decimal("0.00"), "self_pay": Decimal("0.00"), "out_of_pocket_excluded": Decimal("0.00"),
            "settle_date": d,
        })
    return pa.table({f.name: pa.array([r.get(f.name) for r in recs], f.type) for f in schema}, schema=schema)


def toy_institutions() -> pa.Table:
    inst = [("H3", 3), ("H2", 2), ("P1", 1)]
    return pa.table({
        "institution_id": [i for i, _ in inst], "name": ["三级医院", "二级医院", "卫生院"],
        "kind": ["hospital", "hospital", "primary"], "level": [lv for _, lv in inst],
        "category": ["general"] * 3, "region_code": ["440200"] * 3,
        "agreement_start": [date(2015, 1, 1)] * 3, "agreement_end": [None] * 3,
    }, schema=INSTITUTIONS.arrow_schema())


def example_region() -> pa.Table:
    """A small region over 2023–2025: gallstones with/without surgery, pneumonia, and bad rows."""
    rows: list[tuple] = []
    n = 0
    for yr in (2023, 2024, 2025):
        for i in range(8):
            inst = ("H3", "H2", "P1")[i % 3]
            n += 1
            rows.append((f"E{n:04d}", inst, "K80.100x001", ["51.2300", "88.7601"], f"{12000 + 500 * i + 300 * (yr - 2023)}.00",
                         yr))
            n += 1
            rows.append((f"E{n:04d}", inst, "J18.900", [], f"{4000 + 200 * i}.50", yr))
            n += 1
            rows.append((f"E{n:04d}", inst, "K80.100", [], f"{3000 + 100 * i}.00", yr))
        n += 1
        rows.append((f"E{n:04d}", "H3", "K80.200", ["99.2500"], "9000.00", yr))
        n += 1
        rows.append((f"E{n:04d}", "H2", "J18.000", ["45.1300x004"], "5200.00", yr))
    rows += [
        ("E9001", "H3", "K80.100", ["51.2300"], "90000.00", 2025),    # extreme
        ("E9002", "H2", "J18.900", [], "900.00", 2025),              # low
        ("E9003", "H3", None, [], "1000.00", 2025),                  # no dx
        ("E9004", "H3", "K8O.1", [], "1000.00", 2025),               # malformed dx
        ("E9005", "P1", "J18.900", ["5I.23"], "1000.00", 2025),      # malformed procedure
        ("E9006", "P1", "J18.900", [], "0.00", 2025),                # zero cost
        ("E9007", "H3", "J18.900", [], "500.00", 2025, "outpatient"),  # not inpatient: not in DIP
    ]
    return toy_cases(rows)


def example_params() -> dict[str, pa.Table]:
    pol = load_policy()
    tables = param_tables(pol, [2023, 2024, 2025])
    tables["dip_primary"] = pa.table({"group_id": ["J18.9|-"]}, schema=PRIMARY_SCHEMA)
    tables["dip_coefficients"] = pa.table({"scope": ["level", "level", "institution"], "key": ["3", "2", "P1"],
                                           "coefficient": [Decimal("1.1"), Decimal("0.9"), Decimal("0.8")]},
                                          schema=COEF_SCHEMA)
    return tables


def catalogue_fixture() -> dict[str, pa.Table]:
    return {"cases": example_region(), "dip_proc_rules": read_overrides(), "dip_proc_valid": read_valid_procedures(None),
            **example_params()}


def scoring_fixture() -> dict[str, pa.Table]:
    src = catalogue_fixture()
    runner = LocalRunner()
    try:
        cat = runner.run_pipeline(DIP_CATALOGUE, src)["dip_catalogue"]
    finally:
        runner.close()
    review = pa.table({"case_id": ["E9001"], "final_score": [Decimal("2500.0000")]}, schema=REVIEW_SCHEMA)
    return {**src, "dip_catalogue": cat, "institutions": toy_institutions(), "dip_review": review}



# --- settlement ------------------------------------------------------------------------------------

def example_settle_sources(outside_agreement: bool = False) -> dict[str, pa.Table]:
    """A small scored-case table and region for the parity suite (both pipelines); ``outside_agreement``: C2 and
    V3 outside their institution's agreement (else no case is)."""
    d = dt.date
    pts = []
    spec = [("C1", "H3", "employee", 2025, 1, "1200.0000", "K80.1", 5, "scored"),
            ("C2", "H3", "employee", 2025, 2, "800.0000", "J18.9", 7, "scored"),
            ("C3", "H2", "resident", 2025, 1, "950.5000", "K80.1", 4, "reviewed"),
            ("C4", "H2", "resident", 2025, 3, None, "", 3, "ungroupable"),
            ("C5", "H2", "employee", 2025, 3, "700.0000", "F20.000", 90, "scored"),
            ("C6", "H3", "employee", 2024, 5, "1000.0000", "K80.1", 6, "scored"),
            ("C7", "H3", "employee", 2025, 12, "400.0000", "Z50.900", 75, "scored")]
    for cid, i, s, y, m, p, dx, los, status in spec:
        pts.append({"case_id": cid, "institution_id": i, "scheme": s, "settle_year": y, "settle_month": m,
                    "points": None if p is None else Decimal(p), "principal_dx": dx or None, "los_days": los,
                    "status": status, "total_cost": Decimal("10000.00"), "fund_paid": Decimal("7000.00")})
    points_schema = pa.schema([("case_id", pa.string()), ("institution_id", pa.string()), ("scheme", pa.string()),
                               ("settle_year", pa.int32()), ("settle_month", pa.int32()), ("points", UNITS),
                               ("principal_dx", pa.string()), ("los_days", pa.int32()), ("status", pa.string()),
                               ("total_cost", MONEY), ("fund_paid", MONEY)])
    points = pa.table({f.name: pa.array([r[f.name] for r in pts], f.type) for f in points_schema}, schema=points_schema)
    inst = pa.table({"institution_id": ["H3", "H2", "P1", "P2"], "name": ["三级医院", "二级医院", "卫生院甲", "卫生院乙"],
                     "kind": ["hospital", "hospital", "primary", "primary"], "level": [3, 2, 1, 1],
                     "category": ["general"] * 4, "region_code": ["440200"] * 4,
                     "agreement_start": [d(2015, 1, 1)] * 4, "agreement_end": [None] * 4},
                    schema=INSTITUTIONS.arrow_schema())
    visits = [("V1", "A", "P1", d(2025, 1, 3)), ("V2", "A", "P1", d(2025, 2, 3)), ("V3", "A", "P2", d(2025, 3, 3)),
              ("V4", "B", "P2", d(2025, 1, 9)), ("V5", "B", "P1", d(2025, 4, 9)), ("V6", "C", "H3", d(2025, 1, 9)),
              ("V7", "D", "P2", d(2024, 6, 1))]
    schema = CASES.arrow_schema()
    recs = [{"case_id": c, "person_id": p, "institution_id": i, "scheme": "resident", "setting": "outpatient",
             "admit_date": day, "discharge_date": day, "settle_date": day, "total_cost": Decimal("100.00"),
             "fund_paid": Decimal("60.00"), "self_pay": Decimal("40.00"), "out_of_pocket_excluded": Decimal("0.00")}
            for c, p, i, day in visits]
    cases = pa.table({f.name: pa.array([r.get(f.name) for r in recs], f.type) for f in schema}, schema=schema)
    src = settle_sources(2025, load_policy().settlement)
    # C2 and V3 fall outside their institution's agreement: left out of the units and of the booked amounts
    ex_schema = OUTSIDE_AGREEMENT.steps[-1].schema
    ex = [{"case_id": "C2", "institution_id": "H3", "scheme": "employee", "setting": "inpatient",
           "service_date": d(2025, 2, 1), "settle_date": d(2025, 2, 3), "settle_year": 2025,
           "total_cost": Decimal("10000.00"), "fund_paid": Decimal("7000.00"), "agreement_start": d(2015, 1, 1),
           "agreement_end": d(2025, 1, 31), "reason": "after_end"},
          {"case_id": "V3", "institution_id": "P2", "scheme": "resident", "setting": "outpatient",
           "service_date": d(2025, 3, 3), "settle_date": d(2025, 3, 3), "settle_year": 2025,
           "total_cost": Decimal("100.00"), "fund_paid": Decimal("60.00"), "agreement_start": d(2025, 4, 1),
           "agreement_end": None, "reason": "before_start"}]
    ex = ex if outside_agreement else []
    excluded = pa.table({f.name: pa.array([r[f.name] for r in ex], f.type) for f in ex_schema}, schema=ex_schema)
    return {"dip_case_points": points, "cases": cases, "institutions": inst, **src,
            "settle_outside_agreement": excluded}


def example_settle_sources_outside() -> dict[str, pa.Table]:
    return example_settle_sources(outside_agreement=True)


def example_agreement_sources() -> dict[str, pa.Table]:
    """The example region with P2's agreement starting 2025-02-01 and H3's ending 2024-12-31 (parity suite)."""
    src = example_settle_sources()
    inst = src["institutions"].to_pylist()
    for r in inst:
        if r["institution_id"] == "P2":
            r["agreement_start"] = dt.date(2025, 2, 1)
        if r["institution_id"] == "H3":
            r["agreement_end"] = dt.date(2024, 12, 31)
    return {"cases": src["cases"], "institutions": pa.Table.from_pylist(inst, schema=INSTITUTIONS.arrow_schema()),
            **agreement_sources(2025)}



# --- supervision indicators --------------------------------------------------------------------------

# (case_id, institution, year, score or None (ungroupable), person, dx, admit, days) — inpatient, scored
STAYS = [
    # 2025, A (level 3)
    ("A1", "A", 2025, "2500", "p1", "K80.100", date(2025, 3, 1), 4),
    ("A2", "A", 2025, "2500", "p1", "K80.200", date(2025, 3, 15), 3),   # 10 days after A1 (same K80): readmission
    ("A3", "A", 2025, "250", "p2", "J18.900", date(2025, 5, 1), 1),     # low score, 1 day: 低标入院
    ("A4", "A", 2025, "1000", "p3", "I63.900", date(2025, 6, 1), 9),    # discharged 06-10
    # 2025, B and C (level 3), D (level 2)
    ("B1", "B", 2025, "1000", "p4", "I63.900", date(2025, 2, 1), 4),
    ("B2", "B", 2025, "2200", "p5", "C34.100", date(2025, 2, 1), 4),
    ("C1", "C", 2025, "1000", "p6", "I63.900", date(2025, 4, 1), 4),
    ("C2", "C", 2025, "1000", "p7", "I63.900", date(2025, 4, 1), 4),
    ("C3", "C", 2025, "400", "p8", "J18.900", date(2025, 4, 10), 1),
    ("D1", "D", 2025, "2500", "p9", "C34.100", date(2025, 4, 1), 5),
    # 2024
    ("A5", "A", 2024, "2500", "q1", "C34.100", date(2024, 6, 1), 4),
    ("A6", "A", 2024, "1000", "q2", "I63.900", date(2024, 6, 1), 4),
    ("B3", "B", 2024, "1000", "q3", "I63.900", date(2024, 6, 1), 4),
    ("B4", "B", 2024, "1000", "q4", "I63.900", date(2024, 6, 1), 4),
    ("C4", "C", 2024, "2500", "q5", "C34.100", date(2024, 6, 1), 4),
    ("C5", "C", 2024, "2500", "q6", "C34.100", date(2024, 6, 1), 4),
]
# outpatient visits: (case_id, institution, person, date, fund_paid)
VISITS = [
    ("O1", "A", "p3", date(2025, 5, 28), "300.00"),   # 4 days before A4's admission: counts
    ("O2", "A", "p3", date(2025, 6, 17), "100.00"),   # 7 days after A4's discharge: counts
    ("O3", "A", "p3", date(2025, 6, 18), "50.00"),    # 8 days after: not counted
    ("O4", "B", "p1", date(2025, 3, 1), "999.00"),    # another institution: not counted for A
    ("O5", "C", "p8", date(2025, 4, 9), "30.00"),     # the day before C3's admission
]
LEVELS = {"A": 3, "B": 3, "C": 3, "D": 2}


def example_tables() -> tuple[pa.Table, pa.Table, pa.Table]:
    """(scored, cases, levels) of the example region above."""
    d = Decimal
    scored = pa.table({
        "case_id": [s[0] for s in STAYS], "institution_id": [s[1] for s in STAYS],
        "year": pa.array([s[2] for s in STAYS], pa.int32()),
        "score": pa.array([d(s[3]).quantize(d("0.0001")) for s in STAYS], pa.decimal128(18, 4)),
        "points": pa.array([d(s[3]).quantize(d("0.0001")) for s in STAYS], pa.decimal128(18, 4)),
    })
    rows = [(s[0], s[4], s[1], "inpatient", s[6], s[6] + timedelta(days=s[7]), s[5], d("1000.00")) for s in STAYS]
    rows += [(v[0], v[2], v[1], "outpatient", v[3], v[3], "I10.x00", d(v[4])) for v in VISITS]
    cases = pa.table({c: [r[i] for r in rows] for i, c in enumerate(CASE_COLUMNS)})
    cases = cases.set_column(7, "fund_paid", pa.array([r[7] for r in rows], pa.decimal128(18, 2)))
    levels = pa.table({"institution_id": list(LEVELS), "level": pa.array(list(LEVELS.values()), pa.int64())})
    return scored, cases, levels


def indicators_fixture() -> dict[str, pa.Table]:
    scored, cases, levels = example_tables()
    return {"scored": scored, "cases": cases, "levels": levels, "p": indicator_params(load_policy())}


