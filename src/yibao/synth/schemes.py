"""Opt-in institution- and doctor-level fraud schemes (``yibao synth --schemes``, issue 17 §2), labelled in
``scheme_labels.csv`` (``level,institution_id,staff_id,scheme``) for ``yibao leads --evaluate``.

Off by default: without ``--schemes`` no random number is drawn here and the region is byte-identical to one
generated before this module existed. With it, a random generator of its own (seeded from the region's seed)
picks:

- ``inflated_los`` — one general hospital of level ≥ 2 whose clean inpatient stays are kept
  ``LOS_FACTOR`` times longer (the fee lines follow: more bed days, nursing, drugs, so the cost rises too); a
  case admitted during a lengthened stay's paper days is labelled ``overlapping_stay`` (:func:`overlap_labels`);
- ``split_admission_doctor`` — at the hospital with the most injected split admissions (another one), one
  physician becomes the attending doctor of every split admission there and of the stay it was split from;
- ``phantom_patients`` — two other general hospitals of level ≥ 2 share a group of patients with paper stays
  (挂床/虚假住院) at both: for ``PHANTOM_SHARE`` of the region's inpatient stays a year (at least
  ``PHANTOM_MIN`` a year), a genuine stay of an adult patient elsewhere is followed by one copied stay at each of
  the two hospitals (same diagnosis and length, admitted ``GAP_DAYS`` apart, in the same year), their middle
  days without fee lines, both hospitals labelled at institution level; a copy is labelled ``phantom_stay`` at
  case level only when it has at least ``PHANTOM_CASE_MIN_EMPTY_DAYS`` empty middle days (what a case-level
  review can see; :func:`phantom_case_labels`);
- ``upcoding_hospital`` — one more general hospital of level ≥ 2 adds a serious secondary diagnosis (a CC/MCC
  that raises the DRG: respiratory failure, shock) without the care to ``UPCODE_SHARE`` of its clean inpatient
  stays, labelled ``upcoding`` at case level too.

Each hospital carries one scheme; the hospitals are drawn in the order inflated_los, phantom_patients (two),
upcoding_hospital.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

LOS_FACTOR = 2.2
PHANTOM_SHARE = 0.015  # copied stays per hospital a year, as a share of the region's inpatient stays a year
PHANTOM_MIN = 10  # ... at least this many a year
GAP_DAYS = (15, 45)  # days between the genuine stay's discharge and the first copy, and between the copies
PHANTOM_CASE_MIN_EMPTY_DAYS = 3  # a copy labelled phantom_stay at case level shows at least this many empty days
UPCODE_SHARE = 0.6
SCHEME_SALT = 0x5C4E3E5
LABEL_FILE = "scheme_labels.csv"


def scheme_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), SCHEME_SALT])


def inflate_los(rng: np.random.Generator, S: dict, hospitals: np.ndarray, inpatient: int, neo: np.ndarray,
                los_cap: int) -> int:
    """Lengthen the clean inpatient stays of one hospital; returns its institution number."""
    h = int(hospitals[rng.integers(0, len(hospitals))])
    m = (S["inst"] == h) & (S["setting"] == inpatient) & (S["pattern"] < 0) & ~neo
    S["los"][m] = np.clip(np.rint(S["los"][m] * LOS_FACTOR), 1, los_cap).astype(S["los"].dtype)
    return h


def overlap_labels(S: dict, h: int, inpatient: int, overlap: int, relabel: tuple[int, ...]) -> np.ndarray:
    """Cases that a lengthened stay of the ``inflated_los`` hospital ``h`` now overlaps: an inpatient stay of the
    same person admitted before the lengthened stay's (paper) discharge — the split admission split from it, or
    a stay elsewhere. What a case-level review sees there is an overlapping stay (C03: the later admission), not a
    readmission after discharge, so such a case with no label or a label in ``relabel`` (split_admission) is
    labelled ``overlapping_stay``; the data are not changed. Returns the cases relabelled."""
    n = len(S["admit"])
    ip = S["setting"] == inpatient
    order = np.lexsort((np.arange(n), S["admit"], S["person"]))
    person = S["person"][order]
    dis = np.where(ip & (S["inst"] == h), S["admit"] + S["los"], 0)[order].astype(np.int64)
    first = np.r_[True, person[1:] != person[:-1]]
    grp = np.cumsum(first) - 1
    run = np.maximum.accumulate(grp * (1 << 24) + dis) - grp * (1 << 24)  # the person's latest h discharge so far
    prev = np.r_[0, run[:-1]]
    prev[first] = 0
    hit = order[(prev > S["admit"][order]) & ip[order]]
    hit = hit[(S["pattern"][hit] < 0) | np.isin(S["pattern"][hit], relabel)]
    S["pattern"][hit] = overlap
    return np.sort(hit)


def _year(day: np.ndarray) -> np.ndarray:
    return (np.datetime64("1970-01-01", "D") + day.astype("timedelta64[D]")).astype("datetime64[Y]").astype(int) + 1970


def phantom_group(rng: np.random.Generator, S: dict, groups: list, inst_level: np.ndarray, hospitals: np.ndarray,
                  avoid: list[int], inpatient: int, neo: np.ndarray, dead: np.ndarray, pattern: int,
                  end: int) -> tuple[dict, tuple[int, int] | None]:
    """(S with the copied stays appended, the two hospitals) — or (S, None) when there are too few candidates."""
    free = hospitals[~np.isin(hospitals, avoid)]
    if len(free) < 2:
        return S, None
    a, b = (int(x) for x in rng.choice(free, 2, replace=False))
    lo_level = int(min(inst_level[a], inst_level[b]))
    ok_group = np.array([not g.specialty and not g.neonate and g.min_level <= lo_level for g in groups])
    yr = _year(S["admit"])
    cand = ((S["setting"] == inpatient) & (S["pattern"] < 0) & ~neo & ok_group[S["group"]] & ~dead[S["person"]]
            & (S["los"] >= 3) & (S["los"] <= 15) & ~np.isin(S["inst"], [a, b] + list(avoid))
            & (S["age_target"] >= 18))
    # the person's next case must come after both copies (and their settlement): none within the window
    order = np.lexsort((S["admit"], S["person"]))
    nxt = np.full(len(order), np.iinfo(np.int64).max)
    same = S["person"][order][1:] == S["person"][order][:-1]
    nxt[order[:-1][same]] = S["admit"][order][1:][same]
    picked: list[np.ndarray] = []
    g1 = rng.integers(GAP_DAYS[0], GAP_DAYS[1] + 1, len(order))
    g2 = rng.integers(GAP_DAYS[0], GAP_DAYS[1] + 1, len(order))
    a1 = S["admit"] + S["los"] + g1
    a2 = a1 + S["los"] + g2
    last = a2 + S["los"] + 20
    fits = cand & (last < nxt) & (_year(last) == yr) & (last <= end)
    for y in np.unique(yr):
        per_year = int(((S["setting"] == inpatient) & (yr == y)).sum())
        want = max(PHANTOM_MIN, round(PHANTOM_SHARE * per_year))
        c = np.flatnonzero(fits & (yr == y))
        if len(c):
            c = c[np.unique(S["person"][c], return_index=True)[1]]  # one genuine stay per person
            picked.append(rng.choice(c, min(want, len(c)), replace=False))
    idx = np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)
    if not len(idx):
        return S, None
    copies = []
    for h, start in ((a, a1), (b, a2)):
        c = {k: v[idx].copy() for k, v in S.items()}
        c["inst"][:] = h
        c["admit"] = start[idx].astype(S["admit"].dtype)
        c["pattern"][:] = pattern
        c["emergency"][:] = 0
        copies.append(c)
    return {k: np.concatenate([S[k]] + [c[k] for c in copies]) for k in S}, (a, b)


def phantom_case_labels(S: dict, pattern: int) -> np.ndarray:
    """The copied stays that keep their case-level label ``phantom_stay``: the case pattern is a stay whose
    middle days carry no bed, nursing or drug lines (days 2 .. LOS-2 of a copy: LOS-3 days), and only a copy with
    at least ``PHANTOM_CASE_MIN_EMPTY_DAYS`` such days shows it. A shorter copy is a fabricated stay with nothing
    in the case to tell it from a real one — a lead-level pattern only (``phantom_patients`` in
    scheme_labels.csv): its case label is removed (returned: the cases unlabelled). The generator's own
    ``phantom_stay`` cases (LOS × 2 + 6, ≥ 9 empty days) are never affected."""
    short = np.flatnonzero((S["pattern"] == pattern) & (S["los"] - 3 < PHANTOM_CASE_MIN_EMPTY_DAYS))
    S["pattern"][short] = -1
    return short


def upcode_hospital(rng: np.random.Generator, S: dict, cx: dict, hospitals: np.ndarray, avoid: list[int],
                    inpatient: int, neo: np.ndarray, serious: np.ndarray, pattern: int) -> int:
    """Add a serious secondary diagnosis (column 0 of ``cx["sec"]``, free for clean stays) to a share of one
    hospital's clean inpatient stays; returns the hospital (-1: none left)."""
    free = hospitals[~np.isin(hospitals, avoid)]
    if not len(free):
        return -1
    h = int(free[rng.integers(0, len(free))])
    c = np.flatnonzero((S["inst"] == h) & (S["setting"] == inpatient) & (S["pattern"] < 0) & ~neo
                       & (cx["severe"] == 0))
    up = rng.choice(c, int(round(UPCODE_SHARE * len(c))), replace=False) if len(c) else c
    S["pattern"][up] = pattern
    cx["sec"][up, 0] = serious[rng.integers(0, len(serious), len(up))]
    return h


