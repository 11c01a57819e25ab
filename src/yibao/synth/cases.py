"""Case specifications: which group, when, where, who — before any fee line exists.

A case spec is a dict of equal-length numpy arrays (see :data:`SPEC_KEYS`). Persons are drawn so that the clean
data never holds two overlapping visits of one person, a readmission with the same 3-character diagnosis within
``readmit_window_days``, or a visit after the person's death.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from yibao.synth.params import SynthParams
from yibao.synth.population import Institutions, Insured, days, ymd
from yibao.synth.refdata import Group, Items

INPATIENT, OUTPATIENT, PHARMACY = 0, 1, 2
SETTINGS = ("inpatient", "outpatient", "pharmacy")
SPEC_KEYS = ("group", "setting", "inst", "person", "admit", "los", "emergency", "sex", "age_target", "dx",
             "anchor")
# Chinese New Year (春节) dates: elective admissions and visits dip around them.
_CNY = ("2020-01-25", "2021-02-12", "2022-02-01", "2023-01-22", "2024-02-10", "2025-01-29", "2026-02-17",
        "2027-02-06", "2028-01-26", "2029-02-13", "2030-02-03")


@dataclass
class World:
    """Everything the case and line builders share."""

    p: SynthParams
    items: Items
    groups: list[Group]
    inst: Institutions
    start: int
    end: int
    dx_vocab: list[str] = field(default_factory=list)
    dx_index: dict[str, int] = field(default_factory=dict)
    proc_vocab: list[str] = field(default_factory=list)
    proc_index: dict[str, int] = field(default_factory=dict)

    def dx_id(self, code: str) -> int:
        if code not in self.dx_index:
            self.dx_index[code] = len(self.dx_vocab)
            self.dx_vocab.append(code)
        return self.dx_index[code]

    def proc_id(self, code: str) -> int:
        if code not in self.proc_index:
            self.proc_index[code] = len(self.proc_vocab)
            self.proc_vocab.append(code)
        return self.proc_index[code]

    def garr(self, attr: str, dtype=float) -> np.ndarray:
        return np.array([getattr(g, attr) for g in self.groups], dtype)


def group_slices(group: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """Case indices of each group (one argsort instead of a scan per group)."""
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(n_groups + 1))
    return [order[bounds[g]:bounds[g + 1]] for g in range(n_groups)]


def day_weights(w: World, setting: int, season: str) -> np.ndarray:
    d = np.arange(w.start, w.end + 1)
    y, m, dd = ymd(d)
    doy = d - np.array([days(f"{yy}-01-01") for yy in range(int(y[0]), int(y[-1]) + 1)])[y - y[0]]
    wt = np.ones(len(d))
    if season == "winter":
        wt *= 1 + 0.35 * np.cos(2 * np.pi * (doy - 15) / 365.25)
    elif season == "summer":
        wt *= 1 + 0.25 * np.cos(2 * np.pi * (doy - 200) / 365.25)
    dow = (d + 3) % 7  # 0 = Monday
    week = {INPATIENT: (1.1, 1.1, 1.1, 1.05, 1.05, 0.8, 0.7), OUTPATIENT: (1.2, 1.1, 1.05, 1.05, 1.0, 0.85, 0.75),
            PHARMACY: (1.0, 1.0, 1.0, 1.0, 1.0, 1.05, 1.05)}[setting]
    wt *= np.array(week)[dow]
    for c in _CNY:
        cny = days(c)
        near = np.abs(d - cny) <= 7
        wt[near] *= 0.55 if setting != PHARMACY else 0.8
    wt *= (1 + w.p.growth_per_year) ** (y - y[0])
    return wt / wt.sum()


def institution_probs(w: World, g: Group) -> np.ndarray:
    """Where a case of group ``g`` is treated: capacity by kind/level × category affinity."""
    inst, p = w.inst, w.p
    n = inst.n
    if g.setting == "pharmacy":
        wt = np.where(inst.kind == "pharmacy", inst.size, 0.0)
        return wt / wt.sum()
    cap = p.inpatient_capacity if g.setting == "inpatient" else p.outpatient_capacity
    base = np.array([cap.get((k, int(lv)), 0.0) for k, lv in zip(inst.kind, inst.level)]) * inst.size
    surgical = bool(g.surgery)
    aff = np.ones(n)
    cat, spec, kind = inst.category, inst.specialty, inst.kind
    mch = g.specialty in ("obstetrics", "gynecology", "neonate", "pediatrics")
    aff[cat == "maternal_child"] = 4.0 if mch else 0.0
    aff[cat == "specialist"] = 0.0
    aff[(cat == "specialist") & (spec == g.specialty)] = 6.0
    aff[cat == "tcm"] = 3.0 if g.specialty == "tcm" else (0.3 if surgical else 1.0)
    aff[cat == "other"] = 0.2 if surgical else 0.5
    if g.setting == "inpatient":
        aff[(kind == "primary") & (surgical or bool(g.specialty) or g.min_level > 1)] = 0.0
    else:
        aff[(kind == "primary") & (g.specialty not in ("", "pediatrics", "tcm"))] = 0.2
    aff[inst.level < g.min_level] = 0.0
    aff[kind == "pharmacy"] = 0.0
    if g.setting == "inpatient":  # case mix: complex stays concentrate at level-3 hospitals
        tier_aff = p.tier_level_affinity[g.tier]
        aff *= np.array([tier_aff[int(lv)] for lv in range(4)])[inst.level]
    wt = base * aff
    if wt.sum() <= 0:  # fall back to general hospitals of a sufficient level
        wt = np.where((kind == "hospital") & (cat == "general") & (inst.level >= max(g.min_level, 2)), 1.0, 0.0)
    return wt / wt.sum()


def sample_specs(w: World, rng: np.random.Generator, setting: int, n: int, group_weight: np.ndarray) -> dict:
    """``n`` case specs of one setting: group, admission date, length of stay, institution, sex, target age."""
    gset = np.array([SETTINGS.index(g.setting) for g in w.groups])
    wt = np.where(gset == setting, group_weight, 0.0)
    group = rng.choice(len(w.groups), n, p=wt / wt.sum())
    admit = np.zeros(n, np.int64)
    inst = np.zeros(n, np.int64)
    los = np.zeros(n, np.int64)
    sex = np.zeros(n, np.int8)
    age = np.zeros(n, np.int64)
    emergency = np.zeros(n, bool)
    dx = np.zeros(n, np.int64)
    levels = w.inst.level
    n_days = w.end - w.start + 1
    season_w = {s: day_weights(w, setting, s) for s in ("flat", "winter", "summer")}
    for gi, idx in enumerate(group_slices(group, len(w.groups))):
        if not len(idx):
            continue
        g = w.groups[gi]
        k = len(idx)
        admit[idx] = w.start + rng.choice(n_days, k, p=season_w.get(g.season, season_w["flat"]))
        inst[idx] = rng.choice(w.inst.n, k, p=institution_probs(w, g))
        if setting == INPATIENT:
            lf = np.array([w.p.los_level_factor[int(lv)] for lv in range(4)])[levels[inst[idx]]]
            cap = w.p.los_cap_psychiatry if g.specialty == "psychiatry" else w.p.los_cap
            los[idx] = np.clip(np.rint(rng.lognormal(np.log(g.los_median * lf), g.los_sigma)), 1, cap)
        sex[idx] = np.where(rng.random(k) < g.male_share, 1, 2)
        a = rng.normal(g.age_mean, g.age_sd, k) if g.age_sd > 0 else np.full(k, g.age_mean)
        age[idx] = np.clip(np.floor(a), g.age_lo, g.age_hi)
        emergency[idx] = rng.random(k) < g.emergency_rate
        dx[idx] = np.array([w.dx_id(c) for c in g.dx])[rng.integers(0, len(g.dx), k)]
    # stays end inside the period
    admit = np.minimum(admit, w.end - los)
    return {"group": group, "setting": np.full(n, setting, np.int8), "inst": inst, "person": np.full(n, -1),
            "admit": admit, "los": los, "emergency": emergency, "sex": sex, "age_target": age, "dx": dx,
            "anchor": np.full(n, -1)}


def concat(specs: list[dict]) -> dict:
    return {k: np.concatenate([s[k] for s in specs]) for k in specs[0]}


def take(spec: dict, idx: np.ndarray) -> dict:
    return {k: v[idx] for k, v in spec.items()}


class PersonPool:
    """Persons sorted by (sex, birth date) for drawing a person of a given sex and age at a date."""

    def __init__(self, ins: Insured, eligible: np.ndarray):
        self.by_sex = {}
        for s in (1, 2):
            ids = np.flatnonzero(eligible & (ins.sex == s))
            order = np.argsort(ins.birth[ids], kind="stable")
            self.by_sex[s] = (ids[order], ins.birth[ids][order])

    def draw(self, rng: np.random.Generator, sex: np.ndarray, age: np.ndarray, lo_age: np.ndarray,
             hi_age: np.ndarray, on: np.ndarray) -> np.ndarray:
        out = np.full(len(sex), -1, np.int64)
        for s in (1, 2):
            m = np.flatnonzero(sex == s)
            ids, births = self.by_sex[s]
            if not len(m) or not len(ids):
                continue
            res = np.full(len(m), -1, np.int64)
            for a_lo, a_hi in ((age[m], age[m]), (lo_age[m], hi_age[m])):
                todo = res < 0
                lo = np.searchsorted(births, on[m] - np.ceil((a_hi + 1) * 365.25).astype(np.int64) + 1, "left")
                hi = np.searchsorted(births, on[m] - np.floor(a_lo * 365.25).astype(np.int64), "right")
                ok = todo & (hi > lo)
                pick = lo + (rng.random(len(m)) * np.maximum(hi - lo, 1)).astype(np.int64)
                res = np.where(ok, ids[np.minimum(pick, len(ids) - 1)], res)
            # nearest birth date as a last resort (tiny populations)
            todo = res < 0
            if todo.any():
                target = on[m] - (age[m] * 365.25).astype(np.int64)
                near = np.clip(np.searchsorted(births, target), 0, len(ids) - 1)
                res = np.where(todo, ids[near], res)
            out[m] = res
        return out


def conflicts(spec: dict, death: np.ndarray, dx3: np.ndarray, window: int) -> np.ndarray:
    """Cases that break a clean-data invariant for their person (the later case of each pair is flagged).

    - a visit starting on or before the latest discharge of an earlier stay of the same person (overlap);
    - a stay whose 3-character principal diagnosis equals that of one of the person's 3 previous stays
      discharged at most ``window`` days before (would look like a split admission);
    - a visit after the person's death date.
    """
    person, admit = spec["person"], spec["admit"]
    disch = admit + spec["los"]
    ip = spec["setting"] == INPATIENT
    order = np.lexsort((~ip, admit, person))  # a stay sorts before a visit on its admission day
    ps, ad, di, ips = person[order], admit[order], disch[order], ip[order]
    bad = np.zeros(len(order), bool)
    key = ps.astype(np.int64) << 20
    run = np.maximum.accumulate(np.where(ips, key + di, key))
    prev = np.empty_like(run)
    prev[0] = -1
    prev[1:] = run[:-1]
    same = (prev >> 20) == ps
    bad |= same & (ad <= (prev - key))
    # readmissions with the same diagnosis category among stays
    ii = np.flatnonzero(ips)
    pp, aa, dd, cc = ps[ii], ad[ii], di[ii], dx3[spec["dx"][order][ii]]
    for lag in (1, 2, 3):
        if len(ii) <= lag:
            break
        hit = (pp[lag:] == pp[:-lag]) & (cc[lag:] == cc[:-lag]) & (aa[lag:] - dd[:-lag] <= window)
        bad[ii[lag:][hit]] = True
    dead = death[ps]
    bad |= (dead > -(2**61)) & (di > dead)
    out = np.zeros(len(order), bool)
    out[order] = bad
    return out
