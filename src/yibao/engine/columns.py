"""Whole-column helpers for Arrow-function steps (docs/adr/0004-arrow-steps.md): codes for distinct values,
first rows, exact decimals through their integer units. NumPy and Arrow kernels only — no Python per row.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def codes(col: pa.Array | pa.ChunkedArray | np.ndarray) -> tuple[np.ndarray, pa.Array]:
    """Dictionary codes of a column (equal values, equal codes, numbered in order of first appearance; -1 for
    a null) and its distinct values in code order."""
    if isinstance(col, np.ndarray):
        col = pa.array(col)
    enc = pc.dictionary_encode(col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col)
    return pc.fill_null(enc.indices, -1).to_numpy().astype(np.int64), enc.dictionary


def firsts(code: np.ndarray) -> np.ndarray:
    """The first row of each code, for codes numbered in order of first appearance (:func:`codes`): code k's
    first row is the k-th row whose code exceeds every code before it."""
    seen = np.maximum.accumulate(code)
    new = np.empty(len(code), dtype=bool)
    new[:1] = True
    new[1:] = seen[1:] > seen[:-1]
    return np.flatnonzero(new)


def unscaled(col: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """A DECIMAL(≤ 18, s) column's integer units (value × 10^s; 0 where null) and validity, read from its
    128-bit words (exact: every such value fits the low 64 bits)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if not pa.types.is_decimal128(arr.type) or arr.type.precision > 18:
        raise TypeError(f"expected DECIMAL(≤ 18, s), got {arr.type}")
    words = np.frombuffer(arr.buffers()[1], dtype=np.int64).reshape(-1, 2)[arr.offset:arr.offset + len(arr), 0]
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    return np.where(valid, words, 0), valid


def decimal(units: np.ndarray, valid: np.ndarray | None, typ: pa.DataType) -> pa.Array:
    """A DECIMAL array of type ``typ`` from integer units (|units| < 10^18) and validity (None: all valid): the
    128-bit words built directly (low word, sign extension)."""
    n = len(units)
    words = np.empty((n, 2), dtype=np.int64)
    words[:, 0] = units
    words[:, 1] = units >> 63
    if valid is None or valid.all():
        return pa.Array.from_buffers(typ, n, [None, pa.py_buffer(words)], null_count=0)
    bits = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(typ, n, [bits, pa.py_buffer(words)], null_count=int(n - valid.sum()))


def relabel(col: pa.Array | pa.ChunkedArray, labels: dict[str, str]) -> pa.Array | pa.ChunkedArray:
    """A text column with each value found in ``labels`` replaced by its label (others, and nulls, unchanged)."""
    keys = pa.array(list(labels), pa.string())
    at = pc.index_in(col, value_set=keys)
    return pc.if_else(pc.is_valid(at), pc.take(pa.array(list(labels.values()), pa.string()), at), col)
