"""``yibao synth --benefit`` / ``--out-of-area``: book ``fund_paid`` by a benefit policy written beside the region.

Behind the options only; without them the generator adds nothing but the header-only ``filings`` and ``claims``
tables (the region's other files stay byte for byte as before).

- ``--benefit``: a benefit policy (``benefit_policy.toml``, the ``[benefit]`` keys of docs/benefit.md) with this
  region's rates is written beside the tables, every case's ``fund_paid`` / ``self_pay`` /
  ``out_of_pocket_excluded`` is booked by it — an independent integer-fen implementation in NumPy of the rules
  the calculator applies in SQL (per-stay / per-year deductible, three cost bands, the annual cap in settlement
  order) — and a few booking errors are injected and labelled in ``benefit_labels.csv``
  (``case_id,pattern,booked,correct``: ``fund_overbooked`` or ``fund_underbooked``).
- ``--out-of-area`` (implies ``--benefit``): three institutions elsewhere (Guangzhou, Shenzhen, Changsha) with a
  place-of-care catalogue for Guangzhou (``catalogs/440100.csv``), about 1 % of the local insured's inpatient
  stays moved there (outbound direct settlement), their filings (备案; a few missing or expired, one emergency),
  and manual reimbursement claims (零星报销): approved ones, one submitted late, one without its invoice, one
  without a filing. Patients insured elsewhere treated here (inbound) are those the generator already draws
  (``other_region_share``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from yibao.synth.params import SynthParams
from yibao.synth.writer import NULL

POLICY_FILE = "benefit_policy.toml"
LABEL_FILE = "benefit_labels.csv"
SCHEMES = ("employee", "resident")
SETTINGS = ("inpatient", "outpatient", "special_outpatient")
SPECIAL_DX = ("E10", "E11", "E13", "E14", "I10", "I11", "I12", "I13", "I15", "N18", "C")
POTS = ("pooling", "outpatient")
CAP_YUAN = {("employee", "pooling"): 400_000, ("employee", "outpatient"): 3_000,
            ("resident", "pooling"): 250_000, ("resident", "outpatient"): 800}
BAND_TOPS_YUAN = {"inpatient": (30_000, 100_000), "outpatient": (0, 0), "special_outpatient": (0, 0)}
OUTPATIENT_DEDUCTIBLE_YUAN = {"employee": 200, "resident": 0}
SPECIAL_DEDUCTIBLE_YUAN = {"employee": 0, "resident": 300}
# institutions elsewhere for outbound care: (region, name, level)
ELSEWHERE = (("440106", "广州市第一人民医院（异地）", 3), ("440304", "深圳市人民医院（异地）", 3),
             ("430102", "湖南省人民医院（异地）", 3))
PLACE_CATALOG_REGION = "440100"  # the catalogue file written for the first one's city


def empty_tables() -> dict:
    """Header-only ``filings`` and ``claims`` (the default region has no out-of-area care data)."""
    e = np.zeros(0, np.int64)
    s = pa.array([], pa.string())
    return {
        "filings": {"filing_id": s, "person_id": s, "filing_kind": s, "one_off_reason": s,
                    "destination_region": s, "valid_from": e, "valid_to": e, "channel": s, "filed_on": e},
        "claims": {"claim_id": s, "person_id": s, "institution_name": s, "institution_region": s,
                   "institution_level": e, "setting": s, "principal_dx": s, "emergency": np.zeros(0, bool),
                   "admit_date": e, "discharge_date": e, "submitted_on": e, "total_cost": e, "class_b_amount": e,
                   "class_b_self_pay": e, "class_c_amount": e,
                   **{d: np.zeros(0, bool) for d in ("doc_card", "doc_filing_form", "doc_certificate",
                                                     "doc_itemised_list", "doc_invoice")}},
    }


# --------------------------------------------------------------------------------------------- the policy


def policy_rules(p: SynthParams) -> dict:
    """(scheme, setting, level) → (deductible fen, per_year, pot, top1 fen, top2 fen, (rate1, rate2, rate3) in bp)."""
    rules = {}
    for s in SCHEMES:
        for lv in range(4):
            r = round(p.inpatient_fund_rate[(s, lv)] * 10000)
            rules[(s, "inpatient", lv)] = (p.inpatient_deductible[(s, lv)] * 100, False, "pooling",
                                          BAND_TOPS_YUAN["inpatient"][0] * 100, BAND_TOPS_YUAN["inpatient"][1] * 100,
                                          (r, min(r + 300, 10000), min(r + 500, 10000)))
            o = round(p.outpatient_fund_rate[(s, lv)] * 10000)
            rules[(s, "outpatient", lv)] = (OUTPATIENT_DEDUCTIBLE_YUAN[s] * 100, True, "outpatient", 0, 0, (o, o, o))
            sp = min(o + 2000, 10000)
            rules[(s, "special_outpatient", lv)] = (SPECIAL_DEDUCTIBLE_YUAN[s] * 100, True, "pooling", 0, 0,
                                                    (sp, sp, sp))
    return rules


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _bp(bp: int) -> str:
    return f"{bp // 10000}.{bp % 10000:04d}"


def policy_text(p: SynthParams, year: int) -> str:
    """The ``[benefit]`` policy the booking used, every key written out."""
    rules = policy_rules(p)
    keys = [f"{s}_{t}" for s in SCHEMES for t in SETTINGS]
    out = ["# 合成统筹区的待遇政策（yibao synth --benefit 按此记账；键见 docs/benefit.md）", "[benefit]",
           f"year = {year}", f'region_code = "{p.city_code}"', 'tolerance = "0.01"', 'unlisted_class = "A"',
           "special_dx = [" + ", ".join(f'"{d}"' for d in SPECIAL_DX) + "]",
           "deductible_per_year = [" + ", ".join(f'"{s}_{t}"' for s in SCHEMES for t in SETTINGS
                                                 if rules[(s, t, 0)][1]) + "]", ""]
    for name, col in (("band1_top", 3), ("band2_top", 4)):
        out.append(f"[benefit.{name}]")
        out += [f"{k} = \"{_yuan(rules[(k.split('_', 1)[0], k.split('_', 1)[1], 3)][col])}\"" for k in keys]
        out.append("")
    for k in keys:
        s, t = k.split("_", 1)
        out.append(f"[benefit.deductible.{k}]")
        out += [f'"{lv}" = "{_yuan(rules[(s, t, lv)][0])}"' for lv in (3, 2, 1, 0)]
        out.append("")
        for i in range(3):
            out.append(f"[benefit.rate{i + 1}.{k}]")
            out += [f'"{lv}" = "{_bp(rules[(s, t, lv)][5][i])}"' for lv in (3, 2, 1, 0)]
            out.append("")
    for s in SCHEMES:
        out.append(f"[benefit.cap.{s}]")
        out += [f'{pot} = "{_yuan(CAP_YUAN[(s, pot)] * 100)}"' for pot in POTS]
        out.append("")
    out += ["[out_of_area]", "claim_deadline_months = 1", "emergency_exempt = true", "inbound_in_local = false", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------- booking


def _group_cumsum_before(keys: list[np.ndarray], order: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Per row: the sum of ``x`` over the earlier rows (in ``order``) of the same group ``keys``."""
    xs = x[order]
    ks = [k[order] for k in keys]
    new = np.ones(len(xs), bool)
    if len(xs):
        new[1:] = np.zeros(len(xs) - 1, bool)
        for k in ks:
            new[1:] |= k[1:] != k[:-1]
    cs = np.cumsum(xs)
    start = np.maximum.accumulate(np.where(new, np.arange(len(xs)), 0))
    before_sorted = cs - xs - (cs[start] - xs[start])
    out = np.empty_like(before_sorted)
    out[order] = before_sorted
    return out


