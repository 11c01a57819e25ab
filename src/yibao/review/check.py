"""Before-the-fact check (事前提醒): the same rules for one case or one prescription, as it is written.

A hospital system sends one case (or prescription) with its lines as a dict / JSON and gets the findings back
before the fee is incurred, so the doctor can be warned (over-quantity, off-indication prescribing, price and
billing errors). The :class:`Checker` keeps one DuckDB connection with the catalogue (三目录), the institutions
and the qualification periods loaded, and runs the rule set's SQL (the very SQL of the review pipeline, in one
statement) over the case's tables registered in memory; nothing is opened per call.

Input (JSON object)::

    {"case_id": "RX1", "person_id": "P1", "institution_id": "H1", "setting": "outpatient",
     "admit_date": "2025-03-01", "discharge_date": "2025-03-01",   # discharge defaults to admit
     "sex": "1", "age_years": 45,            # or "birth_date"
     "principal_dx": "J18.900", "secondary_dx": ["E11.900"], "emergency": false,
     "attending_staff_id": "D1", "death_date": null,
     "total_cost": "…", "fund_paid": "…", "self_pay": "…", "out_of_pocket_excluded": "…",   # optional
     "lines": [{"line_no": 1, "item_code": "…", "item_name": "…", "item_kind": "drug",
                "fee_category": "western_drug", "service_date": "2025-03-01",
                "quantity": "2", "unit_price": "5.20", "amount": "10.40", "staff_id": "D1"}]}

Money and quantities are strings or integers (never floats); ``amount`` defaults to quantity × unit price.
Rules over a person's history (readmission, overlapping stays, visit frequency) see only this case.
"""

from __future__ import annotations

import datetime as dt
import threading
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

import duckdb
import pyarrow as pa

from yibao.contract.derived import QUALIFICATION_PERIODS, as_qualification_periods, emergency_paid
from yibao.contract.errors import RefusedInput
from yibao.contract.schema import TABLES
from yibao.engine.runner import query_arrow
from yibao.review.pipelines import build_pipeline
from yibao.review.ruleset import RuleSet


class CheckError(RefusedInput, ValueError):
    """Bad input to a check: one Chinese line naming the field (exit 2)."""


def _date(v, field: str) -> dt.date | None:
    if v in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(v))
    except ValueError:
        raise CheckError(f"{field}「{v}」不是 YYYY-MM-DD 日期") from None


def _dec(v, field: str, places: int) -> Decimal | None:
    if v in (None, ""):
        return None
    if isinstance(v, float):
        raise CheckError(f"{field}「{v}」请写成字符串（金额、数量不用浮点数）")
    try:
        d = Decimal(str(v))
    except InvalidOperation:
        raise CheckError(f"{field}「{v}」不是数字") from None
    if not d.is_finite() or d < 0:
        raise CheckError(f"{field}「{v}」应为非负数")
    q = Decimal(1).scaleb(-places)
    if d != d.quantize(q):
        raise CheckError(f"{field}「{v}」小数位数超过 {places} 位")
    return d.quantize(q)


