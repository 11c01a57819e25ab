"""Benchmark: the budget year (split, 12 months, clearing, statements) for ~100 institutions × 1 M cases.

    .venv/bin/python bench/bench_budget.py [--cases 1000000] [--keep DIR]

Generates a region with at least 40 hospitals and 60 primary institutions (denser than the
default scaling gives at 1 M cases), loads it, then times ``yibao budget --workspace`` phases.
Prints a Markdown block for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import shutil
import tempfile
import time
from pathlib import Path

from yibao.budget.policy import load_policy
from yibao.budget.statements import write_statements
from yibao.budget.totals import compute_totals
from yibao.budget.year import run_year, write_year
from yibao.engine.loading import load_region
from yibao.synth import generate
from yibao.synth.params import SynthParams


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--keep")
    args = ap.parse_args()
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="yibao-budget-"))
    region, ws = base / "region", base / "ws"
    if not (ws / "yibao.duckdb").exists():
        params = dataclasses.replace(SynthParams(), min_institutions=(40, 60, 20))
        generate(region, seed=1, cases=args.cases, params=params)
        load_region(region, ws)
    policy = load_policy(region / "budget_policy.toml")
    t0 = time.perf_counter()
    totals = compute_totals(policy)
    result = run_year(ws, policy, totals)
    t1 = time.perf_counter()
    write_year(result, base / "out")
    t2 = time.perf_counter()
    books = write_statements(result, base / "out")
    t3 = time.perf_counter()
    insts = len({r["institution_id"] for r in result.rows("clearing")})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"| budget year: totals + inputs + split + 12 months + clearing | {insts} institutions | {args.cases:,} cases "
          f"| {t1 - t0:.2f} s |")
    print(f"| write the year's CSV tables | | | {t2 - t1:.2f} s |")
    print(f"| statements: {len(books) - 2} institution workbooks, regional workbook, public CSV | | | {t3 - t2:.2f} s |")
    print(f"| total | | | {t3 - t0:.2f} s (peak RSS {peak:,.0f} MiB, including generation and load) |")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
