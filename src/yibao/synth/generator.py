"""``generate``: a complete synthetic region in the contract layout, with labelled anomalies.

Build order: institutions → case specs (group, date, place) → insured population → persons of the cases (no
overlaps, no same-diagnosis readmissions, nobody after death) → staff → injected case-level anomalies →
clinical details (diagnoses, procedures) → fee lines → line-level anomalies → settlement → sanctions and
suspended-staff attributions → files. Every step is vectorised over cases and lines; loops run over groups,
institutions or patterns only. All randomness comes from one ``SeedSequence``: same seed, same bytes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from yibao.contract.schema import LABEL_PATTERNS
from yibao.synth import anomalies as an
from yibao.synth import benefit as synth_benefit
from yibao.synth import names, refdata
from yibao.synth import schemes as schemes_mod
from yibao.synth import vary as vary_mod
from yibao.synth.cases import (
    INPATIENT,
    OUTPATIENT,
    PHARMACY,
    PersonPool,
    World,
    concat,
    conflicts,
    group_slices,
    sample_specs,
    take,
)
from yibao.synth.fund import budget_figures, ledger_columns, policy_text
from yibao.synth.lines import ItemArrays, build_pairs, expand, settle
from yibao.synth.params import SynthParams
from yibao.synth.population import (
    ROLES,
    age_years,
    days,
    make_institutions,
    make_insured,
    make_staff,
    pick_staff,
)
from yibao.synth.sanctions import make_sanctions
from yibao.synth.writer import NULL, write_table

POLICY_FILE = "budget_policy.toml"  # beside the tables: the fund figures that fit this region


def _list_array(mat: np.ndarray, vocab: list[str]) -> pa.Array:
    """A list<string> array from a matrix of vocabulary ids (-1 = empty slot); empty lists become null."""
    valid = mat >= 0
    counts = valid.sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    values = pa.array(np.asarray(vocab, object)[mat[valid]], pa.string()) if len(vocab) else pa.array([], pa.string())
    arr = pa.ListArray.from_arrays(pa.array(offsets), values)
    return pc.if_else(pa.array(counts == 0), pa.scalar(None, arr.type), arr) if (counts == 0).any() else arr


def _low_standard_group(items, varied: bool = False) -> refdata.Group:
    k = items.index
    codes = refdata.load_codes()
    if varied:  # other diagnoses, other fee lines (yibao.synth.vary)
        return refdata.Group(
            gid="anomaly_low_standard", setting="inpatient", name="低标准入院（注入）", weight=0.0,
            dx=list(vary_mod.LOW_STANDARD_DX), procs=[], proc2=[], male_share=0.5, age_lo=18, age_hi=80,
            age_mean=50, age_sd=15, los_median=2, los_sigma=0.3, dept="0300", season="flat", min_level=0,
            specialty="", surgery=[], drugs=[k["drug_ns"], k["drug_omeprazole"]], daily_tx=[],
            exams=[k["lab_cbc"], k["lab_biochem"]], severe=[], emergency_rate=0.0, bw=None, sec_fixed=[])
    return refdata.Group(
        gid="anomaly_low_standard", setting="inpatient", name="低标准入院（注入）", weight=0.0,
        dx=[c for c in codes.minor if c[:3] in ("J06", "A09", "I10", "K52", "R42")], procs=[], proc2=[],
        male_share=0.5, age_lo=18, age_hi=80, age_mean=45, age_sd=15, los_median=2, los_sigma=0.3, dept="0300",
        season="flat", min_level=0, specialty="", surgery=[], drugs=[k["drug_ns"], k["drug_lianhua"]], daily_tx=[],
        exams=[k["lab_cbc"], k["lab_urine"]], severe=[], emergency_rate=0.0, bw=None, sec_fixed=[])


def generate(out_dir: Path, seed: int, cases: int, *, standards_dir: Path | None = None,
             anomaly_rate: float = 0.02, first_year: int = 2023, years: int = 3, fmt: str = "csv",
             progress: Callable[[str, int], None] | None = None, params: SynthParams | None = None,
             schemes: bool = False, benefit: bool = False, out_of_area: bool = False,
             vary: int | None = None, faults: bool = False) -> dict:
    """Write a synthetic region of about ``cases`` settled cases to ``out_dir``; returns a summary.

    ``standards_dir``: a CHS-DRG 1.1 table folder; when given, a long tail of clinical groups is drawn from its
    ADRGs and part of the secondary diagnoses from its CC/MCC lists (the caller resolves defaults such as
    ``YIBAO_STANDARDS``; see :func:`yibao.contract.standards.find_standards`). ``fmt``: ``csv`` or ``parquet``.
    ``schemes``: also inject the institution- and doctor-level fraud schemes of :mod:`yibao.synth.schemes`
    (off: the region is unchanged). ``vary``: draw the catalogue, the billed prices and the lists of some
    patterns from another random stream (:mod:`yibao.synth.vary`; None: the default region, byte for byte).
    ``benefit`` / ``out_of_area``: book ``fund_paid`` by a benefit policy written
    beside the region, with labelled booking errors / add out-of-area care (:mod:`yibao.synth.benefit`).
    ``faults``: also inject the completeness faults of the settlement list, labelled per case
    (:func:`yibao.synth.anomalies.fault_cases`; a random stream of their own, off: the region is unchanged).
    """
    t0 = time.perf_counter()
    if cases < 100:
        raise ValueError("cases must be at least 100")
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unknown format {fmt!r} (csv or parquet)")
    p = params or SynthParams()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(16)]
    start, end = days(f"{first_year}-01-01"), days(f"{first_year + years - 1}-12-31")
    items = refdata.load_items()
    codes = refdata.load_codes()
    vrng = vary_mod.vary_rng(seed, vary) if vary is not None else None
    no_cap = None
    if vrng is not None:
        items, no_cap = vary_mod.vary_items(items, vrng)

    # --- institutions, groups --------------------------------------------------------------------------
    per_year = p.admissions_per_year + p.outpatient_per_year + p.pharmacy_per_year
    n_insured = max(p.min_insured, round(cases / (years * per_year)))
    inst = make_institutions(rngs[0], p, n_insured, first_year, first_year + years - 1)
    groups = refdata.builtin_groups()
    sec_extra: list[str] = []
    if standards_dir is not None:
        ip_weight = sum(g.weight for g in groups if g.setting == "inpatient")
        tail_w = ip_weight * p.standards_tail_share / (1 - p.standards_tail_share)
        groups += refdata.standards_groups(Path(standards_dir), rngs[1], tail_w)
        sec_extra = refdata.standards_secondary(Path(standards_dir), rngs[1])
    groups.append(_low_standard_group(items, vrng is not None))
    low_group = len(groups) - 1
    w = World(p, items, groups, inst, start, end)
    if vrng is not None:
        w.no_cap = no_cap  # type: ignore[attr-defined]
        w.drug_price_pct = vary_mod.drug_price_pct(vrng, inst.n)  # type: ignore[attr-defined]
        w.vary_rng = vrng  # type: ignore[attr-defined]
        w.low_los_hi = vary_mod.LOW_STANDARD_LOS_MAX + 1  # type: ignore[attr-defined]
    w.sec_extra = sec_extra  # type: ignore[attr-defined]
    for g in groups:
        for c in g.dx + g.sec_fixed + g.severe:
            w.dx_id(c)
    for c in codes.comorbidity + sec_extra + codes.minor:
        w.dx_id(c)

    # --- case specs ------------------------------------------------------------------------------------
    want = an.targets(cases, anomaly_rate, p.pattern_weights)
    n_added = sum(want[k] for k in an.ADDING)
    n_clean = cases - n_added
    shares = np.array([p.admissions_per_year, p.outpatient_per_year, p.pharmacy_per_year]) / per_year
    n_set = np.floor(shares * n_clean).astype(int)
    n_set[OUTPATIENT] += n_clean - n_set.sum()
    gw = w.garr("weight")
    S = concat([sample_specs(w, rngs[2], s, int(n_set[s]), gw) for s in (INPATIENT, OUTPATIENT, PHARMACY)])
    n = len(S["admit"])
    rng = rngs[3]
    # newborns of neonatal stays are persons of their own, born a few days before admission
    neo_group = np.array([g.neonate for g in groups])
    neo = neo_group[S["group"]]
    neo_idx = np.flatnonzero(neo)
    age_days = rng.integers(1, 21, len(neo_idx))
    bw_lo = np.array([g.bw[0] if g.bw else 0 for g in groups])[S["group"][neo_idx]]
    bw_hi = np.array([g.bw[1] if g.bw else 1 for g in groups])[S["group"][neo_idx]]
    ins = make_insured(rngs[4], p, n_insured, start, end, S["admit"][neo_idx] - age_days, S["sex"][neo_idx],
                       rng.integers(bw_lo, bw_hi))
    n_extra = len(neo_idx)
    born_in = np.flatnonzero((ins.birth >= start)[: ins.n - n_extra])
    ins.birth_weight[born_in] = np.clip(np.rint(rng.normal(3300, 450, len(born_in))), 1500, 4800).astype(np.int64)
    pool = PersonPool(ins, np.arange(ins.n) < ins.n - n_extra)
    g_lo, g_hi = w.garr("age_lo", np.int64), w.garr("age_hi", np.int64)

    def draw(idx: np.ndarray, spec: dict) -> np.ndarray:
        gg = spec["group"][idx]
        return pool.draw(rng, spec["sex"][idx], spec["age_target"][idx], g_lo[gg], g_hi[gg], spec["admit"][idx])

    S["person"][~neo] = draw(np.flatnonzero(~neo), S)
    S["person"][neo_idx] = ins.n - n_extra + np.arange(n_extra)
    dx3_of = _dx3_ids(w.dx_vocab)
    for _ in range(30):
        bad = conflicts(S, ins.death, dx3_of, p.readmit_window_days) & ~neo
        if not bad.any():
            break
        S["person"][bad] = draw(np.flatnonzero(bad), S)
    keep = ~(conflicts(S, ins.death, dx3_of, p.readmit_window_days) & ~neo)
    S = take(S, np.flatnonzero(keep))
    n = len(S["admit"])
    S["pattern"] = np.full(n, -1, np.int8)
    S["discharge_mode"] = np.where(S["setting"] == INPATIENT,
                                   rng.choice([1, 2, 3, 4, 9], n, p=[0.92, 0.03, 0.02, 0.025, 0.005]), NULL)
    _in_hospital_deaths(S, ins, rng, p)

    # --- staff --------------------------------------------------------------------------------------------
    vol = np.bincount(S["inst"], weights=np.where(S["setting"] == INPATIENT, 8.0, 1.0), minlength=inst.n) / years
    staff = make_staff(rngs[5], p, inst, vol, first_year)

    # --- injected cases (split, overlap, dead, low standard) ------------------------------------------------
    rng = rngs[6]
    hospitals = np.flatnonzero((inst.kind == "hospital") & (inst.category == "general") & (inst.level >= 2))
    los_med, los_sig = w.garr("los_median"), w.garr("los_sigma")

    def los_draw(gg, ii):
        lf = np.array([p.los_level_factor[lv] for lv in range(4)])[inst.level[ii]]
        return np.clip(np.rint(rng.lognormal(np.log(los_med[gg] * lf), los_sig[gg])), 1, p.los_cap).astype(np.int64)

    def adult_draw(B):
        m = len(B["admit"])
        return pool.draw(rng, B["sex"], rng.integers(20, 75, m), np.full(m, 18), np.full(m, 80), B["admit"])

    added = an.add_cases(w, S, ins.death, rng, want, los_draw, hospitals, low_group, adult_draw)
    S = {k: np.concatenate([S[k], added[k]]) for k in S}
    S["anchor"][:] = -1
    # final case order: by admission date (a random tie-break), so injected cases are not at the end
    order = np.lexsort((rng.random(len(S["admit"])), S["admit"]))
    S = take(S, order)
    n = len(S["admit"])
    neo = neo_group[S["group"]]
    an.flag_phantom(w, S, rng, want.get("phantom_stay", 0), neo)
    srng = schemes_mod.scheme_rng(seed) if schemes else None
    los_h = schemes_mod.inflate_los(srng, S, hospitals, INPATIENT, neo, p.los_cap) if schemes else -1
    phantom_h = None
    if schemes:
        S, phantom_h = schemes_mod.phantom_group(srng, S, groups, inst.level, hospitals, [los_h], INPATIENT, neo,
                                                 ins.death > NULL, an.PAT["phantom_stay"], w.end)
        S = take(S, np.lexsort((srng.random(len(S["admit"])), S["admit"])))
        n = len(S["admit"])
        neo = neo_group[S["group"]]

    # --- clinical details -------------------------------------------------------------------------------
    cx = _clinical(w, S, ins, rngs[7], p, neo)
    up = an.pick_cases(rngs[7], (S["pattern"] < 0) & (S["setting"] == INPATIENT) & (cx["severe"] == 0) & ~neo,
                       want.get("upcoding", 0))
    S["pattern"][up] = an.PAT["upcoding"]
    serious = np.array([w.dx_id(c) for c in ("J96.000", "J96.900x002", "R57.200", "R57.000")])
    cx["sec"] = np.concatenate([np.full((n, 1), -1), cx["sec"]], axis=1)
    cx["sec"][up, 0] = serious[rngs[7].integers(0, len(serious), len(up))]
    up_plan = an.vary_upcoding(w, S, cx, up, neo, vrng) if vrng is not None else None  # other complications
    up_h = (schemes_mod.upcode_hospital(srng, S, cx, hospitals, [los_h, *(phantom_h or ())], INPATIENT, neo, serious,
                                        an.PAT["upcoding"]) if schemes else -1)
    cx["attending"] = np.where(S["setting"] == PHARMACY, -1, pick_staff(rngs[8], staff, S["inst"], 0))
    split_d = (schemes_mod.split_doctor(S, cx, staff, hospitals, los_h, an.PAT["split_admission"], INPATIENT)
               if schemes else None)
    dm_prefix = ("E10", "E11", "E13", "E14", "O24")
    is_dm = np.array([c.startswith(dm_prefix) for c in w.dx_vocab])
    cx["has_diabetes"] = is_dm[S["dx"]] | (is_dm[np.maximum(cx["sec"], 0)] & (cx["sec"] >= 0)).any(axis=1)

    # --- fee lines ----------------------------------------------------------------------------------------
    ia = ItemArrays(w)
    factor_pct = np.array([round(p.service_price_factor[lv] * 100) for lv in range(4)], np.int64)
    pairs = build_pairs(w, ia, S, cx, rngs[9]).arrays()
    phantom = S["pattern"] == an.PAT["phantom_stay"]
    g0 = np.where(phantom, 2, 10**6)
    g1 = np.where(phantom, S["los"] - 1, 10**6)
    L = expand(ia, S, cx, pairs, staff, rngs[10], factor_pct, drop_days=(g0, g1))
    del pairs
    L = an.line_anomalies(w, ia, S, cx, L, rngs[11], want, staff, factor_pct)
    if up_plan is not None:  # a varied region: the clean carriers' accompanying lines
        L = an.vary_upcoding_lines(w, ia, S, cx, L, up_plan, vrng, staff, factor_pct)

    # --- sanctions and suspended-staff attributions --------------------------------------------------------
    rng = rngs[12]
    want_susp = want.get("suspended_staff", 0)
    lw = np.bincount(S["inst"], minlength=inst.n)[staff.inst].astype(float) / np.maximum(staff.count[staff.inst, 0], 1)
    n_susp_staff = int(np.clip(-(-want_susp // 6), 1, 120)) if want_susp else 0  # ~6 cases per suspended person
    sanc = make_sanctions(rng, p, staff, start, end, n_susp_staff, lw)
    _clear_windows(rng, S, cx, L, staff, sanc["win_start"], sanc["win_end"])
    _suspended_cases(rng, S, cx, L, sanc["labelled"], want_susp, staff)

    # --- settlement and files --------------------------------------------------------------------------------
    money = settle(w, S, cx, L, ins.employee[S["person"]], n)
    if faults:  # after the settlement: the totals are those of the whole list, the lines are not all sent
        frng = np.random.default_rng(np.random.SeedSequence([seed, 4004]))
        total_w = sum(p.pattern_weights.values())
        want_f = {k: max(1, round(cases * anomaly_rate * v / total_w)) for k, v in p.fault_weights.items()}
        L, parts_cases = an.fault_cases(frng, S, L, w.items.fee_category, want_f, n)
    if schemes:  # case labels of what a case-level review can see (the data are not changed)
        schemes_mod.phantom_case_labels(S, an.PAT["phantom_stay"])
        schemes_mod.overlap_labels(S, los_h, INPATIENT, an.PAT["overlapping_stay"], (an.PAT["split_admission"],))
    tables = _tables(w, S, cx, L, money, ins, staff, inst, sanc, rngs[13], p)
    extra = synth_benefit.extend(tables, out_dir, seed, p, first_year + years - 1, benefit=benefit,
                                 out_area=out_of_area)
    if faults:  # after any benefit booking, which would put the parts right again
        tables["cases"]["self_pay"] = an.move_self_pay(frng, np.asarray(tables["cases"]["self_pay"], np.int64),
                                                       parts_cases)
    rows = {}
    for name, cols in tables.items():
        rows[name] = write_table(out_dir, name, cols, fmt, progress)
    labels = {pat: int((S["pattern"] == i).sum()) for i, pat in enumerate(LABEL_PATTERNS)
              if faults or pat not in an.FAULTS}
    scheme_rows: list[tuple[str, str, str, str]] = []
    if schemes:
        scheme_rows.append(("institution", inst.id[los_h].as_py(), "", "inflated_los"))
        if phantom_h is not None:
            scheme_rows += [("institution", inst.id[h].as_py(), "", "phantom_patients") for h in phantom_h]
        if up_h >= 0:
            scheme_rows.append(("institution", inst.id[up_h].as_py(), "", "upcoding_hospital"))
        if split_d is not None:
            scheme_rows.append(("doctor", inst.id[split_d[0]].as_py(), staff.id[split_d[1]].as_py(),
                                "split_admission_doctor"))
        schemes_mod.write_labels(out_dir, scheme_rows)
    funds = budget_figures(out_dir, fmt, first_year + years - 1)
    (Path(out_dir) / POLICY_FILE).write_text(policy_text(funds, first_year + years - 1), encoding="utf-8")
    # the monthly fund ledger of the policy year (基金收支流水, yibao fund monitor reads it once loaded)
    rows["fund_flows"] = write_table(out_dir, "fund_flows", ledger_columns(funds, first_year + years - 1), fmt, progress)
    summary = {"out_dir": str(out_dir), "format": fmt, "seed": seed, **({"vary": vary} if vary is not None else {}),
               "years": [first_year, first_year + years - 1],
            "standards": str(standards_dir) if standards_dir else None, "tables": rows, "labels": labels,
            "insured": int(ins.n), "institutions": int(inst.n), "staff": int(staff.n),
            "budget_policy": str(Path(out_dir) / POLICY_FILE), "seconds": round(time.perf_counter() - t0, 2)}
    if schemes:
        summary["schemes"] = scheme_rows
    if extra:
        summary["benefit"] = extra
    return summary


def _dx3_ids(vocab: list[str]) -> np.ndarray:
    prefixes: dict[str, int] = {}
    return np.array([prefixes.setdefault(c[:3], len(prefixes)) for c in vocab], np.int64)


def _in_hospital_deaths(S: dict, ins, rng, p) -> None:
    """Some dead persons die at the end of their last stay (discharge_mode 5, death_date = discharge)."""
    order = np.lexsort((S["admit"], S["person"]))
    last = order[np.r_[S["person"][order][1:] != S["person"][order][:-1], True]]
    dead = ins.death[S["person"][last]] > NULL
    cand = last[dead & (S["setting"][last] == INPATIENT) & (rng.random(len(last)) < p.in_hospital_death_share)]
    ins.death[S["person"][cand]] = S["admit"][cand] + S["los"][cand]
    S["discharge_mode"][cand] = 5


def _clinical(w: World, S: dict, ins, rng, p: SynthParams, neo: np.ndarray) -> dict:
    """Age, sex, level, severity, procedures and secondary diagnoses of every case."""
    n = len(S["admit"])
    groups = w.groups
    person = S["person"]
    S["sex"] = ins.sex[person].astype(np.int8)
    age = np.maximum(age_years(ins.birth[person], S["admit"]), 0)
    level = w.inst.level[S["inst"]]
    mu = np.where(w.inst.kind[S["inst"]] == "primary", p.primary_intensity_mu,
                  np.array([p.intensity_mu[lv] for lv in range(4)])[level])
    cx = {"age": age, "level": level, "intensity": np.exp(rng.normal(mu, p.intensity_sigma))}
    ip = S["setting"] == INPATIENT
    S["emergency"] &= S["setting"] != PHARMACY
    # severity: respiratory failure (oxygen + ventilation) or shock (ICU, level ≥ 2)
    sev_code = np.full(n, -1)
    severe = np.zeros(n, np.int8)
    vent_inv = np.zeros(n, bool)
    transfused = np.zeros(n, bool)
    k = w.items.index
    for gi, idx in enumerate(group_slices(S["group"], len(groups))):
        g = groups[gi]
        if not len(idx) or g.setting != "inpatient":
            continue
        if g.severe:
            rate = np.array([p.severe_rate_by_level[lv] for lv in range(4)])[level[idx]]
            m = idx[(rng.random(len(idx)) < rate) & (S["pattern"][idx] < 0)]
            code = np.array([w.dx_id(c) for c in g.severe])[rng.integers(0, len(g.severe), len(m))]
            shock = np.array([w.dx_vocab[c].startswith("R57") for c in code], bool)
            ok = ~shock | (level[m] >= 2)
            m, code, shock = m[ok], code[ok], shock[ok]
            sev_code[m] = code
            severe[m] = np.where(shock, 2, 1)
            vent_inv[m] = ~shock & (level[m] >= 2) & (rng.random(len(m)) < 0.4)
        if k["lab_crossmatch"] in g.exams and k["transfusion"] not in g.surgery:
            transfused[idx] = rng.random(len(idx)) < p.transfusion_rate
    cx.update(severe=severe, vent_invasive=vent_inv, transfused=transfused)
    # procedures: principal (group alternative), optional second, ventilation, transfusion
    proc = np.full((n, 4), -1)
    for gi, idx in enumerate(group_slices(S["group"], len(groups))):
        g = groups[gi]
        if not len(idx):
            continue
        if g.procs:
            proc[idx, 0] = np.array([w.proc_id(c) for c in g.procs])[rng.integers(0, len(g.procs), len(idx))]
        if g.proc2:
            m = rng.random(len(idx)) < 0.6
            proc[idx[m], 1] = np.array([w.proc_id(c) for c in g.proc2])[rng.integers(0, len(g.proc2), m.sum())]
    proc[vent_inv, 2] = w.proc_id("96.7101")
    proc[(severe == 1) & ~vent_inv, 2] = w.proc_id("93.9000x002")
    proc[transfused, 3] = w.proc_id("99.0401")
    cx["proc"] = proc
    # secondary diagnoses: fixed (e.g. the cancer of a chemotherapy stay), serious, comorbidities
    codes = refdata.load_codes()
    pool = np.array([w.dx_id(c) for c in codes.comorbidity], np.int64)
    pw = codes.comorbidity_weight.astype(float)
    pa_min = codes.comorbidity_age_min.astype(np.int64)
    sec_extra = [w.dx_id(c) for c in getattr(w, "sec_extra", [])]
    if sec_extra:
        share = p.standards_tail_secondary_share
        pool = np.concatenate([pool, sec_extra])
        pw = np.concatenate([pw, np.full(len(sec_extra), pw.sum() * share / (1 - share) / len(sec_extra))])
        pa_min = np.concatenate([pa_min, np.full(len(sec_extra), 18)])
    mean = np.zeros(n)
    lo = -1
    for hi, mu in p.secondary_mean_by_age:
        mean[(age > lo) & (age < hi)] = mu
        lo = hi - 1
    mean = np.where(ip, mean, mean * 0.3)
    kk = np.minimum(rng.poisson(mean), p.max_secondary)
    M = p.max_secondary + 2
    cand = pool[rng.choice(len(pool), (n, M), p=pw / pw.sum())]
    age_min_of = np.full(len(w.dx_vocab), 999, np.int64)
    age_min_of[pool] = pa_min
    dx3 = _dx3_ids(w.dx_vocab)
    cand = np.sort(cand, axis=1)
    valid = age_min_of[cand] <= age[:, None]
    valid &= dx3[cand] != dx3[S["dx"]][:, None]
    valid[:, 1:] &= cand[:, 1:] != cand[:, :-1]
    valid &= np.cumsum(valid, axis=1) <= kk[:, None]
    # shuffle kept comorbidities so that the list is not in code order
    keyed = np.where(valid, rng.random((n, M)), 2.0)
    perm = np.argsort(keyed, axis=1)
    com = np.where(np.take_along_axis(valid, perm, 1), np.take_along_axis(cand, perm, 1), -1)
    fixed = np.full(n, -1)
    for gi, idx in enumerate(group_slices(S["group"], len(groups))):
        g = groups[gi]
        if len(idx) and g.sec_fixed:
            fixed[idx] = np.array([w.dx_id(c) for c in g.sec_fixed])[rng.integers(0, len(g.sec_fixed), len(idx))]
    com[com == fixed[:, None]] = -1
    sec = np.concatenate([fixed[:, None], sev_code[:, None], com], axis=1)
    cx["sec"] = sec
    return cx



def _clear_windows(rng, S: dict, cx: dict, L: dict, staff, ws: np.ndarray, we: np.ndarray) -> None:
    """Move clean attributions away from staff inside a (conservative) suspension or after termination."""
    a = cx["attending"]
    disch = S["admit"] + S["los"]
    for _ in range(8):
        s = np.maximum(a, 0)
        bad = (a >= 0) & (S["admit"] < we[s]) & (disch >= ws[s])
        if not bad.any():
            break
        a[bad] = pick_staff(rng, staff, S["inst"][bad], 0)
    st = L["staff"]
    for _ in range(8):
        s = np.maximum(st, 0)
        bad = (st >= 0) & (L["date"] >= ws[s]) & (L["date"] < we[s])
        if not bad.any():
            break
        st[bad] = pick_staff(rng, staff, S["inst"][L["case"][bad]], staff.role[st[bad]])


def _suspended_cases(rng, S: dict, cx: dict, L: dict, labelled: list, want: int, staff) -> None:
    """Attribute a few non-emergency cases (and their prescriptions) to suspended physicians."""
    if not want or not labelled:
        return
    disch = S["admit"] + S["los"]
    free = (S["pattern"] < 0) & (S["setting"] != PHARMACY)
    by_inst = np.argsort(S["inst"], kind="stable")
    bounds = np.searchsorted(S["inst"][by_inst], np.arange(staff.count.shape[0] + 1))
    line_start = np.searchsorted(L["case"], np.arange(len(S["admit"]) + 1))
    per = max(1, -(-want // len(labelled)))
    done = 0
    for s, ws, we in labelled:
        i = staff.inst[s]
        idx = by_inst[bounds[i]:bounds[i + 1]]
        m = idx[free[idx] & (S["admit"][idx] >= ws) & (disch[idx] < we)]
        if not len(m) or done >= want:
            continue
        c = rng.choice(m, min(per, len(m), want - done), replace=False)
        for case in c.tolist():
            lo, hi = line_start[case], line_start[case + 1]
            seg = L["staff"][lo:hi]
            seg[seg == cx["attending"][case]] = s
        cx["attending"][c] = s
        S["emergency"][c] = False
        S["pattern"][c] = an.PAT["suspended_staff"]
        free[c] = False
        done += len(c)


def _ids(prefix: str, seq: np.ndarray, width: int) -> pa.Array:
    return pc.binary_join_element_wise(pa.scalar(prefix), pc.utf8_lpad(pc.cast(pa.array(seq), pa.string()), width, "0"), "")


def _take(ids: pa.Array, idx: np.ndarray) -> pa.Array:
    return pc.take(ids, pa.array(idx, pa.int64(), mask=idx < 0))


def _enum(values: tuple, codes: np.ndarray) -> pa.Array:
    return pc.take(pa.array(list(values), pa.string()), pa.array(codes, pa.int64(), mask=codes < 0))


def _tables(w: World, S: dict, cx: dict, L: dict, money: dict, ins, staff, inst, sanc: dict, rng, p) -> dict:
    no_cap = getattr(w, "no_cap", None)
    """Column dicts of every contract table."""
    items = w.items
    n = len(S["admit"])
    disch = S["admit"] + S["los"]
    # --- insured
    person_ids = _ids(p.city_code, np.arange(1, ins.n + 1), 14)
    insured = {
        "person_id": person_ids,
        "id_number": names.id_numbers(rng, ins.id_region, ins.birth, ins.sex),
        "name": names.person_names(rng, ins.sex),
        "sex": _enum(("1", "2"), ins.sex.astype(np.int64) - 1),
        "birth_date": ins.birth, "scheme": _enum(("employee", "resident"), np.where(ins.employee, 0, 1)),
        "region_code": pa.array(ins.region, pa.string()), "death_date": ins.death,
    }
    institutions = {
        "institution_id": inst.id, "name": pa.array(inst.name, pa.string()),
        "kind": pa.array(inst.kind, pa.string()), "level": inst.level, "category": pa.array(inst.category, pa.string()),
        "region_code": pa.array(inst.region, pa.string()), "agreement_start": inst.agreement_start,
        "agreement_end": inst.agreement_end,
    }
    staff_t = {
        "staff_id": staff.id, "name": staff.name, "id_number": staff.id_number,
        "role": _enum(ROLES, staff.role.astype(np.int64)), "institution_id": _take(inst.id, staff.inst),
        "registered_on": staff.registered_on,
    }
    # --- catalogue: one row per item and version
    rows = []
    base_from = days("2020-01-01")
    for i, r in enumerate(items.rows):
        cd = days(r["change_date"]) if r["change_date"] else None
        rows.append((i, base_from, cd - 1 if cd else NULL, int(items.price[i])))
        if cd:
            rows.append((i, cd, NULL, int(items.new_price[i])))
    ci = np.array([r[0] for r in rows])
    cat_sex = items.sex[ci].astype(np.int64) - 1
    ind = [list(items.indications[i]) or None for i in ci]
    catalog = {
        "item_code": pa.array([items.code[i] for i in ci], pa.string()),
        "item_name": pa.array([items.rows[i]["item_name"] for i in ci], pa.string()),
        "item_kind": pa.array(items.kind[ci], pa.string()),
        "class": _enum(("A", "B", "C"), items.cls[ci].astype(np.int64)),
        "self_pay_ratio": np.where(items.cls[ci] == 1, items.ratio_bp[ci], NULL),
        "price_cap": (np.array([r[3] for r in rows], np.int64) if no_cap is None
                      else np.where(no_cap[ci], NULL, np.array([r[3] for r in rows], np.int64))),
        "max_daily_qty": np.where(items.max_qty[ci] >= 0, items.max_qty[ci], NULL),
        "sex_limit": _enum(("1", "2"), cat_sex),
        "min_age": np.where(items.min_age[ci] >= 0, items.min_age[ci], NULL).astype(np.int64),
        "max_age": np.where(items.max_age[ci] < 999, items.max_age[ci], NULL).astype(np.int64),
        "indications": pa.array(ind, pa.list_(pa.string())),
        "min_level": np.where(items.min_level[ci] > 0, items.min_level[ci], NULL).astype(np.int64),
        "valid_from": np.array([r[1] for r in rows], np.int64), "valid_to": np.array([r[2] for r in rows], np.int64),
    }
    # --- cases
    year = (S["admit"].astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970)
    case_ids = pc.binary_join_element_wise(pa.scalar("JS"), pc.cast(pa.array(year), pa.string()),
                                           pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n + 1)), pa.string()), 8, "0"), "")
    age = cx["age"]
    birth = ins.birth[S["person"]]
    age_days = np.where(age == 0, S["admit"] - birth, NULL)
    bw = ins.birth_weight[S["person"]]
    weight = np.where((age == 0) & (age_days <= 28) & (bw > 0), bw, NULL)
    weight = np.where((age == 0) & (age_days <= 28) & (bw <= 0), 3200, weight)
    dept = np.array([g.dept for g in w.groups], object)[S["group"]]
    dept = np.where(w.inst.kind[S["inst"]] == "primary", "0200", dept)
    dept = np.where(S["setting"] == PHARMACY, None, dept)
    scheme = np.where(ins.employee[S["person"]], 0, 1)
    settle_delay = rng.integers(p.settle_delay_days[0], p.settle_delay_days[1] + 1, n)
    cases_t = {
        "case_id": case_ids, "person_id": _take(person_ids, S["person"]), "institution_id": _take(inst.id, S["inst"]),
        "scheme": _enum(("employee", "resident"), scheme), "sex": _enum(("1", "2"), S["sex"].astype(np.int64) - 1),
        "age_years": age.astype(np.int64),
        "setting": _enum(("inpatient", "outpatient"), np.where(S["setting"] == INPATIENT, 0, 1)),
        "admit_date": S["admit"], "discharge_date": disch, "dept_code": pa.array(dept, pa.string()),
        "attending_staff_id": _take(staff.id, cx["attending"]),
        "principal_dx": pa.array(np.asarray(w.dx_vocab, object)[S["dx"]], pa.string()),
        "secondary_dx": _list_array(cx["sec"], w.dx_vocab), "procedures": _list_array(cx["proc"], w.proc_vocab),
        "discharge_mode": _enum(("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"),
                                np.where(S["discharge_mode"] > NULL, S["discharge_mode"], -1)),
        "newborn_age_days": age_days, "newborn_weight_g": weight, "emergency": S["emergency"].astype(bool),
        "total_cost": money["total"], "fund_paid": money["fund"], "self_pay": money["self_pay"],
        "out_of_pocket_excluded": money["excluded"],
        "settle_date": np.where(S["setting"] == INPATIENT, disch + settle_delay, disch),
    }
    # --- fee lines (sorted by case): line_no restarts at 1 in every case
    lc = L["case"]
    first = np.searchsorted(lc, lc)
    li = L["item"]
    code_arr = pa.array(items.code, pa.string())
    fee = {
        "case_id": pc.take(case_ids, pa.array(lc)), "line_no": np.arange(len(lc)) - first + 1,
        "item_code": pc.take(code_arr, pa.array(li)),
        "item_name": pc.take(pa.array([r["item_name"] for r in items.rows], pa.string()), pa.array(li)),
        "item_kind": pc.take(pa.array(list(items.kind), pa.string()), pa.array(li)),
        "fee_category": pc.take(pa.array(list(items.fee_category), pa.string()), pa.array(li)),
        "service_date": L["date"], "quantity": L["qty"], "unit_price": L["price"], "amount": L["amount"],
        "staff_id": _take(staff.id, L["staff"]),
    }
    sc = sanc["sanctions"]
    ns = len(sc["staff"])
    syear = sc["date"].astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    sanctions_t = {
        "sanction_id": pc.binary_join_element_wise(pa.scalar("CF"), pc.cast(pa.array(syear), pa.string()),
                                                   pc.utf8_lpad(pc.cast(pa.array(np.arange(1, ns + 1)), pa.string()), 5, "0"),
                                                   ""),
        "staff_id": _take(staff.id, sc["staff"]), "institution_id": _take(inst.id, sc["inst"]),
        "decided_on": sc["date"], "basis": pa.array(sc["basis"], pa.string()),
        "responsibility": pa.array(sc["resp"], pa.string()), "points": sc["points"], "fraud": sc["fraud"],
    }
    rp = sanc["repairs"]
    repairs_t = {
        "repair_id": _ids("XF", np.arange(1, len(rp["staff"]) + 1), 6), "staff_id": _take(staff.id, rp["staff"]),
        "decided_on": rp["date"], "points_reduced": rp["reduced"], "shorten_days": rp["shorten"],
    }
    lab = np.flatnonzero(S["pattern"] >= 0)
    labels_t = {"case_id": pc.take(case_ids, pa.array(lab)),
                "pattern": _enum(LABEL_PATTERNS, S["pattern"][lab].astype(np.int64))}
    return {"institutions": institutions, "insured": insured, "staff": staff_t, "catalog": catalog,
            "cases": cases_t, "fee_items": fee, "sanctions": sanctions_t, "repairs": repairs_t, "labels": labels_t}
