"""Fee lines (费用明细) of every case and the case settlement, all in integer fen.

Lines are built as *pairs* (case, item, quantity per day, first day, end day) that ``np.repeat`` expands into one
line per service day. Clean lines respect every catalogue rule: unit price = price cap valid on the service date
(× the level factor for services), quantity ≤ max_daily_qty, one line per (case, item, day), sex/age/level/
indication restrictions, a bed and nursing line on every day of a stay.
"""

from __future__ import annotations

import numpy as np

from yibao.synth.cases import INPATIENT, OUTPATIENT, PHARMACY, World, group_slices
from yibao.synth.population import Staff, days, pick_staff

# line ordering inside a case day
_CAT_ORDER = {"registration": 0, "general_care": 0, "bed": 1, "nursing": 2, "exam": 3, "lab": 4, "surgery": 5,
              "treatment": 6, "material": 7, "western_drug": 8, "patent_drug": 9, "herbal": 10, "other": 11}
ROLE_PRESCRIBER, ROLE_NURSE, ROLE_TECH, ROLE_OTHER_PHYS = 0, 1, 2, 3


class ItemArrays:
    """Per-item arrays derived once from the catalogue."""

    def __init__(self, w: World):
        it = w.items
        self.it = it
        self.n = len(it.code)
        self.change_day = np.array([days(d) if d else 10**9 for d in it.change_date], np.int64)
        self.is_service = np.isin(it.kind, ["service", "facility"])
        self.cat_order = np.array([_CAT_ORDER[c] for c in it.fee_category], np.int64)
        role = np.full(self.n, ROLE_PRESCRIBER)
        role[it.fee_category == "nursing"] = ROLE_NURSE
        role[np.isin(it.fee_category, ["exam", "lab"])] = ROLE_TECH
        role[[i for i, t in enumerate(it.tags) if "anaesthesia" in t]] = ROLE_OTHER_PHYS
        self.role = role
        self.k = it.index
        # a varied region (yibao.synth.vary): items without a cap, drugs billed at a share of the cap per institution
        self.no_cap = getattr(w, "no_cap", None)
        self.drug_pct = getattr(w, "drug_price_pct", None)
        # indication ok per (diagnosis, item) for the items with a 限定支付范围
        self.indicated = {}
        for i, pref in enumerate(it.indications):
            if pref:
                self.indicated[i] = np.array([c.startswith(pref) for c in w.dx_vocab], bool)

    def cap_on(self, item: np.ndarray, day: np.ndarray) -> np.ndarray:
        return np.where(day >= self.change_day[item], self.it.new_price[item], self.it.price[item])

    def unit_price(self, item: np.ndarray, day: np.ndarray, level: np.ndarray, factor_pct: np.ndarray) -> np.ndarray:
        cap = self.cap_on(item, day)
        f = np.where(self.is_service[item], factor_pct[level], 100)
        return (cap * f + 50) // 100


class Pairs:
    """Accumulates (case, item, qty, d0, d1) pairs."""

    def __init__(self):
        self.parts: list[tuple] = []

    def add(self, case, item, qty, d0, d1):
        n = len(case)
        if n:
            as_arr = lambda x: np.broadcast_to(np.asarray(x, np.int64), (n,))  # noqa: E731
            self.parts.append(tuple(as_arr(x) for x in (case, item, qty, d0, d1)))

    def arrays(self):
        if not self.parts:
            return tuple(np.zeros(0, np.int64) for _ in range(5))
        return tuple(np.concatenate([p[i] for p in self.parts]) for i in range(5))


