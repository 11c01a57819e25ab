"""Benchmark: DIP grouping + scoring and the year's settlement at 1 M and 10 M inpatient stays.

    .venv/bin/python bench/bench_dip.py --workspace /tmp/yibao-bench/ws-1m --stays 1000000 [--stays 10000000]

The workspace is a loaded synthetic region (``yibao synth --seed 1 --cases 1000000`` + ``yibao load``:
≈ 90 000 inpatient stays over 2023–2025). The catalogue is built from its 2023–2024 stays; for N stays its
inpatient stays are replicated with new case ids (``<case_id>-<k>``) into a scratch DuckDB file, so the
diagnosis and cost mix is the region's own. Timed, in one process, each run separately:

1. grouping + scoring (``--repeat`` runs, fastest and median): the fused ``dip_scoring`` query (``LocalRunner.run_final``) from
   the cases table to the scored Arrow table (sorted, cast) — the work of ``yibao dip score`` without writing files;
2. the year's settlement: the ``dip_settle_units`` and ``dip_per_capita`` aggregates plus the exact
   money (``settle_year``) for 2025 with the region's budget policy — the work of ``yibao dip settle``
   without statements. 按人头 runs over the region's own outpatient visits (not replicated).

Peak memory is the process's maximum resident set (getrusage). Prints a Markdown block.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_one(ws: Path, stays: int, scratch: Path, repeat: int = 3, memory_limit: str = "3GB") -> dict:
    import duckdb

    from yibao.budget.policy import load_policy as load_budget_policy
    from yibao.budget.year import pot_amounts
    from yibao.dip.catalogue import build_tables
    from yibao.dip.policy import load_policy
    from yibao.dip.scoring import DIP_SCORING
    from yibao.dip.settlement import DIP_PER_CAPITA, DIP_SETTLE_UNITS, settle_sources, settle_year
    from yibao.dip.tables import REVIEW_SCHEMA, param_tables, read_overrides, read_valid_procedures
    from yibao.engine.runner import LocalRunner, query_arrow, run_final
    from yibao.settle.pots import Budgets

    pol = load_policy(overrides={"catalogue": {"years": [2023, 2024], "year_weights": ["3", "7"]}})
    region_policy = ws.parent / "region-1m" / "budget_policy.toml"
    bp = load_budget_policy(region_policy)
    con = duckdb.connect(str(scratch / "bench.duckdb"))
    con.execute(f"SET memory_limit = '{memory_limit}'")  # DuckDB spills beyond this; the rest of the peak is Arrow results
    con.execute(f"SET temp_directory = '{scratch / 'spill'}'")
    con.execute(f"ATTACH '{ws / 'yibao.duckdb'}' AS ws (READ_ONLY)")
    inp = con.execute("SELECT count(*) FROM ws.main.cases WHERE setting = 'inpatient'").fetchall()[0][0]
    k = -(-stays // inp)
    t = time.perf_counter()
    con.execute(f"""CREATE OR REPLACE TABLE bcases AS
        SELECT * REPLACE (case_id || '-' || lpad(r.k::VARCHAR, 3, '0') AS case_id)
        FROM (SELECT * FROM ws.main.cases WHERE setting = 'inpatient'), range({k}) r(k)""")
    con.execute("CREATE OR REPLACE TABLE binst AS SELECT * FROM ws.main.institutions")
    n = con.execute("SELECT count(*) FROM bcases").fetchall()[0][0]
    prep = time.perf_counter() - t
    runner = LocalRunner(con=con)
    rules, valid = read_overrides(), read_valid_procedures(None)
    t = time.perf_counter()
    cat = build_tables({"cases": "bench.main.bcases", "institutions": "bench.main.binst"}, runner, pol,
                       [2023, 2024], rules, valid)["dip_catalogue"]
    t_cat = time.perf_counter() - t
    src = {"cases": "bench.main.bcases", "institutions": "bench.main.binst", "dip_proc_rules": rules,
           "dip_proc_valid": valid, "dip_catalogue": cat, "dip_review": REVIEW_SCHEMA.empty_table(),
           **{k2: v for k2, v in param_tables(pol, []).items() if k2 in ("dip_params", "dip_coefficients")}}
    score_times = []
    for i in range(repeat):  # the result of a run is dropped before the next, so the peak is one run's
        scored = None
        t = time.perf_counter()
        scored = run_final(runner, DIP_SCORING, src)
        score_times.append(time.perf_counter() - t)
    t_score = min(score_times)
    pots = pot_amounts(bp)
    budgets = Budgets({s: pots[f"{s}.inpatient"] for s in bp.funds}, {s: pots[f"{s}.outpatient"] for s in bp.funds},
                      {s: bp.funds[s]["bed_day"] for s in bp.funds})
    cp = bp.sections.clearing
    t = time.perf_counter()
    s_src = {"dip_case_points": scored, "cases": "ws.main.cases", "institutions": "bench.main.binst",
             **settle_sources(bp.year, pol.settlement)}
    units = run_final(runner, DIP_SETTLE_UNITS, s_src)
    cap = runner.run_pipeline(DIP_PER_CAPITA, s_src)
    institutions = query_arrow(con, "SELECT * FROM bench.main.binst ORDER BY institution_id")
    year = settle_year(bp.year, units, cap["dip_capita_units"], cap["dip_capita_booked"], institutions, budgets,
                       pol, cp, cp.scores, cp.default_score)
    t_settle = time.perf_counter() - t
    settled = sum(c.cases for s in year.dip.values() for c in s.clearing)
    con.close()
    return {"stays": n, "prep": prep, "catalogue": t_cat, "score": t_score, "score_median": statistics.median(score_times),
            "settle": t_settle,
            "settled": settled, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workspace", type=Path, default=Path("/tmp/yibao-bench/ws-1m"))
    ap.add_argument("--stays", type=int, action="append")
    ap.add_argument("--repeat", type=int, default=3, help="grouping + scoring runs per size (fastest and median shown)")
    ap.add_argument("--memory-limit", default="3GB", help="DuckDB's memory limit (it spills to disk beyond it)")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    sizes = args.stays or [1_000_000]
    if args.one:
        with tempfile.TemporaryDirectory(prefix="yibao-dip-bench-") as tmp:
            r = run_one(args.workspace, sizes[0], Path(tmp), args.repeat, args.memory_limit)
        print(repr(r))
        return
    rows = []
    for n in sizes:  # one fresh process per size, so the peak memory is that run's own
        out = subprocess.run([sys.executable, __file__, "--workspace", str(args.workspace), "--stays", str(n),
                              "--repeat", str(args.repeat), "--memory-limit", args.memory_limit, "--one"], capture_output=True,
                              text=True, check=True, env={**os.environ})
        rows.append(eval(out.stdout.strip().splitlines()[-1]))  # noqa: S307 (our own repr of a dict)
    load = os.getloadavg()[0]
    print("| inpatient stays | catalogue (2023–2024 stays) | grouping + scoring, fastest (median) | stays/s "
          "| settlement of 2025 | peak RSS |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['stays']:,} | {r['catalogue']:.2f} s | {r['score']:.2f} s ({r['score_median']:.2f}) "
              f"| {r['stays'] / r['score']:,.0f} "
              f"| {r['settle']:.2f} s ({r['settled']:,} DIP stays settled) | {r['peak_mb']:,.0f} MiB |")
    print(f"\n(DuckDB memory limit {args.memory_limit}; load average at the end: {load:.1f})")


if __name__ == "__main__":
    main()