class Checker:
    """A prepared rule set for single-case checks (thread-safe: one call at a time per checker)."""

    def __init__(self, catalog: pa.Table, institutions: pa.Table, rs: RuleSet,
                 periods: pa.Table | None = None) -> None:
        self.rs = rs
        self.con = duckdb.connect()
        self.con.execute("SET threads TO 1")
        self._lock = threading.Lock()
        self.con.register("_cat", catalog.cast(TABLES["catalog"].arrow_schema()))
        self.con.execute("CREATE TABLE catalog AS SELECT * FROM _cat")
        self.con.unregister("_cat")
        self.con.register("_inst", institutions.cast(TABLES["institutions"].arrow_schema()))
        self.con.execute("CREATE TABLE institutions AS SELECT * FROM _inst")
        self.con.unregister("_inst")
        p = as_qualification_periods(periods if periods is not None else QUALIFICATION_PERIODS.empty_table())
        self.con.register("_p", p)
        self.con.execute("CREATE TABLE qualification_periods AS SELECT * FROM _p")
        self.con.unregister("_p")
        self.sql = _one_statement(rs)
        self._index = _Index(catalog.cast(TABLES["catalog"].arrow_schema()),
                             institutions.cast(TABLES["institutions"].arrow_schema()), p)

    @classmethod
    def from_catalog_file(cls, path: Path, rs: RuleSet, institutions: Path | None = None) -> "Checker":
        from yibao.contract.readers import read_table
        from yibao.contract.validate import validate

        def typed(p: Path, name: str) -> pa.Table:
            con = duckdb.connect()
            try:
                v = validate(con, read_table(Path(p), TABLES[name]), {})
                return query_arrow(con, f"SELECT * FROM {v.accepted_relation}").cast(TABLES[name].arrow_schema())
            finally:
                con.close()

        cat = typed(path, "catalog")
        inst_path = institutions or Path(path).with_name("institutions.csv")
        inst = typed(inst_path, "institutions") if Path(inst_path).exists() else \
            TABLES["institutions"].arrow_schema().empty_table()
        return cls(cat, inst, rs)

    @classmethod
    def from_workspace(cls, workspace: Path, rs: RuleSet, periods: pa.Table | None = None) -> "Checker":
        con = duckdb.connect(str(Path(workspace) / "yibao.duckdb"), read_only=True)
        try:
            cat = query_arrow(con, "SELECT * FROM main.catalog")
            inst = query_arrow(con, "SELECT * FROM main.institutions")
        finally:
            con.close()
        return cls(cat, inst, rs, periods)

    def _tables(self, case: dict) -> dict[str, pa.Table]:
        if not isinstance(case, dict):
            raise CheckError("输入应为一个病例（JSON 对象）")
        lines = case.get("lines") or []
        if not isinstance(lines, list) or not lines:
            raise CheckError("lines：至少需要一条费用明细")
        cid = str(case.get("case_id") or "CHECK")
        pid = str(case.get("person_id") or "PERSON")
        admit = _date(case.get("admit_date") or (lines[0].get("service_date") if isinstance(lines[0], dict) else None),
                      "admit_date")
        if admit is None:
            raise CheckError("admit_date：缺少就诊日期")
        discharge = _date(case.get("discharge_date"), "discharge_date") or admit
        sex = case.get("sex")
        if sex not in (None, "", "1", "2", 1, 2):
            raise CheckError(f"sex「{sex}」应为 1 或 2")
        age = case.get("age_years")
        birth = _date(case.get("birth_date"), "birth_date")
        if age in (None, "") and birth is None:
            birth = None
        setting = case.get("setting") or "outpatient"
        if setting not in ("inpatient", "outpatient"):
            raise CheckError(f"setting「{setting}」应为 inpatient 或 outpatient")
        rows = []
        total = Decimal("0.00")
        for i, ln in enumerate(lines, 1):
            if not isinstance(ln, dict):
                raise CheckError(f"lines[{i}]：应为 JSON 对象")
            where = f"lines[{i}]"
            code = ln.get("item_code")
            if not code:
                raise CheckError(f"{where}.item_code：缺少项目编码")
            q = _dec(ln.get("quantity"), f"{where}.quantity", 4)
            p = _dec(ln.get("unit_price"), f"{where}.unit_price", 2)
            if q is None or p is None:
                raise CheckError(f"{where}：缺少数量或单价")
            amt = _dec(ln.get("amount"), f"{where}.amount", 2)
            if amt is None:
                amt = (q * p).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            total += amt
            rows.append({"case_id": cid, "line_no": int(ln.get("line_no") or i), "item_code": str(code),
                         "item_name": ln.get("item_name") or str(code), "item_kind": ln.get("item_kind") or "drug",
                         "fee_category": ln.get("fee_category") or "other",
                         "service_date": _date(ln.get("service_date"), f"{where}.service_date") or admit,
                         "quantity": q, "unit_price": p, "amount": amt, "staff_id": ln.get("staff_id")})

        def money(key: str, default: Decimal) -> Decimal:
            v = _dec(case.get(key), key, 2)
            return default if v is None else v

        zero = Decimal("0.00")
        cases = [{"case_id": cid, "person_id": pid, "institution_id": case.get("institution_id"),
                  "scheme": case.get("scheme") or "employee", "sex": str(sex) if sex not in (None, "") else None,
                  "age_years": int(age) if age not in (None, "") else None, "setting": setting,
                  "admit_date": admit, "discharge_date": discharge, "dept_code": case.get("dept_code"),
                  "attending_staff_id": case.get("attending_staff_id"), "principal_dx": case.get("principal_dx") or "",
                  "secondary_dx": list(case.get("secondary_dx") or []) or None,
                  "procedures": list(case.get("procedures") or []) or None,
                  "discharge_mode": case.get("discharge_mode"), "emergency": bool(case.get("emergency", False)),
                  "total_cost": money("total_cost", total), "fund_paid": money("fund_paid", zero),
                  "self_pay": money("self_pay", zero), "out_of_pocket_excluded": money("out_of_pocket_excluded", total),
                  "settle_date": discharge}]
        insured = [{"person_id": pid, "sex": cases[0]["sex"] or "1", "birth_date": birth or dt.date(1900, 1, 1),
                    "scheme": cases[0]["scheme"], "region_code": "000000",
                    "death_date": _date(case.get("death_date"), "death_date")}]
        if birth is None and cases[0]["age_years"] is None:
            insured[0]["birth_date"] = None
        return {"cases": _arrow("cases", cases), "insured": _arrow("insured", insured),
                "fee_items": _arrow("fee_items", rows)}

    def check(self, case: dict, engine: str = "fast") -> dict:
        """Findings for one case: ``{"case_id", "findings": [...], "reject_amount"}`` (amounts as strings).

        ``engine``: ``fast`` (the rules evaluated in Python for this one case, well under 10 ms) or ``sql``
        (the review pipeline's SQL in one statement on the prepared connection; same findings, slower)."""
        t = self._tables(case)
        if engine == "fast":
            rows = fast_findings(self, t)
        elif engine == "sql":
            rows = self.sql_findings(t)
        else:
            raise CheckError(f"未知的检查方式 {engine}（fast 或 sql）")
        findings = [{"line_no": r[1], "rule_id": r[2], "name": self.rs.by_id(r[2]).name, "severity": r[3],
                     "amount": f"{r[4]:.2f}", "message": r[5]} for r in rows]
        rej = sum((r[4] for r in rows if r[3] == "reject"), Decimal("0.00"))
        return {"case_id": t["cases"].column("case_id")[0].as_py(), "findings": findings,
                "reject_amount": f"{rej:.2f}"}


