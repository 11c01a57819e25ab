"""Benchmark: payment-qualification statuses derived from a ledger of 1 M events (target < 10 s).

    .venv/bin/python bench/bench_staff.py [--events 1000000] [--seed 1]

The ledger is generated in memory, deterministically (numpy, fixed seed): one registration per
staff member, findings (70 % of events) with the synthetic generator's point bands and a share
of repeat offenders so that many people reach 9 and 12 points, and repairs. Timed: the
periods of every person (``rules.derive`` over all events) and the contract status of every
person on one date (``rules.status_as_of``). Prints a Markdown block for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import time

import numpy as np
import pyarrow as pa

from yibao.staff.policy import load_policy
from yibao.staff.rules import EVENTS, derive, status_as_of

EPOCH = dt.date(1970, 1, 1)
BASES = np.array(["admin_penalty", "agreement_termination", "agreement_suspension", "liquidated_damages", "warning"],
                 object)


def ledger(n_events: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    n_staff = n_events // 5
    n_sanctions = int(n_events * 0.7)
    n_repairs = n_events - n_staff - n_sanctions
    start = (dt.date(2022, 1, 1) - EPOCH).days
    end = (dt.date(2025, 12, 31) - EPOCH).days
    staff_ids = np.char.add("D", np.char.zfill(np.arange(n_staff).astype(str), 12))
    # repeat offenders: 20 % of staff carry 80 % of the findings
    heavy = rng.random(n_sanctions) < 0.8
    who = np.where(heavy, rng.integers(0, n_staff // 5, n_sanctions), rng.integers(0, n_staff, n_sanctions))
    band = rng.choice(5, n_sanctions, p=[0.5, 0.3, 0.15, 0.03, 0.02])
    lo = np.array([1, 4, 7, 10, 12])[band]
    hi = np.array([3, 6, 9, 11, 12])[band]
    points = rng.integers(lo, hi + 1)
    fraud = band == 4
    resp = np.array(["main", "secondary", "none"], object)[rng.choice(3, n_sanctions, p=[0.6, 0.35, 0.05])]
    basis = BASES[rng.choice(5, n_sanctions, p=[0.3, 0.05, 0.2, 0.43, 0.02])]
    sday = rng.integers(start, end + 1, n_sanctions)
    rwho = rng.integers(0, n_staff // 5, n_repairs)
    rday = rng.integers(start, end + 1, n_repairs)
    reduced = rng.integers(0, 4, n_repairs)
    shorten = np.where(rng.random(n_repairs) < 0.5, rng.integers(5, 61, n_repairs), 0)
    reg_day = rng.integers(start - 3650, start, n_staff)

    def dates(days):
        return pa.array(days.astype("datetime64[D]"), pa.date32())

    n = n_staff + n_sanctions + n_repairs
    kind = np.concatenate([np.full(n_staff, "registration", object), np.full(n_sanctions, "sanction", object),
                           np.full(n_repairs, "repair", object)])
    ids = np.concatenate([np.arange(n_staff), who, rwho])
    none_i = pa.nulls(n_staff, pa.int64())
    t = pa.table({
        "staff_id": pa.array(staff_ids[ids].astype(object), pa.string()),
        "kind": pa.array(kind, pa.string()),
        "day": pa.concat_arrays([dates(reg_day), dates(sday), dates(rday)]),
        "ref_id": pa.array(np.char.add("E", np.arange(n).astype(str)).astype(object), pa.string()),
        "seq": pa.array(np.arange(n), pa.int64()),
        "institution_id": pa.nulls(n, pa.string()),
        "basis": pa.concat_arrays([pa.nulls(n_staff, pa.string()), pa.array(basis, pa.string()),
                                   pa.nulls(n_repairs, pa.string())]),
        "responsibility": pa.concat_arrays([pa.nulls(n_staff, pa.string()), pa.array(resp, pa.string()),
                                            pa.nulls(n_repairs, pa.string())]),
        "points": pa.concat_arrays([none_i, pa.array(points, pa.int64()), pa.nulls(n_repairs, pa.int64())]),
        "fraud": pa.concat_arrays([pa.nulls(n_staff, pa.bool_()), pa.array(fraud), pa.nulls(n_repairs, pa.bool_())]),
        "points_reduced": pa.concat_arrays([none_i, pa.nulls(n_sanctions, pa.int64()), pa.array(reduced, pa.int64())]),
        "shorten_days": pa.concat_arrays([none_i, pa.nulls(n_sanctions, pa.int64()), pa.array(shorten, pa.int64())]),
        "until": pa.nulls(n, pa.date32()),
        "origin": pa.nulls(n, pa.string()),
    })
    return t.cast(EVENTS)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    pol = load_policy()
    t0 = time.perf_counter()
    events = ledger(args.events, args.seed)
    t_gen = time.perf_counter() - t0

    t0 = time.perf_counter()
    d = derive(events, pol)
    t_derive = time.perf_counter() - t0

    t0 = time.perf_counter()
    st, _ = status_as_of(events, None, pol, dt.date(2025, 6, 30))
    t_status = time.perf_counter() - t0

    counts = {s: 0 for s in ("active", "suspended", "terminated")}
    for s in st.column("status").to_pylist():
        counts[s] += 1
    per = d.periods.column("status").to_pylist()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"""
### Payment qualification (医保支付资格): statuses from a 1 M-event ledger — `bench/bench_staff.py`

{dt.date.today()}, {platform.node() or 'machine'} ({os.cpu_count()} cores, shared), Python {platform.python_version()},
`.venv/bin/python bench/bench_staff.py --events {args.events} --seed {args.seed}`

| step | figure |
|---|---|
| ledger events (registrations, findings, repairs) | {events.num_rows:,} ({len(set(events.column('staff_id').to_pylist())):,} staff) |
| generate the ledger in memory (not part of the target) | {t_gen:.2f} s |
| all periods of every person (`rules.derive`, all events) | **{t_derive:.2f} s** — {per.count('suspended'):,} suspensions, {per.count('terminated'):,} terminations; {d.rejected.num_rows:,} findings that cannot score |
| every person's status on 2025-06-30 (`rules.status_as_of`) | **{t_status:.2f} s** — active {counts['active']:,}, suspended {counts['suspended']:,}, terminated {counts['terminated']:,} |
| peak resident memory | {rss:,.0f} MB |

Target: < 10 s for all statuses from 1 M events (issue 6).
""")  # noqa: E501 (the Markdown table rows are the output)


if __name__ == "__main__":
    main()
