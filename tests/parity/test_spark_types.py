"""Arrow ↔ Spark type conversion: contract types survive exactly; floating point is refused."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

pytest.importorskip("pyspark")
from yibao.engine.spark import arrow_schema, spark_schema, spark_type  # noqa: E402

SCHEMA = pa.schema([
    ("money", pa.decimal128(18, 2)), ("quantity", pa.decimal128(18, 4)), ("ratio", pa.decimal128(9, 4)),
    ("day", pa.date32()), ("n", pa.int32()), ("big", pa.int64()), ("flag", pa.bool_()),
    ("text", pa.string()), ("codes", pa.list_(pa.string())),
    ("issues", pa.list_(pa.struct([("code", pa.string()), ("amount", pa.decimal128(18, 2))]))),
])


def test_schema_round_trip():
    assert arrow_schema(spark_schema(SCHEMA)).equals(SCHEMA)
    assert spark_type(pa.large_string()).simpleString() == "string"
    assert spark_type(pa.decimal128(18, 2)).simpleString() == "decimal(18,2)"


@pytest.mark.parametrize("t", [pa.float64(), pa.float32(), pa.timestamp("us")])
def test_unsupported_types_are_refused(t):
    with pytest.raises(TypeError):
        spark_type(t)


@pytest.mark.spark
def test_values_round_trip_through_spark(spark):
    """Extreme decimals would lose digits through a float; they must come back bit for bit."""
    table = pa.table([
        [Decimal("9999999999999999.99"), Decimal("-0.01"), None],
        [Decimal("99999999999999.9999"), Decimal("0.0001"), None],
        [Decimal("99999.9999"), Decimal("0.1000"), None],
        [dt.date(1900, 2, 28), dt.date(2024, 2, 29), None],
        pa.array([2**31 - 1, -(2**31), None], pa.int32()),
        [2**63 - 1, -(2**63), None],
        [True, False, None],
        ["中文", "", None],
        [["a", None], [], None],
        [[{"code": "X", "amount": Decimal("0.01")}, None], [], None],
    ], schema=SCHEMA)
    df = spark.createDataFrame(table, schema=spark_schema(SCHEMA))
    assert df.schema == spark_schema(SCHEMA)
    back = df.toArrow().cast(arrow_schema(df.schema))
    assert back.equals(table)