def _sql_findings(self, t: dict[str, pa.Table]) -> list[tuple]:
    with self._lock:
        cur = self.con.cursor()
        try:
            for name, tab in t.items():
                cur.register(name, tab)
            return cur.execute(self.sql).fetchall()
        finally:
            cur.close()


Checker.sql_findings = _sql_findings  # type: ignore[attr-defined]


def _arrow(name: str, rows: list[dict]) -> pa.Table:
    schema = TABLES[name].arrow_schema()
    return pa.table({f.name: [r.get(f.name) for r in rows] for f in schema}, schema=schema)


def _one_statement(rs: RuleSet) -> str:
    """The review pipeline's steps as one SQL statement (steps become CTEs), ordered like findings.csv."""
    p = build_pipeline(rs)
    steps = {s.name: s for s in p.steps}
    parts = [f"review_cases AS ({steps['review_cases'].sql})"]
    for name in ("review_line_findings", "review_case_line_findings", "review_person_findings"):
        parts.append(f"{name} AS ({steps[name].sql})")
    return ("WITH " + ",\n".join(parts) + "\nSELECT case_id, line_no, rule_id, severity, amount, message FROM ("
            + steps["review_findings"].sql + ") ORDER BY case_id, line_no NULLS LAST, rule_id")


def check_many(checker: Checker, cases: list[dict]) -> list[dict]:
    return [checker.check(c) for c in cases]


