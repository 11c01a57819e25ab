"""Robust z-scores per peer group, an isolation forest over them, one score, reasons in Chinese.

Parameters (one place, documented in docs/leads.md):

- ``MIN_PEERS``: a peer group with fewer entities is pooled into the level's whole population. For a doctor, the
  z-score of a feature is the smaller of the one among department peers and the one among the doctors of the
  same institution (when it has at least ``MIN_PEERS`` of them).
- ``SHRINK_CASES``: a z-score is multiplied by ``n / (n + SHRINK_CASES)`` (n = the entity's cases, its
  inpatient stays for an inpatient feature), so a
  doctor with 3 cases does not outrank one with 300 on one odd stay.
- ``Z_CLIP``: robust z-scores are clipped to ``[-Z_CLIP, Z_CLIP]``.
- ``W_Z`` / ``W_FOREST``: the weights of the robust part (mean of the three largest positive z, mapped to
  ``[0, 1)`` by ``s / (s + 3)``) and of the isolation-forest part (the entity's anomaly rank in its level, 0..1).
- ``FOREST``: scikit-learn ``IsolationForest`` settings, fixed ``random_state``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pyarrow as pa
from sklearn.ensemble import IsolationForest

from yibao.leads.features import FEATURES, Feature

MIN_PEERS = 5
SHRINK_CASES = 10
Z_CLIP = 10.0
W_Z, W_FOREST = Decimal("0.7"), Decimal("0.3")
FOREST = {"n_estimators": 200, "random_state": 20240101, "max_samples": "auto"}
SCALE_MAD = 1.4826  # MAD → σ for a normal distribution
SCALE_MEANAD = 1.2533  # mean absolute deviation → σ (used when the MAD is 0)
Q4 = Decimal("0.0001")


def _robust(x: np.ndarray) -> tuple[float, float]:
    """(median, robust σ) of the finite values; σ 0 when they are all equal."""
    v = x[np.isfinite(x)]
    if v.size == 0:
        return float("nan"), 0.0
    med = float(np.median(v))
    dev = np.abs(v - med)
    s = SCALE_MAD * float(np.median(dev))
    if s == 0:
        s = SCALE_MEANAD * float(np.mean(dev))
    return med, s


def _zscores(X: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(robust z, group median) of every cell, per group of rows."""
    Z = np.zeros_like(X)
    MED = np.full_like(X, np.nan)
    for g in sorted(set(groups)):
        m = groups == g
        for j in range(X.shape[1]):
            med, s = _robust(X[m, j])
            MED[m, j] = med
            if s > 0:
                Z[m, j] = np.clip((X[m, j] - med) / s, -Z_CLIP, Z_CLIP)
    return Z, MED


def _fmt(unit: str, v: float) -> str:
    if unit == "pct":
        return f"{v * 100:.1f}%"
    if unit == "days":
        return f"{v:.1f} 天"
    if unit == "count":
        return f"{v:.0f} 人"
    if unit == "per100":
        return f"{v:.1f} 个"
    return f"{v:.2f}"


def score_level(t: pa.Table, level: str, features: list[Feature] | None = None) -> tuple[list[dict], list[dict]]:
    """(lead rows ranked, long feature rows) of one level's feature table, over ``features`` (default: the
    features that need no optional input)."""
    feats = [f for f in (features if features is not None else [f for f in FEATURES if f.source in ("", "proxy")])
             if level in f.levels]
    rows = t.to_pylist()
    rows.sort(key=lambda r: (r["institution_id"], r["staff_id"] or ""))
    n = len(rows)
    if n == 0:
        return [], []
    X = np.array([[np.nan if r[f.name] is None else float(r[f.name]) for f in feats] for r in rows], dtype=float)
    groups = np.array([r["peer_group"] for r in rows], dtype=object)
    sizes = {g: int((groups == g).sum()) for g in set(groups)}
    eff = np.array([g if sizes[g] >= MIN_PEERS else "*" for g in groups], dtype=object)
    cases = np.array([[r["inpatient_cases"] if f.inpatient else r["cases"] for f in feats] for r in rows], dtype=float)
    shrink = cases / (cases + SHRINK_CASES)
    Z, MED = _zscores(X, eff)
    if level == "doctor":
        # a doctor stands out only where they also stand out among their own institution's doctors: a pattern
        # of the whole institution is the institution's lead, not one lead per doctor of it
        inst = np.array([r["institution_id"] for r in rows], dtype=object)
        isz = {g: int((inst == g).sum()) for g in set(inst)}
        own = np.array([g if isz[g] >= MIN_PEERS else "" for g in inst], dtype=object)
        Zi, _ = _zscores(X, own)
        Z = np.where(own[:, None] != "", np.minimum(Z, Zi), Z)
    Z = np.where(np.isfinite(Z), Z, 0.0) * shrink
    Z = np.round(Z, 6)  # determinism across platforms before the forest and the ordering
    # isolation forest over the z-scores (missing → 0, the peer median)
    if n >= 2:
        forest = IsolationForest(**FOREST).fit(Z)
        anom = -forest.score_samples(Z)
        order = np.lexsort((np.arange(n), np.round(anom, 9)))
        pr = np.empty(n)
        pr[order] = np.arange(n) / (n - 1)
    else:
        pr = np.zeros(n)
    out, long = [], []
    for i, r in enumerate(rows):
        pos = sorted(((Z[i, j], j) for j in range(len(feats)) if Z[i, j] > 0), key=lambda p: (-p[0], p[1]))[:3]
        s = float(sum(p[0] for p in pos)) / 3.0
        zpart = Decimal(f"{float(s) / (float(s) + 3.0):.6f}")
        fpart = Decimal(f"{float(pr[i]):.6f}")
        score = (W_Z * zpart + W_FOREST * fpart).quantize(Q4, ROUND_HALF_UP)
        peer = "同类机构" if level == "institution" else "同科室医师"
        parts = [f"{feats[j].zh} {_fmt(feats[j].unit, X[i, j])}，{peer}中位数 {_fmt(feats[j].unit, MED[i, j])}"
                 f"（稳健Z值 {Z[i, j]:.1f}）" for _, j in pos]
        reasons = "；".join(parts) + "。" if parts else f"各项特征均不高于{peer}中位数（仅孤立森林异常度 {pr[i]:.2f}）。"
        out.append({"level": level, "institution_id": r["institution_id"], "staff_id": r["staff_id"] or "",
                    "score": score, "reasons": reasons, "cases": r["cases"], "peer_group": r["peer_group"],
                    "top": [feats[j].name for _, j in pos]})
        for j, f in enumerate(feats):
            long.append({"level": level, "institution_id": r["institution_id"], "staff_id": r["staff_id"] or "",
                         "peer_group": r["peer_group"] if eff[i] != "*" else r["peer_group"] + "（并入全体）",
                         "cases": r["cases"], "feature": f.name, "feature_zh": f.zh,
                         "value": None if not np.isfinite(X[i, j]) else round(float(X[i, j]), 6),
                         "peer_median": None if not np.isfinite(MED[i, j]) else round(float(MED[i, j]), 6),
                         "robust_z": round(float(Z[i, j]), 4)})
    out.sort(key=lambda o: (-o["score"], o["institution_id"], o["staff_id"]))
    for k, o in enumerate(out, 1):
        o["rank"] = k
    return out, long