def _choose_k(rng, pool: list[int], n: int, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``k[i]`` distinct items of ``pool`` for each of ``n`` rows: (row, item) arrays."""
    if not pool or n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    m = len(pool)
    perm = np.argsort(rng.random((n, m)), axis=1)
    take = np.arange(m)[None, :] < np.minimum(k, m)[:, None]
    rows, cols = np.nonzero(take)
    return rows, np.asarray(pool)[perm[rows, cols]]


def build_pairs(w: World, ia: ItemArrays, S: dict, cx: dict, rng: np.random.Generator) -> Pairs:
    """Clean (case, item, qty, day range) pairs of every case."""
    k = ia.k
    it = ia.it
    P = Pairs()
    setting, los, level, emergency = S["setting"], S["los"], cx["level"], S["emergency"]
    L = np.maximum(los, 1)
    intensity = cx["intensity"]
    tq = it.typical_qty
    mx = it.max_qty
    pp = w.p
    panel = [k[key] for key in pp.admission_panel]
    panel_prob = np.array([pp.admission_panel_prob_by_level[lv] for lv in range(4)])
    op_exam = np.array([pp.op_exam_prob_by_level[lv] for lv in range(4)])  # (level, first/other)
    op_boxes = np.array([pp.op_drug_boxes_by_level[lv] for lv in range(4)])
    op_senior = np.array([pp.op_senior_share_by_level[lv] for lv in range(4)])
    multi_unit = (it.kind != "service") & (it.kind != "facility") & (mx > tq)  # stents, reloads, clips, ...
    imaging = [(k[key], np.array([pr[lv] for lv in range(4)])) for key, pr in pp.admission_imaging.items()]
    monitor_prob = np.array([pp.monitor_prob_by_level[lv] for lv in range(4)])
    one_day = np.array(["chemo" in t for t in it.tags])  # cycle drugs: given on one day, not daily
    postop_anaes = {k["anaes_general"], k["anaes_spinal"]}

    def qty_for(items, mult):
        q = tq[items] * mult
        return np.where(mx[items] >= 0, np.minimum(q, np.maximum(mx[items], tq[items])), q)

    for gi, idx in enumerate(group_slices(S["group"], len(w.groups))):
        if not len(idx):
            continue
        g = w.groups[gi]
        n = len(idx)
        Lg = L[idx]
        st = setting[idx[0]]
        if st == INPATIENT:
            # bed and nursing every day; shock stays start in the ICU
            icu = (cx["severe"][idx] == 2) | cx["vent_invasive"][idx]  # shock and invasive ventilation: ICU
            icu_days = np.where(icu, np.minimum(Lg, rng.integers(pp.icu_days[0], pp.icu_days[1] + 1, n)), 0)
            nurse = np.where(emergency[idx] | (cx["severe"][idx] > 0) | bool(g.surgery),
                             k["nursing_1"], k["nursing_2"])
            P.add(idx, k["bed_general"], 100, icu_days, Lg)
            P.add(idx, nurse, 100, icu_days, Lg)
            P.add(idx, k["ip_consult"], 100, 0, Lg)
            P.add(idx, k["iv_infusion"], 200, 0, Lg)
            s = icu_days > 0
            for key in ("bed_icu", "nursing_special", "icu_care"):
                P.add(idx[s], k[key], 100, 0, icu_days[s])
            # daily drugs: 1-4 distinct items of the group's pool, the first for the whole stay
            lo_k, hi_k = pp.daily_drugs_range
            kk = np.clip(np.rint(pp.daily_drugs_per_intensity * intensity[idx]), lo_k, hi_k).astype(np.int64)
            rows, items = _choose_k(rng, g.drugs, n, kk)
            first = np.r_[True, rows[1:] != rows[:-1]] if len(rows) else np.zeros(0, bool)
            end = np.where(first, Lg[rows], np.maximum(1, np.rint(Lg[rows] * rng.uniform(0.5, 1.0, len(rows)))))
            mult = np.clip(np.rint(intensity[idx][rows] * 2), 1, 3).astype(np.int64)
            d0 = np.where(one_day[items] & (Lg[rows] > 1), 1, 0)
            end = np.where(one_day[items], d0 + 1, end)
            P.add(idx[rows], items, qty_for(items, mult), d0, end.astype(np.int64))
            # daily treatments
            for t in g.daily_tx:
                m = rng.random(n) < 0.8
                P.add(idx[m], t, tq[t], np.where(Lg[m] > 1, 1, 0), Lg[m])
            # respiratory support / monitoring of severe respiratory stays
            r = np.flatnonzero(cx["severe"][idx] == 1)
            if len(r):
                ci = idx[r]
                P.add(ci, k["oxygen"], tq[k["oxygen"]], 0, Lg[r])
                inv = cx["vent_invasive"][ci]
                vdays = np.where(inv, icu_days[r], np.minimum(Lg[r], rng.integers(2, 6, len(r))))
                P.add(ci[inv], k["ventilation"], 2400, 0, vdays[inv])
                P.add(ci[inv], k["mat_ett"], 100, 0, 1)
                P.add(ci[~inv], k["niv"], tq[k["niv"]], 0, vdays[~inv])
            # herbal pieces at TCM hospitals
            tcm = np.flatnonzero((w.inst.category[S["inst"][idx]] == "tcm") & (rng.random(n) < 0.6))
            if len(tcm):
                herb = np.array([k["herb_huangqi"], k["herb_dangshen"], k["herb_gancao"]])[rng.integers(0, 3, len(tcm))]
                P.add(idx[tcm], herb, tq[herb], np.where(Lg[tcm] > 1, 1, 0), Lg[tcm])
            # admission work-up, one-off exams and labs (admission day), repeated labs for longer stays
            pm = rng.random(n) < panel_prob[level[idx]]
            for e in panel:
                P.add(idx[pm], e, tq[e], 0, 1)
            for e, pr in imaging:
                m = rng.random(n) < pr[level[idx]]
                P.add(idx[m], e, tq[e], 0, 1)
            m = (cx["age"][idx] >= 60) & (rng.random(n) < monitor_prob[level[idx]])
            P.add(idx[m], k["ecg_monitor"], 2400, 0, np.minimum(Lg[m], pp.monitor_days))
            dm = cx["has_diabetes"][idx]
            P.add(idx[dm], k["lab_glucose"], 100 * pp.glucose_checks_per_day, 0, Lg[dm])
            iv = level[idx] >= pp.daily_iv_set_min_level
            P.add(idx[iv], k["mat_precision_iv_set"], tq[k["mat_precision_iv_set"]], 0, Lg[iv])
            prob = np.array([w.p.exam_prob_by_level[int(x)] for x in range(4)])[level[idx]]
            for j, e in enumerate(g.exams):
                m = rng.random(n) < (1.0 if j < 2 else prob)
                day = np.where((j >= 2) & (Lg > 1) & (rng.random(n) < 0.4), 1, 0)
                P.add(idx[m], e, tq[e], day[m], day[m] + 1)
                if it.fee_category[e] == "lab":  # repeated labs (a duplicate day is dropped later)
                    for frac in (0.34, 0.5, 0.67, 1.0):
                        rep = m & (Lg >= 4) & (rng.random(n) < pp.lab_repeat_per_intensity * intensity[idx])
                        d = np.minimum((Lg[rep] * frac).astype(np.int64), Lg[rep] - 1)
                        P.add(idx[rep], e, tq[e], d, d + 1)
            sday = np.where(emergency[idx] | (Lg == 1), 0, 1)
            for s_item in g.surgery:  # multi-unit consumables (stents, reloads, clips): more units when intense
                q = tq[s_item]
                if multi_unit[s_item]:
                    q = np.clip(np.rint(q * intensity[idx] / 100) * 100, q, mx[s_item]).astype(np.int64)
                P.add(idx, s_item, q, sday, sday + 1)
            if postop_anaes & set(g.surgery):
                P.add(idx, k["ecg_monitor"], 2400, sday, np.maximum(np.minimum(sday + pp.postop_monitor_days, Lg), sday + 1))
                for key in ("mat_pca_pump", "anaes_monitor", "mat_anaes_kit"):
                    P.add(idx, k[key], 100, sday, sday + 1)
            tr = cx["transfused"][idx]
            P.add(idx[tr], k["transfusion"], 100, sday[tr], sday[tr] + 1)
            P.add(idx[tr], k["blood_rbc"], 200, sday[tr], sday[tr] + 1)
            P.add(idx, k["mat_iv_set"], tq[k["mat_iv_set"]], 0, 1)
            P.add(idx, k["mat_cannula"], 100, 0, 1)
            c = np.flatnonzero(rng.random(n) < 0.05)
            citem = np.array([k["drug_thymopentin"], k["mat_collagen"], k["drug_ngf"]])[rng.integers(0, 3, len(c))]
            cday = (rng.random(len(c)) * Lg[c]).astype(np.int64)
            P.add(idx[c], citem, 100, cday, cday + 1)
        elif st == OUTPATIENT:
            lv = level[idx]
            primary = w.inst.kind[S["inst"][idx]] == "primary"
            reg = np.where(primary, k["general_care"],
                           np.where(rng.random(n) < op_senior[lv], k["reg_senior"], k["reg_general"]))
            P.add(idx, reg, 100, 0, 1)
            rows, items = _choose_k(rng, g.drugs, n, rng.integers(1, 4, n))
            boxes = 1 + (rng.random(len(rows)) * op_boxes[lv[rows]]).astype(np.int64)
            P.add(idx[rows], items, qty_for(items, boxes), 0, 1)
            ef = np.where(primary, pp.primary_exam_factor, 1.0)
            for j, e in enumerate(g.exams):
                m = rng.random(n) < op_exam[lv, min(j, 1)] * ef
                P.add(idx[m], e, tq[e], 0, 1)
            for t in g.daily_tx:
                m = rng.random(n) < 0.5
                P.add(idx[m], t, tq[t], 0, 1)
            for s_item in g.surgery:
                P.add(idx, s_item, tq[s_item], 0, 1)
            c = rng.random(n) < 0.02
            P.add(idx[c], k["drug_calcium_zinc"], 100, 0, 1)
        else:  # PHARMACY
            rows, items = _choose_k(rng, g.drugs, n, rng.integers(1, 4, n))
            b_lo, b_hi = pp.pharmacy_boxes
            q = np.minimum(tq[items] * rng.integers(b_lo, b_hi + 1, len(rows)), np.where(mx[items] > 0, mx[items], 10**9))
            P.add(idx[rows], items, q, 0, 1)
    return P


def valid_pairs(ia: ItemArrays, case: np.ndarray, item: np.ndarray, cx: dict, S: dict) -> np.ndarray:
    """Catalogue restrictions (sex, age, level, indication by principal diagnosis) hold for each pair."""
    it = ia.it
    ok = (it.sex[item] == 0) | (it.sex[item] == S["sex"][case])
    ok &= (cx["age"][case] >= it.min_age[item]) & (cx["age"][case] <= it.max_age[item])
    ok &= cx["level"][case] >= it.min_level[item]
    for i, vec in ia.indicated.items():
        m = item == i
        if m.any():
            ok[m] &= vec[S["dx"][case[m]]]
    return ok


def expand(ia: ItemArrays, S: dict, cx: dict, pairs: tuple, staff: Staff, rng: np.random.Generator,
           factor_pct: np.ndarray, drop_days: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """One line per pair and day, priced, with the performing staff; duplicates (case, item, day) dropped."""
    case, item, qty, d0, d1 = pairs
    ok = valid_pairs(ia, case, item, cx, S) & (d1 > d0)
    case, item, qty, d0, d1 = (a[ok] for a in (case, item, qty, d0, d1))
    rep = d1 - d0
    lc = np.repeat(case, rep)
    li = np.repeat(item, rep)
    lq = np.repeat(qty, rep)
    offs = np.arange(len(lc)) - np.repeat(np.cumsum(rep) - rep, rep)
    lday = np.repeat(d0, rep) + offs
    if drop_days is not None:  # phantom stays: no daily lines on the gap days
        g0, g1 = drop_days
        daily = np.repeat(rep > 1, rep)
        gap = daily & (lday >= g0[lc]) & (lday < g1[lc])
        keep = ~gap
        lc, li, lq, lday = lc[keep], li[keep], lq[keep], lday[keep]
    return finish_lines(ia, S, cx, lc, li, lq, lday, staff, rng, factor_pct, dedupe=True)


def finish_lines(ia, S, cx, lc, li, lq, lday, staff, rng, factor_pct, dedupe: bool = False,
                 dup: np.ndarray | None = None) -> dict:
    key = (lc.astype(np.int64) << 30) | (lday.astype(np.int64) << 21) | (ia.cat_order[li] << 16) | (li << 1)
    if dup is not None:
        key |= dup.astype(np.int64)
    order = np.argsort(key, kind="stable")
    key, lc, li, lq, lday = key[order], lc[order], li[order], lq[order], lday[order]
    if dedupe:
        keep = np.r_[True, (key[1:] >> 1) != (key[:-1] >> 1)]
        lc, li, lq, lday = lc[keep], li[keep], lq[keep], lday[keep]
    date = S["admit"][lc] + lday
    price = ia.unit_price(li, date, cx["level"][lc], factor_pct)
    if ia.drug_pct is not None:
        price = np.where(ia.is_service[li], price, (price * ia.drug_pct[S["inst"][lc]] + 50) // 100)
    amount = (lq * price + 50) // 100
    role = ia.role[li]
    inst = S["inst"][lc]
    st = np.where(role == ROLE_PRESCRIBER, cx["attending"][lc], -1)
    for r, staff_role in ((ROLE_NURSE, 1), (ROLE_TECH, 2), (ROLE_OTHER_PHYS, 0)):
        m = role == r
        st[m] = pick_staff(rng, staff, inst[m], staff_role)
    pharm = (S["setting"][lc] == PHARMACY) | (st < 0)
    st[pharm] = pick_staff(rng, staff, inst[pharm], 3)
    return {"case": lc, "item": li, "qty": lq, "day": lday, "date": date, "price": price, "amount": amount,
            "staff": st, "covered_c": np.zeros(len(lc), bool), "dup": np.zeros(len(lc), bool) if dup is None
            else dup[order]}


def settle(w: World, S: dict, cx: dict, L: dict, scheme_employee: np.ndarray, n_cases: int) -> dict:
    """Case totals from the lines (sorted by case) and the fund / self-pay / excluded split, exact in fen."""
    it = w.items
    p = w.p
    cls = it.cls[L["item"]]
    amount = L["amount"]
    c_line = (cls == 2) & ~L["covered_c"]  # 丙类 → 个人自费 (unless wrongly booked to the fund)
    b_self = np.where(cls == 1, (amount * it.ratio_bp[L["item"]] + 5000) // 10000, 0)
    eligible = np.where(c_line, 0, amount - b_self)
    case = L["case"]
    total = np.bincount(case, weights=amount, minlength=n_cases).round().astype(np.int64)
    excl = np.bincount(case, weights=np.where(c_line, amount, 0), minlength=n_cases).round().astype(np.int64)
    bself = np.bincount(case, weights=b_self, minlength=n_cases).round().astype(np.int64)
    elig = np.bincount(case, weights=eligible, minlength=n_cases).round().astype(np.int64)
    level = cx["level"]
    scheme = np.where(scheme_employee, "employee", "resident")
    ded = np.zeros(n_cases, np.int64)
    rate_bp = np.zeros(n_cases, np.int64)
    for sc in ("employee", "resident"):
        for lv in range(4):
            m = (scheme == sc) & (level == lv)
            ip = m & (S["setting"] == INPATIENT)
            ded[ip] = p.inpatient_deductible[(sc, lv)] * 100
            rate_bp[ip] = round(p.inpatient_fund_rate[(sc, lv)] * 10000)
            op = m & (S["setting"] == OUTPATIENT)
            rate_bp[op] = round(p.outpatient_fund_rate[(sc, lv)] * 10000)
        ph = (scheme == sc) & (S["setting"] == PHARMACY)
        rate_bp[ph] = round(p.pharmacy_fund_rate[sc] * 10000)
    above = np.maximum(elig - ded, 0)
    fund = above * rate_bp // 10000
    self_pay = bself + (elig - above) + (above - fund)
    assert np.array_equal(total, fund + self_pay + excl)
    return {"total": total, "fund": fund, "self_pay": self_pay, "excluded": excl}
