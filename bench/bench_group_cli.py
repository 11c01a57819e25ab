"""``yibao group drg`` as a user runs it — process start, CSV read, grouping, CSV write — per version.

    .venv/bin/python bench/bench_group_cli.py --workspace WS [--scale 11] [--standards DIR [DIR …]] [--repeat 3]

Writes the workspace's inpatient cases, repeated ``--scale`` times with distinct case ids, to a CSV in
the contract's reduced grouping layout (``case_id, sex, age_years, newborn_age_days, newborn_weight_g,
principal_dx, secondary_dx, procedures, admit_date, discharge_date``), then times the command on it for
each version folder, one after the other in the same run, fastest of ``--repeat``. The bare baseline in
the same run: DuckDB reading the same CSV and writing five columns back (``read_csv`` → ``COPY``), so the
ratio says what the grouping costs beyond moving the file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb


def timed(cmd: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed: {r.stderr}")
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--scale", type=int, default=11)
    ap.add_argument("--standards", nargs="+", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="yibao-group-cli-"))
    src = tmp / "cases.csv"
    con = duckdb.connect()
    db = str(Path(args.workspace) / "yibao.duckdb").replace("'", "''")
    con.execute(f"ATTACH '{db}' AS ws (READ_ONLY)")
    con.execute(f"""COPY (
        SELECT c.case_id || '-' || k AS case_id, c.sex, c.age_years, c.newborn_age_days, c.newborn_weight_g,
               c.principal_dx, array_to_string(c.secondary_dx, '|') AS secondary_dx,
               array_to_string(c.procedures, '|') AS procedures, c.admit_date, c.discharge_date
        FROM ws.cases c, range({args.scale}) r(k) WHERE c.setting = 'inpatient' ORDER BY k, c.case_id
    ) TO '{src}' (FORMAT csv, HEADER true)""")
    n = con.execute(f"SELECT count(*) FROM read_csv('{src}')").fetchall()[0][0]
    t = time.perf_counter()
    for _ in range(args.repeat):
        con.execute(f"COPY (SELECT case_id, sex, principal_dx, admit_date, discharge_date FROM read_csv('{src}')) "
                    f"TO '{tmp / 'bare.csv'}' (FORMAT csv, HEADER true)")
    bare = (time.perf_counter() - t) / args.repeat
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    print("### `yibao group drg` CSV → CSV, per version (`bench/bench_group_cli.py`)\n")
    print(f"- Date: {dt.date.today()}; commit {commit}; {os.cpu_count()} cores, {platform.system()} "
          f"{platform.machine()}, Python {platform.python_version()}; load average at start {os.getloadavg()[0]:.1f}")
    print(f"- Input: {n:,} cases ({src.stat().st_size / 1e6:,.0f} MB CSV; `{args.workspace}` inpatient × "
          f"{args.scale}); fastest of {args.repeat}; bare baseline (DuckDB read_csv → COPY of 5 columns) "
          f"{bare:.2f} s\n")
    print("| standards | whole command | cases/s | ÷ bare baseline |")
    print("|---|---:|---:|---:|")
    for std in args.standards:
        s = timed([sys.executable, "-m", "yibao.cli", "group", "drg", "--standards", std, str(src),
                   str(tmp / "out.csv")], args.repeat)
        print(f"| {Path(std).name} | {s:.2f} s | {n / s:,.0f} | {s / bare:.1f} |")


if __name__ == "__main__":
    main()
