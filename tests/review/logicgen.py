"""Generated regions for the rule-logic equality tests (issue 14 §2): the Hypothesis strategy of a region (catalogue,
institutions, persons, qualification periods, cases with lines, CHS-DRG complication tables, knowledge tables, rule
parameters), the two evaluations (the review pipeline's SQL; each case by the single-case forms) and hand-built
regions for C06 and for C07's learned accompanying items."""


from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pyarrow as pa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from yibao.contract.derived import QUALIFICATION_PERIODS, as_qualification_periods
from yibao.contract.schema import TABLES
from yibao.contract.standards import CC_CODES, CC_EXCLUSIONS
from yibao.review import logic
from yibao.review.check import case_facts, evaluate_case
from yibao.review.lookup import Lookup
from yibao.review.ruleset import load_rules
from yibao.review.run import run

M = Decimal
BASE = date(2024, 7, 1)

# (code, name, kind, fee category): names carrying the keywords of the shipped rules and of the upcoding
# evidence table (吸氧, 重症监护, 去甲肾上腺素, 头孢 …)
ITEMS = [
    ("BED", "普通病房床位费", "facility", "bed"), ("ICUBED", "重症监护病房床位费", "facility", "bed"),
    ("NUR1", "Ⅰ级护理", "service", "nursing"), ("NUR2", "Ⅱ级护理", "service", "nursing"),
    ("MERO", "注射用美罗培南", "drug", "western_drug"), ("CEF", "头孢呋辛酯片", "drug", "western_drug"),
    ("DANHONG", "丹红注射液", "drug", "patent_drug"), ("INS", "甘精胰岛素注射液", "drug", "western_drug"),
    ("KID", "小儿氨酚黄那敏颗粒", "drug", "western_drug"), ("PSA", "前列腺特异性抗原测定", "service", "lab"),
    ("SUR", "急诊加收", "service", "treatment"), ("GA", "全身麻醉", "service", "surgery"),
    ("MON", "麻醉中监测", "service", "surgery"), ("TRANS", "输血", "service", "treatment"),
    ("XM", "交叉配血", "service", "lab"), ("ACU", "普通针刺", "service", "treatment"),
    ("VIP", "单人病房床位费（特需）", "facility", "bed"), ("O2", "吸氧", "service", "treatment"),
    ("NE", "重酒石酸去甲肾上腺素注射液", "drug", "western_drug"),
]
CODES = [i[0] for i in ITEMS]
CAPS = [M("5.20"), M("12.00"), M("28.00"), M("52.00"), M("62.00"), M("80.00")]
PRICES = CAPS + [M("6.00"), M("20.00"), M("31.00"), M("40.00"), M("100.00")]
DX = ["J06.900", "I10.x00", "J18.900", "J96.000", "R57.000", "R65.200", "A41.900", "E11.900", "Z51.100",
      "K80.100"]
STAFF = ["S1", "S2", "S3"]


def day(n: int) -> date:
    return BASE + timedelta(days=n)


def table(name: str, rows: list[dict]) -> pa.Table:
    schema = TABLES[name].arrow_schema()
    return pa.table({f.name: [r.get(f.name) for r in rows] for f in schema}, schema=schema)


@st.composite
def catalogue(draw) -> list[dict]:
    rows = []
    for code, name, kind, _ in ITEMS:
        starts = draw(st.lists(st.sampled_from([-500, 0, 3, 5]), min_size=0 if code != "BED" else 1, max_size=2,
                               unique=True))
        for s in starts:
            rows.append({
                "item_code": code, "item_name": name, "item_kind": kind,
                "class": draw(st.sampled_from(["A", "A", "B", "C"])),
                "price_cap": draw(st.sampled_from([None, *CAPS])),
                "max_daily_qty": draw(st.sampled_from([None, M("1"), M("2"), M("6")])),
                "sex_limit": draw(st.sampled_from([None, None, "1", "2"])),
                "min_age": draw(st.sampled_from([None, None, 18])), "max_age": draw(st.sampled_from([None, None, 14])),
                "indications": draw(st.sampled_from([None, None, [], ["E10", "E11"]])),
                "min_level": draw(st.sampled_from([None, None, 2, 3])),
                "valid_from": day(s), "valid_to": draw(st.sampled_from([None, None, day(s + 4)])),
            })
    return rows


