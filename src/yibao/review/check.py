"""Before-the-fact check (事前提醒): the same rules for one case or one prescription, as it is written.

A hospital system sends one case (or prescription) with its lines as a dict / JSON and gets the findings back
before the fee is incurred, so the doctor can be warned (over-quantity, off-indication prescribing, price and
billing errors). The :class:`Checker` keeps the catalogue (三目录), the institutions and the qualification
periods loaded (indexed for the single-case forms, and in one DuckDB connection for the SQL path); nothing is
opened per call.

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

Money and quantities are strings or integers (never floats); ``amount`` defaults to quantity × unit price;
text fields of a line are text. Rules over a person's history (readmission, overlapping stays, visit
frequency) see only this case here; the pre-check (:mod:`yibao.server.precheck`) gives them the person's
other cases of the workspace (:func:`evaluate_case` with the history).

Two ways to the same findings (``Checker.check(case, method=…)``): ``fast`` runs each rule's single-case
form — the Python half of its logic's one record in :mod:`yibao.review.logic` — in well under a millisecond;
``sql`` runs the review pipeline's SQL in one statement over the case registered in memory (about 100 ms:
DuckDB plans a statement of two dozen rules). ``tests/review/test_logic_equality.py`` holds them equal, and
``tests/review/test_check_equals_review.py`` holds the fast path (through the pre-check) equal to
``yibao review --workspace`` on every case of a generated region.

The fast path, per case (a stay of 300 lines in a few milliseconds): the input is parsed straight to Python
rows (no Arrow round trip); the rule set is compiled once (:class:`_Plan`: scope sets, the single-case form and
the rule's filter bound to its parameters); each line's catalogue version and staff qualification interval are
looked up once (memoised per catalogue, :class:`_Index`) and the case's lines become arrays (version number,
quantity, unit price and amount in integer units, keyword hits); a line rule's single-case form is called only
on the lines its filter keeps (:data:`LINE_FILTERS`, a necessary condition of the logic in numpy over the
arrays, like the SQL's ``line_filter``), a case-lines rule is skipped when its case filter
(:data:`CASE_FILTERS`) says the case cannot hold a finding of it. The single-case form alone decides every
finding, amount and message. A filter is tied to the definition of its logic it was written for (a hash of
the record's source): changed logic, filter unused — the rule runs on every line — and
``test_every_fast_filter_matches_its_logic`` names it; a logic with no filter runs on every line. How each
enabled rule runs: :meth:`Checker.coverage`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import re
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from yibao.contract.derived import QUALIFICATION_PERIODS, as_qualification_periods
from yibao.contract.errors import BadFile, BadOption
from yibao.contract.readers import read_table
from yibao.contract.schema import TABLES
from yibao.contract.standards import empty_cc_tables
from yibao.contract.validate import validate
from yibao.engine.runner import query_arrow
from yibao.review.logic import LINE_COLUMNS, LINE_LOGIC, SET_LOGIC
from yibao.review.lookup import CaseFacts, Lookup, dec, fill, qtext, r2
from yibao.review.ruleset import RuleSet
from yibao.review.rulesql import build_pipeline
from yibao.review.run import learned_from_workspace

__all__ = ["METHODS", "CheckError", "Checker", "case_facts", "check_many", "evaluate_case"]

CheckError = BadFile  # the old name (tests/review import it): a case whose content cannot be checked
METHODS = ("fast", "sql")


def _date(v, field: str) -> dt.date | None:
    if v in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(v))
    except ValueError:
        raise BadFile(f"{field}「{v}」不是 YYYY-MM-DD 日期") from None


_Q = {2: Decimal("0.01"), 4: Decimal("0.0001")}
_PLAIN = {n: re.compile(rf"[0-9]{{1,14}}(?:\.[0-9]{{1,{n}}})?") for n in (2, 4)}  # the usual text: no checks needed
_LIMIT = Decimal(10) ** 14  # decimal128(18, 4) holds 14 integer digits (money: 16)


def _dec(v, field: str, places: int) -> Decimal | None:
    if v is None or v == "":
        return None
    if type(v) is str and _PLAIN[places].fullmatch(v):
        return Decimal(v).quantize(_Q[places])
    if isinstance(v, float):
        raise BadFile(f"{field}「{v}」请写成字符串（金额、数量不用浮点数）")
    try:
        d = Decimal(str(v))
    except InvalidOperation:
        raise BadFile(f"{field}「{v}」不是数字") from None
    if not d.is_finite() or d < 0:
        raise BadFile(f"{field}「{v}」应为非负数")
    q = _Q[places]
    if d != d.quantize(q):
        raise BadFile(f"{field}「{v}」小数位数超过 {places} 位")
    if d >= _LIMIT:
        raise BadFile(f"{field}「{v}」超出范围")
    return d.quantize(q)


def _int(v, field: str) -> int | None:
    if v is None or v == "":
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        raise BadFile(f"{field}「{v}」应为整数") from None


def _parse(case: dict) -> tuple[dict, dict, list[dict]]:
    """The case's ``cases`` row, ``insured`` row and ``fee_items`` rows, validated (see :meth:`Checker.parse`)."""
    if not isinstance(case, dict):
        raise BadFile("输入应为一个病例（JSON 对象）")
    lines = case.get("lines") or []
    if not isinstance(lines, list) or not lines:
        raise BadFile("lines：至少需要一条费用明细")
    cid = str(case.get("case_id") or "CHECK")
    pid = str(case.get("person_id") or "PERSON")
    admit = _date(case.get("admit_date") or (lines[0].get("service_date") if isinstance(lines[0], dict) else None),
                  "admit_date")
    if admit is None:
        raise BadFile("admit_date：缺少就诊日期")
    discharge = _date(case.get("discharge_date"), "discharge_date") or admit
    sex = case.get("sex")
    if sex not in (None, "", "1", "2", 1, 2):
        raise BadFile(f"sex「{sex}」应为 1 或 2")
    age = _int(case.get("age_years"), "age_years")
    birth = _date(case.get("birth_date"), "birth_date")
    setting = case.get("setting") or "outpatient"
    if setting not in ("inpatient", "outpatient"):
        raise BadFile(f"setting「{setting}」应为 inpatient 或 outpatient")
    rows = []
    total = Decimal("0.00")
    days: dict = {}  # service dates as written → date (a stay repeats a few dozen days over hundreds of lines)
    q2, q4, plain2, plain4 = _Q[2], _Q[4], _PLAIN[2].fullmatch, _PLAIN[4].fullmatch
    seen2: dict[str, Decimal] = {}  # text → its value (money), for this case
    seen4: dict[str, Decimal] = {}  # (quantities)
    for i, ln in enumerate(lines, 1):
        if type(ln) is not dict and not isinstance(ln, dict):
            raise BadFile(f"lines[{i}]：应为 JSON 对象")
        get = ln.get
        code = get("item_code")
        if not code:
            raise BadFile(f"lines[{i}].item_code：缺少项目编码")
        # the usual text of a number is read here (once per distinct text: a stay repeats its quantities and
        # prices); anything else by _dec, which names what is wrong
        v = get("quantity")
        q = seen4.get(v) if type(v) is str else None
        if q is None:
            q = Decimal(v).quantize(q4) if type(v) is str and plain4(v) else _dec(v, f"lines[{i}].quantity", 4)
            if type(v) is str and q is not None:
                seen4[v] = q
        v = get("unit_price")
        p = seen2.get(v) if type(v) is str else None
        if p is None:
            p = Decimal(v).quantize(q2) if type(v) is str and plain2(v) else _dec(v, f"lines[{i}].unit_price", 2)
            if type(v) is str and p is not None:
                seen2[v] = p
        if q is None or p is None:
            raise BadFile(f"lines[{i}]：缺少数量或单价")
        v = get("amount")
        amt = seen2.get(v) if type(v) is str else None
        if amt is None:
            amt = Decimal(v).quantize(q2) if type(v) is str and plain2(v) else _dec(v, f"lines[{i}].amount", 2)
            if type(v) is str and amt is not None:
                seen2[v] = amt
        if amt is None:
            amt = (q * p).quantize(q2, rounding=ROUND_HALF_UP)
        total += amt
        sd = get("service_date")
        day = days.get(sd) if type(sd) is str else None
        if day is None:
            day = _date(sd, f"lines[{i}].service_date") or admit
            if type(sd) is str:
                days[sd] = day
        n = get("line_no")
        name, kind, cat, staff = get("item_name"), get("item_kind"), get("fee_category"), get("staff_id")
        if not ((name is None or type(name) is str) and (kind is None or type(kind) is str)
                and (cat is None or type(cat) is str) and (staff is None or type(staff) is str)):
            for key, v in (("item_name", name), ("item_kind", kind), ("fee_category", cat), ("staff_id", staff)):
                if v is not None and not isinstance(v, str):
                    raise BadFile(f"lines[{i}].{key}「{v}」应为文本")
        rows.append({"case_id": cid, "line_no": (n if type(n) is int else _int(n, f"lines[{i}].line_no")) if n else i,
                     "item_code": str(code), "item_name": name or str(code), "item_kind": kind or "drug",
                     "fee_category": cat or "other", "service_date": day, "quantity": q, "unit_price": p,
                     "amount": amt, "staff_id": staff})

    def money(key: str, default: Decimal) -> Decimal:
        v = _dec(case.get(key), key, 2)
        return default if v is None else v

    zero = Decimal("0.00")
    c = {"case_id": cid, "person_id": pid, "institution_id": case.get("institution_id"),
         "scheme": case.get("scheme") or "employee", "sex": str(sex) if sex not in (None, "") else None,
         "age_years": age, "setting": setting, "admit_date": admit, "discharge_date": discharge,
         "dept_code": case.get("dept_code"), "attending_staff_id": case.get("attending_staff_id"),
         "principal_dx": case.get("principal_dx") or "", "secondary_dx": list(case.get("secondary_dx") or []) or None,
         "procedures": list(case.get("procedures") or []) or None,
         "discharge_mode": case.get("discharge_mode"), "emergency": bool(case.get("emergency", False)),
         "total_cost": money("total_cost", total), "fund_paid": money("fund_paid", zero),
         "self_pay": money("self_pay", zero), "out_of_pocket_excluded": money("out_of_pocket_excluded", total),
         "settle_date": discharge, "newborn_age_days": None, "newborn_weight_g": None}
    person = {"person_id": pid, "id_number": None, "name": None, "sex": c["sex"] or "1",
              "birth_date": birth or (dt.date(1900, 1, 1) if age is not None else None),
              "scheme": c["scheme"], "region_code": "000000", "death_date": _date(case.get("death_date"), "death_date")}
    return c, person, rows