# --- the fast path: the same rules evaluated in Python for one case ------------------------------------------
#
# A single prescription has a handful of lines; DuckDB's per-statement overhead (planning a statement with two
# dozen rules) is far above 10 ms on this machine, so one case is judged by these per-rule functions, written
# to give exactly the SQL logic's findings and messages (tests/review/test_check.py compares both paths).

FEN = Decimal("0.01")
_FAR = dt.date(9999, 12, 31)


def _r2(d: Decimal) -> Decimal:
    return d.quantize(FEN, rounding=ROUND_HALF_UP)


def _q(d: Decimal) -> str:
    return f"{d:.4f}".rstrip("0").rstrip(".")


def _text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Decimal):
        return f"{v:.2f}" if v.as_tuple().exponent == -2 else str(v)
    if isinstance(v, (list, tuple)):
        return str(list(v))
    return str(v)


def _fill(template: str, ev: dict) -> str:
    import re

    return re.sub(r"\{(\w+)\}", lambda m: _text(ev.get(m.group(1))), template)


class _Index:
    """Catalogue versions per item code as [valid_from, valid_end] (the SQL ``cat`` ranges)."""

    def __init__(self, catalog: pa.Table, institutions: pa.Table, periods: pa.Table) -> None:
        by: dict[str, list[dict]] = {}
        for r in catalog.to_pylist():
            by.setdefault(r["item_code"], []).append(r)
        for rows in by.values():
            rows.sort(key=lambda r: r["valid_from"])
            for i, r in enumerate(rows):
                nxt = rows[i + 1]["valid_from"] - dt.timedelta(days=1) if i + 1 < len(rows) else _FAR
                r["valid_end"] = min(r["valid_to"] or _FAR, nxt)
        self.cat = by
        self.inst = {r["institution_id"]: r for r in institutions.to_pylist()}
        self.periods: dict[str, list[dict]] = {}
        for r in periods.to_pylist():
            self.periods.setdefault(r["staff_id"], []).append(r)

    def version(self, code: str, day: dt.date) -> dict | None:
        for r in self.cat.get(code, ()):
            if r["valid_from"] <= day <= r["valid_end"]:
                return r
        return None

    def period(self, staff: str | None, day: dt.date) -> tuple[str, dt.date, bool] | None:
        """(strongest status, earliest start, whether every covering period still settles emergencies)."""
        hit = [p for p in self.periods.get(staff or "", ()) if p["start_date"] <= day
               and (p["end_date"] is None or day < p["end_date"])]
        if not hit:
            return None
        return max(p["status"] for p in hit), min(p["start_date"] for p in hit), all(emergency_paid(p) for p in hit)


def _dec_param(v) -> Decimal:
    return Decimal(str(v))


