"""Findings against staff (sanctions.csv), repairs (repairs.csv) and the ``suspended_staff`` pattern.

Payment-qualification rule (医保发〔2024〕23号 as the contract reads it): within one calendar year, reaching
9 / 10 / 11 points suspends the qualification for 1 / 2 / 3 calendar months from the decision that reached it;
12 points terminate it. Clean cases and lines are never attributed to a staff member inside a (conservatively
widened) suspension or after a termination; labelled cases are attributed to a staff member whose two findings of
one year add up to 9-11 points, dated inside the resulting suspension, with emergency = 0.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from yibao.synth.population import Staff

BASES = ("admin_penalty", "agreement_termination", "agreement_suspension", "liquidated_damages")
FOREVER = 10**9
_EPOCH = dt.date(1970, 1, 1)


def add_months(day: int, months: int) -> int:
    d = _EPOCH + dt.timedelta(days=int(day))
    m = d.month - 1 + months
    y, m = d.year + m // 12, m % 12 + 1
    last = (dt.date(y + m // 12, m % 12 + 1, 1) - dt.timedelta(days=1)).day
    return (dt.date(y, m, min(d.day, last)) - _EPOCH).days


def _year(day: int) -> int:
    return (_EPOCH + dt.timedelta(days=int(day))).year


def make_sanctions(rng: np.random.Generator, p, staff: Staff, start: int, end: int, n_label_staff: int,
                   label_weight: np.ndarray) -> dict:
    """Sanction and repair rows plus the suspension windows they imply."""
    n_clean = int(np.clip(round(staff.n * p.sanctions_per_staff), *p.sanctions_min_max))
    role_w = np.array([0.6, 0.15, 0.05, 0.08, 0.04, 0.08])[staff.role]
    subjects = rng.choice(staff.n, n_clean, p=role_w / role_w.sum())
    repeat = rng.random(n_clean) < 0.25
    subjects[repeat] = subjects[rng.integers(0, n_clean, n_clean)][repeat]
    band = rng.choice(5, n_clean, p=[0.5, 0.3, 0.15, 0.03, 0.02])
    band[:2] = 4  # at least two fraud findings (12 points at once) and two without responsibility
    lo = np.array([1, 4, 7, 10, 12])[band]
    hi = np.array([3, 6, 9, 11, 12])[band]
    points = rng.integers(lo, hi + 1)
    fraud = band == 4
    resp = np.array(["main", "secondary", "none"], object)[rng.choice(3, n_clean, p=[0.6, 0.35, 0.05])]
    resp[2:4] = "none"
    basis = np.array(BASES, object)[rng.choice(4, n_clean, p=[0.3, 0.05, 0.2, 0.45])]
    basis[fraud] = "admin_penalty"
    resp[fraud] = "main"
    decided = rng.integers(start, end + 1, n_clean)

    # labelled suspensions: two findings in one year adding up to 9, 10 or 11 points
    taken = set(subjects.tolist())
    lw = np.where(np.isin(np.arange(staff.n), list(taken)) | (staff.role != 0), 0.0, label_weight)
    n_label_staff = min(n_label_staff, int((lw > 0).sum()))
    lab_staff = rng.choice(staff.n, n_label_staff, replace=False, p=lw / lw.sum()) if n_label_staff else np.zeros(0, int)
    lab_rows = []
    windows_lab = []
    for s in lab_staff:
        months = int(rng.integers(1, 4))
        p1, p2 = (4, 5) if months == 1 else (5, 5) if months == 2 else (6, 5)
        for _ in range(20):
            d2 = int(rng.integers(start + 60, max(start + 61, end - 100)))
            d1 = d2 - int(rng.integers(20, 60))
            if _year(d1) == _year(d2) and add_months(d2, months) <= end:
                break
        lab_rows += [(s, d1, p1), (s, d2, p2)]
        windows_lab.append((int(s), d2, add_months(d2, months)))
    ls = np.array([r[0] for r in lab_rows], np.int64)
    all_staff = np.concatenate([subjects, ls]).astype(np.int64)
    all_dates = np.concatenate([decided, [r[1] for r in lab_rows]]).astype(np.int64)
    all_points = np.concatenate([points, [r[2] for r in lab_rows]]).astype(np.int64)
    n_lab = len(lab_rows)
    all_fraud = np.concatenate([fraud, np.zeros(n_lab, bool)])
    all_resp = np.concatenate([resp, np.full(n_lab, "main", object)])
    all_basis = np.concatenate([basis, np.array(BASES, object)[rng.choice([0, 2], n_lab)]]) if n_lab else basis
    order = np.lexsort((all_staff, all_dates))
    all_staff, all_dates, all_points = all_staff[order], all_dates[order], all_points[order]
    all_fraud, all_resp, all_basis = all_fraud[order], all_resp[order], all_basis[order]

    # conservative suspension windows (every finding counts, whatever its responsibility)
    win_start = np.full(staff.n, FOREVER, np.int64)
    win_end = np.full(staff.n, -FOREVER, np.int64)
    totals: dict = {}
    for s, d, pts in zip(all_staff.tolist(), all_dates.tolist(), all_points.tolist()):
        key = (s, _year(d))
        before = totals.get(key, 0)
        totals[key] = before + pts
        if totals[key] >= 9:
            e = FOREVER if totals[key] >= 12 else add_months(d, 3 if before < 9 else 4)
            win_start[s] = min(win_start[s], d)
            win_end[s] = max(win_end[s], e)

    # repairs for some clean subjects (never for labelled staff)
    subj = np.unique(subjects)
    n_rep = int(round(len(subj) * p.repairs_share))
    rep_staff = rng.choice(subj, n_rep, replace=False) if n_rep else np.zeros(0, np.int64)
    last = {s: d for s, d in zip(all_staff.tolist(), all_dates.tolist())}
    rep_dates = np.array([min(end, last[int(s)] + int(rng.integers(30, 181))) for s in rep_staff], np.int64)
    reduced = rng.integers(0, 4, n_rep)
    shorten = np.where(rng.random(n_rep) < 0.3, rng.integers(10, 31, n_rep), 0)
    reduced[(reduced == 0) & (shorten == 0)] = 1
    return {
        "sanctions": {"staff": all_staff, "inst": staff.inst[all_staff], "date": all_dates, "points": all_points,
                      "fraud": all_fraud, "resp": all_resp, "basis": all_basis},
        "repairs": {"staff": rep_staff.astype(np.int64), "date": rep_dates, "reduced": reduced.astype(np.int64),
                    "shorten": shorten.astype(np.int64)},
        "win_start": win_start, "win_end": win_end, "labelled": windows_lab,
    }