@st.composite
def knowledge_params(draw) -> dict:
    """Knowledge tables (K01–K08) over the generator's item codes, as the parameters --knowledge fills."""
    def rows(rule: str, cells: list, key=lambda c: c[0]) -> dict:
        chosen = draw(st.lists(st.tuples(st.sampled_from(CODES), st.sampled_from(cells)), min_size=1, max_size=3,
                               unique_by=lambda t: key(t)))
        cols = {"kb_id": [f"{rule}-{i}" for i in range(len(chosen))], "kb_item": [c[0] for c in chosen],
                "kb_source": ["规则库"] * len(chosen)}
        return {"kb_id": cols["kb_id"], "kb_item": cols["kb_item"], "kb_source": cols["kb_source"],
                "_cells": [c[1] for c in chosen]}

    def fill(rule: str, names: tuple[str, ...], cells: list, key=lambda c: c[0]) -> dict:
        r = rows(rule, cells, key)
        cells = r.pop("_cells")
        for i, n in enumerate(names):
            r[n] = [c[i] for c in cells]
        return r

    k03 = fill("K03", ("kb_other", "kb_window_days"),
               [(c, w) for c in ("BED", "ICUBED", "NUR1", "MERO", "PSA") for w in ("0", "1", "3")],
               key=lambda t: (t[0], t[1][0]))
    return {
        "K01": fill("K01", ("kb_sex",), [("1",), ("2",)]),
        "K02": fill("K02", ("kb_min_age", "kb_max_age"), [("", "14"), ("18", ""), ("5", "40")]),
        "K03": k03,
        "K04": fill("K04", ("kb_settings",), [("inpatient",), ("outpatient",), ("inpatient|outpatient",)]),
        "K05": fill("K05", ("kb_min_level", "kb_max_level"), [("2", ""), ("", "1"), ("1", "2")]),
        "K06": fill("K06", ("kb_schemes",), [("employee",), ("resident",)]),
        "K07": fill("K07", ("kb_max_days",), [("1",), ("2",)]),
        "K08": fill("K08", ("kb_max_qty", "kb_per", "kb_window_days"),
                    [("1", "day", ""), ("2", "stay", ""), ("1", "window", "3"), ("0.5", "day", "")]),
    }


