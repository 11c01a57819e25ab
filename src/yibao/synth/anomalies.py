"""Injected anomalies (labels.csv): each one is detectable from the generated tables alone.

Case-adding patterns create a new case next to a clean *anchor* case: ``split_admission`` (same person, same
institution, same principal diagnosis, admitted 1-10 days after the anchor's discharge), ``overlapping_stay``
(same person in another hospital during the anchor's stay), ``dead_patient`` (a visit 20-120 days after the
person's death_date), ``low_standard_admission`` (a 1-3 day stay for a listed minor condition). Spec patterns
change a clean case before its lines exist (``phantom_stay``: a stretched stay whose middle days carry no bed,
nursing or drug lines; ``upcoding``: a serious secondary diagnosis without oxygen/ventilation/ICU lines). Line
patterns change or add one fee line of a clean case. ``suspended_staff`` lives in :mod:`yibao.synth.sanctions`.
Only the injected case is labelled (one pattern per case). Completeness faults (``--faults``, off by default:
a case with no fee lines, lines that do not add up, payment parts that do not add up) are :func:`fault_cases`.
"""

from __future__ import annotations

import numpy as np

from yibao.contract.schema import LABEL_PATTERNS
from yibao.synth.cases import INPATIENT, PHARMACY, World
from yibao.synth.lines import ItemArrays, finish_lines
from yibao.synth.vary import CARRIERS_PER_UPCODED, substitute_prices, upcoding_lists

PAT = {name: i for i, name in enumerate(LABEL_PATTERNS)}
ADDING = ("split_admission", "overlapping_stay", "dead_patient", "low_standard_admission")


def targets(n_cases: int, rate: float, weights: dict) -> dict[str, int]:
    """Number of cases per pattern: ``rate × n_cases`` spread by weight, at least one each when rate > 0."""
    total = sum(weights.values())
    return {k: (max(1, round(n_cases * rate * v / total)) if rate > 0 else 0) for k, v in weights.items()}


