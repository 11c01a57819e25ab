"""Benchmark: the server on loopback — a case read and the findings list, bounded load.

    .venv/bin/python bench/bench_server.py [--workspace /work/data/ws20k] [--requests 2000] [--concurrency 20]
                                           [--store postgresql+psycopg://user@host:port/db] [--scratch DIR]
                                           [--max-seconds S]

Copies the workspace to a scratch directory (the original is not touched; ``--scratch`` names its
parent), records a review run in its store (the SQLite file of the copy, or ``--store``: an empty
PostgreSQL database), adds two users (agency, one hospital), starts ``yibao serve`` as a subprocess on
a free port, then sends ``--requests`` requests with ``--concurrency`` threads for each of: ``GET
/api/cases/{id}`` (random cases, agency), the HTML case page ``GET /cases/{id}`` (agency, session
cookie), ``GET /api/findings?limit=100`` (agency: the first page of the latest run's findings, as the
workbench asks for it), the same page as the hospital (its own) and, when the run has at most 5 000
findings, ``GET /api/findings`` unpaged (the hospital's own, the agency's all). ``--max-seconds``
bounds each endpoint's time (the table gives the requests sent); a time-out (60 s) counts as non-200.
Prints p50/p99 per endpoint as a Markdown block for docs/benchmarks.md (and each row on stderr as it
is measured), with the time the review took. Stops the server and deletes the scratch copy at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import httpx

PW = "bench-password-1"


def _cli(*args: str, stdin: str | None = None) -> None:
    subprocess.run([sys.executable, "-m", "yibao.cli", *args], input=stdin, text=True, check=True,
                   capture_output=True)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workspace", default="/work/data/ws20k")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--store", default=None, help="store URL (default: the SQLite file in the workspace copy)")
    ap.add_argument("--scratch", default=None, help="parent directory of the scratch copy")
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="stop sending to an endpoint after this many seconds (the table says how many were sent)")
    a = ap.parse_args()
    store = ["--store", a.store] if a.store else []
    load = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="yibao-bench-server-", dir=a.scratch))
    ws = tmp / "ws"
    shutil.copytree(a.workspace, ws, ignore=shutil.ignore_patterns("store.sqlite3*", ".writer"))
    con = duckdb.connect(str(ws / "yibao.duckdb"), read_only=True)
    cases = [r[0] for r in con.execute("SELECT case_id FROM cases").fetchall()]
    inst = con.execute("SELECT institution_id FROM cases GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    con.close()
    t0 = time.perf_counter()
    _cli("review", "--workspace", str(ws), "--out", str(tmp / "review"), *store)
    review_s = time.perf_counter() - t0
    _cli("users", "add", "agency", "--role", "agency", "--workspace", str(ws), *store, stdin=PW + "\n")
    _cli("users", "add", "hosp", "--role", "hospital", "--institution", inst, "--workspace", str(ws), *store,
         stdin=PW + "\n")
    port = _port()
    proc = subprocess.Popen([sys.executable, "-m", "yibao.cli", "serve", "--workspace", str(ws), "--port", str(port),
                             *store], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = proc.stdout.readline().strip()
    rows = []
    try:
        with httpx.Client(base_url=url, timeout=60, limits=httpx.Limits(max_connections=a.concurrency)) as http:
            def tok(u):
                return {"Authorization": "Bearer " + http.post("/api/login", json={"username": u, "password": PW})
                        .json()["token"]}
            agency, hosp = tok("agency"), tok("hosp")
            page = http.get("/login")  # the page session: the login form's CSRF cookie, then the session cookie
            nonce = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            r = http.post("/login", data={"username": "agency", "password": PW, "csrf": nonce})
            assert r.status_code == 303, r.text
            cookies = {"yibao_session": http.cookies.get("yibao_session")}
            http.cookies.clear()
            total = http.get("/api/findings?limit=1", headers=agency).json()["total"]
            rnd = random.Random(1)
            plans = [("GET /api/cases/{id} (agency)", lambda: http.get(f"/api/cases/{rnd.choice(cases)}", headers=agency)),
                     ("GET /cases/{id} (HTML page, agency)",
                      lambda: http.get(f"/cases/{rnd.choice(cases)}", cookies=cookies)),
                     ("GET /api/findings?limit=100 (agency, first page)",
                      lambda: http.get("/api/findings?limit=100", headers=agency)),
                     ("GET /api/findings?limit=100 (hospital, own first page)",
                      lambda: http.get("/api/findings?limit=100", headers=hosp))]
            if total <= 5000:
                plans += [("GET /api/findings (hospital, all its own)", lambda: http.get("/api/findings", headers=hosp)),
                          ("GET /api/findings (agency, all)", lambda: http.get("/api/findings", headers=agency))]
            lock = threading.Lock()
            kind = "PostgreSQL" if a.store else "SQLite"
            print(f"{len(cases):,} cases, {kind} store, review recorded {total:,} findings in {review_s:.0f} s; "
                  f"load average {load[0]:.1f} at the start", file=sys.stderr, flush=True)
            for name, call in plans:
                times: list[float] = []
                bad = 0
                t0 = time.perf_counter()

                def one(_):
                    nonlocal bad
                    if a.max_seconds is not None and time.perf_counter() - t0 > a.max_seconds:
                        return
                    t = time.perf_counter()
                    try:
                        ok = call().status_code == 200
                    except httpx.HTTPError:  # a time-out counts as a failed request, with its time
                        ok = False
                    dt_ = time.perf_counter() - t
                    with lock:
                        times.append(dt_)
                        bad += not ok
                n_items = len(call().json().get("findings", [])) if "findings" in name else 1
                t0 = time.perf_counter()
                with ThreadPoolExecutor(a.concurrency) as pool:
                    list(pool.map(one, range(a.requests)))
                wall = time.perf_counter() - t0
                rows.append((name, n_items, len(times), _pct(times, 50), _pct(times, 99), len(times) / wall, bad))
                print(f"| `{name}` | {n_items:,} | {len(times):,} | {rows[-1][3]:.1f} | {rows[-1][4]:.1f} | "
                      f"{rows[-1][5]:,.1f} | {bad} |", file=sys.stderr, flush=True)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"### Server on loopback ({len(cases):,} cases; {a.requests:,} requests per endpoint, "
          f"{a.concurrency} concurrent)\n")
    print(f"Measured {dt.date.today()} at commit {commit} on {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {load[0]:.1f} at the start and {os.getloadavg()[0]:.1f} at the end, {kind} store; "
          f"the review run recorded {total:,} findings in {review_s:.0f} s; `bench/bench_server.py`.\n")
    print("| endpoint | items per answer | requests | p50 ms | p99 ms | requests/s | non-200 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, n, sent, p50, p99, rps, bad in rows:
        print(f"| `{name}` | {n:,} | {sent:,} | {p50:.1f} | {p99:.1f} | {rps:,.1f} | {bad} |")


if __name__ == "__main__":
    main()