@st.composite
def region(draw, max_cases: int = 3) -> dict:
    """A region: catalogue, institutions, persons, qualification periods, cases with lines; every inpatient
    stay of a person starts and ends on its own days (the SQL's arg_min/arg_max of a tie is arbitrary)."""
    inst = [{"institution_id": f"H{i}", "name": f"医院{i}", "kind": draw(st.sampled_from(["hospital", "primary",
                                                                                       "pharmacy"])),
             "level": draw(st.integers(0, 3)), "category": "general", "region_code": "440200",
             "agreement_start": draw(st.sampled_from([None, date(2020, 1, 1), day(3)])),
             "agreement_end": draw(st.sampled_from([None, None, day(6)]))} for i in (1, 2)]
    persons = [{"person_id": p, "sex": draw(st.sampled_from(["1", "2"])),
                "birth_date": draw(st.sampled_from([date(1960, 5, 1), date(2020, 7, 3), date(2006, 7, 2)])),
                "scheme": "employee", "region_code": "440200",
                "death_date": draw(st.sampled_from([None, None, day(2)]))} for p in ("P1", "P2")]
    periods = [{"staff_id": draw(st.sampled_from(STAFF)), "status": draw(st.sampled_from(["suspended", "terminated"])),
                "start_date": day(s), "end_date": draw(st.sampled_from([None, day(s + 3)])), "source_id": f"X{i}",
                "emergency_paid": draw(st.sampled_from([None, True, False]))}
               for i, s in enumerate(draw(st.lists(st.integers(-2, 5), max_size=3)))]
    cases, lines = [], []
    used: dict[str, set] = {"P1": set(), "P2": set()}
    for n in range(draw(st.integers(1, max_cases))):
        cid, pid = f"C{n}", draw(st.sampled_from(["P1", "P1", "P2"]))
        setting = draw(st.sampled_from(["inpatient", "outpatient"]))
        admit = draw(st.integers(0, 6))
        if cases and draw(st.booleans()):  # a stay after the previous one (readmissions)
            admit = (cases[-1]["discharge_date"] - BASE).days + draw(st.integers(0, 3))
        los = draw(st.integers(0, 8)) if setting == "inpatient" else 0
        if setting == "inpatient":  # distinct admission and discharge days per person
            if ("a", admit) in used[pid] or ("d", admit + los) in used[pid]:
                continue
            used[pid] |= {("a", admit), ("d", admit + los)}
        ln_rows = []
        for i in range(draw(st.integers(0, 6))):  # 0: a case sent with its totals only (C31)
            code = draw(st.sampled_from([*CODES, "ZZZ"]))
            item = next((x for x in ITEMS if x[0] == code), ("ZZZ", "不在目录的项目", "service", "other"))
            q = draw(st.sampled_from([M("1"), M("1"), M("2"), M("0.5"), M("3"), M("8"), M("0.333")]))
            price = draw(st.sampled_from(PRICES))
            amount = (q * price).quantize(M("0.01"))
            amount += draw(st.sampled_from([M("0"), M("0"), M("0"), M("0.01"), M("0.02"), M("5.00"), M("-0.02")]))
            ln_rows.append({"case_id": cid, "line_no": i + 1, "item_code": code, "item_name": item[1],
                            "item_kind": item[2], "fee_category": item[3],
                            "service_date": day(admit + draw(st.integers(0, max(los, 0)))), "quantity": q,
                            "unit_price": price, "amount": max(amount, M("0.00")),
                            "staff_id": draw(st.sampled_from([None, *STAFF]))})
        if ln_rows and draw(st.booleans()):  # the same item on more days (course length, repeated surcharges)
            base = draw(st.sampled_from(ln_rows))
            code = draw(st.sampled_from([None, "DANHONG", "SUR"]))  # a course-limited drug, a surcharge
            if code is not None:
                item = next(x for x in ITEMS if x[0] == code)
                base = {**base, "item_code": code, "item_name": item[1], "item_kind": item[2], "fee_category": item[3]}
            for k in range(draw(st.integers(1, 3))):
                ln_rows.append({**base, "line_no": len(ln_rows) + 1,
                                "service_date": day(admit + draw(st.integers(0, max(los, 0))))})
        total = sum((x["amount"] for x in ln_rows), M("0.00"))
        total = draw(st.sampled_from([total, total, M("150.00"), M("2999.00"), M("200001.00")]))
        excluded = draw(st.sampled_from([M("0.00"), M("5.00"), M("80.00"), total]))
        fund = draw(st.sampled_from([M("0.00"), (total * M("0.6")).quantize(M("0.01"))]))
        cases.append({
            "case_id": cid, "person_id": pid, "institution_id": draw(st.sampled_from(["H1", "H1", "H2", "H9"])),
            "scheme": draw(st.sampled_from(["employee", "resident"])), "sex": draw(st.sampled_from([None, None, "1", "2"])),
            "age_years": draw(st.sampled_from([None, None, 5, 40, 70])), "setting": setting,
            "admit_date": day(admit), "discharge_date": day(admit + los),
            "dept_code": draw(st.sampled_from([None, "0501", "0300"])),
            "attending_staff_id": draw(st.sampled_from([None, *STAFF])),
            "principal_dx": draw(st.sampled_from(DX + [cases[-1]["principal_dx"]] * 4 if cases else DX)),
            "secondary_dx": draw(st.sampled_from([None, ["E11.900"], ["J96.000", "I10.x00"], ["R57.000"]])),
            "procedures": draw(st.sampled_from([None, ["47.0100"]])),
            "discharge_mode": draw(st.sampled_from([None, "1", "5"])) if setting == "inpatient" else None,
            "emergency": draw(st.booleans()), "total_cost": total, "fund_paid": fund,
            "self_pay": draw(st.sampled_from([M("0.00"), M("50.00")])), "out_of_pocket_excluded": excluded,
            "settle_date": day(admit + los)})
        lines += ln_rows
    params = {"C09": {"max_visits": draw(st.sampled_from([0, 8]))}, "C13": {"max_days": draw(st.sampled_from([1, 14]))},
              "C05": {"min_empty_days": draw(st.sampled_from([0, 1, 3]))},
              "C17": {"max_per_day": draw(st.sampled_from([0, 1]))},
              # learned reference prices: small thresholds so that a generated region learns some
              "L10": {"min_lines": draw(st.sampled_from([1, 2, 30])), "min_institutions": draw(st.sampled_from([1, 3])),
                      "spread_mads": draw(st.sampled_from(["0", "3"]))},
              "C06": {"symptom_prefixes": draw(st.sampled_from([["R"], []])),
                      "min_category_cases": draw(st.sampled_from([1, 50])), "min_peers": draw(st.sampled_from([0, 20])),
                      "min_outpatient_share": draw(st.sampled_from(["0", "0.95"])),
                      "max_cost_ratio": draw(st.sampled_from(["0.35", "2"]))},
              **draw(knowledge_params())}
    params["C07"] = {"min_cases": draw(st.sampled_from([1, 20])), "min_support": draw(st.sampled_from(["0", "0.50"])),
                     "min_lift": draw(st.sampled_from(["0", "1.5"])), "max_items_named": draw(st.sampled_from([1, 3]))}
    return {"catalog": table("catalog", draw(catalogue())), "institutions": table("institutions", inst),
            "insured": table("insured", persons), "cases": table("cases", cases), "fee_items": table("fee_items", lines),
            "qualification_periods": pa.Table.from_pylist(periods, schema=QUALIFICATION_PERIODS), "params": params,
            **cc_tables(draw(st.booleans()))}


