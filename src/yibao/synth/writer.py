"""Write contract tables as CSV (text formatted by us, exact money) or Parquet (types of ``Table.arrow_schema``).

Column values come in neutral forms, one per column kind:

- id / text / enum / icd10 / icd9: a pyarrow string array (nulls = blank) or a numpy object array;
- icd10_list / icd9_list / prefix_list: a pyarrow ``list<string>`` array;
- money (fen), quantity (1/100 unit), ratio (1/10000), date (days since 1970-01-01), int: int64 numpy arrays
  with :data:`NULL` for missing;
- flag: a numpy bool array.

CSV: UTF-8 without BOM, header row, ``,`` separator, ``\\n`` line ends, no quoting (values never contain the
separator, a quote or a line break; pyarrow refuses to write one that does), money as ``1234.50``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from yibao.contract.schema import TABLES, Table

NULL = np.int64(-(2**62))
BATCH_ROWS = 1_000_000


def _mask(a: np.ndarray) -> np.ndarray | None:
    m = a == NULL
    return m if m.any() else None


def _fixed_point_text(v: np.ndarray, scale: int, min_decimals: int) -> pa.Array:
    """Exact decimal text of ``v / 10**scale`` with at least ``min_decimals`` decimals (trailing zeros trimmed)."""
    mask = _mask(v)
    vv = np.where(mask, 0, v) if mask is not None else v
    whole = pc.cast(pa.array(vv // 10**scale), pa.string())
    frac = pc.utf8_lpad(pc.cast(pa.array(vv % 10**scale), pa.string()), scale, "0")
    if min_decimals < scale:
        trimmed = pc.utf8_rtrim(frac, "0")
        short = pc.less(pc.utf8_length(trimmed), min_decimals)
        frac = pc.if_else(short, pc.utf8_slice_codeunits(frac, 0, min_decimals), trimmed)
    dot = pc.if_else(pc.equal(pc.utf8_length(frac), 0), "", ".")
    out = pc.binary_join_element_wise(whole, dot, frac, "")
    if mask is not None:
        out = pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), out)
    return out


def _decimal(v: np.ndarray, precision: int, scale: int, factor: int = 1) -> pa.Array:
    """Decimal array from unscaled int64 values (``factor`` rescales them to ``scale``)."""
    mask = _mask(v)
    vv = (np.where(mask, 0, v) if mask is not None else v).astype(np.int64) * factor
    limbs = np.empty((len(vv), 2), np.int64)
    limbs[:, 0] = vv
    limbs[:, 1] = vv >> 63
    arr = pa.Array.from_buffers(pa.decimal128(precision, scale), len(vv),
                                [None, pa.py_buffer(limbs.tobytes())])
    if mask is not None:
        arr = pc.if_else(pa.array(mask), pa.scalar(None, arr.type), arr)
    return arr


def _as_string(v) -> pa.Array:
    return v if isinstance(v, (pa.Array, pa.ChunkedArray)) else pa.array(v, pa.string())


def _csv_column(kind: str, v) -> pa.Array:
    if kind in ("money",):
        return _fixed_point_text(v, 2, 2)
    if kind == "quantity":
        return _fixed_point_text(v, 2, 0)
    if kind == "ratio":
        return _fixed_point_text(v, 4, 2)
    if kind == "date":
        return pa.array(v.astype(np.int32), pa.date32(), mask=_mask(v))
    if kind == "int":
        return pa.array(v, pa.int64(), mask=_mask(v))
    if kind == "flag":
        return pa.array(v.astype(np.int8))
    if kind.endswith("_list"):
        return pc.binary_join(v, "|")
    return _as_string(v)


def _parquet_column(kind: str, v, typ: pa.DataType) -> pa.Array:
    if kind == "money":
        return _decimal(v, typ.precision, typ.scale)
    if kind == "quantity":
        return _decimal(v, typ.precision, typ.scale, 100)
    if kind == "ratio":
        return _decimal(v, typ.precision, typ.scale)
    if kind == "date":
        return pa.array(v.astype(np.int32), pa.date32(), mask=_mask(v))
    if kind == "int":
        return pa.array(v, pa.int32(), mask=_mask(v))
    if kind == "flag":
        return pa.array(v, pa.bool_())
    if kind.endswith("_list"):
        return v
    return _as_string(v)


def _slice(v, lo: int, hi: int):
    return v.slice(lo, hi - lo) if isinstance(v, (pa.Array, pa.ChunkedArray)) else v[lo:hi]


def write_table(out_dir: Path, name: str, cols: dict, fmt: str = "csv",
                progress: Callable[[str, int], None] | None = None) -> int:
    """Write one contract table; returns the number of rows."""
    table: Table = TABLES[name]
    names = table.column_names
    missing = set(names) - set(cols)
    if missing:
        raise ValueError(f"{name}: columns missing {sorted(missing)}")
    n = len(cols[names[0]])
    path = Path(out_dir) / f"{name}.{'csv' if fmt == 'csv' else 'parquet'}"
    if fmt == "csv":
        with open(path, "wb") as f:
            f.write((",".join(names) + "\n").encode())
            writer = None
            for lo in range(0, max(n, 1), BATCH_ROWS):
                hi = min(n, lo + BATCH_ROWS)
                batch = pa.table({c.name: _csv_column(c.kind, _slice(cols[c.name], lo, hi)) for c in table.columns})
                if writer is None:
                    writer = pacsv.CSVWriter(f, batch.schema, write_options=pacsv.WriteOptions(
                        include_header=False, quoting_style="none", delimiter=","))
                if hi > lo:
                    writer.write_table(batch)
                if progress:
                    progress(name, hi)
            if writer is not None:
                writer.close()
    elif fmt == "parquet":
        schema = table.arrow_schema()
        with pq.ParquetWriter(path, schema) as writer:
            for lo in range(0, max(n, 1), BATCH_ROWS):
                hi = min(n, lo + BATCH_ROWS)
                arrays = [_parquet_column(c.kind, _slice(cols[c.name], lo, hi), schema.field(c.name).type)
                          for c in table.columns]
                writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
                if progress:
                    progress(name, hi)
    else:
        raise ValueError(f"unknown format {fmt!r} (csv or parquet)")
    return n
