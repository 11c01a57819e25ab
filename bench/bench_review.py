"""Benchmark: claims review (智能审核) over a loaded workspace, opened read-only.

    .venv/bin/python bench/bench_review.py [--workspace /tmp/yibao-bench/ws-1m]
        [--labels /tmp/yibao-bench/region-1m/labels.csv] [--staff-dir /tmp/yibao-bench/region-1m]
        [--threads N] [--memory-limit 6GB] [--check-calls 500] [--scale K] [--repeat 3] [--rule-times]

Times every step of the review pipeline (the line-rule step alone gives the line throughput), the whole
rule set, the peak resident memory of this process (ru_maxrss), the case-level evaluation against the
labels when given, and the before-the-fact check latency (one prescription, after warm-up) by the single-case forms and by the
SQL over the one case (median, p95, p99).
Prints a Markdown block for docs/benchmarks.md.

On a shared machine absolute times say little: the line step is also timed against a **bare baseline over the same
fee lines in the same run** — one scan of the columns the line step reads from ``fee_items`` with each line's
catalogue version looked up (the join every line rule needs), aggregated so that no column is pruned
(:data:`BASELINE_SQL`). Both are run ``--repeat`` times interleaved after the pipeline (the pipeline's own line
step is one more sample); the best of each and their ratio are reported with the load average (``os.getloadavg``)
before and after. ``--rule-times`` times each rule of the case-line step alone on the pipeline's own inputs (which
rule's SQL costs what; the sum exceeds the step, which shares the catalogue and ``rcl``).

``--scale K`` (K > 1) reviews a region K times the workspace's: its persons, cases and fee lines repeated K
times with new ids (``#k`` appended), same institutions, catalogue and staff, written once to a scratch
DuckDB file beside the workspace — to measure the full rule set near the issue's "about 30 M lines".
The evaluation against labels is then skipped (the check latency still uses the workspace).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import time
from pathlib import Path

import duckdb

# the bare baseline of the line step: the columns it reads from every fee line, each line's catalogue version
# (the same non-overlapping ranges, rulesql.CAT_SELECT), nothing else
BASELINE_SQL = """
WITH cat AS ({cat})
SELECT count(*) AS n, sum(f.amount) AS amount, sum(f.quantity) AS quantity, sum(f.unit_price) AS price,
       count(k.item_code) AS versions, max(f.case_id) AS c, max(f.line_no) AS l, max(f.item_name) AS i,
       max(f.service_date) AS d, count(f.staff_id) AS s
