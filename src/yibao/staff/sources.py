"""Events from a region directory: ``staff``, ``sanctions`` and ``repairs`` read with the contract readers.

The files are read by :mod:`yibao.contract.readers` (CSV in UTF-8/BOM/GB18030, Parquet, .xlsx)
and checked by :mod:`yibao.contract.validate` like a load; a row that fails (bad date, blank
key, a sanction of an unknown staff member …) is not used and is reported with its reason code
and Chinese message. A file that cannot be read at all raises ``FatalLoadError`` (a ``BadFile``; one line).

``staff.registered_on`` becomes a ``registration`` event: when it lies on or after a
termination's bar end it is the re-registration that ends the termination.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

from yibao.contract.derived import QUALIFICATION_PERIODS
from yibao.contract.errors import BadFile, MissingData
from yibao.contract.readers import find_file, read_table
from yibao.contract.schema import REPAIRS, SANCTIONS, STAFF
from yibao.contract.validate import validate
from yibao.engine.runner import query_arrow
from yibao.engine.workspace import DB_FILE, is_parquet_region, parquet_region_table
from yibao.staff.ledger import workspace_events
from yibao.staff.policy import StaffPolicy, load_policy
from yibao.staff.rules import EVENTS, derive


@dataclass
class DirEvents:
    events: pa.Table                     # EVENTS
    staff_ids: list[str]                 # every accepted staff row, sorted
    invalid: list[tuple[str, int, str, str]] = field(default_factory=list)  # (table, row, code, message)
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)       # table → (read, accepted)


_EVENT_SQL = {
    "staff": """SELECT staff_id, 'registration' AS kind, registered_on AS day, 'staff:' || staff_id AS ref_id,
                       0::BIGINT AS seq, institution_id, NULL AS basis, NULL AS responsibility, NULL::BIGINT AS points,
                       NULL::BOOLEAN AS fraud, NULL::BIGINT AS points_reduced, NULL::BIGINT AS shorten_days,
                       NULL::DATE AS until, NULL AS origin FROM stage_staff""",
    "sanctions": """SELECT staff_id, 'sanction', decided_on, sanction_id, 0::BIGINT, institution_id, basis, responsibility,
                           points::BIGINT, coalesce(fraud, FALSE), NULL::BIGINT, NULL::BIGINT, NULL::DATE, NULL
                    FROM stage_sanctions""",
    "repairs": """SELECT staff_id, 'repair', decided_on, repair_id, 0::BIGINT, NULL, NULL, NULL, NULL::BIGINT, NULL::BOOLEAN,
                         points_reduced::BIGINT, shorten_days::BIGINT, NULL::DATE, NULL FROM stage_repairs""",
}


def read_dir(data_dir: Path) -> DirEvents:
    """The events of a region directory (staff required; sanctions and repairs absent = none)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise BadFile(f"{data_dir}: 目录不存在")
    paths = {t.name: find_file(data_dir, t.name) for t in (STAFF, SANCTIONS, REPAIRS)}
    if paths["staff"] is None:
        raise MissingData(f"{data_dir}: 缺少 staff 表（staff.csv、staff.parquet 或 staff.xlsx）")
    raws = {name: read_table(p, {"staff": STAFF, "sanctions": SANCTIONS, "repairs": REPAIRS}[name])
            for name, p in paths.items() if p is not None}
    con = duckdb.connect()
    try:
        invalid: list = []
        counts: dict = {}
        parts = []
        for name in ("staff", "sanctions", "repairs"):
            if name not in raws:
                continue
            refs = {"staff": "(SELECT staff_id FROM stage_staff)"} if name != "staff" else {}
            v = validate(con, raws[name], refs)
            counts[name] = (v.read, v.accepted)
            for row, code, msg in con.execute(
                    f"SELECT source_row, reason_code, message FROM {v.quarantine_relation} ORDER BY source_row").fetchall():
                invalid.append((name, row, code, msg))
            parts.append(_EVENT_SQL[name])
        events = query_arrow(con, " UNION ALL ".join(parts)).rename_columns(EVENTS.names).cast(EVENTS)
        staff_ids = [r[0] for r in con.execute("SELECT staff_id FROM stage_staff ORDER BY staff_id").fetchall()]
        return DirEvents(events, staff_ids, invalid, counts)
    finally:
        con.close()


def qualification_periods(events: pa.Table, pol: StaffPolicy | None = None,
                          as_of: dt.date | None = None) -> pa.Table:
    """Periods without payment qualification in the exact schema ``QUALIFICATION_PERIODS``.

    ``status`` 'suspended' or 'terminated'; ``start_date`` inclusive; ``end_date`` exclusive, NULL
    for a termination not (yet) ended by a re-registration; ``source_id`` the sanction (or
    ledger event) that started or last extended the period; ``emergency_paid`` whether emergency
    services during it are still settled (``staff.emergency_paid_statuses``). Sorted by staff, start, status.
    """
    pol = pol or load_policy()
    d = derive(events, pol, as_of)
    p = d.periods
    paid = pa.compute.is_in(p.column("status"), pa.array(list(pol.emergency_paid_statuses), pa.string()))
    p = p.append_column("emergency_paid", paid)  # staff.emergency_paid_statuses (seed 001: suspension only)
    return p.select(QUALIFICATION_PERIODS.names).cast(QUALIFICATION_PERIODS)


def periods_from_dir(data_dir: Path, pol: StaffPolicy | None = None) -> pa.Table:
    """QUALIFICATION_PERIODS of a region directory (its staff, sanctions and repairs files)."""
    return qualification_periods(read_dir(data_dir).events, pol)


def periods_from_workspace(workspace: Path, pol: StaffPolicy | None = None) -> pa.Table:
    """QUALIFICATION_PERIODS of a workspace, opened read-only: its ledger (procedure decisions,
    periods imported from other regions) plus the loaded staff/sanctions/repairs rows."""
    if is_parquet_region(workspace):  # yibao load --engine spark: the loaded rows (no ledger there)
        return qualification_periods(parquet_region_events(Path(workspace)), pol)
    db = Path(workspace) / DB_FILE
    if not db.is_file():
        raise MissingData(f"{workspace}: 工作区不存在（先运行 yibao load）")
    con = duckdb.connect(str(db), read_only=True)
    try:
        events = workspace_events(con)
    finally:
        con.close()
    return qualification_periods(events, pol)


def parquet_region_events(region: Path) -> pa.Table:
    """The events of a Parquet region (``yibao load --engine spark``): its staff, sanctions and repairs rows, read as
    :func:`workspace_events` reads a workspace without a ledger (the tables are small: read here)."""
    con = duckdb.connect()
    try:
        for name in ("staff", "sanctions", "repairs"):
            con.register(f"_{name}", parquet_region_table(region, name))
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM _{name}")
            con.unregister(f"_{name}")
        return workspace_events(con)
    finally:
        con.close()
