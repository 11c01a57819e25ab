"""Opt-in institution- and doctor-level fraud schemes (``yibao synth --schemes``, issue 17 §2), labelled in
``scheme_labels.csv`` (``level,institution_id,staff_id,scheme``) for ``yibao leads --evaluate``.

Off by default: without ``--schemes`` no random number is drawn here and the region is byte-identical to one
generated before this module existed. With it, a random generator of its own (seeded from the region's seed)
picks:

- ``inflated_los`` — one general hospital of level ≥ 2 whose clean inpatient stays are kept
  ``LOS_FACTOR`` times longer (the fee lines follow: more bed days, nursing, drugs, so the cost rises too);
- ``split_admission_doctor`` — at the hospital with the most injected split admissions (another one), one
  physician becomes the attending doctor of every split admission there and of the stay it was split from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

LOS_FACTOR = 2.2
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