class Checker:
    """A prepared rule set for single-case checks (thread-safe: one call at a time per checker)."""

    def __init__(self, catalog: pa.Table, institutions: pa.Table, rs: RuleSet,
                 periods: pa.Table | None = None, references: pa.Table | None = None,
                 dx_profiles: pa.Table | None = None, dx_evidence: pa.Table | None = None,
                 standards: tuple[pa.Table, pa.Table] | None = None) -> None:
        """``references`` / ``dx_profiles`` / ``dx_evidence``: what the review learned from the period's data
        (:func:`yibao.review.run.learned`; L10, C06 and C07); without them, nothing learned (before the fact
        with no workspace: L10 judges against the catalogue's cap only, C06 finds nothing, C07 judges the evidence
        table's diagnoses only). ``standards``: the CHS-DRG complication tables
        (:func:`yibao.contract.standards.cc_tables`)."""
        self.rs = rs
        catalog = catalog.cast(TABLES["catalog"].arrow_schema())
        institutions = institutions.cast(TABLES["institutions"].arrow_schema())
        p = as_qualification_periods(periods if periods is not None else QUALIFICATION_PERIODS.empty_table())
        self.look = Lookup(catalog, institutions, p, references, dx_profiles, dx_evidence, standards)
        self._lock = threading.Lock()
        learned = tuple((f"learned_{name}", t) for name, t in (("review_reference_prices", references),
                                                               ("review_dx_profiles", dx_profiles),
                                                               ("review_dx_evidence", dx_evidence)) if t is not None)
        cc, cce = standards if standards is not None else empty_cc_tables()
        self._tables_sql = (("catalog", catalog), ("institutions", institutions), ("qualification_periods", p),
                            ("cc_codes", cc), ("cc_exclusions", cce), *learned)
        self._con: duckdb.DuckDBPyConnection | None = None  # the SQL path's connection, prepared on first use
        self.sql = _one_statement(rs, {name[len("learned_"):] for name, _ in learned})
        self._names: dict[str, str] = {}
        for r in rs.rules:
            self._names.setdefault(r.id, r.name)  # as RuleSet.by_id: the first of an id

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The SQL path's connection with the catalogue, institutions and qualification periods loaded."""
        with self._lock:
            if self._con is None:
                con = duckdb.connect()
                con.execute("SET threads TO 1")
                for name, table in self._tables_sql:
                    con.register("_t", table)
                    con.execute(f"CREATE TABLE {name} AS SELECT * FROM _t")
                    con.unregister("_t")
                self._con = con
            return self._con

    @classmethod
    def from_catalog_file(cls, path: Path, rs: RuleSet, institutions: Path | None = None,
                          standards: tuple[pa.Table, pa.Table] | None = None) -> Checker:
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
        return cls(cat, inst, rs, standards=standards)

    @classmethod
    def from_workspace(cls, workspace: Path, rs: RuleSet, periods: pa.Table | None = None,
                       standards: tuple[pa.Table, pa.Table] | None = None) -> Checker:
        con = duckdb.connect(str(Path(workspace) / "yibao.duckdb"), read_only=True)
        try:
            cat = query_arrow(con, "SELECT * FROM main.catalog")
            inst = query_arrow(con, "SELECT * FROM main.institutions")
        finally:
            con.close()
        got = learned_from_workspace(workspace, rs, standards)
        return cls(cat, inst, rs, periods, got.references, got.dx_profiles, got.dx_evidence, standards)

    def parse(self, case: dict) -> tuple[dict, dict, list[dict]]:
        """The case as checked: its ``cases`` row, its ``insured`` row and its ``fee_items`` rows (Python values
        in the contract's types: dates, Decimals at the schema's scale), or :class:`BadFile` naming the field."""
        return _parse(case)

    def _tables(self, case: dict) -> dict[str, pa.Table]:
        c, person, rows = _parse(case)
        return {"cases": _arrow("cases", [c]), "insured": _arrow("insured", [person]),
                "fee_items": _arrow("fee_items", rows)}

    def check(self, case: dict, method: str = "fast", *, engine: str | None = None) -> dict:
        """Findings for one case: ``{"case_id", "findings": [...], "reject_amount"}`` (amounts as strings).

        ``method``: ``fast`` (each rule's single-case form, well under 10 ms) or ``sql`` (the review pipeline's
        SQL in one statement on the prepared connection; the same findings, slower). ``engine=`` is the old
        name of ``method`` and still accepted."""
        if engine is not None:
            method = engine
        if method not in METHODS:
            raise BadOption(f"未知的检查方式 {method}（fast 或 sql）")
        row, person, lines = _parse(case)
        if method == "fast":
            c = case_facts(row, person, self.look)
            rows = evaluate_case(self.rs, self.look, c, lines, [c])
        else:
            rows = self.findings_by_sql({"cases": _arrow("cases", [row]), "insured": _arrow("insured", [person]),
                                         "fee_items": _arrow("fee_items", lines)})
        return self.answer(row["case_id"], rows)

    def answer(self, case_id: str, rows: list[tuple]) -> dict:
        """The answer of :meth:`check` from finding rows (case_id, line_no, rule_id, severity, amount, message)."""
        by_id = self._names
        findings = [{"line_no": r[1], "rule_id": r[2], "name": by_id[r[2]], "severity": r[3],
                     "amount": f"{r[4]:.2f}", "message": r[5]} for r in rows]
        rej = sum((r[4] for r in rows if r[3] == "reject"), Decimal("0.00"))
        return {"case_id": case_id, "findings": findings, "reject_amount": f"{rej:.2f}"}

    def findings_by_sql(self, t: dict[str, pa.Table]) -> list[tuple]:
        """The case's findings by the review pipeline's SQL, as (case_id, line_no, rule_id, severity, amount,
        message), ordered like findings.csv."""
        con = self.con
        with self._lock:
            cur = con.cursor()
            try:
                for name, tab in t.items():
                    cur.register(name, tab)
                return cur.execute(self.sql).fetchall()
            finally:
                cur.close()

    def findings_by_logic(self, t: dict[str, pa.Table]) -> list[tuple]:
        """The case's findings by each rule's single-case form (:mod:`yibao.review.logic`), in the same shape
        and order as :meth:`findings_by_sql`."""
        c = case_facts(t["cases"].to_pylist()[0], t["insured"].to_pylist()[0], self.look)
        return evaluate_case(self.rs, self.look, c, t["fee_items"].to_pylist(), [c])

    def coverage(self) -> dict[str, list[str]]:
        """How the fast path runs each enabled rule (:func:`plan_coverage`)."""
        return plan_coverage(self.rs)