FROM {fee_items} f LEFT JOIN cat k ON k.item_code = f.item_code AND f.service_date BETWEEN k.valid_from AND k.valid_end
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workspace", default="/tmp/yibao-bench/ws-1m")
    ap.add_argument("--labels", default="/tmp/yibao-bench/region-1m/labels.csv")
    ap.add_argument("--staff-dir", default="/tmp/yibao-bench/region-1m")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--memory-limit", default=None)
    ap.add_argument("--check-calls", type=int, default=300)
    ap.add_argument("--scale", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="line step and baseline, interleaved, after the pipeline")
    ap.add_argument("--rule-times", action="store_true", help="each case-line rule alone")
    args = ap.parse_args()

    from yibao.engine.runner import run_steps
    from yibao.engine.select import runner_for
    from yibao.engine.workspace import Workspace
    from yibao.review.evaluation import evaluate, read_labels
    from yibao.review.logic import CASE_LINES
    from yibao.review.outputs import summaries
    from yibao.review.ruleset import load_rules
    from yibao.review.rulesql import CAT_SELECT, build_pipeline
    from yibao.review.run import SOURCE_TABLES, ReviewResult

    rs = load_rules()
    periods = None
    t0 = time.perf_counter()
    if args.staff_dir and Path(args.staff_dir, "staff.csv").exists():
        try:
            from yibao.staff.sources import periods_from_dir

            periods = periods_from_dir(Path(args.staff_dir))
        except ImportError:
            periods = None
    t_periods = time.perf_counter() - t0

    ws = Workspace(Path(args.workspace), read_only=True)
    con = ws.con
    if args.scale > 1:
        con = scaled_region(Path(args.workspace), args.scale)
        args.labels = None
    if args.threads:
        con.execute(f"SET threads TO {args.threads}")
    if args.memory_limit:
        con.execute(f"SET memory_limit = '{args.memory_limit}'")
    con.execute("SET preserve_insertion_order = false")
    n_cases, n_lines = con.execute(
        "SELECT (SELECT count(*) FROM main.cases), (SELECT count(*) FROM main.fee_items)").fetchall()[0]
    db = con.execute("SELECT current_database()").fetchall()[0][0]
    src = {n: f'"{db}".main.{n}' for n in SOURCE_TABLES}
    from yibao.contract.derived import QUALIFICATION_PERIODS

    src["qualification_periods"] = (periods if periods is not None else QUALIFICATION_PERIODS.empty_table())
    from yibao.contract.standards import cc_tables, empty_cc_tables, find_standards  # C07's CC/MCC tables

    std = find_standards()
    src["cc_codes"], src["cc_exclusions"] = cc_tables(std) if std is not None else empty_cc_tables()
    pipeline = build_pipeline(rs)
    times: dict[str, float] = {}
    last = [time.perf_counter()]

    def on_step(step, result):
        now = time.perf_counter()
        times[step.name] = now - last[0]
        last[0] = now

    load_before = os.getloadavg()
    t_all = time.perf_counter()
    last[0] = t_all
    runner = runner_for("duckdb", con=con)
    out = run_steps(runner, pipeline, src, on_step=on_step)
    total = time.perf_counter() - t_all

    # the line step against the bare baseline over the same lines, interleaved
    steps = {st.name: st for st in pipeline.steps}
    env = {**src, **out}
    baseline_sql = BASELINE_SQL.format(cat=CAT_SELECT, fee_items=src["fee_items"])
    baseline_sql = baseline_sql.replace("FROM catalog", f"FROM {src['catalog']}")
    line_runs, base_runs = [times["review_line_findings"]], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        con.execute(baseline_sql).fetchall()
        base_runs.append(time.perf_counter() - t)
        t = time.perf_counter()
        runner.run(steps["review_line_findings"], env)
        line_runs.append(time.perf_counter() - t)
    load_after = os.getloadavg()
    rule_times = {}
    if args.rule_times:
        for r in rs.enabled:
            if r.shape != CASE_LINES:
                continue
            st = next(x for x in build_pipeline(rs.only(r.id)).steps if x.name == "review_case_line_findings")
            t = time.perf_counter()
            runner.run(st, env)
            rule_times[r.id] = round(time.perf_counter() - t, 2)
    res = ReviewResult(out["review_findings"], out["review_cases"])
    t1 = time.perf_counter()
    s = summaries(res, rs)
    t_summ = time.perf_counter() - t1
    ws.close()
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024

    ev_rows = []
    if args.labels and Path(args.labels).exists():
        ev = evaluate(res.findings, read_labels(Path(args.labels)), rs)
        ev_rows = ev.to_pylist()

    # before-the-fact check latency
    from yibao.review.check import Checker

    checker = Checker.from_workspace(Path(args.workspace), rs)
    c2 = duckdb.connect(str(Path(args.workspace) / "yibao.duckdb"), read_only=True)
    try:
        case_id = c2.execute("SELECT case_id FROM main.cases WHERE setting = 'outpatient' ORDER BY case_id LIMIT 1 "
                             "OFFSET 1000").fetchall()[0][0]
        c = c2.execute("SELECT case_id, person_id, institution_id, setting, CAST(admit_date AS VARCHAR), sex, age_years, "
                       "principal_dx, secondary_dx FROM main.cases WHERE case_id = ?", [case_id]).fetchall()[0]
        lines = c2.execute("SELECT line_no, item_code, item_name, item_kind, fee_category, CAST(service_date AS VARCHAR), "
                           "CAST(quantity AS VARCHAR), CAST(unit_price AS VARCHAR), CAST(amount AS VARCHAR), staff_id "
                           "FROM main.fee_items WHERE case_id = ? ORDER BY line_no", [case_id]).fetchall()
    finally:
        c2.close()
    rx = {"case_id": c[0], "person_id": c[1], "institution_id": c[2], "setting": c[3], "admit_date": c[4],
          "sex": c[5], "age_years": c[6], "principal_dx": c[7], "secondary_dx": c[8],
          "lines": [dict(zip(("line_no", "item_code", "item_name", "item_kind", "fee_category", "service_date",
                              "quantity", "unit_price", "amount", "staff_id"), ln)) for ln in lines]}
    for _ in range(30):
        checker.check(rx)
    lat = []
    for _ in range(args.check_calls):
        t = time.perf_counter()
        checker.check(rx)
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    lat_sql = []
    for _ in range(5):
        checker.check(rx, method="sql")
    for _ in range(50):
        t = time.perf_counter()
        checker.check(rx, method="sql")
        lat_sql.append((time.perf_counter() - t) * 1000)
    lat_sql.sort()

    line_step = min(line_runs)
    base = min(base_runs) if base_runs else float("nan")
    result = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                   f"{round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GB, shared",
        "cases": n_cases, "lines": n_lines, "rules": len(rs.enabled),
        "steps": {k: round(v, 2) for k, v in times.items()}, "total_s": round(total, 2),
        "line_rules_lines_per_s": round(n_lines / line_step) if line_step else None,
        "line_step_runs_s": [round(x, 2) for x in line_runs], "baseline_runs_s": [round(x, 2) for x in base_runs],
        "baseline_lines_per_s": round(n_lines / base) if base_runs else None,
        "line_step_over_baseline": round(line_step / base, 2) if base_runs else None,
        "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in load_after],
        "case_line_rule_s": rule_times,
        "summaries_s": round(t_summ, 2), "periods_s": round(t_periods, 2), "peak_rss_gb": round(rss_gb, 2),
        "findings": res.findings.num_rows,
        "deductions_total": str(sum(s["deductions"].column("amount").to_pylist(), start=0)),
        "check_ms_median": round(statistics.median(lat), 2), "check_ms_p95": round(lat[int(len(lat) * 0.95)], 2),
        "check_ms_p99": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 2),
        "check_sql_ms_median": round(statistics.median(lat_sql), 1),
        "check_sql_ms_p99": round(lat_sql[min(len(lat_sql) - 1, int(len(lat_sql) * 0.99))], 1),
        "check_lines": len(rx["lines"]),
        "evaluation": [{k: (str(v) if v is not None and k in ("recall", "precision") else v) for k, v in r.items()}
                       for r in ev_rows],
    }
    print(json.dumps(result, ensure_ascii=False, indent=1))
    print()
    print(markdown(result))


