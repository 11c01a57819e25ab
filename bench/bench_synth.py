"""Benchmark: generate 1,000,000 cases (with their fee lines) into a temporary directory.

Prints the total time, the time spent before the first file is written (building the data), rows and rows/s per
table (writing) and the peak RSS (resource.getrusage). A plain script, not a test.
Usage: .venv/bin/python bench/bench_synth.py [CASES] [--parquet] [--standards DIR]
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

from yibao.synth import generate


def main() -> None:
    args = sys.argv[1:]
    cases = int(args[0]) if args and args[0].isdigit() else 1_000_000
    fmt = "parquet" if "--parquet" in args else "csv"
    standards = Path(args[args.index("--standards") + 1]) if "--standards" in args else None
    calls: list[tuple[str, int, float]] = []

    def progress(table: str, rows: int) -> None:
        calls.append((table, rows, time.perf_counter()))

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        s = generate(Path(tmp), seed=1, cases=cases, fmt=fmt, progress=progress, standards_dir=standards)
        total = time.perf_counter() - t0
        size = sum(f.stat().st_size for f in Path(tmp).iterdir())
    print(f"generated {s['tables']['cases']:,} cases and {s['tables']['fee_items']:,} fee lines "
          f"({fmt}, {size / 1e6:,.0f} MB) in {total:.1f} s")
    # a table's write time runs from the previous table's last report to its own last report
    first_write = calls[0][2]
    print(f"building the data (before the first file): {first_write - t0:.1f} s; writing: {calls[-1][2] - first_write:.1f} s")
    print(f"{'table':<14}{'rows':>12}{'write s':>9}{'rows/s':>14}")
    prev_end = t0 + (first_write - t0)
    done: dict[str, tuple[int, float]] = {}
    for table, rows, t in calls:
        done[table] = (rows, t)
    for table, (rows, t) in done.items():
        dt = max(t - prev_end, 1e-6)
        print(f"{table:<14}{rows:>12,}{dt:>9.2f}{rows / dt:>14,.0f}")
        prev_end = t
    print(f"overall: {s['tables']['cases'] / total:,.0f} cases/s, {s['tables']['fee_items'] / total:,.0f} fee lines/s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024:.2f} GB")
    print(f"labels: {s['labels']}")


if __name__ == "__main__":
    main()