def case_facts(case: dict, person: dict, look: Lookup) -> dict:
    """A ``cases`` row with the facts the SQL path's ``review_cases`` adds (institution level, kind and agreement,
    sex and age from the insured person when blank, the diagnosis list, the death date)."""
    c = dict(case)
    inst = look.inst.get(c["institution_id"]) or {}
    age = c["age_years"]
    if age is None and person["birth_date"] is not None:
        b, a = person["birth_date"], c["admit_date"]
        age = a.year - b.year - ((a.month, a.day) < (b.month, b.day))
    c.update(inst_level=inst.get("level"), inst_kind=inst.get("kind"), sex=c["sex"] or person["sex"], age=age,
             agreement_start=inst.get("agreement_start"), agreement_end=inst.get("agreement_end"),
             dx_list=[c["principal_dx"], *(c["secondary_dx"] or [])], emergency=bool(c["emergency"]),
             death_date=person["death_date"])
    return c


def evaluate_case(rs: RuleSet, look: Lookup, c: dict, lines: list[dict], history: list[dict],
                  redact: Callable[[dict], dict] | None = None) -> list[tuple]:
    """The findings of the enabled rules of ``rs`` on one case (``c`` from :func:`case_facts`, its fee lines,
    the person's cases known — ``c`` included) by the logics' single-case forms, as (case_id, line_no, rule_id,
    severity, amount, message) ordered like findings.csv. ``redact``: applied to the evidence of a case or
    person finding before its message is written (the pre-check hides other institutions from a hospital).

    The rules run as compiled once per rule set (:class:`_Plan`): the catalogue version and the staff
    qualification of each line are looked up once per case (memoised per catalogue), and a line rule's
    single-case form is called only on the lines that pass its filter — a necessary condition of the logic
    evaluated over the case's line arrays (:data:`LINE_FILTERS`); a case-lines rule is skipped when the case
    cannot hold a finding of it (:data:`CASE_FILTERS`). The single-case form alone decides every finding."""
    return _plan(rs).run(look, c, lines, history, redact)


