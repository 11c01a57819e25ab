"""Plain output files of the staff capability (CSV in UTF-8, dates ``YYYY-MM-DD``, blank = not applicable)."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    return v.isoformat() if hasattr(v, "isoformat") else str(v)


def write_csv(table: pa.Table, path: Path, bom: bool = False) -> Path:
    """Write ``table`` as CSV with a header row (``bom`` for files meant to be opened in Excel)."""
    path = Path(path)
    if path.parent != Path(""):
        path.parent.mkdir(parents=True, exist_ok=True)
    cols = [table.column(n).to_pylist() for n in table.column_names]
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(table.column_names)
        for row in zip(*cols):
            w.writerow([_cell(v) for v in row])
    return path


def write_status_csv(status: pa.Table, path: Path) -> Path:
    """The contract's ``yibao staff status`` output: staff_id,year_points,status,suspended_until,barred_until."""
    return write_csv(status.select(["staff_id", "year_points", "status", "suspended_until", "barred_until"]), path)