def scaled_region(workspace: Path, k: int):
    """A scratch DuckDB file with the workspace's persons, cases and lines repeated ``k`` times (new ids)."""
    path = workspace.parent / f"{workspace.name}-review-x{k}.duckdb"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        con = duckdb.connect(str(tmp))
        con.execute(f"ATTACH '{workspace / 'yibao.duckdb'}' AS ws (READ_ONLY)")
        con.execute("CREATE TABLE institutions AS SELECT * FROM ws.institutions")
        con.execute("CREATE TABLE catalog AS SELECT * FROM ws.catalog")
        con.execute(f"CREATE TABLE insured AS SELECT * REPLACE (person_id || '#' || r.k AS person_id) "
                    f"FROM ws.insured, range({k}) r(k)")
        con.execute(f"CREATE TABLE cases AS SELECT * REPLACE (case_id || '#' || r.k AS case_id, "
                    f"person_id || '#' || r.k AS person_id) FROM ws.cases, range({k}) r(k) ORDER BY case_id")
        con.execute(f"CREATE TABLE fee_items AS SELECT * REPLACE (case_id || '#' || r.k AS case_id) "
                    f"FROM ws.fee_items, range({k}) r(k) ORDER BY case_id, line_no")
        con.close()
        tmp.rename(path)
    return duckdb.connect(str(path), read_only=True)


def markdown(r: dict) -> str:
    steps = " · ".join(f"{k.removeprefix('review_')} {v} s" for k, v in r["steps"].items())
    lines = [
        f"### Claims review (智能审核): {r['cases']:,} cases, {r['lines']:,} fee lines (`bench/bench_review.py`)",
        "",
        f"Measured {r['date']} on {r['machine']}; workspace opened read-only; {r['rules']} rules enabled.",
        "",
        "| what | figure |",
        "|---|---|",
        f"| full rule set (all steps) | {r['total_s']} s |",
        f"| steps | {steps} |",
        (f"| line rules (one pass, all line rules; best of {len(r['line_step_runs_s'])}: "
         f"{' / '.join(str(x) for x in r['line_step_runs_s'])} s) | {r['line_rules_lines_per_s']:,} lines/s |"),
        (f"| bare baseline over the same lines (scan + catalogue version; best of {len(r['baseline_runs_s'])}: "
         f"{' / '.join(str(x) for x in r['baseline_runs_s'])} s) | {r['baseline_lines_per_s'] or 0:,} lines/s; "
         f"line step ÷ baseline = **{r['line_step_over_baseline']}** |"),
        (f"| load average (1 / 5 / 15 min) before → after | {' / '.join(map(str, r['load_before']))} → "
         f"{' / '.join(map(str, r['load_after']))} |"),
        f"| summaries and deductions | {r['summaries_s']} s |",
        f"| peak resident memory | {r['peak_rss_gb']} GB |",
        f"| findings | {r['findings']:,}; deductions {r['deductions_total']} yuan |",
        (f"| before-the-fact check, {r['check_lines']} lines (median / p95 / p99) | single-case forms "
         f"{r['check_ms_median']} ms / "
         f"{r['check_ms_p95']} ms / {r['check_ms_p99']} ms; SQL over the one case {r['check_sql_ms_median']} ms / p99 "
         f"{r['check_sql_ms_p99']} ms |"),
    ]
    if r["case_line_rule_s"]:
        lines.append("| case-line rules, each alone | " + " · ".join(f"{k} {v} s" for k, v in r["case_line_rule_s"].items())
                     + " |")
    if r["evaluation"]:
        lines += ["", "| pattern | rules | labelled | flagged | correct | recall | precision |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for e in r["evaluation"]:
            lines.append(f"| {e['pattern']} | {e['rules'].replace('|', ' ')} | {e['labelled']} | {e['flagged']} | "
                         f"{e['true_positive']} | {e['recall']} | {e['precision']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