def plan_coverage(rs: RuleSet) -> dict[str, list[str]]:
    """Rule ids of the enabled rules of ``rs`` by how the fast path runs them: ``filtered`` (a line filter or a
    case filter narrows the work), ``every_line`` (a line rule whose logic has no filter: its single-case form
    runs on every line), ``whole_case`` (a case or person rule run on every case), ``stale_filter`` (a filter
    written for another definition of its logic: not used, the rule runs unfiltered; see
    ``test_every_fast_filter_matches_its_logic``), ``not_run`` (no single-case form: reported, never silent)."""
    return _plan(rs).coverage


# --- the compiled rule set -------------------------------------------------------------------------------------

def _fingerprint(one) -> str:
    """The definition a filter was written for: a hash of the logic's record as written (its decorator with the
    SQL, and its single-case form)."""
    try:
        text = inspect.getsource(one)
    except (OSError, TypeError):
        return "?"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class _Rule:
    rule: object
    one: object
    line: bool
    settings: frozenset
    levels: frozenset
    kinds: frozenset
    no_amount: bool
    filt: object  # a line filter (line rules) or a case filter (set rules), already bound to the parameters


class _Plan:
    """A rule set compiled for single-case checks: each enabled rule with its single-case form, scope sets and
    its filter bound to its parameters (``compile`` once; ``run`` per case)."""

    def __init__(self, rs: RuleSet) -> None:
        self.rs = rs
        self.rules: list[_Rule] = []
        cov: dict[str, list[str]] = {"filtered": [], "every_line": [], "whole_case": [], "stale_filter": [],
                                     "not_run": []}
        self.not_run: list[tuple[str, str]] = []
        for rule in rs.enabled:
            if rule.logic in LINE_LOGIC:
                one, line, table = LINE_LOGIC[rule.logic].one, True, LINE_FILTERS
            elif rule.logic in SET_LOGIC:
                one, line, table = SET_LOGIC[rule.logic].one, False, CASE_FILTERS
            else:  # (the rule files refuse an unknown logic; a rule set built by hand may hold one)
                cov["not_run"].append(rule.id)
                self.not_run.append((rule.id, f"规则 {rule.id} 的逻辑 {rule.logic} 没有单病例形式，事前提醒未执行"))
                continue
            filt = None
            entry = table.get(rule.logic)
            if entry is not None and entry[0] == _fingerprint(one):
                filt = entry[1](rule.params)
                cov["filtered"].append(rule.id)
            elif entry is not None:
                cov["stale_filter"].append(rule.id)
            else:
                cov["every_line" if line else "whole_case"].append(rule.id)
            self.rules.append(_Rule(rule=rule, one=one, line=line, settings=frozenset(rule.settings),
                                    levels=frozenset(rule.institution_levels), kinds=frozenset(rule.institution_kinds),
                                    no_amount=rule.amount == "none", filt=filt))
        self.coverage = cov

    def run(self, look: Lookup, c: dict, lines: list[dict], history: list[dict],
            redact: Callable[[dict], dict] | None = None) -> list[tuple]:
        if self.not_run:
            raise BadOption("；".join(m for _, m in self.not_run))
        ix = _index(look)
        a = _Lines(ix, lines)
        facts = None
        out = []
        cid = c["case_id"]
        zero = Decimal("0.00")
        for cr in self.rules:
            if ((cr.settings and c["setting"] not in cr.settings) or (cr.levels and c["inst_level"] not in cr.levels)
                    or (cr.kinds and c["inst_kind"] not in cr.kinds)):
                continue
            rule = cr.rule
            if cr.line:
                todo = range(a.n) if cr.filt is None or not a.exact else cr.filt(a, c)
                if todo is None:
                    continue
                one, params, vers, sps = cr.one, rule.params, a.versions, a.periods
                for i in todo:
                    ln, k = lines[i], vers[i]
                    hit, amount, ev = one(params, ln, c, k, sps[i])
                    if hit:
                        out.append((cid, ln["line_no"], rule.id, rule.severity, zero if cr.no_amount else r2(amount),
                                    fill(rule.message, {**_line_env(c, ln, k), **ev})))
            else:
                if cr.filt is not None and a.exact and not cr.filt(a, c):
                    continue
                if facts is None:
                    facts = CaseFacts(case=c, lines=lines, history=history, look=_CaseLook(look, ix, a),
                                      evidence=self.rs.evidence)
                for line_no, amount, ev in cr.one(rule.params, facts):
                    out.append((cid, line_no, rule.id, rule.severity, zero if cr.no_amount else r2(amount),
                                fill(rule.message, ev if redact is None else redact(ev))))
        big = 2**31
        out.sort(key=lambda r: (r[0], r[1] if r[1] is not None else big, r[2]))
        return out


