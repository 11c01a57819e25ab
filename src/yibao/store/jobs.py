"""Background jobs of the server in the store of record (后台任务, migration 0005).

The server's job queue (:mod:`yibao.server.jobs`) writes each job here when it is submitted and at
every change (started, progress, done / failed), so ``GET /api/jobs/{id}`` answers from the store
after a restart. A job has a ``server``: ``host:pid`` of the server process that runs it. A job that
was queued or running when its server stopped can never finish: when a server starts (or stops in
an orderly way) such jobs become ``interrupted`` (中断) with a Chinese message — never shown as still
running. What such a job had already committed (e.g. a period recorded as a draft) stays in the store.
"""

from __future__ import annotations

import json
import os
import socket

from sqlalchemy import CheckConstraint, Column, Index, Integer, String, Table, Text, select

from yibao.store.db import Store, now_iso
from yibao.store.schema import metadata

STATES = ("queued", "running", "done", "failed", "interrupted")
OPEN = ("queued", "running")
INTERRUPTED = {"code": "interrupted",
               "message": "服务在任务完成前停止，任务已中断（中断前已写入记录库的内容仍在，例如结算期草稿）；"
                          "请查看结算期列表，必要时重新提交"}

jobs = Table(
    "server_jobs", metadata,
    Column("job_id", String(32), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("owner", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("progress_permille", Integer, nullable=False),  # 0–1000 (an exact fraction, not a float)
    Column("step", Text, nullable=False),                  # the step's Chinese name
    Column("server", String(200), nullable=False),         # host:pid of the server process running it
    Column("created_at", String(40), nullable=False),
    Column("started_at", String(40)),
    Column("finished_at", String(40)),
    Column("result", Text),                                # JSON
    Column("error", Text),                                 # JSON {"code", "message"}
    Column("http_status", Integer),
    CheckConstraint("status IN ('queued', 'running', 'done', 'failed', 'interrupted')", name="ck_job_status"),
    CheckConstraint("progress_permille BETWEEN 0 AND 1000", name="ck_job_progress"),
    Index("ix_server_jobs_status", "status"),
)


def server_id() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(server: str) -> bool:
    """Whether the server process ``host:pid`` still runs (on this host; another host's: assumed alive)."""
    host, _, pid = server.rpartition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def save(store: Store, row: dict) -> None:
    """Insert or update one job (``row``: the table's columns; ``result``/``error`` as Python objects)."""
    values = {**row, "result": None if row.get("result") is None else json.dumps(row["result"], ensure_ascii=False,
                                                                                  default=str),
              "error": None if row.get("error") is None else json.dumps(row["error"], ensure_ascii=False)}
    with store.begin() as con:
        done = con.execute(jobs.update().where(jobs.c.job_id == values["job_id"]).values(**values)).rowcount
        if not done:
            con.execute(jobs.insert().values(**values))


def load(store: Store, job_id: str) -> dict | None:
    """One job as stored (``result``/``error`` decoded), or None."""
    with store.begin() as con:
        r = con.execute(select(jobs).where(jobs.c.job_id == job_id)).mappings().first()
    if r is None:
        return None
    return {**r, "result": None if r["result"] is None else json.loads(r["result"]),
            "error": None if r["error"] is None else json.loads(r["error"])}


def interrupt(store: Store, *, server: str | None = None, orphans: bool = False) -> list[str]:
    """Mark open (queued / running) jobs ``interrupted``: those of ``server`` (an orderly stop), and with
    ``orphans`` those whose server process is gone (a start after a crash or a kill). Returns their ids."""
    with store.begin() as con:
        rows = con.execute(select(jobs.c.job_id, jobs.c.server).where(jobs.c.status.in_(OPEN))).all()
        ids = [j for j, s in rows if s == server or (orphans and s != server_id() and not _alive(s))]
        if ids:
            con.execute(jobs.update().where(jobs.c.job_id.in_(ids), jobs.c.status.in_(OPEN))
                        .values(status="interrupted", step="已中断", finished_at=now_iso(), http_status=503,
                                error=json.dumps(INTERRUPTED, ensure_ascii=False)))
    return ids


__all__ = ["INTERRUPTED", "STATES", "interrupt", "jobs", "load", "save", "server_id"]
