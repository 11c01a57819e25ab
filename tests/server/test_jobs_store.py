"""Background jobs in the store of record (migration 0005), on SQLite and on PostgreSQL: a job written
at every change is read back after its queue is gone; open jobs of a server that stopped or died become
interrupted (中断), never "running"."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

from sqlalchemy import inspect

from yibao.contract.errors import BadOption
from yibao.server.jobs import Job, Jobs
from yibao.store import jobs as stored
from yibao.store.db import open_store


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_migration_0005_creates_the_jobs_table(workspace, store_url) -> None:
    with open_store(workspace, store_url) as st:
        cols = [c["name"] for c in inspect(st.engine).get_columns("server_jobs")]
    assert cols == [c.name for c in stored.jobs.columns]


def test_a_finished_job_is_answered_by_a_new_queue(workspace, store_url) -> None:
    with open_store(workspace, store_url) as st:
        q1 = Jobs(st)
        ok = q1.submit("period.run", "agency1", lambda progress: (progress(0.4, "汇总"), {"period_id": 7})[1])
        bad = q1.submit("period.run", "agency1", lambda progress: (_ for _ in ()).throw(BadOption("月份 13 无效")))
        for j in (ok, bad):
            while q1.get(j.job_id).status in ("queued", "running"):
                threading.Event().wait(0.02)
        q1.close()
        q2 = Jobs(st)  # a restarted server: nothing in memory
        a, b = q2.get(ok.job_id).view(), q2.get(bad.job_id).view()
        q2.close()
    assert (a["status"], a["progress"], a["step"], a["result"]) == ("done", 1.0, "完成", {"period_id": 7})
    assert (b["status"], b["status_zh"], b["error"]) == ("failed", "失败", {"code": "refused", "message": "月份 13 无效"})
    assert a["owner"] == "agency1" and a["finished_at"] >= a["started_at"] >= a["created_at"]


def test_open_jobs_of_a_stopped_or_dead_server_become_interrupted(workspace, store_url) -> None:
    host = socket.gethostname()
    with open_store(workspace, store_url) as st:
        dead = Job("deadjob", "period.run", "agency1", "running", 0.25, "汇总病例并计算（DIP）")
        queued = Job("queuedjob", "period.run", "agency1")
        other = Job("otherhost", "period.run", "agency1", "running", 0.5, "x")
        done = Job("donejob", "period.run", "agency1", "done", 1.0, "完成", result={"period_id": 1})
        stored.save(st, dead.row(f"{host}:{_dead_pid()}"))
        stored.save(st, queued.row(f"{host}:{_dead_pid()}"))
        stored.save(st, other.row("another-host.example:1"))  # maybe alive: left alone
        stored.save(st, done.row(f"{host}:{_dead_pid()}"))
        q = Jobs(st)  # a server starting
        got = {j: q.get(j).view() for j in ("deadjob", "queuedjob", "otherhost", "donejob")}
        # this server's own open job at an orderly stop
        release = threading.Event()
        mine = q.submit("period.run", "agency1", lambda progress: (progress(0.1, "等待"), release.wait(30), {})[2])
        while q.get(mine.job_id).status != "running":
            threading.Event().wait(0.02)
        q.close()
        release.set()
        after = Jobs(st).get(mine.job_id).view()
    for j in ("deadjob", "queuedjob"):
        assert (got[j]["status"], got[j]["status_zh"], got[j]["error"]["code"]) == ("interrupted", "中断", "interrupted")
        assert "任务已中断" in got[j]["error"]["message"] and got[j]["finished_at"]
    assert got["deadjob"]["progress"] == 0.25  # how far it got
    assert got["otherhost"]["status"] == "running" and got["donejob"]["status"] == "done"
    assert (after["status"], after["step"]) == ("interrupted", "已中断")
