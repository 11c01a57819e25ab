"""The append-only ledger (一人一档): every event of every person, in the workspace.

Table ``staff_events`` in the workspace's DuckDB file; rows are only ever inserted. A status is
never stored: it is derived from the events dated on or before the date asked
(:mod:`yibao.staff.rules`), so the state on any past date can be asked again and a stored status
can never disagree with its events.

Event kinds (``kind``), with ``ref_id`` the business identifier:

=================== ==========================================================================
registration        登记备案 / re-registration (ref: ``staff:<id>`` from the staff table, or given)
notice              预先告知 of a proposed finding: points, basis, responsibility; ``detail.deadline``
review_requested    复核申请 by the person, before the deadline
expert_opinion      专家同行评议意见: ``detail.expert``, ``detail.opinion``
review_decided      复核决定: ``detail.outcome`` upheld / changed / cancelled
sanction            记分决定 — the decided finding; the only kind that scores
withdrawn           a finding cancelled on review (its ref_id never scores)
repair              修复: points_reduced, shorten_days
ext_suspension      暂停 decided in another region (imported; ``origin`` its region code)
ext_termination     终止 decided elsewhere; ``until`` = first day it may register again
=================== ==========================================================================

A corrected row (same ``kind`` and ``ref_id``, new content, e.g. a sanction reloaded with other
points) is a new event that supersedes the earlier one; the earlier stays in the record.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from yibao.contract.errors import BadOption
from yibao.contract.vocab import sql_str
from yibao.engine.runner import query_arrow
from yibao.engine.workspace import Workspace, actor, now
from yibao.staff.rules import EVENTS

LEDGER_DDL = [
    """CREATE TABLE IF NOT EXISTS staff_events (
        event_id BIGINT PRIMARY KEY, staff_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, day DATE NOT NULL,
        ref_id VARCHAR NOT NULL, institution_id VARCHAR, basis VARCHAR, responsibility VARCHAR, points BIGINT,
        fraud BOOLEAN, points_reduced BIGINT, shorten_days BIGINT, until DATE, origin VARCHAR,
        detail VARCHAR, recorded_at TIMESTAMPTZ, actor VARCHAR, source VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS staff_exchange_files (
        sha256 VARCHAR PRIMARY KEY, origin VARCHAR, file_version INTEGER, records BIGINT, new_events BIGINT,
        imported_at TIMESTAMPTZ, actor VARCHAR, file_name VARCHAR)""",
]
KINDS = ("registration", "notice", "review_requested", "expert_opinion", "review_decided", "sanction", "withdrawn",
         "repair", "ext_suspension", "ext_termination")
KIND_ZH = {
    "registration": "登记备案", "notice": "记分预先告知", "review_requested": "复核申请", "expert_opinion": "专家评议意见",
    "review_decided": "复核决定", "sanction": "记分决定", "withdrawn": "撤销记分", "repair": "修复",
    "ext_suspension": "外地暂停（联网）", "ext_termination": "外地终止（联网）",
}


class LedgerError(BadOption):
    """A ledger entry or procedure step the person's record does not allow with these arguments (a
    :class:`BadOption`: the user asked for it): one line naming what and why."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")


COLUMNS = ("event_id", "staff_id", "kind", "day", "ref_id", "institution_id", "basis", "responsibility", "points",
           "fraud", "points_reduced", "shorten_days", "until", "origin", "detail", "recorded_at", "actor", "source")


def open_ledger(path: Path, read_only: bool = False) -> Workspace:
    ws = Workspace(path, read_only=read_only)
    if not read_only:
        with ws.transaction() as con:
            for ddl in LEDGER_DDL:
                con.execute(ddl)
    return ws


def has_ledger(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'staff_events'")
                .fetchall()[0][0])


@dataclass
class Entry:
    staff_id: str
    kind: str
    day: dt.date
    ref_id: str
    institution_id: str | None = None
    basis: str | None = None
    responsibility: str | None = None
    points: int | None = None
    fraud: bool | None = None
    points_reduced: int | None = None
    shorten_days: int | None = None
    until: dt.date | None = None
    origin: str | None = None
    detail: dict | None = None
    source: str = "cli"