def book(tables: dict, p: SynthParams, place_catalog: dict | None = None) -> dict:
    """The policy's fund payment of every case, in fen: arrays ``fund``, ``self_pay``, ``excluded``, ``covered``.

    ``place_catalog``: {region prefix (4 digits): {item_code: (class, ratio_bp)}} for cases at institutions there."""
    cases, fee, cat, inst = tables["cases"], tables["fee_items"], tables["catalog"], tables["institutions"]
    n = len(cases["case_id"])
    # --- line classes by the catalogue (class and ratio do not change between a code's versions here)
    codes = cat["item_code"].to_pylist()
    cls = cat["class"].to_pylist()
    ratio = np.asarray(cat["self_pay_ratio"])
    first: dict[str, tuple[str, int]] = {}
    for c, k, r in zip(codes, cls, ratio):
        first.setdefault(c, (k, int(r) if r != NULL else 0))
    ucodes = list(first)
    cls_of = np.array([{"A": 0, "B": 1, "C": 2}[first[c][0]] for c in ucodes], np.int64)
    ratio_of = np.array([first[c][1] for c in ucodes], np.int64)
    li = np.asarray(pc.fill_null(pc.index_in(fee["item_code"], pa.array(ucodes, pa.string())), -1))
    lcls = np.where(li >= 0, cls_of[np.maximum(li, 0)], 2)
    lratio = np.where(li >= 0, ratio_of[np.maximum(li, 0)], 0)
    lcase = np.asarray(pc.index_in(fee["case_id"], cases["case_id"]))
    inst_idx = np.asarray(pc.index_in(cases["institution_id"], inst["institution_id"]))
    inst_region = np.asarray(inst["region_code"].to_pylist() if isinstance(inst["region_code"], pa.Array)
                             else inst["region_code"], object)
    case_region4 = np.array([str(r)[:4] for r in inst_region], object)[inst_idx]
    if place_catalog:
        for prefix, items in place_catalog.items():
            on = case_region4[lcase] == prefix
            if not on.any():
                continue
            pcodes = list(items)
            pi = np.asarray(pc.fill_null(pc.index_in(fee["item_code"], pa.array(pcodes, pa.string())), -1))
            pcls = np.array([{"A": 0, "B": 1, "C": 2}[items[c][0]] for c in pcodes], np.int64)
            pratio = np.array([items[c][1] for c in pcodes], np.int64)
            lcls = np.where(on, np.where(pi >= 0, pcls[np.maximum(pi, 0)], 2), lcls)
            lratio = np.where(on, np.where(pi >= 0, pratio[np.maximum(pi, 0)], 0), lratio)
    amount = np.asarray(fee["amount"], np.int64)
    bself = np.where(lcls == 1, (amount * lratio + 5000) // 10000, 0)  # ROUND_HALF_UP per line (amounts ≥ 0)
    a = np.bincount(lcase, weights=np.where(lcls == 0, amount, 0), minlength=n).round().astype(np.int64)
    b = np.bincount(lcase, weights=np.where(lcls == 1, amount, 0), minlength=n).round().astype(np.int64)
    bs = np.bincount(lcase, weights=bself, minlength=n).round().astype(np.int64)
    c = np.bincount(lcase, weights=np.where(lcls == 2, amount, 0), minlength=n).round().astype(np.int64)
    total = np.asarray(cases["total_cost"], np.int64)
    unlisted = total - (a + b + c)
    covered = np.maximum(a + b - bs + unlisted, 0)
    # --- rule of each case
    scheme = np.asarray(cases["scheme"].to_pylist(), object)
    setting = np.asarray(cases["setting"].to_pylist(), object)
    dx = cases["principal_dx"]
    special = np.zeros(n, bool)
    for pre in SPECIAL_DX:
        special |= np.asarray(pc.fill_null(pc.starts_with(dx, pre), False))
    bset = np.where((setting == "outpatient") & special, "special_outpatient", setting)
    level = np.asarray(inst["level"], np.int64)[inst_idx]
    rules = policy_rules(p)
    ded = np.zeros(n, np.int64)
    per_year = np.zeros(n, bool)
    pot = np.zeros(n, np.int64)
    t1 = np.zeros(n, np.int64)
    t2 = np.zeros(n, np.int64)
    rates = np.zeros((n, 3), np.int64)
    for (s, t, lv), (d, py, pt, a1, a2, rr) in rules.items():
        m = (scheme == s) & (bset == t) & (level == lv)
        ded[m], per_year[m], pot[m], t1[m], t2[m] = d, py, POTS.index(pt), a1, a2
        rates[m] = rr
    inf = np.int64(10**14)
    t1 = np.where(t1 == 0, inf, t1)
    t2 = np.where(t2 == 0, inf, t2)
    # --- settlement order: settle date, then case id (what the calculator orders by)
    settle = np.asarray(cases["settle_date"], np.int64)
    year = settle.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64)
    person = np.asarray(pc.index_in(cases["person_id"], pc.unique(cases["person_id"])))
    id_rank = np.argsort(np.argsort(np.asarray(cases["case_id"].to_pylist(), object), kind="stable"), kind="stable")
    scheme_i = (scheme == "resident").astype(np.int64)
    bset_i = np.select([bset == "inpatient", bset == "outpatient"], [0, 1], 2)
    order_d = np.lexsort((id_rank, settle, year, bset_i, scheme_i, person))
    before = _group_cumsum_before([person, scheme_i, bset_i, year], order_d, covered)
    deductible = np.where(per_year, np.minimum(before + covered, ded) - np.minimum(before, ded),
                          np.minimum(covered, ded))
    band1 = np.maximum(np.minimum(covered, t1) - deductible, 0)
    band2 = np.maximum(np.minimum(covered, t2) - np.maximum(deductible, t1), 0)
    band3 = np.maximum(covered - np.maximum(deductible, t2), 0)
    raw = band1 * rates[:, 0] + band2 * rates[:, 1] + band3 * rates[:, 2]  # fen × bp
    uncapped = (raw + 5000) // 10000  # ROUND_HALF_UP to the fen, once per case
    cap = np.array([CAP_YUAN[(s, POTS[k])] * 100 for s, k in zip(scheme, pot)], np.int64) if n else np.zeros(0, np.int64)
    order_c = np.lexsort((id_rank, settle, year, pot, scheme_i, person))
    used = _group_cumsum_before([person, scheme_i, pot, year], order_c, uncapped)
    fund = np.minimum(used + uncapped, cap) - np.minimum(used, cap)
    excluded = c
    self_pay = total - fund - excluded
    return {"fund": fund, "self_pay": self_pay, "excluded": excluded, "covered": covered}


