"""``yibao load`` against DuckDB's bare ``read_csv`` of the same files, in the same run: wall time and peak RSS.

    .venv/bin/python bench/bench_load.py --region DIR [--work TMPDIR] [--memory-limit 2GB] [--out FILE.md]

1. The bare baseline: a fresh process opens a new DuckDB database file and runs
   ``CREATE TABLE t AS SELECT * FROM read_csv('t.csv')`` for every contract CSV of the region (types sniffed by
   DuckDB, no checks) — what reading the files into a database costs at the least.
2. The loader: ``python -m yibao.cli load REGION --workspace NEW`` (every check, the quarantine, the upsert and
   the audit rows, in one transaction).

Both run under ``/usr/bin/time -f '%e %M'`` (wall seconds, peak resident set in KiB), one after the other,
with the load average before each. The figures are printed as a Markdown section (and appended to ``--out``).
The workspace and the bare database are deleted afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("institutions", "insured", "staff", "catalog", "cases", "fee_items", "sanctions", "repairs", "filings",
          "claims", "labels", "fund_flows")

BARE = """
import duckdb, sys
con = duckdb.connect(sys.argv[1])
for name, path in zip(sys.argv[2::2], sys.argv[3::2]):
    con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv('{path}')")
print(sum(con.execute(f"SELECT count(*) FROM {n}").fetchall()[0][0] for n in sys.argv[2::2]))
"""


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in GB, stdout) of ``cmd`` under /usr/bin/time."""
    r = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M", *cmd], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr[-2000:]}")
    line = next(ln for ln in reversed(r.stderr.splitlines()) if ln.startswith("TIME "))
    _, wall, kib = line.split()
    return float(wall), int(kib) / 2**20, r.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--region", required=True)
    ap.add_argument("--work", default=None, help="scratch directory for the bare database and the workspace")
    ap.add_argument("--memory-limit", default=None, help="yibao load --memory-limit (default: the loader's)")
    ap.add_argument("--out", default=None, help="append the Markdown section to this file")
    args = ap.parse_args()
    region = Path(args.region).resolve()
    files = [(n, region / f"{n}.csv") for n in TABLES if (region / f"{n}.csv").exists()]
    size = sum(p.stat().st_size for _, p in files)
    work = Path(tempfile.mkdtemp(prefix="yibao-bench-load-", dir=args.work))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    try:
        load0 = os.getloadavg()[0]
        bare_args = [str(work / "bare.duckdb")] + [x for n, p in files for x in (n, str(p))]
        bare_s, bare_gb, bare_out = timed([sys.executable, "-c", BARE, *bare_args])
        rows = int(bare_out.strip().splitlines()[-1])
        load1 = os.getloadavg()[0]
        cmd = [sys.executable, "-m", "yibao.cli", "load", str(region), "--workspace", str(work / "ws")]
        if args.memory_limit:
            cmd += ["--memory-limit", args.memory_limit]
        load_s, load_gb, out = timed(cmd, env)
        total = next((ln for ln in out.splitlines() if ln.startswith("total ")), "")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    limit = args.memory_limit or "default (2GB)"
    text = "\n".join([
        f"#### `yibao load` vs bare DuckDB `read_csv`: {region.name} (`bench/bench_load.py`)",
        "",
        f"- Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; commit {commit}; {os.cpu_count()} cores, "
        f"{platform.system()} {platform.machine()}, Python {platform.python_version()}; load average before the "
        f"baseline {load0:.1f}, before the loader {load1:.1f}",
        f"- Input: `{region}`, {len(files)} CSV files, {size / 1e9:.2f} GB, {rows:,} rows; `--memory-limit` {limit}",
        f"- Loader's count line: `{' '.join(total.split())}`",
        "",
        "| run | wall time | peak RSS | time ÷ bare |",
        "|---|---:|---:|---:|",
        f"| bare DuckDB `read_csv` → tables | {bare_s:.1f} s | {bare_gb:.2f} GB | 1.00 |",
        f"| `yibao load` | {load_s:.1f} s | {load_gb:.2f} GB | {load_s / bare_s:.2f} |",
        "",
    ])
    print(text)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