def _line_fast(logic: str, p: dict, ln: dict, c: dict, k: dict | None, sp) -> tuple[bool, Decimal, dict]:
    amt, q, price = ln["amount"], ln["quantity"], ln["unit_price"]
    ev: dict = {}
    if logic == "not_in_catalog":
        return k is None, amt, ev
    if logic in ("amount_over", "amount_under"):
        exp = _r2(q * price)
        diff = amt - exp if logic == "amount_over" else exp - amt
        return diff > _dec_param(p["tolerance"]), diff, {"expected": exp, "excess": diff}
    if k is None and logic not in ("suspended_staff", "dept_limit", "scheme_limit"):
        return False, amt, ev
    if logic == "price_over_cap":
        ok = k["price_cap"] is not None and price > k["price_cap"]
        ex = min(amt, _r2((price - k["price_cap"]) * q)) if ok else amt
        return ok, ex, {"excess": ex}
    if logic == "over_quantity":
        ok = k["max_daily_qty"] is not None and q > k["max_daily_qty"]
        ex = min(amt, _r2((q - k["max_daily_qty"]) * price)) if ok else amt
        return ok, ex, {"excess": ex, "max_daily_qty": _q(k["max_daily_qty"]) if k["max_daily_qty"] is not None else None}
    if logic == "sex_limit":
        ok = k["sex_limit"] is not None and c["sex"] is not None and c["sex"] != k["sex_limit"]
        return ok, amt, {"limit_zh": "男" if k["sex_limit"] == "1" else "女", "sex_zh": "男" if c["sex"] == "1" else "女"}
    if logic == "age_limit":
        a = c["age"]
        ok = a is not None and ((k["min_age"] is not None and a < k["min_age"]) or (k["max_age"] is not None and a > k["max_age"]))
        rng = f"{'' if k['min_age'] is None else k['min_age']}–{'' if k['max_age'] is None else k['max_age']}"
        return ok, amt, {"age_range": rng}
    if logic == "indication_limit":
        ind = k["indications"]
        ok = bool(ind) and not any(d.startswith(pf) for d in c["dx_list"] for pf in ind)
        return ok, amt, {"indications": "|".join(ind or []), "diagnoses": "|".join(c["dx_list"])}
    if logic == "level_limit":
        ok = k["min_level"] is not None and c["inst_level"] is not None and c["inst_level"] < k["min_level"]
        return ok, amt, ev
    if logic == "substitution":
        cap = k["price_cap"]
        ok = cap is not None and cap > 0 and ln["item_kind"] in p["item_kinds"] and price <= cap * _dec_param(p["min_price_ratio"])
        return ok, amt, {"ratio_pct": int(_dec_param(p["min_price_ratio"]) * 100)}
    if logic == "dept_limit":
        ok = any(kw in (ln["item_name"] or "") for kw in p["item_keywords"]) and \
            not any((c.get("dept_code") or "").startswith(x) for x in p["dept_prefixes"])
        return ok, amt, {"dept_prefixes": "、".join(p["dept_prefixes"]), "dept": c.get("dept_code") or "空"}
    if logic == "scheme_limit":
        ok = any(kw in (ln["item_name"] or "") for kw in p["item_keywords"]) and c.get("scheme") not in p["schemes"]
        return ok, amt, {"schemes": "、".join(p["schemes"])}
    if logic == "suspended_staff":
        ok = sp is not None and not (c["emergency"] and sp[2])
        return ok, amt, {"period_start": sp[1] if sp else None, "status_zh": "终止" if sp and sp[0] == "terminated" else "暂停"}
    raise KeyError(logic)


def _in_scope(rule, c: dict) -> bool:
    return ((not rule.settings or c["setting"] in rule.settings)
            and (not rule.institution_levels or c["inst_level"] in rule.institution_levels)
            and (not rule.institution_kinds or c["inst_kind"] in rule.institution_kinds))