def append(con: duckdb.DuckDBPyConnection, entries: list[Entry], who: str | None = None) -> int:
    """Insert ``entries`` (inside the caller's transaction); returns how many."""
    if not entries:
        return 0
    first = con.execute("SELECT coalesce(max(event_id), 0) + 1 FROM staff_events").fetchall()[0][0]
    at, by = now(), who or actor()
    rows = {c: [] for c in COLUMNS}
    for i, e in enumerate(entries):
        if e.kind not in KINDS:
            raise ValueError(f"unknown ledger kind {e.kind!r}")
        vals = (first + i, e.staff_id, e.kind, e.day, e.ref_id, e.institution_id, e.basis, e.responsibility, e.points,
                e.fraud, e.points_reduced, e.shorten_days, e.until, e.origin,
                json.dumps(e.detail, ensure_ascii=False, sort_keys=True) if e.detail else None, at, by, e.source)
        for c, v in zip(COLUMNS, vals):
            rows[c].append(v)
    t = pa.table({
        "event_id": pa.array(rows["event_id"], pa.int64()), "staff_id": pa.array(rows["staff_id"], pa.string()),
        "kind": pa.array(rows["kind"], pa.string()), "day": pa.array(rows["day"], pa.date32()),
        "ref_id": pa.array(rows["ref_id"], pa.string()), "institution_id": pa.array(rows["institution_id"], pa.string()),
        "basis": pa.array(rows["basis"], pa.string()), "responsibility": pa.array(rows["responsibility"], pa.string()),
        "points": pa.array(rows["points"], pa.int64()), "fraud": pa.array(rows["fraud"], pa.bool_()),
        "points_reduced": pa.array(rows["points_reduced"], pa.int64()),
        "shorten_days": pa.array(rows["shorten_days"], pa.int64()), "until": pa.array(rows["until"], pa.date32()),
        "origin": pa.array(rows["origin"], pa.string()), "detail": pa.array(rows["detail"], pa.string()),
        "recorded_at": pa.array(rows["recorded_at"], pa.timestamp("us", tz="UTC")),
        "actor": pa.array(rows["actor"], pa.string()), "source": pa.array(rows["source"], pa.string()),
    })
    con.register("_new_events", t)
    con.execute(f"INSERT INTO staff_events ({', '.join(COLUMNS)}) SELECT {', '.join(COLUMNS)} FROM _new_events")
    con.unregister("_new_events")
    return len(entries)


# --------------------------------------------------------------------------- from the loaded contract tables

_SYNC_SQL = """
    WITH incoming AS (
        SELECT staff_id, 'registration' AS kind, registered_on AS day, 'staff:' || staff_id AS ref_id, institution_id,
               NULL AS basis, NULL AS responsibility, NULL::BIGINT AS points, NULL::BOOLEAN AS fraud,
               NULL::BIGINT AS points_reduced, NULL::BIGINT AS shorten_days, 'workspace:staff' AS source
        FROM staff
        UNION ALL
        SELECT staff_id, 'sanction', decided_on, sanction_id, institution_id, basis, responsibility, points::BIGINT,
               coalesce(fraud, FALSE), NULL, NULL, 'workspace:sanctions' FROM sanctions
        UNION ALL
        SELECT staff_id, 'repair', decided_on, repair_id, NULL, NULL, NULL, NULL, NULL, points_reduced::BIGINT,
               shorten_days::BIGINT, 'workspace:repairs' FROM repairs
    ), latest AS (
        SELECT * FROM staff_events QUALIFY row_number() OVER (PARTITION BY kind, ref_id ORDER BY event_id DESC) = 1
    )
    SELECT i.* FROM incoming AS i LEFT JOIN latest AS l ON l.kind = i.kind AND l.ref_id = i.ref_id
    WHERE l.event_id IS NULL OR l.staff_id IS DISTINCT FROM i.staff_id OR l.day IS DISTINCT FROM i.day
       OR l.institution_id IS DISTINCT FROM i.institution_id
       OR l.basis IS DISTINCT FROM i.basis OR l.responsibility IS DISTINCT FROM i.responsibility
       OR l.points IS DISTINCT FROM i.points OR l.fraud IS DISTINCT FROM i.fraud
       OR l.points_reduced IS DISTINCT FROM i.points_reduced OR l.shorten_days IS DISTINCT FROM i.shorten_days
    ORDER BY i.day, i.kind, i.ref_id
"""


