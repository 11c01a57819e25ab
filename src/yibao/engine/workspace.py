"""The workspace (工作区): a region's data in one embedded DuckDB database file.

Layout of a workspace directory (default ``./yibao-data/``)::

    yibao.duckdb     contract tables, ``quarantine``, ``loads``, ``load_files``, ``events``

The workspace holds personal information (身份证号, names): its directory is created ``0700`` and the
database and its write-ahead log ``0600`` (owner only), whatever the process umask; quarantine exports
are written ``0600`` too (:func:`open_private`).

Every write happens inside one transaction: a crash, a Ctrl-C or a fatal error during a load
leaves the previous committed state exactly as it was (DuckDB's write-ahead log discards an
uncommitted transaction on the next open).
"""

from __future__ import annotations

import getpass
import json
import os
import re
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads

from yibao.contract.errors import BadOption, MissingData, WorkspaceBusy
from yibao.contract.schema import TABLES
from yibao.contract.validate import QUARANTINE_COLUMNS
from yibao.engine.runner import Runner, query_arrow
from yibao.engine.select import runner_for
from yibao.engine.wslock import connect_for_write, release_write

DB_FILE = "yibao.duckdb"
DEFAULT_WORKSPACE = Path("yibao-data")
DIR_MODE, FILE_MODE = 0o700, 0o600  # personal information: owner only
_PRIVATE_UMASK = 0o077


@contextmanager
def private_files() -> Iterator[None]:
    """Files created meanwhile (DuckDB's database, its WAL, spill files) are owner-only.

    The umask is process-wide: set for the duration only, and never looser than the caller's.
    """
    old = os.umask(_PRIVATE_UMASK)
    os.umask(old | _PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(old)


def make_private(path: Path) -> None:
    """Tighten a file this user owns to FILE_MODE (a workspace created before this rule, a WAL)."""
    try:
        if path.exists() and path.stat().st_mode & 0o077:
            os.chmod(path, FILE_MODE)
    except OSError:  # not ours: leave it, the directory protects it
        pass


def open_private(path: Path, mode: str = "w", **kw):
    """Open a file for writing, created (or truncated) with FILE_MODE: for exports holding personal information."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except OSError:  # pragma: no cover - a file system without modes
        pass
    return os.fdopen(fd, mode, **kw)

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
            raise MissingData(f"{self.path}: 工作区不存在（先运行 yibao load）")
        if not self.path.exists():
            self.path.mkdir(parents=True, exist_ok=True)
            os.chmod(self.path, DIR_MODE)
        self.read_only = read_only
        try:
            with private_files():
                if read_only:
                    self.con = duckdb.connect(str(self.db_path), read_only=True)
                else:  # waits for readers such as the server (yibao.engine.wslock)
                    self.con = connect_for_write(self.path, self.db_path)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            pid = re.search(r"\(PID (\d+)\)", str(exc))
            raise WorkspaceBusy(f"{self.path}: 工作区正被另一个进程使用"
                                + (f"（进程号 {pid.group(1)}）" if pid else "")
                                + "，请等它结束后再试") from None
        if not read_only:
            make_private(self.db_path)
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
        with private_files():
            self.con.execute("BEGIN TRANSACTION")
            try:
                yield self.con
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")
        make_private(self.db_path.with_name(self.db_path.name + ".wal"))

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

    def sources(self, names: tuple[str, ...] | list[str], engine: str = "duckdb") -> tuple[dict[str, object], Runner]:
        """The workspace's tables ``names`` as runner sources, and the runner to read them with.

        DuckDB reads the tables in place (each source is the table's qualified name, the runner works on this
        workspace's connection, so keep the workspace open while it runs); any other engine gets Arrow tables
        cast to the contract's schemas, read now (the workspace may be closed afterwards)."""
        unknown = [n for n in names if n not in TABLES]
        if unknown:
            raise ValueError(f"not contract tables: {unknown}")
        if engine == "duckdb":
            db = self.con.execute("SELECT current_database()").fetchall()[0][0]
            return {n: f'"{db}".main.{n}' for n in names}, runner_for("duckdb", con=self.con)
        runner = runner_for(engine)
        return {n: query_arrow(self.con, f"SELECT * FROM main.{n}").cast(TABLES[n].arrow_schema()) for n in names}, runner

    def close(self) -> None:
        self.con.close()
        if not self.read_only:
            release_write(self.path)

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- a Parquet region (``yibao load --engine spark --out DIR``; docs/scale.md §3) ----------------------------

PARQUET_REGION_FILE = "load.json"  # written last by the Spark loader: marks the directory and holds its counts
PARQUET_REGION_FORMAT = "yibao-parquet-region/1"


def is_parquet_region(path: Path | str) -> bool:
    """A directory written by ``yibao load --engine spark`` (its ``load.json`` names the format)."""
    f = Path(path) / PARQUET_REGION_FILE
    if not f.is_file():
        return False
    try:
        return json.loads(f.read_text(encoding="utf-8")).get("format") == PARQUET_REGION_FORMAT
    except (OSError, ValueError):
        return False


def parquet_region_table(path: Path | str, name: str) -> pa.Table:
    """One (small) table of a Parquet region read on this machine, in the contract's schema; empty when the load
    had no file for it (as an empty workspace table). For the large tables use :func:`parquet_sources`."""
    t = TABLES[name]
    d = Path(path) / name
    if not d.is_dir():
        return t.arrow_schema().empty_table()
    data = pads.dataset(d, format="parquet", partitioning="hive").to_table(columns=t.column_names)
    return data.cast(t.arrow_schema())


def parquet_sources(path: Path | str, names: tuple[str, ...] | list[str], engine: str) -> tuple[dict[str, object], Runner]:
    """A Parquet region's tables as runner sources: Spark DataFrames read where the files are (never through this
    machine), and the Spark runner. Only the Spark engine reads a Parquet region."""
    if engine != "spark":
        raise BadOption(f"{path}: 这是 Parquet 数据目录（yibao load --engine spark 的输出），请用 --engine spark 读取；"
                        "用 DuckDB 请先 yibao load 到工作区")
    unknown = [n for n in names if n not in TABLES]
    if unknown:
        raise ValueError(f"not contract tables: {unknown}")
    runner = runner_for("spark")
    return {n: runner.parquet_table(Path(path), n) for n in names}, runner