def inject_booking_errors(rng: np.random.Generator, booked: dict, share: float = 0.004, minimum: int = 6) -> list:
    """Change the booked fund of a few cases (over- or under-booked by 5–30 %, at least 20 yuan); the labels."""
    fund = booked["fund"]
    cand = np.flatnonzero(fund >= 10_000)  # ≥ 100 yuan of fund payment
    k = min(len(cand), max(minimum, int(round(len(fund) * share))))
    pick = np.sort(rng.choice(cand, k, replace=False)) if k else np.zeros(0, np.int64)
    labels = []
    for j, i in enumerate(pick):
        up = j % 3 != 2  # two thirds over-booked
        delta = max(2_000, int(fund[i] * rng.uniform(0.05, 0.30)))
        delta = delta if up else -min(delta, int(fund[i]))
        delta = min(delta, int(booked["self_pay"][i])) if up else delta  # the case's parts still add up
        if delta == 0:
            continue
        labels.append((i, "fund_overbooked" if delta > 0 else "fund_underbooked", int(fund[i] + delta), int(fund[i])))
    for i, _, new, _ in labels:
        d = new - fund[i]
        booked["fund"][i] += d
        booked["self_pay"][i] -= d
    return labels


# --------------------------------------------------------------------------------------------- out of area


def out_of_area(tables: dict, rng: np.random.Generator, p: SynthParams) -> tuple[dict, dict]:
    """Institutions elsewhere, outbound stays moved there, filings and claims (tables changed in place); returns
    (the place-of-care catalogue {item_code: (class, ratio_bp)} for PLACE_CATALOG_REGION, a summary)."""
    inst, cases, ins = tables["institutions"], tables["cases"], tables["insured"]
    new_ids = [f"H{r}{90001 + i:05d}" for i, (r, _, _) in enumerate(ELSEWHERE)]
    start = int(np.min(np.asarray(inst["agreement_start"])))
    inst_new = {
        "institution_id": pa.concat_arrays([_arr(inst["institution_id"]), pa.array(new_ids, pa.string())]),
        "name": pa.concat_arrays([_arr(inst["name"]), pa.array([e[1] for e in ELSEWHERE], pa.string())]),
        "kind": pa.concat_arrays([_arr(inst["kind"]), pa.array(["hospital"] * len(ELSEWHERE), pa.string())]),
        "level": np.concatenate([np.asarray(inst["level"], np.int64), [e[2] for e in ELSEWHERE]]),
        "category": pa.concat_arrays([_arr(inst["category"]), pa.array(["general"] * len(ELSEWHERE), pa.string())]),
        "region_code": pa.concat_arrays([_arr(inst["region_code"]), pa.array([e[0] for e in ELSEWHERE], pa.string())]),
        "agreement_start": np.concatenate([np.asarray(inst["agreement_start"], np.int64), [start] * len(ELSEWHERE)]),
        "agreement_end": np.concatenate([np.asarray(inst["agreement_end"], np.int64), [NULL] * len(ELSEWHERE)]),
    }
    tables["institutions"] = inst_new
    # --- outbound: ~1 % of local insured's inpatient stays (not emergency-free: any) moved to an institution elsewhere
    local4 = p.city_code[:4]
    pid = cases["person_id"]
    pidx = np.asarray(pc.index_in(pid, ins["person_id"]))
    ins_region = np.asarray(_arr(ins["region_code"]).to_pylist(), object)
    local_person = np.array([str(r)[:4] == local4 for r in ins_region])[pidx]
    inpatient = np.asarray(pc.equal(cases["setting"], "inpatient"))
    labelled = np.isin(np.asarray(pc.index_in(cases["case_id"], tables["labels"]["case_id"]).is_valid()), True)
    cand = np.flatnonzero(local_person & inpatient & ~labelled)
    k = max(12, len(cand) // 100) if len(cand) else 0
    moved = np.sort(rng.choice(cand, min(k, len(cand)), replace=False)) if k else np.zeros(0, np.int64)
    dest = rng.integers(0, len(ELSEWHERE), len(moved))
    inst_ids = np.asarray(_arr(cases["institution_id"]).to_pylist(), object)
    inst_ids[moved] = np.array(new_ids, object)[dest]
    cases["institution_id"] = pa.array(inst_ids, pa.string())
    cases["attending_staff_id"] = pc.if_else(pa.array(np.isin(np.arange(len(inst_ids)), moved)),
                                             pa.scalar(None, pa.string()), _arr(cases["attending_staff_id"]))
    emergency = np.asarray(cases["emergency"], bool).copy()
    fee_staff_mask = np.isin(np.asarray(pc.index_in(tables["fee_items"]["case_id"], cases["case_id"])), moved)
    tables["fee_items"]["staff_id"] = pc.if_else(pa.array(fee_staff_mask), pa.scalar(None, pa.string()),
                                                 _arr(tables["fee_items"]["staff_id"]))
    # filings: every moved stay's person has one covering the stay, except: the 1st no filing, the 2nd an expired
    # one, the 3rd none but an emergency stay (excepted)
    admit = np.asarray(cases["admit_date"], np.int64)
    rows = []
    person_ids = np.asarray(_arr(pid).to_pylist(), object)
    for jj, i in enumerate(moved):
        j = (len(moved) - 2 - jj) % len(moved)  # the special ones: the latest stays but one (settled in the last year)
        region = ELSEWHERE[dest[jj]][0]
        if j in (0, 1):
            emergency[i] = False  # the demo's findings: no filing (O01), an expired one (O02)
        if j == 0:
            continue
        if j == 2:
            emergency[i] = True
            continue
        if j == 1:
            rows.append((person_ids[i], "one_off", "travel", region, admit[i] - 200, admit[i] - 20, "online", admit[i] - 201))
            continue
        kind = ("one_off", "posted", "retiree_resident")[j % 3]
        reason = ("travel", "transfer", "emergency")[j % 3] if kind == "one_off" else None
        rows.append((person_ids[i], kind, reason, region if kind == "one_off" else region[:4] + "00",
                     admit[i] - int(rng.integers(5, 300)), NULL if kind != "one_off" else admit[i] + 90,
                     ("online", "offline")[j % 2], admit[i] - int(rng.integers(5, 300)) - 1))
    cases["emergency"] = emergency
    # manual claims (零星报销) of local insured: approved ×3, late, missing invoice, no filing
    claim_rows = []
    local_people = np.flatnonzero(np.array([str(r)[:4] == local4 for r in ins_region]))
    people = np.asarray(_arr(ins["person_id"]).to_pylist(), object)[rng.choice(local_people, 6, replace=False)]
    year_end = int(np.max(np.asarray(cases["settle_date"], np.int64)))
    for j, who in enumerate(people):
        dis = year_end - 120 + 15 * j
        adm = dis - int(rng.integers(3, 12))
        total = int(rng.integers(800_000, 3_000_000))
        b_amt = total // 5
        c_amt = total // 20
        filed = j != 5
        late = j == 3
        docs = [True] * 5
        if j == 4:
            docs[4] = False  # no invoice
        claim_rows.append((f"LX{j + 1:05d}", who, ELSEWHERE[j % 3][1].replace("（异地）", ""), ELSEWHERE[j % 3][0],
                           3, "inpatient", "K80.100", False, adm, dis, dis + (45 if late else 10 + j), total, b_amt,
                           (b_amt * 1000 + 5000) // 10000, c_amt, docs))
        if filed:
            rows.append((who, "posted", None, ELSEWHERE[j % 3][0][:4] + "00", adm - 400, NULL, "offline", adm - 401))
    n_f = len(rows)
    tables["filings"] = {
        "filing_id": pa.array([f"BA{i + 1:06d}" for i in range(n_f)], pa.string()),
        "person_id": pa.array([r[0] for r in rows], pa.string()),
        "filing_kind": pa.array([r[1] for r in rows], pa.string()),
        "one_off_reason": pa.array([r[2] for r in rows], pa.string()),
        "destination_region": pa.array([r[3] for r in rows], pa.string()),
        "valid_from": np.array([r[4] for r in rows], np.int64), "valid_to": np.array([r[5] for r in rows], np.int64),
        "channel": pa.array([r[6] for r in rows], pa.string()), "filed_on": np.array([r[7] for r in rows], np.int64),
    }
    cl = claim_rows
    docs = ("doc_card", "doc_filing_form", "doc_certificate", "doc_itemised_list", "doc_invoice")
    tables["claims"] = {
        "claim_id": pa.array([r[0] for r in cl], pa.string()), "person_id": pa.array([r[1] for r in cl], pa.string()),
        "institution_name": pa.array([r[2] for r in cl], pa.string()),
        "institution_region": pa.array([r[3] for r in cl], pa.string()),
        "institution_level": np.array([r[4] for r in cl], np.int64), "setting": pa.array([r[5] for r in cl], pa.string()),
        "principal_dx": pa.array([r[6] for r in cl], pa.string()), "emergency": np.array([r[7] for r in cl], bool),
        "admit_date": np.array([r[8] for r in cl], np.int64), "discharge_date": np.array([r[9] for r in cl], np.int64),
        "submitted_on": np.array([r[10] for r in cl], np.int64), "total_cost": np.array([r[11] for r in cl], np.int64),
        "class_b_amount": np.array([r[12] for r in cl], np.int64),
        "class_b_self_pay": np.array([r[13] for r in cl], np.int64),
        "class_c_amount": np.array([r[14] for r in cl], np.int64),
        **{d: np.array([r[15][k] for r in cl], bool) for k, d in enumerate(docs)},
    }
    # the place of care's catalogue: ours with every 10th class-A drug class B (10 %) there
    codes = tables["catalog"]["item_code"].to_pylist()
    cls = tables["catalog"]["class"].to_pylist()
    ratio = np.asarray(tables["catalog"]["self_pay_ratio"])
    place: dict[str, tuple[str, int]] = {}
    for i, (c, k) in enumerate(zip(codes, cls)):
        if c in place:
            continue
        r = int(ratio[i]) if ratio[i] != NULL else 0
        place[c] = ("B", 1000) if k == "A" and len(place) % 10 == 0 else (k, r)
    return place, {"outbound_cases": len(moved), "filings": n_f, "claims": len(cl)}


def place_catalog_csv(place: dict) -> str:
    lines = ["item_code,class,self_pay_ratio,valid_from,valid_to"]
    for c, (k, r) in place.items():
        lines.append(f"{c},{k},{_bp(r) if k == 'B' else ''},2020-01-01,")
    return "\n".join(lines) + "\n"


def _arr(v) -> pa.Array:
    if isinstance(v, pa.ChunkedArray):
        return v.combine_chunks()
    return v if isinstance(v, pa.Array) else pa.array(v, pa.string())


def extend(tables: dict, out_dir: Path, seed: int, p: SynthParams, last_year: int, *, benefit: bool = False,
           out_area: bool = False) -> dict:
    """The generator's hook: the empty out-of-area tables, or (behind the options) the booking and the demo."""
    tables.update(empty_tables())
    if not (benefit or out_area):
        return {}
    rng = np.random.default_rng(np.random.SeedSequence([seed, 21]))
    summary: dict = {}
    place = None
    if out_area:
        place_items, summary = out_of_area(tables, rng, p)
        place = {PLACE_CATALOG_REGION[:4]: place_items}
        (Path(out_dir) / "catalogs").mkdir(exist_ok=True)
        (Path(out_dir) / "catalogs" / f"{PLACE_CATALOG_REGION}.csv").write_text(place_catalog_csv(place_items),
                                                                               encoding="utf-8")
    booked = book(tables, p, place)
    labels = inject_booking_errors(rng, booked)
    cases = tables["cases"]
    cases["fund_paid"], cases["self_pay"], cases["out_of_pocket_excluded"] = (
        booked["fund"], booked["self_pay"], booked["excluded"])
    ids = cases["case_id"].to_pylist() if labels else []
    text = "case_id,pattern,booked,correct\n" + "".join(
        f"{ids[i]},{pat},{_yuan(new)},{_yuan(old)}\n" for i, pat, new, old in labels)
    (Path(out_dir) / LABEL_FILE).write_text(text, encoding="utf-8")
    (Path(out_dir) / POLICY_FILE).write_text(policy_text(p, last_year), encoding="utf-8")
    summary.update({"booking_errors": len(labels), "benefit_policy": POLICY_FILE})
    return summary


__all__ = ["LABEL_FILE", "POLICY_FILE", "book", "extend", "policy_text"]