def split_doctor(S: dict, cx: dict, staff, hospitals: np.ndarray, avoid: int, split_pattern: int,
                 inpatient: int) -> tuple[int, int] | None:
    """(institution, staff) of the splitting doctor, or None when no hospital has a split admission."""
    split = (S["pattern"] == split_pattern) & np.isin(S["inst"], hospitals) & (S["inst"] != avoid)
    if not split.any():
        return None
    counts = np.bincount(S["inst"][split], minlength=int(S["inst"].max()) + 1)
    h = int(np.argmax(counts))  # ties: the lowest institution number
    at_h = np.flatnonzero((S["inst"] == h) & (S["setting"] == inpatient) & (cx["attending"] >= 0))
    if not len(at_h):
        return None
    d = int(cx["attending"][at_h[0]])
    # the stay each split admission was split from: the same person's previous inpatient stay at h
    idx = at_h[np.lexsort((S["admit"][at_h], S["person"][at_h]))]
    prev_same = np.r_[False, S["person"][idx][1:] == S["person"][idx][:-1]]
    is_split = S["pattern"][idx] == split_pattern
    mark = np.zeros(len(S["admit"]), bool)
    mark[idx[is_split]] = True
    mark[idx[np.flatnonzero(is_split & prev_same) - 1]] = True
    cx["attending"][mark] = d
    return h, d


def write_labels(out_dir: Path, rows: list[tuple[str, str, str, str]]) -> None:
    text = "level,institution_id,staff_id,scheme\n" + "".join(",".join(r) + "\n" for r in rows)
    (Path(out_dir) / LABEL_FILE).write_text(text, encoding="utf-8")
