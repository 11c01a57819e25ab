"""CHS-DRG grouping speed (not collected by pytest).

    .venv/bin/python bench/bench_drg.py [--workspace /tmp/yibao-bench/ws-1m] [--standards DIR]
                                        [--repeat 5] [--scale 11]

Loads the standards once (validated and compiled into lookup tables, which go into the DuckDB
connection as tables), then groups the inpatient rows of the workspace's loaded ``cases`` table:

- ``to Arrow``: the registered pipeline through ``LocalRunner.run_final`` — the full step from the
  loaded table to the sorted result as an Arrow table (what ``group_table`` returns);
- ``in DuckDB``: the same SQL into a DuckDB table (results stay in the workspace engine);

each ``--repeat`` times, reporting the fastest and the median run. ``--scale k`` repeats the
inpatient rows k times with distinct case ids, to measure throughput near 1 M cases rather than
the fixed cost of one query. Results of the scaled run are checked equal to the unscaled one
(same status / DRG per original case).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from yibao.drg.grouper import DRG_GROUP, GROUP_SQL
from yibao.drg.standards import load_standards
from yibao.engine.runner import LocalRunner

COLUMNS = "case_id, setting, sex, age_years, newborn_age_days, newborn_weight_g, principal_dx, secondary_dx, procedures"


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
    ap.add_argument("--standards", default=None)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--scale", type=int, default=11)
    args = ap.parse_args()

    t = time.perf_counter()
    std = load_standards(args.standards)
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

    def on(src: str, sql: str = GROUP_SQL) -> str:
        """The grouping SQL over table ``src`` and the standards held as ``std_*`` tables."""
        sql = sql.replace("FROM cases\n", f"FROM {src}\n")
        for name in tables:
            sql = re.sub(rf"\b{name}\b", f"std_{name}", sql)
        return sql

    def combinations(sql: str) -> int:
        """How many distinct ADRG-input combinations the SQL decides the ADRG for (its ``cb`` step)."""
        return con.execute(f"{sql[:sql.index('held AS (')].rstrip().rstrip(',')} SELECT count(*) FROM cb").fetchall()[0][0]

    def variant(name: str, key: str, join: str) -> tuple[list[float], int, int]:
        """The scaled run with another ADRG-input key (``own`` in the combinations, and the join back):
        its times, its differences from the plain scaled run (must be 0) and its number of combinations."""
        sql = GROUP_SQL.replace("SELECT DISTINCT pdx_id, pdx_mask, pproc_id, pos, caps, own FROM f",
                                f"SELECT DISTINCT pdx_id, pdx_mask, pproc_id, pos, caps, {key} AS own FROM f")
        sql = sql.replace("r.own IS NOT DISTINCT FROM f.own", join)
        assert f"{key} AS own" in sql and join in sql
        sql = on("ip_scaled", sql)
        times = timed(lambda: con.execute(f"CREATE OR REPLACE TABLE res_{name} AS {sql}"), args.repeat)
        differ = con.execute(f"""
            SELECT count(*) FROM res_{name} u FULL JOIN res_ip_scaled s USING (case_id)
            WHERE u.status IS DISTINCT FROM s.status OR u.drg IS DISTINCT FROM s.drg""").fetchall()[0][0]
        return times, differ, combinations(sql)

    rows = []
    for label, src, count in (("inpatient rows", "ip", n), (f"inpatient rows × {args.scale}", "ip_scaled", n_scaled)):
        arrow = timed(lambda: runner.run_final(DRG_GROUP, {**sources, "cases": src}), args.repeat)
        sql = on(src)
        duck = timed(lambda: con.execute(f"CREATE OR REPLACE TABLE res_{src} AS {sql}"), args.repeat)
        rows.append((label, count, arrow, duck))
    same = con.execute("""
        SELECT count(*) FROM res_ip_scaled s JOIN res_ip o ON o.case_id = split_part(s.case_id, '#', 1)
        WHERE s.status IS DISTINCT FROM o.status OR s.drg IS DISTINCT FROM o.drg""").fetchall()[0][0]
    statuses = con.execute("SELECT status, count(*) FROM res_ip GROUP BY ALL ORDER BY 2 DESC").fetchall()
    # worst case for sharing: every case its own ADRG-input combination (as if no two stays agreed on
    # principal diagnosis, principal procedure, age/sex intervals and flags) — same results, more work
    unshared, same_unshared, _ = variant("unshared", "rid", "r.own = f.rid")
    # sharing as in the unscaled input: each copy k of the stays has its own combinations (the copy number
    # joins the key), so the scaled input has as many cases per combination as the region's own 90 k stays
    mixed, same_mixed, mixed_combos = variant("mixed", "coalesce(own, split_part(rid, '#', 2))",
                                              "r.own = coalesce(f.own, split_part(f.rid, '#', 2))")
    combos = {src: combinations(on(src)) for src in ("ip", "ip_scaled")}

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
    print("| input | cases | to Arrow (run_final) | cases/s | in DuckDB (CREATE TABLE) | cases/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, count, arrow, duck in rows:
        print(f"| {label} | {count:,} | {min(arrow):.3f} s ({statistics.median(arrow):.3f}) | "
              f"{count / min(arrow):,.0f} | {min(duck):.3f} s ({statistics.median(duck):.3f}) | {count / min(duck):,.0f} |")
    print("\nStatuses of the inpatient rows: " + ", ".join(f"{s} {c:,}" for s, c in statuses)
          + f". Scaled run equal to the unscaled one: {'yes' if same == 0 else f'NO ({same} differ)'}.")
    print(f"\nDistinct ADRG-input combinations (principal diagnosis, principal procedure, interval positions, "
          f"capabilities; a case whose secondary codes hit an ADRG list counts alone): {combos['ip']:,} for the "
          f"{n:,} inpatient rows ({n / combos['ip']:.1f} cases each); {combos['ip_scaled']:,} for the "
          f"{n_scaled:,} scaled rows (the scaled input repeats the same stays, so its ADRG step does no more "
          f"work than the unscaled one's — the other steps do {args.scale}× the work).")
    print(f"\nSharing as in the region's own stays — each of the {args.scale} copies its own combinations "
          f"({mixed_combos:,} combinations, {n_scaled / mixed_combos:.1f} cases each; same results: "
          f"{'yes' if same_mixed == 0 else f'NO ({same_mixed} differ)'}): in DuckDB {min(mixed):.3f} s "
          f"({statistics.median(mixed):.3f}) = {n_scaled / min(mixed):,.0f} cases/s.")
    print(f"\nWorst case for that sharing — every one of the {n_scaled:,} scaled cases its own combination "
          f"(same results: {'yes' if same_unshared == 0 else f'NO ({same_unshared} differ)'}): in DuckDB "
          f"{min(unshared):.3f} s ({statistics.median(unshared):.3f}) = {n_scaled / min(unshared):,.0f} cases/s.")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
