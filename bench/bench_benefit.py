"""Benchmark: the benefit calculator (待遇计算) over a year of cases (target ≥ 1 M cases/s).

    PYTHONPATH=src .venv/bin/python bench/bench_benefit.py [--cases 200000] [--lines 6] [--seed 1] [--threads N]

Cases, fee lines (``--lines`` per case on average), a 2 000-item catalogue with versions and institutions are
generated in memory (numpy, fixed seed) and handed to DuckDB as Arrow tables. Timed separately:

- ``calculator``: the policy over a ready cost base (deductible per stay / per year with running sums, three
  cost bands, the annual cap in settlement order) — the part the target is about: with the payment only
  (``row_id, row_kind, fund_computed, difference``: what a caller that pays or checks needs) and with all 33
  result columns (the explanation columns: what ``benefit.csv`` writes);
- ``full``: the cost base from the lines and the catalogue valid on each line's date, then the calculator;
- ``check``: the B01 findings (booked vs computed, with the Chinese arithmetic) of the computed table;
- ``baseline``: a bare DuckDB ``GROUP BY case_id`` summing the same fee lines, in the same run — the machine is
  shared, so the figures to compare across runs are the ratios to it (``× baseline``: the step's time over the
  baseline's; the target "≥ 1 M cases/s" means the calculator at about the speed of that bare aggregate).

Each step is timed ``--repeat`` times (best kept). ``--workspace WS``: the cost base from a loaded workspace
(e.g. a 1 M-case region) instead of generated tables. Prints a Markdown block for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute

from yibao.benefit.check import findings
from yibao.benefit.compute import Sources, calculate, case_base_sql
from yibao.benefit.policy import load_policy
from yibao.engine.workspace import DB_FILE

BASELINE = "SELECT count(*), sum(x) FROM (SELECT f.case_id, sum(f.amount) AS x FROM fee_items f GROUP BY f.case_id)"
PAYMENT = ("row_id", "row_kind", "fund_computed", "difference")


def region(n: int, lines: int, seed: int) -> dict[str, pa.Table]:
    rng = np.random.default_rng(seed)
    n_items, n_inst, n_people = 2000, 200, max(n // 8, 1)
    d0 = np.datetime64("2025-01-01")
    money = pa.decimal128(18, 2)

    def dec(fen: np.ndarray) -> pa.Array:  # exact: "123.45" text cast to decimal128(18,2)
        txt = np.char.add(np.char.add((fen // 100).astype(str), "."), np.char.zfill((fen % 100).astype(str), 2))
        return pa.compute.cast(pa.array(txt), money)

    cls = rng.choice(np.array(["A", "B", "C"]), n_items, p=[0.6, 0.3, 0.1])
    items = np.char.add("I", np.arange(n_items).astype(str))
    catalog = pa.table({
        "item_code": np.concatenate([items, items[:200]]),
        "class": np.concatenate([cls, cls[:200]]),
        "self_pay_ratio": pa.array(np.concatenate([np.where(cls == "B", 0.1, np.nan), np.where(cls[:200] == "B", 0.15, np.nan)]),
                                   pa.float64(), from_pandas=True).cast(pa.decimal128(9, 4)),
        "valid_from": pa.array(np.concatenate([np.full(n_items, np.datetime64("2020-01-01")),
                                               np.full(200, np.datetime64("2025-07-01"))]).astype("datetime64[D]")),
        "valid_to": pa.array([None] * (n_items + 200), pa.date32()),
    })
    inst = pa.table({"institution_id": np.char.add("H", np.arange(n_inst).astype(str)),
                     "level": rng.integers(0, 4, n_inst).astype(np.int32),
                     "region_code": np.full(n_inst, "440203")})
    nl = rng.poisson(lines, n) + 1
    case_of = np.repeat(np.arange(n), nl)
    amount = rng.integers(100, 200_000, len(case_of))
    total = np.bincount(case_of, weights=amount, minlength=n).astype(np.int64)
    setting = rng.choice(np.array(["inpatient", "outpatient"]), n, p=[0.2, 0.8])
    settle = d0 + rng.integers(0, 365, n).astype("timedelta64[D]")
    cases = pa.table({
        "case_id": np.char.add("K", np.arange(n).astype(str)),
        "person_id": np.char.add("P", rng.integers(0, n_people, n).astype(str)),
        "institution_id": np.char.add("H", rng.integers(0, n_inst, n).astype(str)),
        "scheme": rng.choice(np.array(["employee", "resident"]), n),
        "setting": setting,
        "principal_dx": rng.choice(np.array(["K80.1", "E11.9", "J06.9", "I10.x"]), n),
        "total_cost": dec(total), "fund_paid": dec((total * 0.7).astype(np.int64)),
        "settle_date": pa.array(settle.astype("datetime64[D]")),
    })
    fee = pa.table({"case_id": pa.compute.take(cases["case_id"], pa.array(case_of)),
                    "line_no": pa.array(np.arange(len(case_of)), pa.int32()),
                    "item_code": items[rng.integers(0, n_items, len(case_of))], "amount": dec(amount),
                    "service_date": pa.compute.take(cases["settle_date"], pa.array(case_of))})
    return {"cases": cases, "fee_items": fee, "catalog": catalog, "institutions": inst}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=200_000)
    ap.add_argument("--lines", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workspace", default=None, help="a loaded workspace (read-only) instead of generated tables")
    ap.add_argument("--year", default="2025", help="year(s) of the cost base, e.g. 2023,2024,2025 (the calculator "
                    "accumulates within each person's year)")
    a = ap.parse_args()
    pol = load_policy()
    if a.workspace:
        con = duckdb.connect(os.path.join(a.workspace, DB_FILE), read_only=True)
        src = Sources("cases", "fee_items", "catalog", "institutions", "insured")
    else:
        t = region(a.cases, a.lines, a.seed)
        con = duckdb.connect()
        for k, v in t.items():
            con.register(k, v)
        src = Sources("cases", "fee_items", "catalog", "institutions")
    if a.threads:
        con.execute(f"SET threads = {a.threads}")

    def best(fn):
        times = []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
        return min(times), out

    years = [int(x) for x in str(a.year).split(",")]
    base_sql = " UNION ALL ".join(f"({case_base_sql(src, pol, y)})" for y in years)
    t_line, _ = best(lambda: con.execute(BASELINE).fetchall())
    t_base, _ = best(lambda: con.execute(f"CREATE OR REPLACE TEMP TABLE base AS {base_sql}"))
    load0 = os.getloadavg()[0]
    t_pay, _ = best(lambda: calculate(con, "base", pol, columns=PAYMENT))
    t_calc, res = best(lambda: calculate(con, "base", pol))
    t_check, f = best(lambda: findings(con, res, "0.01"))
    t_line2, _ = best(lambda: con.execute(BASELINE).fetchall())  # the baseline again: the load moves
    t_line = min(t_line, t_line2)
    n = res.num_rows
    lines = con.execute("SELECT count(*) FROM fee_items").fetchall()[0][0]
    print(f"### bench_benefit — {n:,} cases, {lines:,} lines ({platform.machine()}, {os.cpu_count()} cores, "
          f"DuckDB {duckdb.__version__}{', threads ' + str(a.threads) if a.threads else ''}, "
          f"best of {a.repeat}, load average {load0:.1f} → {os.getloadavg()[0]:.1f})\n")
    print("| step | seconds | cases/s | × baseline |\n|---|---|---|---|")

    def row(label, secs):
        print(f"| {label} | {secs:.3f} | {n / secs:,.0f} | {secs / t_line:.2f} |")

    row("baseline: bare `GROUP BY case_id` over the fee lines", t_line)
    row("calculator, the payment (`row_id, row_kind, fund_computed, difference`), to Arrow", t_pay)
    row("calculator, all 33 result columns, to Arrow", t_calc)
    row("cost base (lines × catalogue valid on the line's date)", t_base)
    row("full (cost base + calculator to Arrow)", t_base + t_calc)
    row(f"check B01 ({f.num_rows:,} findings with their arithmetic)", t_check)


if __name__ == "__main__":
    main()