_PLANS: dict[int, tuple[RuleSet, _Plan]] = {}
_PLANS_LOCK = threading.Lock()


def _plan(rs: RuleSet) -> _Plan:
    hit = _PLANS.get(id(rs))
    if hit is not None and hit[0] is rs:
        return hit[1]
    plan = _Plan(rs)
    with _PLANS_LOCK:
        if len(_PLANS) >= 64:  # rule sets made on the fly (tests, scenarios): keep the newest
            _PLANS.pop(next(iter(_PLANS)))
        _PLANS[id(rs)] = (rs, plan)  # (the rule set is kept: its id cannot be reused while here)
    return plan


# --- a catalogue indexed for the fast path, and one case's lines as arrays ------------------------------------

class _Index:
    """Every catalogue version of a :class:`Lookup` numbered (the last number: no version), the attributes the
    filters read as arrays over the versions, and the memo of (item code, day) → version number."""

    def __init__(self, look: Lookup) -> None:
        rows = [r for rs in look.cat.values() for r in rs]
        self.rows: list[dict | None] = [*rows, None]
        self.none = len(rows)
        self.pos = {id(r): i for i, r in enumerate(rows)}
        self.memo: dict[tuple, int] = {}
        self.pmemo: dict[tuple, tuple | None] = {}
        self.words: dict[tuple, dict[str, bool]] = {}  # keywords → {text → whether it contains one of them}
        self.look = look
        ok = [True]

        def units(v, places: int) -> int:
            if v is None:
                return 0
            s = Decimal(v).scaleb(places)
            if s != s.to_integral_value():
                ok[0] = False
            return int(s)

        def col(f, dtype=None):
            return np.array([f(r) for r in rows] + [f(None)], dtype=dtype)

        self.cap_has = col(lambda r: r is not None and r["price_cap"] is not None, bool)
        self.cap_f = col(lambda r: units(r["price_cap"], 2) if r is not None else 0, np.int64)
        self.mdq_has = col(lambda r: r is not None and r["max_daily_qty"] is not None, bool)
        self.mdq_u = col(lambda r: units(r["max_daily_qty"], 4) if r is not None else 0, np.int64)
        self.sex_has = col(lambda r: r is not None and r["sex_limit"] is not None, bool)
        self.sex_codes = {v: i + 1 for i, v in enumerate(sorted({r["sex_limit"] for r in rows} - {None}))}
        self.sex_limit = col(lambda r: self.sex_codes.get(r["sex_limit"], 0) if r is not None else 0, np.int64)
        self.min_age_has = col(lambda r: r is not None and r["min_age"] is not None, bool)
        self.min_age = col(lambda r: r["min_age"] if r is not None and r["min_age"] is not None else 0, np.int64)
        self.max_age_has = col(lambda r: r is not None and r["max_age"] is not None, bool)
        self.max_age = col(lambda r: r["max_age"] if r is not None and r["max_age"] is not None else 0, np.int64)
        self.lvl_has = col(lambda r: r is not None and r["min_level"] is not None, bool)
        self.min_level = col(lambda r: r["min_level"] if r is not None and r["min_level"] is not None else 0, np.int64)
        self.ind_has = col(lambda r: r is not None and bool(r["indications"]), bool)
        self.class_c = col(lambda r: r is None or r["class"] == "C", bool)  # out of catalogue or 丙类
        self.exact = ok[0] and (not len(rows) or (int(self.cap_f.max()) < 2**31 and int(self.mdq_u.max()) < 2**31))

    def version(self, code: str, day: dt.date) -> int:
        key = (code, day)
        i = self.memo.get(key)
        if i is None:
            k = self.look.version(code, day)
            i = self.none if k is None else self.pos[id(k)]
            if len(self.memo) > 500_000:
                self.memo.clear()
            self.memo[key] = i
        return i

    def period(self, staff: str | None, day: dt.date) -> tuple | None:
        if (staff or "") not in self.look.periods:
            return None
        key = (staff, day)
        if key in self.pmemo:
            return self.pmemo[key]
        sp = self.look.period(staff, day)
        if len(self.pmemo) > 100_000:
            self.pmemo.clear()
        self.pmemo[key] = sp
        return sp


