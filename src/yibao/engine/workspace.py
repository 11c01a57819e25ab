"""The workspace (工作区): a region's data in one embedded DuckDB database file.

Layout of a workspace directory (default ``./yibao-data/``)::

    yibao.duckdb     contract tables, ``quarantine``, ``loads``, ``load_files``, ``events``

Every write happens inside one transaction: a crash, a Ctrl-C or a fatal error during a load
leaves the previous committed state exactly as it was (DuckDB's write-ahead log discards an
uncommitted transaction on the next open).
"""

from __future__ import annotations

import getpass
import json
import os
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import duckdb

from yibao.contract.schema import TABLES
from yibao.contract.validate import QUARANTINE_COLUMNS
from yibao.engine.wslock import connect_for_write, release_write

DB_FILE = "yibao.duckdb"
DEFAULT_WORKSPACE = Path("yibao-data")

_META = [
    """CREATE TABLE IF NOT EXISTS quarantine ({cols})""".format(
        cols=", ".join(f"{n} {t}" for n, t in QUARANTINE_COLUMNS)),
    """CREATE TABLE IF NOT EXISTS loads (
        load_id BIGINT PRIMARY KEY, source_dir VARCHAR, actor VARCHAR,
        started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, yibao_version VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS load_files (
        load_id BIGINT, table_name VARCHAR, source_file VARCHAR, source_sha256 VARCHAR,
        encoding VARCHAR, read BIGINT, accepted BIGINT, quarantined BIGINT,
        inserted BIGINT, replaced BIGINT, ignored_columns VARCHAR[], missing_columns VARCHAR[])""",
    """CREATE TABLE IF NOT EXISTS events (
        event_id BIGINT, occurred_at TIMESTAMPTZ, actor VARCHAR, action VARCHAR, detail VARCHAR)""",
]


def actor() -> str:
    """Who acts (操作人): ``YIBAO_ACTOR`` or the login name."""
    try:
        return os.environ.get("YIBAO_ACTOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def now() -> datetime:
    return datetime.now(timezone.utc)


class Workspace:
    def __init__(self, path: Path | str = DEFAULT_WORKSPACE, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.db_path = self.path / DB_FILE
        if read_only and not self.db_path.exists():
            raise FileNotFoundError(f"{self.path}: 工作区不存在（先运行 yibao load）")
        self.path.mkdir(parents=True, exist_ok=True)
        self.read_only = read_only
        if read_only:
            self.con = duckdb.connect(str(self.db_path), read_only=True)
        else:  # waits for readers such as the server (yibao.engine.wslock)
            self.con = connect_for_write(self.path, self.db_path)
            self._ensure_schema()

    def _ensure_schema(self) -> None:
        with self.transaction() as con:
            for t in TABLES.values():
                con.execute(t.create_sql())
            for ddl in _META:
                con.execute(ddl)

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All or nothing: commit on success, roll back on any exception or interrupt."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def next_id(self, table: str, column: str) -> int:
        return self.con.execute(f"SELECT coalesce(max({column}), 0) + 1 FROM {table}").fetchall()[0][0]

    def log_event(self, action: str, detail: dict, who: str | None = None) -> None:
        """Append to the audit log (操作日志): who did what, when."""
        eid = self.next_id("events", "event_id")
        self.con.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
            [eid, now(), who or actor(), action, json.dumps(detail, ensure_ascii=False, sort_keys=True)],
        )

    def counts(self) -> dict[str, int]:
        return {n: self.con.execute(f"SELECT count(*) FROM {n}").fetchall()[0][0] for n in TABLES}

    def close(self) -> None:
        self.con.close()
        if not self.read_only:
            release_write(self.path)

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