def _window_count(S: dict, person: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Number of cases of ``person`` admitted in [lo, hi]."""
    key = (S["person"].astype(np.int64) << 20) | S["admit"]
    key = np.sort(key)
    base = person.astype(np.int64) << 20
    return np.searchsorted(key, base | np.clip(hi, 0, None), "right") - np.searchsorted(key, base | np.clip(lo, 0, None), "left")


def _new(S: dict, anchor: np.ndarray, pattern: str) -> dict:
    out = {k: v[anchor].copy() for k, v in S.items()}
    out["anchor"] = anchor.copy()
    out["pattern"] = np.full(len(anchor), PAT[pattern], np.int8)
    return out


def add_cases(w: World, S: dict, death: np.ndarray, rng: np.random.Generator,
              want: dict[str, int], los_draw, hospitals: np.ndarray, low_group: int, adult_draw) -> dict:
    """New anomaly cases (specs) for the case-adding patterns."""
    neonate = np.array([g.neonate for g in w.groups])[S["group"]]  # newborn stays are never anchors
    ip = np.flatnonzero((S["setting"] == INPATIENT) & (S["pattern"] < 0) & (S["los"] >= 2) & ~neonate)
    maxlos = int(S["los"].max()) + 1
    made = []
    used_persons: set = set()

    def accept(B: dict, expected: int, n: int, lower_margin: bool = True) -> dict:
        dis = B["admit"] + B["los"]
        alive = (death[B["person"]] <= -(2**61)) | (death[B["person"]] > dis) | (not lower_margin)
        lo = B["admit"] - 16 - (maxlos if lower_margin else 0)
        ok = _window_count(S, B["person"], lo, dis + 16) == expected
        ok &= (B["admit"] >= w.start) & (dis <= w.end) & alive
        _, first = np.unique(B["person"], return_index=True)
        uniq = np.zeros(len(ok), bool)
        uniq[first] = True
        ok &= uniq & ~np.isin(B["person"], list(used_persons))
        sel = np.flatnonzero(ok)[:n]
        used_persons.update(B["person"][sel].tolist())
        return {k: v[sel] for k, v in B.items()}

    n = want.get("split_admission", 0)
    if n and len(ip):
        a = rng.choice(ip, min(len(ip), 6 * n), replace=False)
        B = _new(S, a, "split_admission")
        B["admit"] = S["admit"][a] + S["los"][a] + rng.integers(1, 11, len(a))
        B["los"] = los_draw(B["group"], B["inst"])
        B["emergency"] = np.zeros(len(a), bool)
        made.append(accept(B, 1, n))
    n = want.get("overlapping_stay", 0)
    if n and len(ip):
        a = rng.choice(ip, min(len(ip), 6 * n), replace=False)
        B = _new(S, a, "overlapping_stay")
        B["admit"] = S["admit"][a] + 1 + (rng.random(len(a)) * (S["los"][a] - 1)).astype(np.int64)
        B["los"] = los_draw(B["group"], B["inst"])
        other = hospitals[rng.integers(0, len(hospitals), len(a))]
        same = other == S["inst"][a]
        other[same] = hospitals[(np.searchsorted(hospitals, other[same]) + 1) % len(hospitals)]
        B["inst"] = other
        B["emergency"] = np.zeros(len(a), bool)
        made.append(accept(B, 1, n))
    n = want.get("dead_patient", 0)
    if n:
        dead_cases = np.flatnonzero((death[S["person"]] > -(2**61)) & (S["pattern"] < 0) & (S["anchor"] < 0)
                                    & ~neonate)
        if len(dead_cases):
            a = rng.choice(dead_cases, min(len(dead_cases), 6 * n), replace=False)
            B = _new(S, a, "dead_patient")
            B["admit"] = death[S["person"][a]] + rng.integers(20, 121, len(a))
            B["los"] = np.where(S["setting"][a] == INPATIENT, los_draw(B["group"], B["inst"]), 0)
            B["emergency"] = np.zeros(len(a), bool)
            made.append(accept(B, 0, n, lower_margin=False))
    n = want.get("low_standard_admission", 0)
    if n:
        k = 6 * n
        B = _new(S, rng.choice(len(S["admit"]), k), "low_standard_admission")
        B["group"] = np.full(k, low_group)
        B["setting"] = np.full(k, INPATIENT, np.int8)
        B["inst"] = hospitals[rng.integers(0, len(hospitals), k)]
        B["los"] = rng.integers(1, getattr(w, "low_los_hi", 4), k)
        B["admit"] = rng.integers(w.start, w.end - 4, k)
        B["emergency"] = np.zeros(k, bool)
        g = w.groups[low_group]
        B["dx"] = np.array([w.dx_id(c) for c in g.dx])[rng.integers(0, len(g.dx), k)]
        B["sex"] = rng.integers(1, 3, k).astype(np.int8)
        B["person"] = adult_draw(B)
        B["anchor"] = np.full(k, -1)
        if hasattr(w, "vary_rng"):  # a varied region: discharged home
            B["discharge_mode"] = np.full(k, 1, B["discharge_mode"].dtype)
        made.append(accept(B, 0, n))
    if not made:
        return {k: v[:0] for k, v in S.items()}
    return {k: np.concatenate([m[k] for m in made]) for k in S}


def flag_phantom(w: World, S: dict, rng: np.random.Generator, n: int, neonate: np.ndarray) -> np.ndarray:
    """Stretch ``n`` clean stays (LOS ×2 + 6); returns their case numbers. Lines of the middle days are dropped."""
    maxlos = int(S["los"].max()) + 1
    cand = np.flatnonzero((S["setting"] == INPATIENT) & (S["pattern"] < 0) & (S["los"] >= 3) & (S["los"] <= 20)
                          & ~neonate & (S["anchor"] < 0))
    if not n or not len(cand):
        return np.zeros(0, np.int64)
    a = rng.choice(cand, min(len(cand), 6 * n), replace=False)
    new_los = np.minimum(S["los"][a] * 2 + 6, 90)
    ok = _window_count(S, S["person"][a], S["admit"][a] - 16 - maxlos, S["admit"][a] + new_los + 16) == 1
    ok &= S["admit"][a] + new_los <= w.end
    a, new_los = a[ok][:n], new_los[ok][:n]
    S["los"][a] = new_los
    S["pattern"][a] = PAT["phantom_stay"]
    return a


def pick_cases(rng: np.random.Generator, mask: np.ndarray, n: int) -> np.ndarray:
    c = np.flatnonzero(mask)
    return rng.choice(c, min(n, len(c)), replace=False) if n and len(c) else np.zeros(0, np.int64)


def _one_line_per_case(rng, L: dict, cand_lines: np.ndarray, free: np.ndarray, n: int) -> np.ndarray:
    """Up to ``n`` candidate lines, one per case, of cases still free."""
    cand_lines = cand_lines[free[L["case"][cand_lines]]]
    if not len(cand_lines) or not n:
        return np.zeros(0, np.int64)
    cand_lines = rng.permutation(cand_lines)
    _, first = np.unique(L["case"][cand_lines], return_index=True)
    chosen = cand_lines[np.sort(first)]
    return rng.permutation(chosen)[:n]


def line_anomalies(w: World, ia: ItemArrays, S: dict, cx: dict, L: dict, rng: np.random.Generator,
                   want: dict[str, int], staff, factor_pct) -> dict:
    """Modify or add fee lines of clean cases; sets ``S['pattern']`` of the chosen cases."""
    it = w.items
    k = it.index
    free = (S["pattern"] < 0) & (S["anchor"] < 0)
    item, qty = L["item"], L["qty"]
    mx = it.max_qty[item]
    cap = ia.cap_on(item, L["date"])
    if ia.no_cap is not None:  # a varied region: items without a cap have none to exceed
        cap = np.where(ia.no_cap[item], -1, cap)

    def mark(lines: np.ndarray, pattern: str) -> np.ndarray:
        cases = L["case"][lines]
        S["pattern"][cases] = PAT[pattern]
        free[cases] = False
        return cases

    def reprice(lines):
        L["amount"][lines] = (L["qty"][lines] * L["price"][lines] + 50) // 100

    # over_quantity: quantity above max_daily_qty
    ln = _one_line_per_case(rng, L, np.flatnonzero(mx > 0), free, want.get("over_quantity", 0))
    L["qty"][ln] = mx[ln] + np.maximum(it.typical_qty[item[ln]], 100) * rng.integers(1, 3, len(ln))
    reprice(ln)
    mark(ln, "over_quantity")
    # price_over_cap: unit price 10-60 % above the cap valid on the service date
    ln = _one_line_per_case(rng, L, np.flatnonzero(cap >= 200), free, want.get("price_over_cap", 0))
    L["price"][ln] = cap[ln] * rng.integers(110, 161, len(ln)) // 100
    reprice(ln)
    mark(ln, "price_over_cap")
    # drug_substitution: a drug line billed at the price of a much cheaper drug (≤ 50 % of the billed cap)
    drugs = np.flatnonzero(it.fee_category == "western_drug")
    dprice = np.sort(it.price[drugs])
    cand = np.flatnonzero((it.fee_category[item] == "western_drug") & (cap >= 2 * dprice[0]) & (cap >= 500))
    if hasattr(w, "vary_rng"):  # a varied region: another drug's price, lower or (no cap) higher (synth.vary)
        cand = np.flatnonzero((it.fee_category[item] == "western_drug") & (L["price"] >= 500))
    ln = _one_line_per_case(rng, L, cand, free, want.get("drug_substitution", 0))
    if len(ln) and hasattr(w, "vary_rng"):
        new_price = substitute_prices(w.vary_rng, L["price"][ln], ia.no_cap[item[ln]], it.price[drugs])
        changed = new_price != L["price"][ln]
        ln, new_price = ln[changed], new_price[changed]
        L["price"][ln] = new_price
        reprice(ln)
        mark(ln, "drug_substitution")
    elif len(ln):
        n_cheap = np.searchsorted(dprice, cap[ln] // 2, "right")
        L["price"][ln] = dprice[(rng.random(len(ln)) * n_cheap).astype(np.int64)]
        reprice(ln)
        mark(ln, "drug_substitution")
    # amount_mismatch: amount differs from quantity × unit price
    ln = _one_line_per_case(rng, L, np.flatnonzero(L["amount"] >= 1000), free, want.get("amount_mismatch", 0))
    delta = np.maximum(100, (L["amount"][ln] * rng.uniform(0.1, 0.5, len(ln))).astype(np.int64))
    L["amount"][ln] = np.where(rng.random(len(ln)) < 0.7, L["amount"][ln] + delta, L["amount"][ln] - delta // 2)
    mark(ln, "amount_mismatch")

    added = []  # (case, item, qty, day, dup, covered_c)
    # duplicate_charge: the same item billed again on the same day, beyond its daily limit
    cand = np.flatnonzero((mx > 0) & (2 * qty > mx) & (L["dup"] == 0))
    ln = _one_line_per_case(rng, L, cand, free, want.get("duplicate_charge", 0))
    cs = mark(ln, "duplicate_charge")
    added.append((cs, item[ln], qty[ln], L["day"][ln], np.ones(len(ln), bool), np.zeros(len(ln), bool)))
    # uncovered_item: a 丙类 item booked to the fund
    has_c = np.bincount(L["case"][it.cls[item] == 2], minlength=len(free)) > 0
    cs = pick_cases(rng, free & ~has_c, want.get("uncovered_item", 0))
    uncovered = cs
    free[cs] = False
    S["pattern"][cs] = PAT["uncovered_item"]
    citems = np.array([k["drug_thymopentin"], k["mat_collagen"], k["drug_ngf"], k["drug_calcium_zinc"]])
    ci = citems[rng.integers(0, len(citems), len(cs))]
    day = (rng.random(len(cs)) * np.maximum(S["los"][cs], 1)).astype(np.int64)
    added.append((cs, ci, np.full(len(cs), 100), day, np.zeros(len(cs), bool), np.ones(len(cs), bool)))
    # restricted_item: an item whose sex / age / level / indication restriction the case breaks
    n = want.get("restricted_item", 0)
    cs = pick_cases(rng, free, n)
    free[cs] = False
    S["pattern"][cs] = PAT["restricted_item"]
    sex, age, level = S["sex"][cs], cx["age"][cs], cx["level"][cs]
    kind = rng.integers(0, 4, len(cs))
    kind = np.where((kind == 2) & (level >= 2), 0, kind)
    has_dm = cx["has_diabetes"][cs]
    kind = np.where((kind == 3) & has_dm, 0, kind)
    ri = np.where(kind == 0, np.where(sex == 1, k["lab_tct"], k["lab_psa"]),
         np.where(kind == 1, np.where(age >= 18, k["drug_paracetamol_kids"], k["drug_levofloxacin_iv"]),
         np.where(kind == 2, k["drug_meropenem"], k["drug_insulin_glargine"])))
    day = (rng.random(len(cs)) * np.maximum(S["los"][cs], 1)).astype(np.int64)
    added.append((cs, ri, it.typical_qty[ri], day, np.zeros(len(cs), bool), np.zeros(len(cs), bool)))

    cases = np.concatenate([a[0] for a in added]).astype(np.int64)
    new = finish_lines(ia, S, cx, cases, np.concatenate([a[1] for a in added]).astype(np.int64),
                       np.concatenate([a[2] for a in added]).astype(np.int64),
                       np.concatenate([a[3] for a in added]).astype(np.int64), staff, rng, factor_pct,
                       dup=np.concatenate([a[4] for a in added]))
    new["covered_c"] = np.isin(new["case"], uncovered)
    merged = {key: np.concatenate([L[key], new[key]]) for key in L}
    return resort(ia, merged)


def vary_upcoding(w: World, S: dict, cx: dict, up: np.ndarray, neo: np.ndarray, rng: np.random.Generator) -> dict:
    """A varied region's upcoding (:mod:`yibao.synth.vary`): each upcoded stay ``up`` gets one of the drawn
    complications as its first secondary diagnosis (column 0 of ``cx["sec"]``, free for clean stays), and
    ``CARRIERS_PER_UPCODED`` clean adult inpatient stays per upcoded one carry the same complication — their
    accompanying lines are added by :func:`vary_upcoding_lines`. Returns the plan for it."""
    comps = upcoding_lists(rng)
    codes = np.array([w.dx_id(c) for c, _ in comps])
    which = rng.integers(0, len(codes), len(up))
    cx["sec"][up, 0] = codes[which]
    free = ((S["pattern"] < 0) & (S["setting"] == INPATIENT) & ~neo & (cx["severe"] == 0) & (cx["age"] >= 18)
            & (cx["sec"][:, 0] < 0))
    want = CARRIERS_PER_UPCODED * np.maximum(np.bincount(which, minlength=len(codes)), 1)
    cand = rng.permutation(np.flatnonzero(free))[: int(want.sum())]
    comp = np.repeat(np.arange(len(codes)), want)[: len(cand)]
    cx["sec"][cand, 0] = codes[comp]
    return {"comps": comps, "codes": codes, "carriers": cand, "comp": comp, "up": up, "which": which}


def vary_upcoding_lines(w: World, ia: ItemArrays, S: dict, cx: dict, L: dict, plan: dict, rng: np.random.Generator,
                        staff, factor_pct) -> dict:
    """The accompanying lines of the clean carriers of :func:`vary_upcoding`: the complication's first item on a
    day of the stay (every carrier), each further item in half of them; an item the stay already has is not added
    again (it supports the diagnosis already, and a second line could exceed a daily limit). An upcoded stay whose
    own lines happen to hold an item of its complication (an anticoagulant of a stroke stay) gets another of the
    complications whose items it lacks, when there is one: upcoding is a diagnosis without its care."""
    k = w.items.index
    up, which = plan["up"], plan["which"].copy()
    lkey = (L["case"].astype(np.int64) << 20) | L["item"]

    def has(cases: np.ndarray, keys: tuple[str, ...]) -> np.ndarray:
        return np.logical_or.reduce([np.isin((cases.astype(np.int64) << 20) | k[key], lkey) for key in keys])

    held = np.array([has(up, keys) for _, keys in plan["comps"]]).reshape(len(plan["comps"]), len(up))
    bad = held[which, np.arange(len(up))]
    for j in range(len(plan["comps"])):
        m = bad & ~held[j]
        which[m], bad[m] = j, False
    cx["sec"][up, 0] = plan["codes"][which]
    cases, items = [], []
    for j, (_, keys) in enumerate(plan["comps"]):
        cs = plan["carriers"][plan["comp"] == j]
        for n, key in enumerate(keys):
            m = np.ones(len(cs), bool) if n == 0 else rng.random(len(cs)) < 0.5
            cases.append(cs[m])
            items.append(np.full(int(m.sum()), k[key]))
    case = np.concatenate(cases).astype(np.int64) if cases else np.zeros(0, np.int64)
    item = np.concatenate(items).astype(np.int64) if items else np.zeros(0, np.int64)
    keep = ~np.isin((case << 20) | item, (L["case"].astype(np.int64) << 20) | L["item"])
    case, item = case[keep], item[keep]
    if not len(case):
        return L
    day = (rng.random(len(case)) * np.maximum(S["los"][case], 1)).astype(np.int64)
    new = finish_lines(ia, S, cx, case, item, w.items.typical_qty[item].astype(np.int64), day, staff, rng, factor_pct)
    merged = {key: np.concatenate([L[key], new[key]]) for key in L}
    return resort(ia, merged)


FAULTS = ("no_fee_lines", "lines_total_mismatch", "payment_parts_mismatch")
FAULT_LINE_CATEGORIES = ("lab", "exam")  # a left-out line no other rule reads (not a bed, nursing or drug day)


def fault_cases(rng: np.random.Generator, S: dict, L: dict, fee_category: np.ndarray, want: dict[str, int],
                n_cases: int) -> tuple[dict, np.ndarray]:
    """Completeness faults of the settlement list (``yibao synth --faults``; seed 004 五), on clean inpatient or
    outpatient cases with a total: ``no_fee_lines`` (every line of the case left out: the totals sent alone),
    ``lines_total_mismatch`` (one lab or exam line left out of a case with more lines: the lines add up to less
    than ``total_cost``), ``payment_parts_mismatch`` (the cases whose ``self_pay`` the caller moves, returned).
    Sets ``S['pattern']``; returns the lines without the left-out ones and the cases of the third fault."""
    case = L["case"]
    n_lines = np.bincount(case, minlength=n_cases)
    free = (S["pattern"] < 0) & (S["anchor"] < 0) & (S["setting"] != PHARMACY) & (n_lines > 0)
    # no_fee_lines
    gone = pick_cases(rng, free, want.get("no_fee_lines", 0))
    free[gone] = False
    S["pattern"][gone] = PAT["no_fee_lines"]
    drop = np.isin(case, gone)
    # lines_total_mismatch: one lab or exam line of a case with at least two lines
    cand = np.flatnonzero(np.isin(fee_category[L["item"]], FAULT_LINE_CATEGORIES) & (n_lines[case] >= 2)
                          & (L["amount"] > 0))
    ln = _one_line_per_case(rng, L, cand, free, want.get("lines_total_mismatch", 0))
    free[case[ln]] = False
    S["pattern"][case[ln]] = PAT["lines_total_mismatch"]
    drop[ln] = True
    # payment_parts_mismatch
    parts = pick_cases(rng, free, want.get("payment_parts_mismatch", 0))
    S["pattern"][parts] = PAT["payment_parts_mismatch"]
    keep = np.flatnonzero(~drop)
    return {k: v[keep] for k, v in L.items()}, np.sort(parts)


def move_self_pay(rng: np.random.Generator, self_pay: np.ndarray, cases: np.ndarray) -> np.ndarray:
    """``self_pay`` (fen) of ``cases`` moved by 1-5000 fen up or down (never below 0): the payment parts no longer
    add up to ``total_cost``."""
    out = self_pay.copy()
    delta = rng.integers(1, 5001, len(cases))
    down = (rng.random(len(cases)) < 0.5) & (out[cases] >= delta)
    out[cases] = out[cases] + np.where(down, -delta, delta)
    return out


def resort(ia: ItemArrays, L: dict) -> dict:
    """Lines in (case, day, category, item, duplicate) order."""
    key = ((L["case"].astype(np.int64) << 30) | (L["day"].astype(np.int64) << 21)
           | (ia.cat_order[L["item"]] << 16) | (L["item"] << 1) | L["dup"].astype(np.int64))
    order = np.argsort(key, kind="stable")
    return {k: v[order] for k, v in L.items()}