_INDEXES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_INDEX_LOCK = threading.Lock()
_LAST_INDEX: tuple | None = None


def _index(look: Lookup) -> _Index:
    global _LAST_INDEX
    last = _LAST_INDEX
    if last is not None and last[0] is look:
        return last[1]
    ix = _INDEXES.get(look)
    if ix is None:
        with _INDEX_LOCK:
            ix = _INDEXES.get(look)
            if ix is None:
                ix = _INDEXES[look] = _Index(look)
    _LAST_INDEX = (look, ix)  # (the weak dictionary makes a weak reference per call: not once per case)
    return ix


class _Lines:
    """One case's lines as arrays: the version number of each line (``vi``), its catalogue version and staff
    qualification interval (looked up once for every rule), and — computed on first use — quantity, unit price
    and amount in integer units (1/10 000, fen, fen) and the keyword hits of the item names."""

    def __init__(self, ix: _Index, lines: list[dict]) -> None:
        self.ix, self.lines, self.n = ix, lines, len(lines)
        version, period = ix.version, ix.period
        self.vi = np.fromiter((version(ln["item_code"], ln["service_date"]) for ln in lines), np.intp, self.n)
        rows = ix.rows
        self.versions = [rows[i] for i in self.vi.tolist()]
        self.periods = [period(ln["staff_id"], ln["service_date"]) for ln in lines]
        self._num: tuple | None = None
        self._kw: dict[tuple, np.ndarray] = {}
        self.exact = ix.exact
        self._numbers()  # (settles ``exact`` before any filter runs)

    def _numbers(self) -> tuple:
        if self._num is None:
            lines = self.lines
            try:  # the Decimals into Arrow at their scale; the unscaled integers are the units
                cols = [_unscaled([ln[k] for ln in lines], places)
                        for k, places in (("quantity", 4), ("unit_price", 2), ("amount", 2))]
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # more decimals than the scale (not the parser's values)
                cols = None
            if cols is None or any(len(x) and (int(x.min()) < 0 or int(x.max()) >= 2**31) for x in cols):
                self.exact = False  # no filter for this case: every line is evaluated
                self._num = (None, None, None)
            else:
                self._num = tuple(cols)
        return self._num

    @property
    def q_u(self) -> np.ndarray:
        return self._numbers()[0]

    @property
    def p_f(self) -> np.ndarray:
        return self._numbers()[1]

    @property
    def a_f(self) -> np.ndarray:
        return self._numbers()[2]

    def keyword(self, words: tuple[str, ...], field: str = "item_name") -> np.ndarray:
        """Whether the line's item name (or ``field``) contains any of ``words`` (the logics' ``k in name``)."""
        key = (field, words)
        m = self._kw.get(key)
        if m is None:
            memo = self.ix.words.get(words)
            if memo is None or len(memo) > 200_000:
                memo = self.ix.words[words] = {}
            hits = []
            for ln in self.lines:
                text = ln[field] or ""
                h = memo.get(text)
                if h is None:
                    h = memo[text] = any(w in text for w in words)
                hits.append(h)
            m = self._kw[key] = np.array(hits, dtype=bool)
        return m

    def member(self, field: str, values: frozenset) -> np.ndarray:
        key = (field, values)
        m = self._kw.get(key)
        if m is None:
            m = self._kw[key] = np.fromiter((ln[field] in values for ln in self.lines), bool, self.n)
        return m


def _unscaled(values: list, places: int) -> np.ndarray:
    """Decimals as integers of 10^-places (exact: Arrow refuses a value that would lose digits)."""
    a = pa.array(values, type=pa.decimal128(18, places))
    return np.frombuffer(a.buffers()[1], dtype=np.int64).reshape(-1, 2)[a.offset:a.offset + len(a), 0].copy()


class _CaseLook:
    """The case's :class:`Lookup` for the case-lines and person logics: the versions and qualification periods
    already looked up for the case's lines are not looked up again; everything else is the Lookup's own."""

    def __init__(self, look: Lookup, ix: _Index, lines: _Lines) -> None:
        self._look, self._ix = look, ix

    def version(self, code: str, day: dt.date) -> dict | None:
        return self._ix.rows[self._ix.version(code, day)]

    def period(self, staff: str | None, day: dt.date) -> tuple | None:
        return self._ix.period(staff, day)

    def __getattr__(self, name: str):
        return getattr(self._look, name)