def cc_tables(with_standards: bool = True) -> dict:
    """Small CHS-DRG complication tables over the generator's diagnoses (contract.standards.CC_CODES /
    CC_EXCLUSIONS): E11.900 and I10.x00 CCs, K80.100 and J96.000 MCCs (J96 is in the evidence table too); a principal
    J18.900 excludes J96.000 (same table 109), a principal E11.900 excludes E11.900. Without: empty (no code is a CC)."""
    cc = [("E11.900", "cc", 50, "2型糖尿病"), ("I10.x00", "cc", 60, None), ("K80.100", "mcc", 70, "胆囊结石伴胆囊炎"),
          ("J96.000", "mcc", 109, "急性呼吸衰竭")] if with_standards else []
    cce = [("J18.900", 109), ("E11.900", 50)] if with_standards else []
    return {"cc_codes": pa.table({"code": [c[0] for c in cc], "level": [c[1] for c in cc],
                                  "exclusion_table": pa.array([c[2] for c in cc], pa.int32()),
                                  "name": [c[3] for c in cc]}, schema=CC_CODES),
            "cc_exclusions": pa.table({"principal_dx": [c[0] for c in cce],
                                       "exclusion_table": pa.array([c[1] for c in cce], pa.int32())},
                                      schema=CC_EXCLUSIONS)}


BUILTIN = load_rules()


def rules(params: dict, only: tuple[str, ...] = ()):
    return replace(BUILTIN, rules=tuple(replace(r, enabled=not only or r.id in only,
                                                params={**r.params, **params.get(r.id, {})})
                                        for r in BUILTIN.rules))


def review_of(r: dict):
    """The review pipeline over the region with all its rules — run once per region (kept in the region under
    ``_review``: the findings and what the pipeline learned are read from the same run)."""
    if "_review" not in r:
        src = {k: v for k, v in r.items() if k not in ("qualification_periods", "params", "_review")}
        r["_review"] = run(src, rules(r["params"]), periods=r["qualification_periods"])
    return r["_review"]


def by_sql(r: dict) -> list[tuple]:
    f = review_of(r).findings.to_pylist()
    return sorted((x["case_id"], x["line_no"] or 0, x["rule_id"], x["severity"], x["amount"], x["message"]) for x in f)


def learned(r: dict) -> tuple[pa.Table, pa.Table, pa.Table]:
    """What the pipeline learns from the region: reference prices (L10), diagnosis-category profiles (C06) and the
    accompanying items of complications (C07)."""
    res = review_of(r)
    return res.references, res.dx_profiles, res.dx_evidence


def by_single_case_forms(r: dict, only: tuple[str, ...] = (), learn: bool = True) -> list[tuple]:
    """Each case by the single-case forms; ``learn=False`` leaves out what the pipeline learns from the region
    (reference prices, diagnosis profiles: only the logics in LEARNED read them) — the search for a region
    where a logic fires then costs no SQL run per example."""
    look = Lookup(r["catalog"], r["institutions"], as_qualification_periods(r["qualification_periods"]),
                  *(learned(r) if learn else (None, None, None)), standards=standards_of(r))
    persons = {p["person_id"]: p for p in r["insured"].to_pylist()}
    cases = [case_facts(c, persons[c["person_id"]], look) for c in r["cases"].to_pylist()]
    lines = r["fee_items"].to_pylist()
    rs, out = rules(r["params"], only), []
    # the case-lines logics see the cases that have lines (a case sent without any is C31's finding)
    with_lines_only = replace(rs, rules=tuple(replace(x, enabled=x.enabled and x.shape != logic.CASE_LINES)
                                              for x in rs.rules))
    for c in cases:
        history = [h for h in cases if h["person_id"] == c["person_id"]]
        lns = [ln for ln in lines if ln["case_id"] == c["case_id"]]
        out += evaluate_case(rs if lns else with_lines_only, look, c, lns, history)
    return sorted((x[0], x[1] or 0, *x[2:]) for x in out)