def _case_fast(rule, rs, c: dict, lines: list[dict], idx: _Index) -> list[tuple]:
    """(line_no, amount, evidence) of one case-level rule on one case."""
    p, lg = rule.params, rule.logic
    out: list[tuple] = []
    if lg == "duplicate_charge":
        groups: dict = {}
        for ln in sorted(lines, key=lambda x: x["line_no"]):
            k = idx.version(ln["item_code"], ln["service_date"])
            if k is None or k["max_daily_qty"] is None:
                continue
            groups.setdefault((ln["item_code"], ln["service_date"]), []).append((ln, k["max_daily_qty"]))
        for g in groups.values():
            day_qty = sum((ln["quantity"] for ln, _ in g), Decimal(0))
            cum = Decimal(0)
            for rn, (ln, mx) in enumerate(g, 1):
                cum += ln["quantity"]
                if rn > 1 and cum > mx:
                    ex = min(ln["amount"], _r2((cum - max(cum - ln["quantity"], mx)) * ln["unit_price"]))
                    out.append((ln["line_no"], ex, {"item_name": ln["item_name"], "service_date": ln["service_date"],
                                                    "excess": ex, "lines": len(g), "day_qty": _q(day_qty),
                                                    "max_daily_qty": _q(mx)}))
        return out
    if lg == "substitution_price_match":
        kinds = p["item_kinds"]
        ratio = _dec_param(p["max_price_ratio"])
        for ln in lines:
            k = idx.version(ln["item_code"], ln["service_date"])
            if ln["item_kind"] not in kinds or k is None or k["price_cap"] is None or not ln["unit_price"] < k["price_cap"] * ratio:
                continue
            alts = sorted(code for code, rows in idx.cat.items() if code != ln["item_code"] for r in rows
                          if r["item_kind"] in kinds and r["price_cap"] == ln["unit_price"]
                          and r["valid_from"] <= ln["service_date"] <= r["valid_end"])
            if alts:
                other = idx.version(alts[0], ln["service_date"])
                out.append((ln["line_no"], ln["amount"], {"item_name": ln["item_name"], "unit_price": ln["unit_price"],
                                                          "price_cap": k["price_cap"], "other_code": alts[0],
                                                          "other_name": other["item_name"], "amount": ln["amount"]}))
        return out
    if lg == "uncovered_to_fund":
        nc = [ln for ln in lines if (k := idx.version(ln["item_code"], ln["service_date"])) is None or k["class"] == "C"]
        if nc:
            total = sum((ln["amount"] for ln in nc), Decimal("0.00"))
            ex = total - c["out_of_pocket_excluded"]
            if ex > FEN:
                names = sorted({ln["item_name"] or ln["item_code"] for ln in nc})
                out.append((None, ex, {"lines": len(nc), "noncovered": total, "items": "、".join(names),
                                       "excluded": c["out_of_pocket_excluded"], "excess": ex}))
        return out
    if lg == "phantom_stay":
        if c["setting"] != "inpatient" or c["discharge_date"] <= c["admit_date"]:
            return out
        cats, kinds = set(p["day_categories"]), set(p["day_item_kinds"])
        covered = {ln["service_date"] for ln in lines if ln["fee_category"] in cats or ln["item_kind"] in kinds}
        los = (c["discharge_date"] - c["admit_date"]).days
        empty = [c["admit_date"] + dt.timedelta(days=i) for i in range(los)
                 if c["admit_date"] + dt.timedelta(days=i) not in covered]
        if len(empty) >= int(p["min_empty_days"]):
            out.append((None, c["fund_paid"], {"los": los, "empty_days": len(empty), "first_empty": empty[0]}))
        return out
    if lg == "upcoding":
        if c["setting"] != "inpatient":
            return out
        groups = {g["name"]: g for g in rs.evidence.get("group", [])}

        def has(g: str) -> bool:
            grp = groups[g]
            return any(any(kw in (ln["item_name"] or "") for kw in grp.get("keywords", []))
                       or ln["item_code"] in grp.get("item_codes", []) for ln in lines)

        bad = []
        for dx in set(c["dx_list"]):
            need = [(d, g) for d in rs.evidence.get("diagnosis", []) if dx.startswith(d["dx_prefix"]) for g in d["evidence"]]
            if need and not any(has(g) for _, g in need):
                zh = sorted({groups[g].get("zh", g) for _, g in need})
                bad.append((dx, need[0][0].get("name", need[0][0]["dx_prefix"]), "或".join(zh)))
        if bad:
            dx, name, evid = min(bad)
            out.append((None, c["fund_paid"], {"dx": dx, "dx_name": name, "evidence": evid}))
        return out
    if lg == "after_death":
        if c["death_date"] is not None and c["admit_date"] > c["death_date"]:
            out.append((None, c["fund_paid"], {k: c[k] for k in ("person_id", "death_date", "admit_date", "fund_paid")}))
        return out
    if lg == "low_standard_admission":
        los = (c["discharge_date"] - c["admit_date"]).days
        if (c["setting"] == "inpatient" and not c["emergency"] and los <= int(p["max_los_days"])
                and c["total_cost"] <= _dec_param(p["max_total_cost"])
                and any(c["principal_dx"].startswith(x) for x in p["minor_dx_prefixes"])):
            out.append((None, c["fund_paid"], {"principal_dx": c["principal_dx"], "los": los, "total_cost": c["total_cost"]}))
        return out
    if lg == "suspended_attending":
        sp = idx.period(c["attending_staff_id"], c["admit_date"])
        if sp and not (c["emergency"] and sp[2]):
            out.append((None, c["fund_paid"], {"staff_id": c["attending_staff_id"], "admit_date": c["admit_date"],
                                               "period_start": sp[1], "status_zh": "终止" if sp[0] == "terminated" else "暂停"}))
        return out
    if lg == "outside_agreement":  # twin of logic.SET_LOGIC["outside_agreement"]
        day = c["discharge_date"] or c["admit_date"]
        start, end = c.get("agreement_start"), c.get("agreement_end")
        if start is not None and (day < start or (end is not None and day > end)):
            out.append((None, c["fund_paid"], {"institution_id": c["institution_id"], "service_date": day,
                                               "agreement_start": start, "agreement_end": end or "长期",
                                               "fund_paid": c["fund_paid"]}))
        return out
    if lg in ("out_of_catalog_share", "cash_share"):
        num = c["out_of_pocket_excluded"] + (c["self_pay"] if lg == "cash_share" else 0)
        mx = _dec_param(p["max_share"])
        if c["total_cost"] > 0 and num > c["total_cost"] * mx:
            share = (num * 100 / c["total_cost"]).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
            out.append((None, Decimal("0.00"), {"excluded": c["out_of_pocket_excluded"], "self_pay": c["self_pay"],
                                                "total_cost": c["total_cost"], "share": share,
                                                "max_pct": (mx * 100).quantize(Decimal("0.1"))}))
        return out
    if lg == "total_cost_over":
        mx = _dec_param(p["max_total_cost"])
        if c["total_cost"] > mx:
            out.append((None, Decimal("0.00"), {"total_cost": c["total_cost"], "max_total_cost": mx.quantize(Decimal("0.0001"))}))
        return out
    if lg == "repeated_surcharge":
        by = {}
        for ln in sorted(lines, key=lambda x: x["line_no"]):
            if any(k in (ln["item_name"] or "") for k in p["name_keywords"]):
                by.setdefault((ln["item_code"], ln["service_date"]), []).append(ln)
        mx = int(p["max_per_day"])
        for grp in by.values():
            for ln in grp[mx:]:
                out.append((ln["line_no"], ln["amount"], {"item_name": ln["item_name"], "service_date": ln["service_date"],
                                                          "lines": len(grp), "max_per_day": mx, "amount": ln["amount"]}))
        return out
    if lg == "unbundled":
        parents: dict = {}
        for ln in lines:
            if any(k in (ln["item_name"] or "") for k in p["parent_keywords"]):
                d = ln["service_date"]
                parents[d] = min(parents.get(d, ln["item_name"]), ln["item_name"])
        for ln in lines:
            if ln["service_date"] in parents and any(k in (ln["item_name"] or "") for k in p["child_keywords"]):
                out.append((ln["line_no"], ln["amount"], {"item_name": ln["item_name"], "service_date": ln["service_date"],
                                                          "parent": parents[ln["service_date"]], "amount": ln["amount"]}))
        return out
    if lg == "course_length":
        cats, kws, mx = p["fee_categories"], p["name_keywords"], int(p["max_days"])
        m = [ln for ln in lines if (not cats or ln["fee_category"] in cats)
             and (not kws or any(k in (ln["item_name"] or "") for k in kws))]
        by: dict = {}
        for ln in m:
            by.setdefault(ln["item_code"], []).append(ln)
        for grp in by.values():
            days = sorted({ln["service_date"] for ln in grp})
            rank = {d: i + 1 for i, d in enumerate(days)}
            for ln in grp:
                if rank[ln["service_date"]] > mx:
                    out.append((ln["line_no"], ln["amount"], {"item_name": ln["item_name"], "service_date": ln["service_date"],
                                                              "days": len(days), "day_n": rank[ln["service_date"]],
                                                              "max_days": mx, "amount": ln["amount"]}))
        return out
    if lg == "same_day_category":
        by = {}
        for ln in lines:
            kw = [k for k in p["name_keywords"] if k in (ln["item_name"] or "")]
            if ln["fee_category"] in p["fee_categories"] and kw:
                by.setdefault((ln["service_date"], kw[0]), []).append(ln)
        for grp in by.values():
            if len({ln["item_code"] for ln in grp}) < 2:
                continue
            grp = sorted(grp, key=lambda x: (-x["unit_price"], x["line_no"]))
            for ln in grp[1:]:
                out.append((ln["line_no"], ln["amount"], {"item_name": ln["item_name"], "service_date": ln["service_date"],
                                                          "kept": grp[0]["item_name"], "amount": ln["amount"]}))
        return out
    if lg in ("missing_companion", "item_requires_procedure"):
        trig = [ln for ln in lines if any(k in (ln["item_name"] or "") for k in p["trigger_keywords"])]
        if not trig:
            return out
        if lg == "missing_companion":
            if any(any(k in (ln["item_name"] or "") for k in p["required_keywords"]) for ln in lines):
                return out
        elif c.get("procedures"):
            return out
        amt = sum((ln["amount"] for ln in trig), Decimal("0.00"))
        out.append((None, amt, {"item": min(ln["item_name"] for ln in trig), "lines": len(trig), "amount": amt,
                                "required": "、".join(p.get("required_keywords", []))}))
        return out
    return out  # rules over several cases of a person (readmission, overlap, visit frequency): nothing on one case


