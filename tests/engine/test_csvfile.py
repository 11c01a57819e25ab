"""CSV bytes over whole columns (:mod:`yibao.engine.csvfile`) are the bytes of Python's csv module, row by row."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from yibao.engine.csvfile import csv_bytes, csv_bytes_by_rows

TEXT = st.one_of(st.none(), st.text(alphabet=st.sampled_from(list('aZ0 .-|#é医保,"\n\r\t=+@5')), max_size=6))
MONEY = st.one_of(st.none(), st.decimals(min_value=Decimal("-99999999.99"), max_value=Decimal("99999999.99"),
                                         places=2, allow_nan=False, allow_infinity=False))
SCORE = st.one_of(st.none(), st.decimals(min_value=Decimal("-9999.9999"), max_value=Decimal("9999.9999"),
                                         places=4, allow_nan=False, allow_infinity=False))
ROW = st.tuples(TEXT, st.one_of(st.none(), st.integers(-2**40, 2**40)), st.one_of(st.none(), st.booleans()),
                MONEY, SCORE, st.one_of(st.none(), st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31))), TEXT)
SCHEMA = pa.schema([("s", pa.string()), ("n", pa.int64()), ("b", pa.bool_()), ("m", pa.decimal128(18, 2)),
                    ("p", pa.decimal128(18, 4)), ("d", pa.date32()), ("t", pa.string())])


def table(rows: list[tuple]) -> pa.Table:
    return pa.table([pa.array([r[i] for r in rows], f.type) for i, f in enumerate(SCHEMA)], schema=SCHEMA)


@settings(max_examples=300, deadline=None)
@given(st.lists(ROW, max_size=12), st.integers(0, 3))
def test_same_bytes_as_the_csv_module(rows, cut):
    t = table(rows)
    assert csv_bytes(t) == csv_bytes_by_rows(t)
    part = t.slice(min(cut, t.num_rows))  # offsets into the buffers
    assert csv_bytes(part, ["t", "m", "s"]) == csv_bytes_by_rows(part, ["t", "m", "s"])


def test_plain_table_takes_the_column_path_and_quoted_cells_the_row_path():
    plain = table([("A01", 1, True, Decimal("1.50"), Decimal("0.0001"), dt.date(2025, 1, 31), "x|y"),
                   (None, None, None, None, None, None, "")])
    assert csv_bytes(plain) == (
        "\ufeffs,n,b,m,p,d,t\nA01,1,true,1.50,0.0001,2025-01-31,x|y\n,,,,,,\n").encode("utf-8")
    quoted = table([('a,"b"', 1, False, Decimal("-0.05"), None, None, "line\nbreak")])
    assert csv_bytes(quoted) == ('\ufeffs,n,b,m,p,d,t\n"a,""b""",1,false,-0.05,,,"line\nbreak"\n').encode("utf-8")