# --- the filters: necessary conditions of the logics over a case's line arrays -------------------------------
#
# A filter only narrows the work: a line filter gives the lines on which its logic's single-case form may hold
# (the lines the SQL path's ``line_filter`` would keep, and more), a case filter says whether a case-lines logic
# can find anything in the case at all. Each is written for one definition of its logic (the fingerprint of the
# record: decorator with its SQL, and single-case form); when the logic is changed, the filter is not used (the
# rule runs on every line / every case, and ``test_every_fast_filter_matches_its_logic`` names it to be checked).
# Money and quantities are compared in integer units (fen; 1/10 000), exactly as the Decimals.

def _lines_where(mask: np.ndarray) -> list[int] | None:
    return np.flatnonzero(mask).tolist() if mask.any() else None


def _ratio(v) -> tuple[int, int] | None:
    num, den = dec(v).as_integer_ratio()
    return (num, den) if 0 <= num < 2**31 and 0 < den < 2**31 else None


def _floor_fen(v) -> int:
    return int((dec(v) * 100).to_integral_value(rounding=ROUND_FLOOR))


def _expected_fen(a: _Lines) -> np.ndarray:
    """quantity × unit price rounded half up to the fen (``EXPECTED`` of the logics), per line."""
    return (2 * a.q_u * a.p_f + 10000) // 20000


def _lf_not_in_catalog(p):
    return lambda a, c: _lines_where(a.vi == a.ix.none)


def _lf_price_over_cap(p):
    return lambda a, c: _lines_where(a.ix.cap_has[a.vi] & (a.p_f > a.ix.cap_f[a.vi]))


def _lf_amount_over(p):
    t = _floor_fen(p["tolerance"])  # an integer d exceeds x exactly when it exceeds floor(x)
    return lambda a, c: _lines_where(a.a_f - _expected_fen(a) > t)


def _lf_amount_under(p):
    t = _floor_fen(p["tolerance"])
    return lambda a, c: _lines_where(_expected_fen(a) - a.a_f > t)


def _lf_over_quantity(p):
    return lambda a, c: _lines_where(a.ix.mdq_has[a.vi] & (a.q_u > a.ix.mdq_u[a.vi]))


def _lf_sex_limit(p):
    def f(a, c):
        if c["sex"] is None:
            return None
        return _lines_where(a.ix.sex_has[a.vi] & (a.ix.sex_limit[a.vi] != a.ix.sex_codes.get(c["sex"], -1)))
    return f


def _lf_age_limit(p):
    def f(a, c):
        age, ix, vi = c["age"], a.ix, a.vi
        if age is None:
            return None
        return _lines_where((ix.min_age_has[vi] & (age < ix.min_age[vi])) | (ix.max_age_has[vi] & (age > ix.max_age[vi])))
    return f


def _lf_indication_limit(p):
    return lambda a, c: _lines_where(a.ix.ind_has[a.vi])


def _lf_level_limit(p):
    def f(a, c):
        lvl = c["inst_level"]
        if lvl is None:
            return None
        return _lines_where(a.ix.lvl_has[a.vi] & (lvl < a.ix.min_level[a.vi]))
    return f


def _lf_substitution(p):
    kinds, r = frozenset(p["item_kinds"]), _ratio(p["min_price_ratio"])

    def f(a, c):
        ix, vi = a.ix, a.vi
        m = ix.cap_has[vi] & (ix.cap_f[vi] > 0) & a.member("item_kind", kinds)
        if r is not None:  # unit price ≤ cap × num / den
            m &= a.p_f * r[1] <= ix.cap_f[vi] * r[0]
        return _lines_where(m)
    return f


def _lf_suspended_staff(p):
    return lambda a, c: [i for i, sp in enumerate(a.periods) if sp is not None] or None


def _lf_dept_limit(p):
    words, prefixes = tuple(p["item_keywords"]), tuple(p["dept_prefixes"])

    def f(a, c):
        if any((c.get("dept_code") or "").startswith(x) for x in prefixes):
            return None
        return _lines_where(a.keyword(words))
    return f


def _lf_scheme_limit(p):
    words, schemes = tuple(p["item_keywords"]), p["schemes"]

    def f(a, c):
        if c.get("scheme") in schemes:
            return None
        return _lines_where(a.keyword(words))
    return f


def _cf_duplicate_charge(p):
    def f(a, c):
        m = a.ix.mdq_has[a.vi]
        if int(m.sum()) < 2:
            return False
        keys = [(ln["item_code"], ln["service_date"]) for ln, x in zip(a.lines, m.tolist()) if x]
        return len(set(keys)) < len(keys)
    return f


def _cf_substitution_price_match(p):
    kinds, r = frozenset(p["item_kinds"]), _ratio(p["max_price_ratio"])

    def f(a, c):
        ix, vi = a.ix, a.vi
        m = ix.cap_has[vi] & a.member("item_kind", kinds)
        if r is not None:  # unit price < cap × num / den
            m &= a.p_f * r[1] < ix.cap_f[vi] * r[0]
        return bool(m.any())
    return f


def _cf_uncovered_to_fund(p):
    return lambda a, c: bool(a.ix.class_c[a.vi].any())


def _cf_course_length(p):
    cats, words, mx = frozenset(p["fee_categories"]), tuple(p["name_keywords"]), int(p["max_days"])

    def f(a, c):
        m = np.ones(a.n, bool)
        if cats:
            m &= a.member("fee_category", cats)
        if words:
            m &= a.keyword(words)
        return int(m.sum()) > mx  # more distinct days of one code than allowed needs more lines
    return f


def _cf_same_day_category(p):
    cats, words = frozenset(p["fee_categories"]), tuple(p["name_keywords"])
    return lambda a, c: int((a.member("fee_category", cats) & a.keyword(words)).sum()) >= 2


