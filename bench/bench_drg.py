"""CHS-DRG grouping speed (not collected by pytest).

    .venv/bin/python bench/bench_drg.py [--workspace /tmp/yibao-bench/ws-1m] [--standards DIR [DIR …]]
                                        [--repeat 5] [--scale 11]

Loads the standards once (validated and compiled into lookup tables, which go into the DuckDB
connection as tables), then groups the inpatient rows of the workspace's loaded ``cases`` table
through the registered pipeline, ``LocalRunner.run_final``: the full step from the loaded table to
the sorted result as an Arrow table (what ``group_table`` returns) — reading the cases out of
DuckDB, the per-case steps in Arrow/NumPy, the ADRG of each distinct combination of ADRG inputs in
DuckDB, the result sorted by case id. Each ``--repeat`` times; the fastest and the median run.

``--scale k`` repeats the inpatient rows k times with distinct case ids, to measure throughput near
1 M cases rather than the fixed cost of one call. Results of the scaled run are checked equal to the
unscaled one (same status / DRG per original case). The scaled input repeats the same stays, so it
shares ADRG-input combinations more than a region's own stays would; the same cases are therefore
also grouped with each copy deciding its own combinations (as many cases per combination as in the
region's own stays) and with every case its own combination (the worst case), results checked equal.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.compute as pc

from yibao.drg.grouper import DRG_GROUP, INPUT_SQL, group_cases
from yibao.drg.standards import load_standards
from yibao.engine.runner import LocalRunner, query_arrow

COLUMNS = ("case_id, setting, sex, age_years, newborn_age_days, newborn_weight_g, principal_dx, secondary_dx, procedures, "
           "admit_date, discharge_date")


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workspace", default="/tmp/yibao-bench/ws-1m")
    ap.add_argument("--standards", nargs="*", default=None,
                    help="one or more version folders, measured one after the other in the same run")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--scale", type=int, default=11)
    args = ap.parse_args()
    for version in args.standards or [None]:
        bench_version(args, version)


def bench_version(args, version) -> None:

    t = time.perf_counter()
    std = load_standards(version)
    t_load = time.perf_counter() - t
    t = time.perf_counter()
    tables = std.tables()
    t_compile = time.perf_counter() - t

    con = duckdb.connect()  # in memory; the workspace attached read-only
    db = str(Path(args.workspace) / "yibao.duckdb").replace("'", "''")
    con.execute(f"ATTACH '{db}' AS ws (READ_ONLY)")
    for name, table in tables.items():  # compiled once, held as DuckDB tables
        con.register("_t", table)
        con.execute(f'CREATE TABLE "std_{name}" AS SELECT * FROM _t')
        con.unregister("_t")
    con.execute(f"CREATE TABLE ip AS SELECT {COLUMNS} FROM ws.cases WHERE setting = 'inpatient'")
    n = con.execute("SELECT count(*) FROM ip").fetchall()[0][0]
    total = con.execute("SELECT count(*) FROM ws.cases").fetchall()[0][0]
    con.execute(f"CREATE TABLE ip_scaled AS SELECT case_id || '#' || k AS case_id, * EXCLUDE (case_id) "
                f"FROM ip, range({args.scale}) r(k)")
    n_scaled = n * args.scale

    runner = LocalRunner(con)
    sources = {name: f"std_{name}" for name in tables}
    results = {}

    def run(src: str):
        results[src] = runner.run_final(DRG_GROUP, {**sources, "cases": src})

    rows = []
    for label, src, count in (("inpatient rows", "ip", n), (f"inpatient rows × {args.scale}", "ip_scaled", n_scaled)):
        rows.append((label, count, timed(lambda: run(src), args.repeat)))
    con.register("res_ip", results["ip"])
    con.register("res_ip_scaled", results["ip_scaled"])
    same = con.execute("""
        SELECT count(*) FROM res_ip_scaled s JOIN res_ip o ON o.case_id = split_part(s.case_id, '#', 1)
        WHERE s.status IS DISTINCT FROM o.status OR s.drg IS DISTINCT FROM o.drg""").fetchall()[0][0]
    statuses = con.execute("SELECT status, count(*) FROM res_ip GROUP BY ALL ORDER BY 2 DESC").fetchall()

    # the same scaled cases with less sharing of ADRG-input combinations: the function of the step over the
    # cases as read (timed apart), with a sharing key — the copy number (each copy decides its own
    # combinations, as the region's own stays share them) or the row number (no two cases share)
    t = time.perf_counter()
    cases = query_arrow(con, INPUT_SQL.replace("FROM cases\n", "FROM ip_scaled\n"))
    t_read = time.perf_counter() - t
    std_arrow = {name: tables[name] for name in tables}
    copy = pc.cast(pc.list_element(pc.split_pattern(cases.column("case_id"), "#"), 1), "int64").to_numpy()
    variants = {}
    for name, key in (("shared", None), ("copies", copy), ("unshared", np.arange(cases.num_rows))):
        combos = {}

        def group(key=key, combos=combos):
            combos["out"] = group_cases({**std_arrow, "cases": cases}, con, share_key=key)

        times = timed(group, args.repeat)
        differ = 0 if name == "shared" else int(pc.sum(pc.invert(pc.and_(
            pc.equal(combos["out"].column("status"), variants["shared"][2].column("status")),
            pc.fill_null(pc.equal(combos["out"].column("drg"), variants["shared"][2].column("drg")), True)))).as_py())
        variants[name] = (times, differ, combos["out"])
    combos_of = {name: count_combinations(cases, tables, key) for name, key in (("shared", None), ("copies", copy))}
    combos_ip = count_combinations(query_arrow(con, INPUT_SQL.replace("FROM cases\n", "FROM ip\n")), tables, None)

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    print("### DRG grouping (`bench/bench_drg.py`)\n")
    print(f"- Date: {dt.date.today()}; commit {commit}; {os.cpu_count()} cores, {platform.system()} "
          f"{platform.machine()}, Python {platform.python_version()}, DuckDB {duckdb.__version__}; "
          f"load average at start {os.getloadavg()[0]:.1f}")
    print(f"- Standards {Path(std.source).name} ({std.short_version}): read and validated in {t_load:.2f} s, "
          f"compiled in {t_compile:.2f} s (once per process)")
    print(f"- Cases: `{args.workspace}` `cases` table, {total:,} rows, {n:,} inpatient; "
          f"{args.repeat} runs each, fastest (median)\n")
    print("| input | cases | read + group + sort (run_final) | cases/s |")
    print("|---|---:|---:|---:|")
    for label, count, times in rows:
        print(f"| {label} | {count:,} | {min(times):.3f} s ({statistics.median(times):.3f}) | {count / min(times):,.0f} |")
    print("\nStatuses of the inpatient rows: " + ", ".join(f"{s} {c:,}" for s, c in statuses)
          + f". Scaled run equal to the unscaled one: {'yes' if same == 0 else f'NO ({same} differ)'}.")
    print(f"\nDistinct ADRG-input combinations (principal diagnosis, principal procedure, interval positions, "
          f"capabilities; a case whose secondary codes hit an ADRG list counts alone): {combos_ip:,} for the "
          f"{n:,} inpatient rows ({n / combos_ip:.1f} cases each); {combos_of['shared']:,} for the "
          f"{n_scaled:,} scaled rows (the copies share them).")
    print(f"\nSharing of combinations, scaled rows: the step's function over the cases already read "
          f"(reading them out of DuckDB: {t_read:.3f} s, added to the rate):\n")
    print("| combinations | cases each | group + sort | cases/s (with the read) | same results |")
    print("|---|---:|---:|---:|---|")
    labels = {"shared": f"copies share ({combos_of['shared']:,})",
              "copies": f"each copy its own, as the region's stays ({combos_of['copies']:,})",
              "unshared": f"every case its own ({n_scaled:,})"}
    each = {"shared": n_scaled / combos_of["shared"], "copies": n_scaled / combos_of["copies"], "unshared": 1.0}
    for name, (times, differ, _) in variants.items():
        print(f"| {labels[name]} | {each[name]:.1f} | {min(times):.3f} s ({statistics.median(times):.3f}) | "
              f"{n_scaled / (min(times) + t_read):,.0f} | {'yes' if differ == 0 else f'NO ({differ} differ)'} |")
    sys.stdout.flush()


def count_combinations(cases, tables, key) -> int:
    """How many distinct ADRG-input combinations the grouper decides for ``cases`` (with sharing key ``key``)."""
    stats: dict = {}
    group_cases({**tables, "cases": cases}, duckdb.connect(), share_key=key, stats=stats)
    return stats["combinations"]


if __name__ == "__main__":
    main()