def standards_of(r: dict) -> tuple[pa.Table, pa.Table] | None:
    """The region's complication tables as the review takes them (None when the region has none)."""
    return (r["cc_codes"], r["cc_exclusions"]) if r.get("cc_codes") is not None and r["cc_codes"].num_rows else None


def case_json(r: dict, cid: str) -> dict:
    c = next(x for x in r["cases"].to_pylist() if x["case_id"] == cid)
    p = next(x for x in r["insured"].to_pylist() if x["person_id"] == c["person_id"])
    s = lambda v: None if v is None else str(v)
    keep = ("case_id", "person_id", "institution_id", "setting", "principal_dx", "secondary_dx", "emergency",
            "attending_staff_id", "discharge_mode", "dept_code", "scheme", "procedures", "sex", "age_years")
    return {**{k: c[k] for k in keep}, "admit_date": s(c["admit_date"]), "discharge_date": s(c["discharge_date"]),
            "birth_date": s(p["birth_date"]), "death_date": s(p["death_date"]),
            "sex": c["sex"] or p["sex"], "total_cost": s(c["total_cost"]), "fund_paid": s(c["fund_paid"]),
            "self_pay": s(c["self_pay"]), "out_of_pocket_excluded": s(c["out_of_pocket_excluded"]),
            "lines": [{k: (v if k == "line_no" else s(v)) for k, v in ln.items() if k != "case_id"}
                      for ln in r["fee_items"].to_pylist() if ln["case_id"] == cid]}


SLOW = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _logic_rules() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for rule in BUILTIN.rules:
        out.setdefault(rule.logic, []).append(rule.id)
    return out


# the logics that read what the pipeline learns from the region (review_reference_prices, review_dx_profiles)
LEARNED = {"price_reference", "low_standard_learned", "upcoding"}


def handmade_c06_region() -> dict:
    """A region where C06 (low_standard_learned) fires, built by hand: the rule needs a learned category, a peer
    stay elsewhere and a short cheap stay, a combination the generator meets too rarely to search for.
    J06 (upper respiratory infection) has one outpatient visit and one 1-day stay of 150.00 yuan; the region's one
    inpatient peer (J18, 6 days) cost 2999.00; 150.00 ≤ 45 % × 2999.00 = 1349.55, so the stay is a finding."""
    case = {"scheme": "employee", "institution_id": "H1", "sex": None, "age_years": None, "dept_code": None,
            "attending_staff_id": None, "secondary_dx": None, "procedures": None, "emergency": False,
            "fund_paid": M("90.00"), "self_pay": M("0.00"), "out_of_pocket_excluded": M("0.00")}
    stays = [("C0", "P1", "inpatient", "J18.900", 0, 6, M("2999.00")), ("C1", "P2", "inpatient", "J06.900", 8, 1,
             M("150.00")), ("C2", "P2", "outpatient", "J06.900", 12, 0, M("150.00"))]
    cases = [{**case, "case_id": cid, "person_id": pid, "setting": st_, "principal_dx": dx, "admit_date": day(a),
              "discharge_date": day(a + los), "settle_date": day(a + los), "total_cost": cost,
              "discharge_mode": "1" if st_ == "inpatient" else None} for cid, pid, st_, dx, a, los, cost in stays]
    lines = [{"case_id": cid, "line_no": 1, "item_code": "BED", "item_name": "普通病房床位费", "item_kind": "facility",
              "fee_category": "bed", "service_date": day(a), "quantity": M("1"), "unit_price": cost,
              "amount": cost, "staff_id": None} for cid, _, _, _, a, _, cost in stays]
    catalog = [{"item_code": "BED", "item_name": "普通病房床位费", "item_kind": "facility", "class": "A",
                "valid_from": day(-500)}]
    inst = [{"institution_id": "H1", "name": "医院1", "kind": "hospital", "level": 2, "category": "general",
             "region_code": "440200", "agreement_start": date(2020, 1, 1)}]
    persons = [{"person_id": p, "sex": "1", "birth_date": date(1960, 5, 1), "scheme": "employee",
                "region_code": "440200"} for p in ("P1", "P2")]
    params = {"C06": {"min_category_cases": 1, "min_outpatient_share": "0", "min_peers": 20}}
    return {"catalog": table("catalog", catalog), "institutions": table("institutions", inst),
            "insured": table("insured", persons), "cases": table("cases", cases), "fee_items": table("fee_items", lines),
            "qualification_periods": pa.Table.from_pylist([], schema=QUALIFICATION_PERIODS), "params": params}




