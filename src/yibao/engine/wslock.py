"""Sharing a workspace between a writer (``yibao load``, staff commands) and readers (the server).

DuckDB lets one process write a database file or several processes read it, never both at once:
opening it while another process holds the other kind of lock fails at once. The rules here keep
both sides working:

- a writer first announces itself in ``WS/.writer`` (its pid), then retries opening for up to
  ``YIBAO_LOCK_WAIT`` seconds (default :data:`WRITE_WAIT_SECONDS`) while readers finish;
- a reader that must not fail (the server, which opens the workspace read-only for each request
  and closes it at once) waits while a live writer is announced or holds the lock, up to its own
  limit, then gives up with :class:`~yibao.contract.errors.WorkspaceBusy`.

The announcement is removed when the writer closes the workspace; one left by a process that died
is ignored (its pid is no longer alive).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb

from yibao.contract.errors import WorkspaceBusy

WRITER_FILE = ".writer"
WRITE_WAIT_SECONDS = 60.0   # how long a writer waits for readers (YIBAO_LOCK_WAIT overrides)
POLL_SECONDS = 0.05


def _is_lock_error(exc: Exception) -> bool:
    return "lock" in str(exc).lower()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (also when it belongs to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def writer_announced(workspace: Path) -> bool:
    """True while a live process has announced that it writes the workspace."""
    try:
        pid = int((Path(workspace) / WRITER_FILE).read_text().strip() or 0)
    except (OSError, ValueError):
        return False
    return pid > 0 and pid != os.getpid() and pid_alive(pid)


def connect_for_write(workspace: Path, db_path: Path) -> duckdb.DuckDBPyConnection:
    """Announce, then open ``db_path`` read-write, retrying while readers hold it."""
    marker = Path(workspace) / WRITER_FILE
    try:
        marker.write_text(str(os.getpid()))
    except OSError:
        marker = None
    wait = float(os.environ.get("YIBAO_LOCK_WAIT", WRITE_WAIT_SECONDS))
    deadline = time.monotonic() + wait
    while True:
        try:
            return duckdb.connect(str(db_path))
        except duckdb.IOException as exc:
            if not _is_lock_error(exc) or time.monotonic() >= deadline:
                release_write(workspace)
                raise
            time.sleep(POLL_SECONDS)
        except BaseException:
            release_write(workspace)
            raise


def release_write(workspace: Path) -> None:
    marker = Path(workspace) / WRITER_FILE
    try:
        if marker.read_text().strip() == str(os.getpid()):
            marker.unlink()
    except OSError:
        pass


def connect_for_read(db_path: Path, wait_seconds: float) -> duckdb.DuckDBPyConnection:
    """Open read-only, waiting while a writer is announced or holds the lock (then WorkspaceBusy)."""
    workspace = Path(db_path).parent
    deadline = time.monotonic() + wait_seconds
    while True:
        if not writer_announced(workspace):
            try:
                return duckdb.connect(str(db_path), read_only=True)
            except duckdb.IOException as exc:
                if not _is_lock_error(exc):
                    raise
        if time.monotonic() >= deadline:
            raise WorkspaceBusy("工作区正在装载或写入数据，请稍后再试")
        time.sleep(POLL_SECONDS)
