"""Background jobs of the server (后台任务): long work runs off the request, with progress.

A route submits a function; the answer is ``202`` with the job (``GET /api/jobs/{id}`` to follow it).
Jobs run one at a time, in submission order, on one worker thread of the server process (a
settlement run reads the whole workspace: two at once would only compete for the same cores), so
the event loop and the request threads keep answering meanwhile. A job reports its progress as a
fraction and a Chinese step name; it ends ``done`` with a result or ``failed`` with an error in the
API's shape (``{"code", "message"}``; the code and status of a refused input, e.g. 409 when the
period was issued meanwhile).

Jobs are kept in the store of record (:mod:`yibao.store.jobs`, migration 0005): written when
submitted and at every change, so ``GET /api/jobs/{id}`` answers after a restart. A job cannot
outlive its server process: when the server stops, its queued and running jobs become
``interrupted`` (中断, with a Chinese message; the worker is a daemon thread, so a stop does not wait
for a long run, whose open transaction the database rolls back); when a server starts, the open jobs
of a server process that is gone (killed, crashed) are marked the same way. Finished jobs stay in
the store; in memory the server keeps the last :data:`KEEP`.
"""

from __future__ import annotations

import queue
import threading
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from yibao.contract.errors import YibaoError
from yibao.store import jobs as stored
from yibao.store.db import Store, now_iso

KEEP = 500
STATES_ZH = {"queued": "排队中", "running": "运行中", "done": "已完成", "failed": "失败", "interrupted": "中断"}


@dataclass
class Job:
    job_id: str
    kind: str
    owner: str
    status: str = "queued"
    progress: float = 0.0
    step: str = "排队中"
    created_at: str = field(default_factory=now_iso)
    started_at: str | None = None
    finished_at: str | None = None
    result: dict | None = None
    error: dict | None = None
    http_status: int | None = None

    def view(self) -> dict:
        return {"job_id": self.job_id, "kind": self.kind, "owner": self.owner, "status": self.status,
                "status_zh": STATES_ZH[self.status], "progress": round(self.progress, 3), "step": self.step,
                "created_at": self.created_at, "started_at": self.started_at, "finished_at": self.finished_at,
                "result": self.result, "error": self.error, "href": f"/api/jobs/{self.job_id}"}

    def row(self, server: str) -> dict:
        return {"job_id": self.job_id, "kind": self.kind, "owner": self.owner, "status": self.status,
                "progress_permille": int(round(self.progress * 1000)), "step": self.step, "server": server,
                "created_at": self.created_at, "started_at": self.started_at, "finished_at": self.finished_at,
                "result": self.result, "error": self.error, "http_status": self.http_status}

    @classmethod
    def from_row(cls, r: dict) -> "Job":
        return cls(r["job_id"], r["kind"], r["owner"], r["status"], r["progress_permille"] / 1000, r["step"],
                   r["created_at"], r["started_at"], r["finished_at"], r["result"], r["error"], r["http_status"])


Progress = Callable[[float, str], None]


class Jobs:
    """The server's job queue: one daemon worker thread; every job also in ``store`` (when given)."""

    def __init__(self, store: Store | None = None) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._store = store
        self._server = stored.server_id()
        self._queue: queue.Queue = queue.Queue()
        self._closed = False
        if store is not None:
            stored.interrupt(store, orphans=True)  # open jobs of a server process that is gone
        self._worker = threading.Thread(target=self._work, name="yibao-job", daemon=True)
        self._worker.start()

    def _save(self, job: Job) -> None:
        if self._store is not None:
            stored.save(self._store, job.row(self._server))

    def submit(self, kind: str, owner: str, fn: Callable[[Progress], dict]) -> Job:
        job = Job(uuid.uuid4().hex[:16], kind, owner)
        self._save(job)
        with self._lock:
            self._jobs[job.job_id] = job
            done = [k for k, j in self._jobs.items() if j.status not in stored.OPEN]
            for k in done[:max(0, len(self._jobs) - KEEP)]:
                del self._jobs[k]
        self._queue.put((job, fn))
        return job

    def get(self, job_id: str) -> Job | None:
        """A job of this server (live), else as the store has it (e.g. from before a restart)."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None or self._store is None:
            return job
        row = stored.load(self._store, job_id)
        return None if row is None else Job.from_row(row)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._run(*item)

    def _run(self, job: Job, fn: Callable[[Progress], dict]) -> None:
        if self._closed:
            return

        def progress(fraction: float, step: str) -> None:
            job.progress, job.step = max(0.0, min(1.0, fraction)), step
            self._save(job)

        job.status, job.started_at, job.step = "running", now_iso(), "开始"
        self._save(job)
        try:
            job.result = fn(progress)
            job.status, job.progress, job.step = "done", 1.0, "完成"
        except YibaoError as exc:  # refused input: its message, and the status the API would answer
            job.http_status = getattr(exc, "status", 422)
            job.error = {"code": getattr(exc, "code", "refused"), "message": exc.message}
            job.status, job.step = "failed", "失败"
        except Exception:  # a bug: logged by the server, a generic message for the user
            traceback.print_exc()
            job.http_status = 500
            job.error = {"code": "internal_error", "message": "任务因内部错误失败，已记录，请联系管理员"}
            job.status, job.step = "failed", "失败"
        finally:
            job.finished_at = now_iso()
            if not self._closed:
                self._save(job)

    def close(self) -> None:
        """An orderly stop: queued and running jobs become ``interrupted`` (in memory and in the store)."""
        self._closed = True
        self._queue.put(None)
        with self._lock:
            for j in self._jobs.values():
                if j.status in stored.OPEN:
                    j.status, j.step, j.finished_at = "interrupted", "已中断", now_iso()
                    j.error, j.http_status = dict(stored.INTERRUPTED), 503
        if self._store is not None:
            stored.interrupt(self._store, server=self._server)


__all__ = ["Job", "Jobs", "Progress"]
