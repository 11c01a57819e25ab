"""``yibao group drg`` as a user runs it — process start, CSV read, grouping, CSV write — per version.

    .venv/bin/python bench/bench_group_cli.py --workspace WS [--scale 11] [--standards DIR [DIR …]] [--repeat 3]
        [--dip-catalogue CAT] [--review-data REGION]

Writes the workspace's inpatient cases, repeated ``--scale`` times with distinct case ids, to a CSV in
the contract's reduced grouping layout (``case_id, sex, age_years, newborn_age_days, newborn_weight_g,
principal_dx, secondary_dx, procedures, admit_date, discharge_date``), then times the command on it for
each version folder, one after the other in the same run, fastest of ``--repeat``. The bare baseline in
the same run: DuckDB reading the same CSV and writing five columns back (``read_csv`` → ``COPY``), so the
ratio says what the grouping costs beyond moving the file.

The compiled standards are cached on disk (``yibao.drg.stdcache``): each version is timed once with an empty
cache (``cold``: read, validate, compile, write the entry) and then ``--repeat`` times with it (``warm``). A phase
profile of one warm run follows (process start and imports, the CSV read into the typed input, the standards
from the cache, grouping, names and CSV write), timed in-process by wrapping the functions ``group_file`` calls.

With ``--dip-catalogue`` (a ``yibao dip build`` output for ``--workspace``) ``yibao dip score`` is timed too
(workspace → scored CSV/Parquet); with ``--review-data`` ``yibao review --data REGION`` (CSV files → load into a
temporary workspace → findings CSV), once each.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

PHASES = r"""
import sys, time
W, C = time.perf_counter, time.process_time
t0, c0 = W(), C()
import yibao.cli  # noqa: F401 - what the command imports at start
import yibao.drg.cases as cases
import yibao.drg.standards as standards
t1, c1 = W(), C()
import pyarrow
pyarrow.array([0])  # pyarrow imports pandas at its first conversion of a Python value: timed on its own
t1b, c1b = W(), C()
T = {}
def wrap(mod, name):
    real = getattr(mod, name)
    def timed(*a, **k):
        t, c = W(), C(); r = real(*a, **k)
        w0, p0 = T.get(name, (0, 0)); T[name] = (w0 + W() - t, p0 + C() - c); return r
    setattr(mod, name, timed)
READ = "_read_typed" if hasattr(cases, "_read_typed") else "read_cases"
NAMES = (READ, "group_table", "add_names", "write_results")
for n in NAMES:
    wrap(cases, n)
std = standards.load_standards(sys.argv[1]); std.tables()
t2, c2 = W(), C()
cases.group_file(sys.argv[2], sys.argv[3], std)
t3, c3 = W(), C()
print(f"imports (yibao.cli, yibao.drg.cases, yibao.drg.standards)\t{t1 - t0:.3f}\t{c1 - c0:.3f}")
print(f"pandas (pyarrow's first conversion of a Python value)\t{t1b - t1:.3f}\t{c1b - c1:.3f}")
print(f"standards (cache)\t{t2 - t1b:.3f}\t{c2 - c1b:.3f}")
for n in NAMES:
    w, c = T.get(n, (0, 0))
    print(f"{'read_cases' if n == READ else n}\t{w:.3f}\t{c:.3f}")
print(f"rest of group_file (duplicate check, counts)\t{t3 - t2 - sum(v[0] for v in T.values()):.3f}\t"
      f"{c3 - c2 - sum(v[1] for v in T.values()):.3f}")
