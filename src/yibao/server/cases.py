"""Reading the workspace for the API: one shared read-only DuckDB connection that gives way to writers.

Opening a DuckDB file costs tens of milliseconds, so the server keeps one read-only connection
(each request uses its own cursor on it). DuckDB does not let another process write the file while
it is open, so a watcher thread closes the connection as soon as a writer announces itself
(``WS/.writer``, :mod:`yibao.engine.wslock`) and no request is using it; requests that arrive
meanwhile wait (up to ``wait_seconds``, then 503) and reopen the file once the writer is done —
and so see what it wrote.
"""

from __future__ import annotations

import datetime as dt
import threading
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Iterator

import duckdb

from yibao.contract.errors import WorkspaceBusy
from yibao.contract.schema import TABLES
from yibao.engine.workspace import DB_FILE
from yibao.engine.wslock import POLL_SECONDS, connect_for_read, writer_announced

CASE_COLUMNS = [c.name for c in TABLES["cases"].columns]


class WorkspaceReader:
    def __init__(self, workspace: Path, wait_seconds: float) -> None:
        self.workspace = Path(workspace)
        self.db = self.workspace / DB_FILE
        self.wait_seconds = wait_seconds
        self._con: duckdb.DuckDBPyConnection | None = None
        self._in_use = 0
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="yibao-ws-watcher", daemon=True)
        self._watcher.start()

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """A cursor on the workspace (None when it has no database yet)."""
        with self._cv:
            if self._con is not None and writer_announced(self.workspace):  # give way: no new user of it
                if not self._cv.wait_for(lambda: self._in_use == 0, timeout=self.wait_seconds):
                    raise WorkspaceBusy("工作区正在装载或写入数据，请稍后再试")
                self._release()
            if self._con is None:
                if not self.db.exists():
                    yield None
                    return
                self._con = connect_for_read(self.db, self.wait_seconds)  # waits for an announced writer
            self._in_use += 1
            con = self._con
        try:
            cur = con.cursor()
            try:
                yield cur
            finally:
                cur.close()
        finally:
            with self._cv:
                self._in_use -= 1
                self._cv.notify_all()

    def _watch(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            if self._con is not None and writer_announced(self.workspace):
                with self._cv:
                    if not self._cv.wait_for(lambda: self._in_use == 0, timeout=self.wait_seconds):
                        continue
                    self._release()

    def _release(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def close(self) -> None:
        self._stop.set()
        with self._cv:
            self._release()


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


_CASE_SQL = f"""SELECT {", ".join(f"c.{c}" for c in CASE_COLUMNS)},
                       i.name AS person_name, i.id_number AS person_id_number
                FROM cases c LEFT JOIN insured i ON i.person_id = c.person_id
                WHERE c.case_id = ? LIMIT 1"""


def read_case(reader: WorkspaceReader, case_id: str) -> dict | None:
    """The case's contract columns plus ``person_name`` and ``person_id_number`` (clear), or None."""
    with reader.cursor() as cur:
        if cur is None:
            return None
        try:
            res = cur.execute(_CASE_SQL, [case_id])
        except duckdb.CatalogException:  # a workspace without the tables yet
            return None
        row = res.fetchone()
        if row is None:
            return None
        return {d[0]: _cell(v) for d, v in zip(res.description, row)}


__all__ = ["WorkspaceBusy", "WorkspaceReader", "read_case"]