def fast_findings(checker: "Checker", t: dict[str, pa.Table]) -> list[tuple]:
    """Findings of one case as (case_id, line_no, rule_id, severity, amount, message), ordered like findings.csv."""
    from yibao.review.logic import LINE, LINE_COLUMNS

    idx: _Index = checker._index
    c = t["cases"].to_pylist()[0]
    person = t["insured"].to_pylist()[0]
    inst = idx.inst.get(c["institution_id"]) or {}
    age = c["age_years"]
    if age is None and person["birth_date"] is not None:
        b, a = person["birth_date"], c["admit_date"]
        age = a.year - b.year - ((a.month, a.day) < (b.month, b.day))
    c.update(inst_level=inst.get("level"), inst_kind=inst.get("kind"), sex=c["sex"] or person["sex"], age=age,
             agreement_start=inst.get("agreement_start"), agreement_end=inst.get("agreement_end"),
             dx_list=[c["principal_dx"], *(c["secondary_dx"] or [])], emergency=bool(c["emergency"]),
             death_date=person["death_date"])
    lines = t["fee_items"].to_pylist()
    out = []
    for rule in checker.rs.enabled:
        if not _in_scope(rule, c):
            continue
        if rule.shape == LINE:
            for ln in lines:
                k = idx.version(ln["item_code"], ln["service_date"])
                sp = idx.period(ln["staff_id"], ln["service_date"])
                hit, amount, ev = _line_fast(rule.logic, rule.params, ln, c, k, sp)
                if not hit:
                    continue
                env = {**{n: c.get(n) for n in LINE_COLUMNS if n in c}, **ln}
                if k is not None:
                    env.update(cat_code=k["item_code"], cat_name=k["item_name"], price_cap=k["price_cap"],
                               max_daily_qty=k["max_daily_qty"], sex_limit=k["sex_limit"], min_age=k["min_age"],
                               max_age=k["max_age"], indications=k["indications"], min_level=k["min_level"])
                    env["class"] = k["class"]
                env["quantity"] = _q(ln["quantity"])
                if env.get("max_daily_qty") is not None and isinstance(env["max_daily_qty"], Decimal):
                    env["max_daily_qty"] = _q(env["max_daily_qty"])
                env.update(ev)
                amt = Decimal("0.00") if rule.amount == "none" else _r2(amount)
                out.append((c["case_id"], ln["line_no"], rule.id, rule.severity, amt, _fill(rule.message, env)))
        else:
            for line_no, amount, ev in _case_fast(rule, checker.rs, c, lines, idx):
                amt = Decimal("0.00") if rule.amount == "none" else _r2(amount)
                out.append((c["case_id"], line_no, rule.id, rule.severity, amt, _fill(rule.message, ev)))
    big = 2**31
    out.sort(key=lambda r: (r[0], r[1] if r[1] is not None else big, r[2]))
    return out
