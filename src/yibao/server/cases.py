"""Reading one case of the workspace for the API (DuckDB, read-only, opened per request)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from yibao.contract.schema import TABLES
from yibao.engine.workspace import DB_FILE
from yibao.engine.wslock import connect_for_read

CASE_COLUMNS = [c.name for c in TABLES["cases"].columns]


def _cell(v):
    """The contract's text form: money ``12.30``, dates ``YYYY-MM-DD``, lists ``a|b``, flags ``1``/``0``."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, Decimal):
        return f"{v:.2f}"
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, list):
        return "|".join(str(x) for x in v)
    return v


def read_case(workspace: Path, case_id: str, wait_seconds: float) -> dict | None:
    """The case's contract columns plus ``person_name`` and ``person_id_number`` (clear), or None."""
    db = Path(workspace) / DB_FILE
    if not db.exists():
        return None
    con = connect_for_read(db, wait_seconds)
    try:
        cols = ", ".join(f"c.{c}" for c in CASE_COLUMNS)
        cur = con.execute(f"""SELECT {cols}, i.name AS person_name, i.id_number AS person_id_number
                              FROM cases c LEFT JOIN insured i ON i.person_id = c.person_id
                              WHERE c.case_id = ? LIMIT 1""", [case_id])
        row = cur.fetchone()
        if row is None:
            return None
        names = [d[0] for d in cur.description]
        return {n: _cell(v) for n, v in zip(names, row)}
    finally:
        con.close()