def _cf_repeated_surcharge(p):
    words, mx = tuple(p["name_keywords"]), int(p["max_per_day"])
    return lambda a, c: int(a.keyword(words).sum()) > mx


def _cf_unbundled(p):
    parents, children = tuple(p["parent_keywords"]), tuple(p["child_keywords"])
    return lambda a, c: bool(a.keyword(parents).any()) and bool(a.keyword(children).any())


def _cf_missing_companion(p):
    words = tuple(p["trigger_keywords"])
    return lambda a, c: bool(a.keyword(words).any())


def _cf_item_requires_procedure(p):
    words = tuple(p["trigger_keywords"])
    return lambda a, c: not c.get("procedures") and bool(a.keyword(words).any())


def _cf_phantom_stay(p):
    return lambda a, c: c["setting"] == "inpatient" and c["discharge_date"] > c["admit_date"]


def _cf_upcoding(p):
    return lambda a, c: c["setting"] == "inpatient"


# logic → (fingerprint of the definition the filter was written for, the filter given the rule's parameters)
LINE_FILTERS: dict[str, tuple[str, Callable]] = {
    "not_in_catalog": ("e886b10bf7c5", _lf_not_in_catalog),
    "price_over_cap": ("725d5d4262da", _lf_price_over_cap),
    "amount_over": ("5e56b6c2174c", _lf_amount_over),
    "amount_under": ("46ec8c7b82f4", _lf_amount_under),
    "over_quantity": ("cf9f439aa416", _lf_over_quantity),
    "sex_limit": ("b99a5a672c1c", _lf_sex_limit),
    "age_limit": ("3734be1bf8b8", _lf_age_limit),
    "indication_limit": ("7be1ef15cc53", _lf_indication_limit),
    "level_limit": ("3382eaaba564", _lf_level_limit),
    "substitution": ("84b382c85809", _lf_substitution),
    "suspended_staff": ("837d25f2f943", _lf_suspended_staff),
    "dept_limit": ("049f63a173a5", _lf_dept_limit),
    "scheme_limit": ("ecdd1b598386", _lf_scheme_limit),
}
CASE_FILTERS: dict[str, tuple[str, Callable]] = {
    "duplicate_charge": ("f4b94f2cd0bc", _cf_duplicate_charge),
    "substitution_price_match": ("c6ed6cfc8ca0", _cf_substitution_price_match),
    "uncovered_to_fund": ("bb81164dfaa8", _cf_uncovered_to_fund),
    "course_length": ("3976fecf1781", _cf_course_length),
    "same_day_category": ("b596a489bef9", _cf_same_day_category),
    "repeated_surcharge": ("50fc038d3a81", _cf_repeated_surcharge),
    "unbundled": ("51b0f14a5f53", _cf_unbundled),
    "missing_companion": ("4f7416099a23", _cf_missing_companion),
    "item_requires_procedure": ("592ed12a476a", _cf_item_requires_procedure),
    "phantom_stay": ("c1e79ead3f8d", _cf_phantom_stay),
    "upcoding": ("15a2e9a92fbe", _cf_upcoding),
}


def _line_env(c: dict, ln: dict, k: dict | None) -> dict:
    """The columns of the SQL line relation ``l`` a message template may name, for one line."""
    env = {**{n: c.get(n) for n in LINE_COLUMNS if n in c}, **ln}
    if k is not None:
        env.update(cat_code=k["item_code"], cat_name=k["item_name"], price_cap=k["price_cap"],
                   max_daily_qty=k["max_daily_qty"], sex_limit=k["sex_limit"], min_age=k["min_age"],
                   max_age=k["max_age"], indications=k["indications"], min_level=k["min_level"])
        env["class"] = k["class"]
    env["quantity"] = qtext(ln["quantity"])
    if isinstance(env.get("max_daily_qty"), Decimal):
        env["max_daily_qty"] = qtext(env["max_daily_qty"])
    return env


def _arrow(name: str, rows: list[dict]) -> pa.Table:
    schema = TABLES[name].arrow_schema()
    return pa.table({f.name: [r.get(f.name) for r in rows] for f in schema}, schema=schema)


def _one_statement(rs: RuleSet, learned: set[str] = frozenset()) -> str:
    """The review pipeline's steps as one SQL statement (steps become CTEs), ordered like findings.csv.

    The learned steps (reference prices, diagnosis profiles) read the tables learned from the workspace
    (``learned_<step>``) when given, else are empty: one case alone teaches nothing."""
    p = build_pipeline(rs)
    steps = {s.name: s for s in p.steps}
    parts = [f"review_cases AS ({steps['review_cases'].sql})"]
    for name in ("review_reference_prices", "review_dx_profiles", "review_dx_evidence"):
        parts.append(f"{name} AS (SELECT * FROM learned_{name})" if name in learned
                     else f"{name} AS (SELECT * FROM ({steps[name].sql}) WHERE FALSE)")
    for name in ("review_line_findings", "review_case_line_findings", "review_person_findings"):
        parts.append(f"{name} AS ({steps[name].sql})")
    return ("WITH " + ",\n".join(parts) + "\nSELECT case_id, line_no, rule_id, severity, amount, message FROM ("
            + steps["review_findings"].sql + ") ORDER BY case_id, line_no NULLS LAST, rule_id")


def check_many(checker: Checker, cases: list[dict]) -> list[dict]:
    """:meth:`Checker.check` of each case, in order."""
    return [checker.check(c) for c in cases]
