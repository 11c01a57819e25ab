"""Background jobs of the server (后台任务): long work runs off the request, with progress.

A route submits a function; the answer is ``202`` with the job (``GET /api/jobs/{id}`` to follow it).
Jobs run one at a time, in submission order, on one worker thread of the server process (a
settlement run reads the whole workspace: two at once would only compete for the same cores), so
the event loop and the request threads keep answering meanwhile. A job reports its progress as a
fraction and a Chinese step name; it ends ``done`` with a result or ``failed`` with an error in the
API's shape (``{"code", "message"}``; the code and status of a refused input, e.g. 409 when the
period was issued meanwhile).

Jobs live in the server's memory: a restart forgets the jobs (not their results — a finished
settlement run is in the store of record). Finished jobs are kept for :data:`KEEP` jobs.
"""

from __future__ import annotations

import threading
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from yibao.contract.errors import YibaoError
from yibao.store.db import now_iso

KEEP = 500
STATES_ZH = {"queued": "排队中", "running": "运行中", "done": "已完成", "failed": "失败"}


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


Progress = Callable[[float, str], None]


class Jobs:
    """The server's job queue: one worker thread."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yibao-job")

    def submit(self, kind: str, owner: str, fn: Callable[[Progress], dict]) -> Job:
        job = Job(uuid.uuid4().hex[:16], kind, owner)
        with self._lock:
            self._jobs[job.job_id] = job
            done = [k for k, j in self._jobs.items() if j.status in ("done", "failed")]
            for k in done[:max(0, len(self._jobs) - KEEP)]:
                del self._jobs[k]
        self._pool.submit(self._run, job, fn)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _run(self, job: Job, fn: Callable[[Progress], dict]) -> None:
        def progress(fraction: float, step: str) -> None:
            job.progress, job.step = max(0.0, min(1.0, fraction)), step

        job.status, job.started_at, job.step = "running", now_iso(), "开始"
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

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["Job", "Jobs", "Progress"]