"""

FLOOR = (("python -c pass", "pass"), ("python -c 'import duckdb, pyarrow'", "import duckdb, pyarrow"),
         ("… and pyarrow.array([0]) (loads pandas)", "import duckdb, pyarrow; pyarrow.array([0])"))


def timed(cmd: list[str], repeat: int, env: dict | None = None) -> tuple[float, float]:
    """The fastest wall time of ``repeat`` runs and the CPU time (user + system) of that run: on a shared
    machine the CPU seconds move far less with the load than the wall time."""
    best, cpu = float("inf"), float("nan")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if r.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed: {r.stderr}")
        if wall < best:
            best = wall
            cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return best, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--scale", type=int, default=11)
    ap.add_argument("--standards", nargs="+", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dip-catalogue", default=None)
    ap.add_argument("--review-data", default=None)
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
    stays = con.execute("SELECT count(*) FROM ws.cases WHERE setting = 'inpatient'").fetchall()[0][0]
    con.execute("DETACH ws")  # the commands below open the workspace themselves
    t, c0 = time.perf_counter(), time.process_time()
    for _ in range(args.repeat):
        con.execute(f"COPY (SELECT case_id, sex, principal_dx, admit_date, discharge_date FROM read_csv('{src}')) "
                    f"TO '{tmp / 'bare.csv'}' (FORMAT csv, HEADER true)")
    bare = (time.perf_counter() - t) / args.repeat
    bare_cpu = (time.process_time() - c0) / args.repeat
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    print("### `yibao group drg` CSV → CSV, per version (`bench/bench_group_cli.py`)\n")
    print(f"- Date: {dt.date.today()}; commit {commit}; {os.cpu_count()} cores, {platform.system()} "
          f"{platform.machine()}, Python {platform.python_version()}; load average at start {os.getloadavg()[0]:.1f}")
    print(f"- Input: {n:,} cases ({src.stat().st_size / 1e6:,.0f} MB CSV; `{args.workspace}` inpatient × "
          f"{args.scale}); fastest of {args.repeat}; bare baseline (DuckDB read_csv → COPY of 5 columns) "
          f"{bare:.2f} s (CPU {bare_cpu:.2f} s)\n")
    print("| standards | cache | whole command | CPU (user + sys) | cases/s | ÷ bare baseline |")
    print("|---|---|---:|---:|---:|---:|")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    for std in args.standards:
        cmd = [sys.executable, "-m", "yibao.cli", "group", "drg", "--standards", std, str(src), str(tmp / "out.csv")]
        env["YIBAO_CACHE_DIR"] = str(tmp / f"cache-{Path(std).name}")
        for label, repeat in (("cold", 1), ("warm", args.repeat)):
            s, cpu = timed(cmd, repeat, env)
            print(f"| {Path(std).name} | {label} | {s:.2f} s | {cpu:.2f} s | {n / s:,.0f} | {s / bare:.1f} |")
    print(f"\nThe floor, same run (fastest of {args.repeat}): a process that does nothing, and one that imports "
          "what every such command needs:\n")
    print("| process | wall | CPU (user + sys) |")
    print("|---|---:|---:|")
    for label, code in FLOOR:
        s, cpu = timed([sys.executable, "-c", code], args.repeat, env)
        print(f"| `{label}` | {s:.2f} s | {cpu:.2f} s |")
    s, cpu = timed([sys.executable, "-m", "yibao.cli", "group", "drg", "--help"], args.repeat, env)
    print(f"| `yibao group drg --help` (the CLI's start-up) | {s:.2f} s | {cpu:.2f} s |")
    std = args.standards[0]
    env["YIBAO_CACHE_DIR"] = str(tmp / f"cache-{Path(std).name}")
    t, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run([sys.executable, "-c", PHASES, std, str(src), str(tmp / "out2.csv")], capture_output=True,
                       text=True, env=env)
    whole, after = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN)
    whole_cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if r.returncode != 0:
        sys.exit(r.stderr)
    print(f"\nWhere the time of one warm run goes ({Path(std).name}; process wall {whole:.2f} s, CPU {whole_cpu:.2f} s; "
          "the remainder is the interpreter's own start and exit):\n")
    print("| phase | wall | CPU (user + sys, all threads) |")
    print("|---|---:|---:|")
    for line in r.stdout.strip().splitlines():
        parts = line.split("\t")
        if len(parts) == 3:  # (other lines: DuckDB's progress bar on a long query)
            print(f"| {parts[0]} | {float(parts[1]):.2f} s | {float(parts[2]):.2f} s |")
    if args.dip_catalogue:
        s, cpu = timed([sys.executable, "-m", "yibao.cli", "dip", "score", "--workspace", args.workspace,
                        "--catalogue", args.dip_catalogue, "--out", str(tmp / "dip")], 1, env)
        print(f"\n- `yibao dip score` (workspace `{args.workspace}` → scored files, {stays:,} inpatient stays): "
              f"{s:.2f} s (CPU {cpu:.2f} s), {stays / s:,.0f} stays/s")
    if args.review_data:
        region = Path(args.review_data)
        lines = con.execute(f"SELECT count(*) FROM read_csv('{region / 'fee_items.csv'}')").fetchall()[0][0]
        s, cpu = timed([sys.executable, "-m", "yibao.cli", "review", "--data", str(region), "--out",
                        str(tmp / "review")], 1, env)
        print(f"- `yibao review --data {region}` (CSV → temporary workspace → findings, {lines:,} fee lines): "
              f"{s:.2f} s (CPU {cpu:.2f} s), {lines / s:,.0f} lines/s")


    print(f"\n- Load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
