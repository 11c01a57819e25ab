"""The DIP scoring step's function (:mod:`yibao.dip.scoring`): its two arithmetic paths agree, its decimal
helpers are exact, and it scores a region the same whatever the order of the stays."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from yibao.dip.examples import scoring_fixture
from yibao.dip.keys import CASE_INPUT_SQL
from yibao.dip.scoring import CASE_POINTS, score_cases
from yibao.engine.columns import decimal, unscaled
from yibao.engine.runner import LocalRunner, query_arrow


def _inputs(sources: dict[str, pa.Table]) -> dict[str, pa.Table]:
    con = duckdb.connect()
    con.register("cases", sources["cases"])
    return {**{n: sources[n] for n in CASE_POINTS.broadcast}, "cases": query_arrow(con, CASE_INPUT_SQL)}


def test_numpy_and_duckdb_arithmetic_agree():
    """Stays of normal cost are scored in NumPy, the others in DuckDB; all through DuckDB gives the same table."""
    tables = _inputs(scoring_fixture())
    con = duckdb.connect()
    fast, slow = score_cases(tables, con), score_cases(tables, con, numpy=False)
    assert fast.equals(slow)
    deviations = set(fast.column("deviation").to_pylist())
    assert {"normal", "low", "extreme"} <= deviations  # both paths were taken


def test_numbers_beyond_64_bits_raise_never_wrap():
    """NumPy would wrap around silently past 2^63; such stays go to DuckDB, which refuses them as the SQL
    always did (a cost of 9 × 10^12 yuan: 2 × cost in fen × 10 000 passes 2^63)."""
    sources = scoring_fixture()
    cases = sources["cases"]
    i = cases.column_names.index("total_cost")
    costs = cases.column(i).to_pylist()
    k = next(j for j, c in enumerate(costs) if c)
    costs[k] = Decimal("9000000000000.00")
    sources["cases"] = cases.set_column(i, "total_cost", pa.array(costs, cases.schema.field(i).type))
    tables = _inputs(sources)
    con = duckdb.connect()
    for numpy in (True, False):
        with pytest.raises(duckdb.OutOfRangeException, match="Overflow"):
            score_cases(tables, con, numpy=numpy)


@pytest.mark.parametrize("typ", [pa.decimal128(18, 2), pa.decimal128(18, 4), pa.decimal128(9, 4)])
def test_decimal_units_round_trip(typ):
    values = [Decimal("0"), Decimal("1") / 10**typ.scale, Decimal("-1") / 10**typ.scale, None,
              Decimal(10**(typ.precision - typ.scale) - 1), -Decimal(10**(typ.precision - typ.scale) - 1)]
    arr = pa.array(values * 3, typ).slice(2, 13)  # an offset into the buffers
    units, valid = unscaled(arr)
    assert [None if not ok else u for u, ok in zip(units.tolist(), valid.tolist())] == [
        None if v is None else int(v.scaleb(typ.scale)) for v in arr.to_pylist()]
    back = decimal(units, valid, typ)
    assert back.equals(arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else pa.array(arr.to_pylist(), typ))
    assert decimal(np.array([5, -5], dtype=np.int64), None, typ).to_pylist() == [
        Decimal(5).scaleb(-typ.scale), Decimal(-5).scaleb(-typ.scale)]


def test_stay_order_and_slicing_do_not_matter():
    """Shuffled stays, and the stays handed over in several chunks, score to the same sorted table."""
    sources = scoring_fixture()
    cases = sources["cases"]
    shuffled = cases.take(pa.array(np.random.default_rng(7).permutation(cases.num_rows)))
    chunked = pa.concat_tables([shuffled.slice(0, 3), shuffled.slice(3)])
    runner = LocalRunner()
    want = runner.run(CASE_POINTS, sources)
    assert runner.run(CASE_POINTS, {**sources, "cases": chunked}).equals(want)
    assert want.column("case_id").to_pylist() == sorted(want.column("case_id").to_pylist())


def test_no_stays_gives_an_empty_typed_table():
    sources = scoring_fixture()
    out = LocalRunner().run(CASE_POINTS, {**sources, "cases": sources["cases"].slice(0, 0)})
    assert out.num_rows == 0 and out.schema.equals(CASE_POINTS.schema)
