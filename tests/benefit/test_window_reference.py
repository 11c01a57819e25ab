"""The NumPy accumulations of the calculator against its previous SQL formulation (two window functions,
tests/benefit/window_reference.py) on a generated cost base: 4 000 rows of 300 persons over two years, both
schemes, every benefit setting and level, cases and manual claims on the same days (the tie-break), a NULL
person, small caps so that the cap is reached mid-year, per-stay and per-year deductibles. Same table, column by
column (values and types)."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from benefit.window_reference import _core_sql

from yibao.benefit.compute import BASE_COLUMNS, RESULT_COLUMNS, calculate
from yibao.benefit.policy import PARAMS
from yibao.engine.runner import query_arrow

N = 4000


def _money(fen):
    return pc.cast(pa.array([f"{f // 100}.{f % 100:02d}" for f in fen]), pa.decimal128(18, 2))


@pytest.fixture(scope="module")
def con():
    rng = np.random.default_rng(21)
    kind = rng.choice(["case", "claim"], N, p=[0.9, 0.1])
    person = pa.array([None if i % 997 == 0 else f"P{p:03d}" for i, p in enumerate(rng.integers(0, 300, N))])
    day = np.datetime64("2024-01-01") + rng.integers(0, 731, N).astype("timedelta64[D]")
    day[::7] = np.datetime64("2025-03-01")  # many rows on one day: the (row_kind, row_id) tie-break decides
    a, b, c, u = (rng.integers(0, hi, N) for hi in (400_000, 200_000, 50_000, 20_000))
    base = pa.table({
        "row_id": pa.array([f"R{i:05d}" for i in rng.permutation(N)]), "row_kind": pa.array(kind),
        "person_id": person, "scheme": pa.array(rng.choice(["employee", "resident"], N)),
        "setting": pa.array(rng.choice(["inpatient", "outpatient"], N, p=[0.3, 0.7])),
        "principal_dx": pa.array(rng.choice(["K80.1", "E11.900", "J06.9", "I10.x"], N)),
        "level": pa.array(rng.integers(0, 4, N).astype(np.int32)), "order_date": pa.array(day.astype("datetime64[D]")),
        "total_cost": _money(a + b + c + u), "class_a": _money(a), "class_b": _money(b),
        "class_b_self_pay": _money(b // 10), "class_c": _money(c), "unlisted": _money(u),
        "booked_fund": _money(rng.integers(0, 300_000, N)), "catalogue_region": pa.array(["440200"] * N),
        "insured_region": pa.array(rng.choice(["440200", "440100"], N, p=[0.9, 0.1])),
    })
    assert tuple(base.column_names) == BASE_COLUMNS
    db = duckdb.connect()
    db.register("base", base)
    return db


@pytest.mark.parametrize("unlisted", ["A", "C"])
def test_same_table_as_the_window_functions(con, unlisted):
    pol = PARAMS.load(None, overrides={"benefit": {"unlisted_class": unlisted, "cap": {
        "employee": {"pooling": "20000.00", "outpatient": "3000.00"},
        "resident": {"pooling": "15000.00", "outpatient": "800.00"}}}})
    new = calculate(con, "base", pol)
    old = query_arrow(con, _core_sql("base", pol) + " ORDER BY row_kind, row_id")
    assert new.num_rows == old.num_rows == N
    assert new.column_names == list(RESULT_COLUMNS)
    for c in RESULT_COLUMNS:
        assert new.column(c).type == old.column(c).type, c
        assert new.column(c).to_pylist() == old.column(c).to_pylist(), c
    assert pc.sum(pc.greater(new.column("over_cap"), 0)).as_py() > 50  # the caps bite
    assert pc.sum(pc.greater(new.column("deductible_before"), 0)).as_py() > 50  # per-year deductibles carry over


def test_a_narrow_result_is_the_same_columns(con):
    pol = PARAMS.load(None)
    full = calculate(con, "base", pol)
    narrow = calculate(con, "base", pol, columns=("row_id", "row_kind", "fund_computed", "difference"))
    assert narrow.column_names == ["row_id", "row_kind", "fund_computed", "difference"]
    assert narrow.equals(full.select(narrow.column_names))
