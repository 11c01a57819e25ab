"""Registered DRG pipelines with their fixtures (for the engine parity suite, ``tests/parity``).

``drg_group``: the set-based CHS-DRG grouping of :mod:`yibao.drg.grouper`, one rowwise step over
``cases`` with the compiled standards tables broadcast. Its fixture groups the hand-made
extended miniature standards set of :mod:`yibao.drg.mini` (always available, independent of the
real tables) over cases covering every kind of rule and every status, length-of-stay rules and
alternatives included.

``drg_weights`` and ``drg_payment`` (:mod:`yibao.drg.payment`): weights from history and the year's case weights,
on a small example region (:func:`example_payment_sources`; the payment tests compute it by hand).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa

from yibao.contract.schema import CASES, INSTITUTIONS
from yibao.drg.grouper import DRG_GROUP, conform_cases
from yibao.drg.mini import ext_cases, mini_cases, mini_ext_standards
from yibao.drg.payment import DRG_PAYMENT, DRG_WEIGHTS
from yibao.drg.policy import COEF_SCHEMA, load_payment_policy, param_tables
from yibao.engine.registry import register
from yibao.engine.runner import LocalRunner
from yibao.settle.agreement import OUTSIDE_AGREEMENT

__all__ = ["drg_fixture", "example_payment_sources", "example_weights", "payment_fixture", "payment_fixture_outside"]


def drg_fixture() -> dict[str, pa.Table]:
    cases = pa.concat_tables([conform_cases(mini_cases()), conform_cases(ext_cases())])
    return {**mini_ext_standards().tables(), "cases": cases}


def example_payment_sources() -> dict[str, pa.Table]:
    """A small grouped region (history 2023–2024, settlement 2025) for the parity suite."""
    d = dt.date
    spec = [  # case, inst, drg, discharge year, cost, fund, los, dx, status
        ("A1", "H3", "GB19", 2023, "10000.00", "7000.00", 8, "K35.800", "ok"),
        ("A2", "H3", "GB19", 2024, "12000.00", "8000.00", 7, "K35.800", "ok"),
        ("A3", "H2", "GB19", 2024, "8000.00", "6000.00", 6, "K35.800", "ok"),
        ("A4", "H2", "ES33", 2024, "4000.00", "3000.00", 5, "J18.900", "ok"),
        ("A5", "H3", "ES33", 2023, "6000.00", "4500.00", 5, "J18.900", "ok"),
        ("B1", "H3", "GB19", 2025, "40000.00", "30000.00", 12, "K35.800", "ok"),
        ("B2", "H2", "ES33", 2025, "1000.00", "800.00", 3, "J18.900", "ok"),
        ("B3", "H2", "ES33", 2025, "5000.00", "3500.00", 90, "F20.000", "ok"),
        ("B4", "H3", None, 2025, "3000.00", "2000.00", 4, "R69.x00", "ungroupable"),
        ("B5", "H3", "XX99", 2025, "3000.00", "2000.00", 4, "A00.000", "ok"),
    ]
    grouped = pa.table({"case_id": [s[0] for s in spec], "status": [s[8] for s in spec],
                        "drg": [s[2] for s in spec]},
                       schema=pa.schema([("case_id", pa.string()), ("status", pa.string()), ("drg", pa.string())]))
    schema = CASES.arrow_schema()
    recs = []
    for cid, i, _, y, cost, fund, los, dx, _ in spec:
        out = d(y, 6, 20)
        recs.append({"case_id": cid, "person_id": "P" + cid, "institution_id": i, "scheme": "employee",
                     "setting": "inpatient", "admit_date": out - dt.timedelta(days=los), "discharge_date": out,
                     "settle_date": out, "principal_dx": dx, "total_cost": Decimal(cost), "fund_paid": Decimal(fund),
                     "self_pay": Decimal(cost) - Decimal(fund), "out_of_pocket_excluded": Decimal("0.00")})
    cases = pa.table({f.name: pa.array([r.get(f.name) for r in recs], f.type) for f in schema}, schema=schema)
    inst = pa.table({"institution_id": ["H3", "H2"], "name": ["三级医院", "二级医院"], "kind": ["hospital"] * 2,
                     "level": [3, 2], "category": ["general"] * 2, "region_code": ["440200"] * 2,
                     "agreement_start": [d(2015, 1, 1)] * 2, "agreement_end": [None] * 2},
                    schema=INSTITUTIONS.arrow_schema())
    pol = load_payment_policy()
    ex_schema = OUTSIDE_AGREEMENT.steps[-1].schema
    src = {"drg_grouped": grouped, "cases": cases, "institutions": inst, **param_tables(pol, 2025, [2023, 2024]),
           "settle_outside_agreement": ex_schema.empty_table()}
    src["drg_coefficients"] = pa.table({"scope": ["level"], "key": ["3"], "coefficient": [Decimal("1.1000")]},
                                       schema=COEF_SCHEMA)
    return src


def example_weights() -> pa.Table:
    """The example region's weights (``drg_weights`` on DuckDB)."""
    return LocalRunner().run_pipeline(DRG_WEIGHTS, example_payment_sources())["drg_weights"]


def payment_fixture(outside_agreement: bool = False) -> dict[str, pa.Table]:
    """``outside_agreement``: B2 (H2, 2025) outside H2's agreement, for the parity suite."""
    src = {**example_payment_sources(), "drg_weights": example_weights()}
    if outside_agreement:
        ex_schema = OUTSIDE_AGREEMENT.steps[-1].schema
        row = {"case_id": "B2", "institution_id": "H2", "scheme": "employee", "setting": "inpatient",
               "service_date": dt.date(2025, 6, 20), "settle_date": dt.date(2025, 6, 20), "settle_year": 2025,
               "total_cost": Decimal("1000.00"), "fund_paid": Decimal("800.00"), "agreement_start": dt.date(2015, 1, 1),
               "agreement_end": dt.date(2024, 12, 31), "reason": "after_end"}
        src["settle_outside_agreement"] = pa.Table.from_pylist([row], schema=ex_schema)
    return src


def payment_fixture_outside() -> dict[str, pa.Table]:
    return payment_fixture(outside_agreement=True)


register(DRG_GROUP, fixture=drg_fixture)
register(DRG_WEIGHTS, fixture=example_payment_sources)
register(DRG_PAYMENT, fixture=payment_fixture_outside)