def handmade_c07_region() -> dict:
    """A region where C07 fires through what it learns (not the evidence table), built by hand: four inpatient stays
    coded with the CC K80.100 (an MCC of the small tables), three of them with the item ERCP (a line no other stay
    has), one without — and a stay coded with K80.100 whose principal diagnosis excludes it, and one coded with the
    CC E11.900 whose item BED every stay has (lift 1: nothing learned). With ``min_cases = 4``, support ≥ 0.50,
    lift ≥ 1.5: K80.100 → ERCP, support 3/4 = 0.75, lift 0.75 ÷ (3/7) = 1.75; the stay C3 has no ERCP line."""
    case = {"scheme": "employee", "institution_id": "H1", "sex": None, "age_years": None, "dept_code": None,
            "attending_staff_id": None, "procedures": None, "emergency": False, "setting": "inpatient",
            "fund_paid": M("900.00"), "self_pay": M("100.00"), "out_of_pocket_excluded": M("0.00"),
            "total_cost": M("1000.00"), "discharge_mode": "1"}
    stays = [("C0", "P1", "K81.000", ["K80.100"], True), ("C1", "P2", "K81.000", ["K80.100"], True),
             ("C2", "P3", "K81.000", ["K80.100", "E11.900"], True), ("C3", "P4", "K81.000", ["K80.100"], False),
             ("C4", "P5", "K80.100", ["K80.100"], False), ("C5", "P6", "J18.900", ["E11.900"], False),
             ("C6", "P7", "J18.900", None, False)]
    cases, lines = [], []
    for i, (cid, pid, pdx, sec, ercp) in enumerate(stays):
        cases.append({**case, "case_id": cid, "person_id": pid, "principal_dx": pdx, "secondary_dx": sec,
                      "admit_date": day(i), "discharge_date": day(i + 3), "settle_date": day(i + 3)})
        lines.append({"case_id": cid, "line_no": 1, "item_code": "BED", "item_name": "普通病房床位费", "item_kind": "facility",
                      "fee_category": "bed", "service_date": day(i), "quantity": M("1"), "unit_price": M("80.00"),
                      "amount": M("80.00"), "staff_id": None})
        if ercp:
            lines.append({"case_id": cid, "line_no": 2, "item_code": "ERCP", "item_name": "经内镜逆行胰胆管造影",
                          "item_kind": "service", "fee_category": "surgery", "service_date": day(i + 1),
                          "quantity": M("1"), "unit_price": M("920.00"), "amount": M("920.00"), "staff_id": None})
    catalog = [{"item_code": c, "item_name": n, "item_kind": k, "class": "A", "valid_from": day(-500)}
               for c, n, k in (("BED", "普通病房床位费", "facility"), ("ERCP", "经内镜逆行胰胆管造影", "service"))]
    inst = [{"institution_id": "H1", "name": "医院1", "kind": "hospital", "level": 3, "category": "general",
             "region_code": "440200", "agreement_start": date(2020, 1, 1)}]
    persons = [{"person_id": f"P{i}", "sex": "1", "birth_date": date(1960, 5, 1), "scheme": "employee",
                "region_code": "440200"} for i in range(1, 8)]
    cc = cc_tables()
    cc["cc_exclusions"] = pa.concat_tables([cc["cc_exclusions"], pa.table(
        {"principal_dx": ["K80.100"], "exclusion_table": pa.array([70], pa.int32())}, schema=CC_EXCLUSIONS)])
    params = {"C07": {"min_cases": 4, "min_support": "0.50", "min_lift": "1.5"}}
    return {"catalog": table("catalog", catalog), "institutions": table("institutions", inst),
            "insured": table("insured", persons), "cases": table("cases", cases), "fee_items": table("fee_items", lines),
            "qualification_periods": pa.Table.from_pylist([], schema=QUALIFICATION_PERIODS), "params": params, **cc}