def sync_from_workspace(ws: Workspace) -> int:
    """Append ledger events for loaded staff, sanctions and repairs not yet in the ledger (or changed).

    Running it twice appends nothing the second time. Sanctions loaded through ``yibao load``
    are decided findings (``decided_on``); findings going through the procedure are recorded by
    the procedure commands instead.
    """
    with ws.transaction() as con:
        new = query_arrow(con, _SYNC_SQL)
        entries = [Entry(r["staff_id"], r["kind"], r["day"], r["ref_id"], r["institution_id"], r["basis"],
                         r["responsibility"], r["points"], r["fraud"], r["points_reduced"], r["shorten_days"],
                         source=r["source"]) for r in new.to_pylist()]
        n = append(con, entries)
        if n:
            ws.log_event("staff_sync", {"events": n})
    return n


# --------------------------------------------------------------------------- to the rules

def effective_events_sql(staff_id: str | None = None) -> str:
    """The ledger as the rules read it: the latest version of each (kind, ref_id), withdrawn findings dropped."""
    who = f"AND staff_id = {sql_str(staff_id)}" if staff_id else ""
    return f"""
        WITH latest AS (
            SELECT * FROM staff_events
            WHERE kind IN ('registration', 'sanction', 'repair', 'ext_suspension', 'ext_termination', 'withdrawn') {who}
            QUALIFY row_number() OVER (PARTITION BY kind, ref_id ORDER BY event_id DESC) = 1
        )
        SELECT staff_id, kind, day, ref_id, event_id AS seq, institution_id, basis, responsibility, points, fraud,
               points_reduced, shorten_days, until, origin
        FROM latest
        WHERE kind <> 'withdrawn'
          AND NOT (kind = 'sanction' AND ref_id IN (SELECT ref_id FROM latest WHERE kind = 'withdrawn'))
        ORDER BY staff_id, day, seq"""


def ledger_events(con: duckdb.DuckDBPyConnection, staff_id: str | None = None) -> pa.Table:
    """The ledger's effective events as the rules' ``EVENTS`` table."""
    return query_arrow(con, effective_events_sql(staff_id)).cast(EVENTS)


def staff_events(con: duckdb.DuckDBPyConnection, staff_id: str) -> list[dict]:
    """Every event of one person, oldest first (the full record, superseded versions included)."""
    return query_arrow(con, f"""SELECT * FROM staff_events WHERE staff_id = {sql_str(staff_id)}
                                ORDER BY day, event_id""").to_pylist()


_CONTRACT_EVENTS_SQL = """
    SELECT staff_id, 'registration' AS kind, registered_on AS day, 'staff:' || staff_id AS ref_id, 0::BIGINT AS seq,
           institution_id, NULL AS basis, NULL AS responsibility, NULL::BIGINT AS points, NULL::BOOLEAN AS fraud,
           NULL::BIGINT AS points_reduced, NULL::BIGINT AS shorten_days, NULL::DATE AS until, NULL AS origin FROM staff
    UNION ALL
    SELECT staff_id, 'sanction', decided_on, sanction_id, 0, institution_id, basis, responsibility, points::BIGINT,
           coalesce(fraud, FALSE), NULL, NULL, NULL, NULL FROM sanctions
    UNION ALL
    SELECT staff_id, 'repair', decided_on, repair_id, 0, NULL, NULL, NULL, NULL, NULL, points_reduced::BIGINT,
           shorten_days::BIGINT, NULL, NULL FROM repairs
"""


def workspace_events(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Read-only view of a workspace's events: the ledger (when there is one) plus loaded rows not yet in it.

    Rows of the contract tables ``staff``, ``sanctions``, ``repairs`` count as decided events
    until ``yibao staff sync`` copies them into the ledger; a row whose (kind, ref_id) is in the
    ledger is taken from the ledger (its latest version, or not at all when withdrawn).
    """
    if not has_ledger(con):
        return query_arrow(con, f"SELECT * FROM ({_CONTRACT_EVENTS_SQL}) ORDER BY staff_id, day, ref_id").cast(EVENTS)
    return query_arrow(con, f"""
        WITH l AS ({effective_events_sql()}),
             known AS (SELECT DISTINCT kind, ref_id FROM staff_events),
             c AS ({_CONTRACT_EVENTS_SQL})
        SELECT * FROM l
        UNION ALL
        SELECT c.* FROM c ANTI JOIN known AS k ON k.kind = c.kind AND k.ref_id = c.ref_id
        ORDER BY staff_id, day, seq, ref_id""").cast(EVENTS)
