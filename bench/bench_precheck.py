"""Benchmark: the pre-check (事前预审) of one case — the whole answer, and the rules alone.

    PYTHONPATH=src .venv/bin/python bench/bench_precheck.py [--workspace /work/data/ws20k] [--requests 1000]
                                                            [--seed 7] [--http 300]

Loads the pre-check of the workspace once (rules and checker indexes, the persons' history, the DIP catalogue
with every history key resolved, the DRG standards and weights: the load time is printed), then sends
``--requests`` cases drawn at random from the workspace — each with its own fee lines and settlement-list
fields, as a hospital system would send it before upload — one after the other, and measures:

- **whole answer**: :meth:`yibao.server.precheck.Precheck.check` (DIP group and points, DRG group and case
  weight, every finding, the history rules), in process;
- **rules alone**: the one-case rules (:class:`yibao.review.check.Checker`) and the rules over the person's
  history (the answer's ``timing_ms.rules``; the history rules alone are ``timing_ms.history_rules``);
- **CPU time** of the thread for the whole answer and the rules (``timing_ms.cpu_total`` / ``cpu_rules``): what
  a case costs without the time spent waiting for a core on a shared machine;
- a **bare baseline**: a fixed workload timed the same way right after each case (wall and CPU time), so that
  the machine's own noise at p99 can be read beside the pre-check's;
- **over HTTP** (``--http`` requests, 0 to skip): ``POST /api/precheck`` through the ASGI app in process
  (FastAPI's test client: bearer token check, JSON both ways, the audit entry in the SQLite store), on a
  scratch copy of the store only (the workspace is opened read-only).

Prints p50/p99 per measure for all cases and for the inpatient stays (which carry most lines and the DIP/DRG
part) as a Markdown block for docs/benchmarks.md. Never run it on the 1 M-case region while others work.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np


def _cases(workspace: Path, n: int, seed: int) -> list[dict]:
    con = duckdb.connect(str(workspace / "yibao.duckdb"), read_only=True)
    try:
        ids = [r[0] for r in con.execute("SELECT case_id FROM main.cases ORDER BY case_id").fetchall()]
        pick = random.Random(seed).sample(ids, min(n, len(ids)))
        con.execute("CREATE TEMP TABLE pick (case_id VARCHAR)")
        con.executemany("INSERT INTO pick VALUES (?)", [[i] for i in pick])
        cols = ["case_id", "person_id", "institution_id", "scheme", "sex", "age_years", "setting", "admit_date",
                "discharge_date", "dept_code", "attending_staff_id", "principal_dx", "secondary_dx", "procedures",
                "discharge_mode", "emergency", "total_cost", "fund_paid", "self_pay", "out_of_pocket_excluded"]
        cases = {}
        for row in con.execute(f"SELECT {', '.join('c.' + c for c in cols)} FROM main.cases c "
                               "JOIN pick USING (case_id)").fetchall():
            c = dict(zip(cols, row))
            for k in ("admit_date", "discharge_date"):
                c[k] = c[k].isoformat() if c[k] else None
            for k in ("total_cost", "fund_paid", "self_pay", "out_of_pocket_excluded"):
                c[k] = f"{c[k]:.2f}" if c[k] is not None else None
            c["emergency"] = bool(c["emergency"])
            c["lines"] = []
            cases[c["case_id"]] = c
        lcols = ["case_id", "line_no", "item_code", "item_name", "item_kind", "fee_category", "service_date",
                 "quantity", "unit_price", "amount", "staff_id"]
        for row in con.execute(f"SELECT {', '.join('f.' + c for c in lcols)} FROM main.fee_items f "
                               "JOIN pick USING (case_id) ORDER BY f.case_id, f.line_no").fetchall():
            ln = dict(zip(lcols, row))
            cid = ln.pop("case_id")
            ln["service_date"] = ln["service_date"].isoformat()
            ln["quantity"], ln["unit_price"], ln["amount"] = str(ln["quantity"]), f"{ln['unit_price']:.2f}", \
                f"{ln['amount']:.2f}"
            cases[cid]["lines"].append(ln)
    finally:
        con.close()
    return [cases[i] for i in pick if cases[i]["lines"]]


_BASE_ARRAY = None


def _baseline() -> None:
    """A fixed bare workload timed like each pre-check, right after it (same moment, same noise): 300 fee-line
    dicts with Decimal amounts built and summed in Python, and a numpy reduction over 20 000 integers — about a
    millisecond on a quiet core. Its p99 against its p50 shows what the machine itself adds."""
    global _BASE_ARRAY
    if _BASE_ARRAY is None:
        _BASE_ARRAY = np.arange(20_000, dtype=np.int64)
    rows = [{"line_no": i, "amount": Decimal(i % 97).scaleb(-2), "item": f"I{i % 13}"} for i in range(300)]
    total = sum((r["amount"] for r in rows if r["item"] != "I0"), Decimal("0.00"))
    assert total >= 0 and int((_BASE_ARRAY * _BASE_ARRAY).sum()) > 0


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def _row(name: str, xs: list[float]) -> str:
    return f"| {name} | {len(xs)} | {_pct(xs, 0.5):.2f} | {_pct(xs, 0.99):.2f} | {max(xs):.2f} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workspace", type=Path, default=Path("/work/data/ws20k"))
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--http", type=int, default=300)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()

    from yibao.server.precheck import Precheck

    t0 = time.perf_counter()
    cases = _cases(a.workspace, a.requests, a.seed)
    t_cases = time.perf_counter() - t0
    svc = Precheck(a.workspace)
    t0 = time.perf_counter()
    L = svc.load()
    t_load = time.perf_counter() - t0
    keys_before = len(L.dip_keys)

    whole, rules, whole_in, rules_in, lines, hist, base = [], [], [], [], [], [], []
    cpu_whole, cpu_rules, cpu_base, cpu_rules_in = [], [], [], []
    for c in cases:
        t = time.perf_counter()
        out = svc.check(c)
        ms = (time.perf_counter() - t) * 1000
        cpu_whole.append(out["timing_ms"]["cpu_total"])
        cpu_rules.append(out["timing_ms"]["cpu_rules"])
        t, u = time.perf_counter(), time.thread_time()
        _baseline()
        base.append((time.perf_counter() - t) * 1000)
        cpu_base.append((time.thread_time() - u) * 1000)
        whole.append(ms)
        rules.append(out["timing_ms"]["rules"])
        hist.append(out["timing_ms"]["history"])
        lines.append(len(c["lines"]))
        if c["setting"] == "inpatient":
            whole_in.append(ms)
            rules_in.append(out["timing_ms"]["rules"])
            cpu_rules_in.append(out["timing_ms"]["cpu_rules"])
    misses = len(L.dip_keys) - keys_before

    http = []
    if a.http:
        from fastapi.testclient import TestClient

        from yibao.server.app import Settings, create_app
        from yibao.store.db import open_store
        from yibao.store.users import add_user

        with tempfile.TemporaryDirectory(prefix="yibao-bench-pc-") as tmp:
            store = open_store(Path(tmp), None)  # a scratch store; the workspace is only read
            add_user(store, "agency1", "agency", "bench-password-1", None, actor="bench")
            app = create_app(Settings(store=store, workspace=a.workspace))
            app.state.precheck = svc  # loaded already
            with TestClient(app) as client:
                tok = client.post("/api/login", json={"username": "agency1", "password": "bench-password-1"}).json()
                h = {"Authorization": "Bearer " + tok["token"]}
                for c in cases[: a.http]:
                    t = time.perf_counter()
                    r = client.post("/api/precheck", json=c, headers=h)
                    http.append((time.perf_counter() - t) * 1000)
                    assert r.status_code == 200, r.text
            store.close()

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "?"
    with duckdb.connect(str(a.workspace / "yibao.duckdb"), read_only=True) as con:
        n_cases = con.execute("SELECT count(*) FROM main.cases").fetchone()[0]
    try:
        load = open("/proc/loadavg").read().split()[0]
    except OSError:
        load = "?"
    print(f"\nworkspace {a.workspace} ({n_cases:,} cases); {len(cases)} cases sent "
          f"({len(whole_in)} inpatient; lines per case median {int(_pct(lines, 0.5))}, max {max(lines)})")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"load once: {t_load:.1f} s (cases drawn in {t_cases:.1f} s); DIP keys resolved from the history "
          f"{keys_before:,}, new keys met {misses}; peak RSS {rss:,.0f} MiB")
    print(f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit}, {platform.node()}, "
          f"{platform.processor() or platform.machine()}, Python {sys.version.split()[0]}, load average {load}\n")
    print("| measure | n | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    print(_row("whole answer (all cases)", whole))
    print(_row("rules alone (all cases)", rules))
    print(_row("of which reading the person's history", hist))
    if whole_in:
        print(_row("whole answer (inpatient)", whole_in))
        print(_row("rules alone (inpatient)", rules_in))
    if http:
        print(_row("POST /api/precheck over HTTP (ASGI in process, audit entry)", http))
    print(_row("bare baseline (fixed workload, timed after each case)", base))
    print(_row("CPU time: whole answer (all cases)", cpu_whole))
    print(_row("CPU time: rules alone (all cases)", cpu_rules))
    if cpu_rules_in:
        print(_row("CPU time: rules alone (inpatient)", cpu_rules_in))
    print(_row("CPU time: bare baseline", cpu_base))
    cov = L.checker.coverage()
    print(f"\nrules by how the fast path runs them: filtered {len(cov['filtered'])}, on every line "
          f"{cov['every_line'] or '—'}, whole case {len(cov['whole_case'])}, stale filter {cov['stale_filter'] or '—'}, "
          f"not run {cov['not_run'] or '—'}")


if __name__ == "__main__":
    main()
