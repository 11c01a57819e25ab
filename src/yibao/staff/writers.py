"""Plain output files of the staff capability (CSV in UTF-8, dates ``YYYY-MM-DD``, blank = not applicable)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from yibao.engine.csvfile import rows_csv
from yibao.engine.outdir import write_bytes_atomic


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    return v.isoformat() if hasattr(v, "isoformat") else str(v)


def write_csv(table: pa.Table, path: Path, bom: bool = False) -> Path:
    """Write ``table`` as CSV with a header row (``bom`` for files meant to be opened in Excel), whole or not at all
    (a temporary file renamed over ``path``); text that a spreadsheet would run is escaped."""
    cols = [table.column(n).to_pylist() for n in table.column_names]
    return write_bytes_atomic(Path(path), rows_csv(table.column_names, ([_cell(v) for v in row] for row in zip(*cols)),
                                                   bom=bom))


def write_status_csv(status: pa.Table, path: Path) -> Path:
    """The contract's ``yibao staff status`` output: staff_id,year_points,status,suspended_until,barred_until."""
    return write_csv(status.select(["staff_id", "year_points", "status", "suspended_until", "barred_until"]), path)
