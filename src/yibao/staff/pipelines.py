"""Registered pipeline of the staff capability (parity-tested on DuckDB and Spark).

``staff_points`` — the set-based part of :mod:`yibao.staff.rules`, with the default policy:

``staff_rejected`` (rowwise)
    findings that cannot score, with reason code and Chinese message;
``staff_year_totals`` (partitioned by ``staff_id``)
    every scoring finding and point repair with the year's floored running total after it
    (window functions per person and year).

The SQL is the very text :func:`yibao.staff.rules.derive` runs (over the source ``staff_ledger``).
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from yibao.engine.registry import register
from yibao.engine.runner import Pipeline, Step
from yibao.staff.policy import load_policy
from yibao.staff.rules import EVENTS, REJECTED, _rejected_sql, _scored_sql

YEAR_TOTALS = pa.schema([
    pa.field("staff_id", pa.string(), nullable=False),
    pa.field("kind", pa.string(), nullable=False),
    pa.field("day", pa.date32(), nullable=False),
    pa.field("seq", pa.int64(), nullable=False),
    pa.field("ref_id", pa.string(), nullable=False),
    pa.field("points", pa.int64()),
    pa.field("fraud", pa.bool_()),
    pa.field("yr", pa.int64(), nullable=False),
    pa.field("total", pa.int64(), nullable=False),
])


def staff_points_pipeline(pol=None) -> Pipeline:
    pol = pol or load_policy()
    return Pipeline("staff_points", (
        Step("staff_rejected", "staff_ledger", _rejected_sql(pol, "staff_ledger"), REJECTED,
             order_by=("day", "staff_id", "ref_id"), mode="rowwise",
             doc="findings that cannot score (responsibility none, basis, points)"),
        Step("staff_year_totals", "staff_ledger", _scored_sql(pol, "staff_ledger"), YEAR_TOTALS,
             order_by=("staff_id", "day", "kind", "seq", "ref_id"), mode="partitioned", partition_by=("staff_id",),
             doc="the year's floored running total after every scoring finding and point repair"),
    ), doc="payment-qualification points (医保支付资格记分)")


def staff_fixture() -> dict[str, pa.Table]:
    """A few people over two years: reset, repairs below zero, a rejected finding of each kind."""
    D = dt.date.fromisoformat
    rows = [
        # staff_id, kind, day, ref_id, basis, responsibility, points, fraud, reduced, shorten
        ("D1", "registration", "2020-01-01", "staff:D1", None, None, None, None, None, None),
        ("D1", "sanction", "2024-12-10", "A1", "admin_penalty", "main", 8, False, None, None),
        ("D1", "sanction", "2025-01-05", "A2", "liquidated_damages", "secondary", 4, False, None, None),
        ("D1", "repair", "2025-02-01", "R1", None, None, None, None, 6, 0),
        ("D1", "sanction", "2025-03-01", "A3", "admin_penalty", "main", 9, False, None, None),
        ("D22", "sanction", "2025-03-01", "B1", "agreement_suspension", "main", 5, False, None, None),
        ("D22", "sanction", "2025-03-01", "B2", "agreement_suspension", "main", 5, False, None, None),
        ("D22", "repair", "2025-04-01", "R2", None, None, None, None, 1, 30),
        ("D333", "sanction", "2025-05-05", "C1", "admin_penalty", "main", 12, True, None, None),
        ("D333", "sanction", "2025-05-06", "C2", "admin_penalty", "none", 3, False, None, None),
        ("D4444", "sanction", "2025-06-01", "E1", "warning", "main", 3, False, None, None),
        ("D4444", "sanction", "2025-06-02", "E2", "admin_penalty", "secondary", 15, False, None, None),
        ("D4444", "sanction", "2025-06-03", "E3", "liquidated_damages", "secondary", 2, False, None, None),
    ]
    cols = list(zip(*rows))
    n = len(rows)
    t = pa.table({
        "staff_id": pa.array(cols[0], pa.string()), "kind": pa.array(cols[1], pa.string()),
        "day": pa.array([D(x) for x in cols[2]], pa.date32()), "ref_id": pa.array(cols[3], pa.string()),
        "seq": pa.array(range(1, n + 1), pa.int64()), "institution_id": pa.nulls(n, pa.string()),
        "basis": pa.array(cols[4], pa.string()), "responsibility": pa.array(cols[5], pa.string()),
        "points": pa.array(cols[6], pa.int64()), "fraud": pa.array(cols[7], pa.bool_()),
        "points_reduced": pa.array(cols[8], pa.int64()), "shorten_days": pa.array(cols[9], pa.int64()),
        "until": pa.nulls(n, pa.date32()), "origin": pa.nulls(n, pa.string()),
    })
    return {"staff_ledger": t.cast(EVENTS)}


STAFF_POINTS = register(staff_points_pipeline(), fixture=staff_fixture)
