"""The claims-review pipeline (智能审核流水线): rule set → runner steps, tables in, findings out.

Steps (each a pure function of Arrow tables, see :mod:`yibao.engine.runner`):

1. ``review_cases`` (rowwise over ``cases``): case facts — sex and age (from ``insured`` when blank),
   institution level and kind, the diagnosis list, the person's death date.
2. ``review_line_findings`` (rowwise over ``fee_items``): every line rule in one pass; each line is joined
   to its case and to the catalogue version valid on its service date (三目录, ``valid_from``..``valid_to``;
   overlapping versions: the later one wins from its start) and to the qualification periods of its staff.
3. ``review_case_line_findings`` (partitioned by ``case_id`` over ``fee_items``): rules that look at all
   lines of a case (same-day duplicates, 丙类 booked to the fund, phantom stay days, upcoding evidence).
4. ``review_person_findings`` (partitioned by ``person_id`` over ``review_cases``): rules over a person's
   cases (death, overlapping stays, readmissions, visit frequency) and case-only rules.
5. ``review_findings``: all findings, ordered by ``case_id, line_no, rule_id`` (case findings: blank
   ``line_no``, after the lines of the case).

Inputs: the contract tables ``cases``, ``insured``, ``institutions``, ``fee_items``, ``catalog`` and the
derived table ``qualification_periods`` (:data:`yibao.contract.derived.QUALIFICATION_PERIODS`; empty when
the staff capability gave none).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pyarrow as pa

from yibao.contract.derived import QUALIFICATION_PERIODS, emergency_paid_sql
from yibao.contract.schema import TABLES
from yibao.engine.registry import register
from yibao.engine.runner import Pipeline, Step
from yibao.review.logic import CASE_LINES, LINE, LINE_COLUMNS, LINE_LOGIC, PERSON, SET_LOGIC, qty

MONEY = pa.decimal128(18, 2)

FINDINGS = pa.schema([
    pa.field("case_id", pa.string()),
    pa.field("line_no", pa.int32()),
    pa.field("rule_id", pa.string()),
    pa.field("severity", pa.string()),
    pa.field("amount", MONEY),
    pa.field("message", pa.string()),
])
ORDER = ("case_id", "line_no", "rule_id")

REVIEW_CASES = pa.schema([
    ("case_id", pa.string()), ("person_id", pa.string()), ("institution_id", pa.string()),
    ("inst_level", pa.int32()), ("inst_kind", pa.string()), ("sex", pa.string()), ("age", pa.int32()),
    ("setting", pa.string()), ("admit_date", pa.date32()), ("discharge_date", pa.date32()),
    ("principal_dx", pa.string()), ("dx_list", pa.list_(pa.string())),
    ("emergency", pa.bool_()),
    ("death_date", pa.date32()), ("total_cost", MONEY), ("fund_paid", MONEY), ("self_pay", MONEY),
    ("out_of_pocket_excluded", MONEY), ("settle_date", pa.date32()), ("attending_staff_id", pa.string()),
    ("discharge_mode", pa.string()), ("procedures", pa.list_(pa.string())), ("dept_code", pa.string()),
    ("scheme", pa.string()), ("agreement_start", pa.date32()), ("agreement_end", pa.date32()),
])

REVIEW_CASES_SQL = """
SELECT c.case_id, c.person_id, c.institution_id, i.level AS inst_level, i.kind AS inst_kind,
       coalesce(c.sex, p.sex) AS sex,
       coalesce(c.age_years, CAST(date_sub('year', p.birth_date, c.admit_date) AS INTEGER)) AS age,
       c.setting, c.admit_date, c.discharge_date, c.principal_dx,
       list_concat([c.principal_dx], coalesce(c.secondary_dx, CAST([] AS VARCHAR[]))) AS dx_list,
       coalesce(c.emergency, FALSE) AS emergency, p.death_date, c.total_cost, c.fund_paid, c.self_pay,
       c.out_of_pocket_excluded, c.settle_date, c.attending_staff_id, c.discharge_mode, c.procedures,
       c.dept_code, c.scheme, i.agreement_start, i.agreement_end
FROM cases c LEFT JOIN insured p ON p.person_id = c.person_id
     LEFT JOIN institutions i ON i.institution_id = c.institution_id
"""

# catalogue versions as non-overlapping [valid_from, valid_end] ranges (valid_to inclusive; a later version
# starting inside an open or overlapping range ends the earlier one the day before)
CAT_SELECT = """
    SELECT item_code, item_name, item_kind, class, price_cap, max_daily_qty, sex_limit, min_age, max_age,
           indications, min_level, valid_from,
           least(coalesce(valid_to, DATE '9999-12-31'),
                 coalesce(CAST(lead(valid_from) OVER (PARTITION BY item_code ORDER BY valid_from) - 1 AS DATE),
                          DATE '9999-12-31')) AS valid_end
    FROM catalog"""
CAT_CTE = f"cat AS ({CAT_SELECT})"

QP_CTES = """pb AS (  -- qualification periods cut into disjoint elementary intervals [lo, hi) per staff member
    SELECT staff_id, start_date AS d FROM qualification_periods
    UNION SELECT staff_id, end_date FROM qualification_periods WHERE end_date IS NOT NULL),
piv AS (SELECT staff_id, d AS lo, coalesce(lead(d) OVER (PARTITION BY staff_id ORDER BY d), DATE '9999-12-31') AS hi
        FROM pb),
sp AS (  -- per interval: the periods covering it (the strongest status, the earliest start)
    SELECT piv.staff_id, piv.lo, piv.hi, max(q.status) AS sp_status, min(q.start_date) AS sp_start,
           bool_and(QP_EMERGENCY_PAID) AS sp_emergency_paid
    FROM piv JOIN qualification_periods q ON q.staff_id = piv.staff_id AND q.start_date <= piv.lo
         AND (q.end_date IS NULL OR piv.lo < q.end_date)
    GROUP BY piv.staff_id, piv.lo, piv.hi)""".replace("QP_EMERGENCY_PAID", emergency_paid_sql("q"))

# Where each column of the line relation ``l`` (LINE_COLUMNS) comes from: the fee line itself, its case
# (``review_cases``), its catalogue version (``cat``, under another name where it would clash) or the
# qualification interval of its staff (``sp``).
FEE_COLUMNS = ("case_id", "line_no", "item_code", "item_name", "item_kind", "fee_category", "service_date",
               "quantity", "unit_price", "amount", "staff_id")
CASE_FACTS = ("person_id", "institution_id", "inst_level", "inst_kind", "sex", "age", "setting", "emergency",
              "dept_code", "scheme", "dx_list")
CAT_FACTS = {"cat_code": "item_code", "cat_name": "item_name", "class": "class", "price_cap": "price_cap",
             "max_daily_qty": "max_daily_qty", "sex_limit": "sex_limit", "min_age": "min_age", "max_age": "max_age",
             "indications": "indications", "min_level": "min_level"}
SP_FACTS = ("sp_status", "sp_start", "sp_emergency_paid")

_QTY_COLUMNS = {"quantity", "max_daily_qty"}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def message_sql(template: str, column) -> str:
    """A Chinese message template as a SQL text expression: ``{name}`` → the evidence column as text."""
    parts, pos = [], 0
    for m in _PLACEHOLDER.finditer(template):
        if m.start() > pos:
            parts.append(_lit(template[pos:m.start()]))
        parts.append(f"coalesce(CAST({column(m.group(1))} AS VARCHAR), '')")
        pos = m.end()
    if pos < len(template):
        parts.append(_lit(template[pos:]))
    return "concat(" + ", ".join(parts or ["''"]) + ")"


def _scope(rule, alias: str) -> str:
    """The rule's settings / institution levels / kinds as a predicate over ``alias`` (true when unrestricted)."""
    conds = []
    if rule.settings:
        conds.append(f"{alias}.setting IN ({', '.join(_lit(s) for s in rule.settings)})")
    if rule.institution_levels:
        conds.append(f"{alias}.inst_level IN ({', '.join(str(v) for v in rule.institution_levels)})")
    if rule.institution_kinds:
        conds.append(f"{alias}.inst_kind IN ({', '.join(_lit(s) for s in rule.institution_kinds)})")
    return " AND ".join(conds) or "TRUE"


def _amount(rule, expr: str) -> str:
    return "CAST(0 AS DECIMAL(18,2))" if rule.amount == "none" else f"CAST({expr} AS DECIMAL(18,2))"


@dataclass(frozen=True)
class LineRuleSQL:
    """One line rule rendered: the condition (scope included), the amount and the message, all over ``l``."""

    cond: str
    amount: str
    message: str


def line_rule_parts(rule) -> LineRuleSQL:
    from yibao.review.ruleset import RuleError, render

    where = f"规则 {rule.id}"
    params = rule.param_sql()
    lg = LINE_LOGIC[rule.logic]
    ev = {k: render(v, params, where) for k, v in lg.evidence.items()}

    def col(name: str) -> str:
        if name in ev:
            return ev[name]
        if name in _QTY_COLUMNS:
            return qty(f"l.{name}")
        if name in LINE_COLUMNS:
            return f"l.{name}"
        raise RuleError(f"{where}：消息模板中的 {{{name}}} 不是可用的证据列")

    cond = render(lg.cond, params, where)
    return LineRuleSQL(f"({cond}) AND ({_scope(rule, 'l')})", _amount(rule, render(lg.amount, params, where)),
                       message_sql(rule.message, col))


def rule_sql(rule, rs) -> str:
    """The rendered SQL of one rule: a struct expression (line rules) or a findings SELECT (set rules)."""
    from yibao.review.ruleset import render

    where = f"规则 {rule.id}"
    params = rule.param_sql(rs.evidence_sql() if rule.logic == "upcoding" else None)
    if rule.shape == LINE:
        p = line_rule_parts(rule)
        return (f"CASE WHEN {p.cond} THEN struct_pack(rule_id := {_lit(rule.id)}, "
                f"severity := {_lit(rule.severity)}, amount := {p.amount}, message := {p.message}) END")
    sql = render(SET_LOGIC[rule.logic].sql, params, where)
    msg = message_sql(rule.message, lambda n: f"r.{n}")
    line_no = "CAST(r.line_no AS INTEGER)" if SET_LOGIC[rule.logic].line_level else "CAST(NULL AS INTEGER)"
    return (f"SELECT r.case_id, {line_no} AS line_no, {_lit(rule.id)} AS rule_id, {_lit(rule.severity)} AS severity, "
            f"{_amount(rule, 'r.amount')} AS amount, {msg} AS message\n"
            f"FROM ({sql}) r JOIN review_cases rc ON rc.case_id = r.case_id WHERE {_scope(rule, 'rc')}")


_EMPTY = ("SELECT CAST(NULL AS VARCHAR) AS case_id, CAST(NULL AS INTEGER) AS line_no, CAST(NULL AS VARCHAR) AS rule_id, "
          "CAST(NULL AS VARCHAR) AS severity, CAST(NULL AS DECIMAL(18,2)) AS amount, CAST(NULL AS VARCHAR) AS message "
          "WHERE FALSE")


_L_COLUMN = re.compile(r"\bl\.(\w+)")


def line_findings_sql(rs) -> str:
    """All enabled line rules in one pass over the fee lines.

    1. ``l0``: every line with its catalogue version (only the fields some rule's line filter reads, and the
       version's key ``kid``) and its staff's qualification interval; lines passing no rule's line filter
       (:attr:`~yibao.review.logic.LineLogic.line_filter`, which reads no case facts) are dropped here.
       Filters that read only catalogue fields are evaluated once per catalogue version (``cat_flag``).
    2. ``l``: the lines left, joined to their cases (diagnoses included) and to the rest of their catalogue
       fields — wide columns (names, lists) are fetched for these lines only.
    3. ``m`` / ``h``: each line's bit mask of the rules that hold, then one row per (line, rule that holds).
    4. the finding's rule id, severity, amount and message, each computed for its hits only.
    """
    from yibao.review.ruleset import RuleError, render

    rules = [r for r in rs.enabled if r.shape == LINE]
    if not rules:
        return _EMPTY
    parts = [line_rule_parts(r) for r in rules]
    filters = []
    for r in rules:
        lg = LINE_LOGIC[r.logic]
        f = render(lg.line_filter or lg.cond, r.param_sql(), f"规则 {r.id}")
        cols = set(_L_COLUMN.findall(f))
        if cols - set(LINE_COLUMNS) or cols & set(CASE_FACTS):
            raise RuleError(f"规则 {r.id}：逻辑 {r.logic} 的明细筛选条件只能读明细、目录和资格区间的列，"
                            f"读了 {', '.join(sorted(cols - set(LINE_COLUMNS) | cols & set(CASE_FACTS)))}")
        filters.append(f"({f})")
    # each condition is evaluated only on the lines its filter passes (AND does not short-circuit; CASE does)
    mask = "\n        | ".join(f"CASE WHEN {f} THEN CASE WHEN {p.cond} THEN CAST({1 << i} AS BIGINT) ELSE 0 END ELSE 0 END"
                              for i, (f, p) in enumerate(zip(filters, parts)))
    # filters that read only catalogue fields are evaluated once per catalogue version (``cat_flag``)
    cat_only = [f for f in filters if set(_L_COLUMN.findall(f)) <= set(CAT_FACTS) - {"cat_code"}]
    filters = [f for f in filters if f not in cat_only]
    cat_flag = " OR ".join(_L_COLUMN.sub(lambda m: CAT_FACTS[m.group(1)], f) for f in cat_only) or "FALSE"
    early = set(_L_COLUMN.findall(" ".join(filters)))
    cat_early = [c for c in CAT_FACTS if c in early]
    cat_late = [c for c in CAT_FACTS if c not in early]
    l0_cols = ([f"f.{c}" for c in FEE_COLUMNS] + [f"k.{CAT_FACTS[c]} AS {c}" for c in cat_early] + ["k.kid"]
               + [f"sp.{c}" for c in SP_FACTS])
    l_cols = ["l0.*"] + [f"c.{c}" for c in CASE_FACTS] + [f"k.{CAT_FACTS[c]} AS {c}" for c in cat_late]
    source = {**{c: f"f.{c}" for c in FEE_COLUMNS}, **{c: f"k.{v}" for c, v in CAT_FACTS.items()},
              **{c: f"sp.{c}" for c in SP_FACTS}}
    line_filter = "\n       OR ".join(["k.cat_flag"] + [_L_COLUMN.sub(lambda m: source[m.group(1)], f) for f in filters])

    def by_rule(values: list[str]) -> str:
        values = [_L_COLUMN.sub(r"h.\1", v) for v in values]
        return "CASE h.rk " + " ".join(f"WHEN {i} THEN {v}" for i, v in enumerate(values)) + " END"

    return f"""WITH cat AS MATERIALIZED (
    SELECT *, row_number() OVER (ORDER BY item_code, valid_from) AS kid, {cat_flag} AS cat_flag FROM ({CAT_SELECT})),
{QP_CTES},
l0 AS (
    SELECT {", ".join(l0_cols)}
    FROM fee_items f
         LEFT JOIN cat k ON k.item_code = f.item_code AND f.service_date BETWEEN k.valid_from AND k.valid_end
         LEFT JOIN sp ON sp.staff_id = f.staff_id AND f.service_date >= sp.lo AND f.service_date < sp.hi
    WHERE {line_filter}
    -- the ORDER BY ends the pipeline here: the few lines left reach the case join and the rule conditions in
    -- full vectors rather than a handful per vector (several times faster for the same work)
    ORDER BY f.case_id, f.line_no),
l AS (
    SELECT {", ".join(l_cols)}
    FROM l0 JOIN review_cases c ON c.case_id = l0.case_id LEFT JOIN cat k ON k.kid = l0.kid),
m AS (
    SELECT l.*, {mask} AS mask FROM l),
h AS (
    SELECT m.*, unnest(list_filter(range({len(parts)}), lambda i: (mask >> i) & 1 = 1)) AS rk FROM m WHERE mask <> 0
    ORDER BY case_id, line_no, rk)
SELECT h.case_id, h.line_no, {by_rule([_lit(r.id) for r in rules])} AS rule_id,
       {by_rule([_lit(r.severity) for r in rules])} AS severity,
       {by_rule([p.amount for p in parts])} AS amount,
       {by_rule([p.message for p in parts])} AS message
FROM h"""


def set_findings_sql(rs, shape: str) -> str:
    rules = [r for r in rs.enabled if r.shape == shape]
    if not rules:
        return _EMPTY
    body = "\nUNION ALL\n".join(f"SELECT * FROM ({rule_sql(r, rs)})" for r in rules)
    if shape == CASE_LINES:
        return (f"WITH {CAT_CTE},\nrcl AS (SELECT * FROM review_cases WHERE case_id IN (SELECT case_id FROM fee_items))\n"
                f"{body}")
    return body


def build_pipeline(rs, name: str = "review") -> Pipeline:
    """The review pipeline of a rule set (only its enabled rules)."""
    steps = (
        Step("review_cases", "cases", REVIEW_CASES_SQL, REVIEW_CASES, ("case_id",), mode="rowwise",
             broadcast=("insured", "institutions"), doc="case facts for review rules"),
        Step("review_line_findings", "fee_items", line_findings_sql(rs), FINDINGS, ORDER, mode="rowwise",
             broadcast=("review_cases", "catalog", "qualification_periods"), doc="line rules, one pass"),
        Step("review_case_line_findings", "fee_items", set_findings_sql(rs, CASE_LINES), FINDINGS, ORDER,
             mode="partitioned", partition_by=("case_id",), broadcast=("review_cases", "catalog"),
             doc="rules over all lines of a case"),
        Step("review_person_findings", "review_cases", set_findings_sql(rs, PERSON), FINDINGS, ORDER,
             mode="partitioned", partition_by=("person_id",), broadcast=("qualification_periods",),
             doc="rules over a person's cases"),
        Step("review_findings", "review_line_findings",
             "SELECT * FROM review_line_findings UNION ALL SELECT * FROM review_case_line_findings "
             "UNION ALL SELECT * FROM review_person_findings", FINDINGS, ORDER, mode="global",
             broadcast=("review_case_line_findings", "review_person_findings"), doc="all findings, ordered"),
    )
    return Pipeline(name, steps, doc="智能审核：全部规则（明细、病例、参保人）")


def empty_periods() -> pa.Table:
    return QUALIFICATION_PERIODS.empty_table()


# --- registration with a small example (tests/parity runs it on DuckDB and Spark) -----------------------------

def _table(name: str, rows: list[dict]) -> pa.Table:
    schema = TABLES[name].arrow_schema()
    cols = {f.name: [r.get(f.name) for r in rows] for f in schema}
    return pa.table(cols, schema=schema)


def review_fixture() -> dict[str, pa.Table]:
    """A tiny region with one instance of most rules' findings (hand-checkable)."""
    D = date.fromisoformat
    M = Decimal
    inst = [
        {"institution_id": "H1", "name": "甲医院", "kind": "hospital", "level": 3, "category": "general",
         "region_code": "440200", "agreement_start": D("2020-01-01")},
        {"institution_id": "H2", "name": "乙医院", "kind": "hospital", "level": 1, "category": "general",
         "region_code": "440200", "agreement_start": D("2020-01-01")},
    ]
    insured = [
        {"person_id": "P1", "sex": "1", "birth_date": D("1960-05-01"), "scheme": "employee", "region_code": "440200"},
        {"person_id": "P2", "sex": "2", "birth_date": D("2018-03-01"), "scheme": "resident", "region_code": "440200",
         "death_date": None},
        {"person_id": "P3", "sex": "2", "birth_date": D("1950-01-01"), "scheme": "resident", "region_code": "440200",
         "death_date": D("2024-02-01")},
    ]
    cat = [
        {"item_code": "BED", "item_name": "床位费", "item_kind": "facility", "class": "A", "price_cap": M("80.00"),
         "max_daily_qty": M("1"), "valid_from": D("2020-01-01")},
        {"item_code": "NUR", "item_name": "Ⅱ级护理", "item_kind": "service", "class": "A", "price_cap": M("24.00"),
         "max_daily_qty": M("1"), "valid_from": D("2020-01-01"), "valid_to": D("2024-06-30")},
        {"item_code": "NUR", "item_name": "Ⅱ级护理", "item_kind": "service", "class": "A", "price_cap": M("28.00"),
         "max_daily_qty": M("1"), "valid_from": D("2024-07-01")},
        {"item_code": "DRG1", "item_name": "注射用美罗培南", "item_kind": "drug", "class": "B",
         "self_pay_ratio": M("0.10"), "price_cap": M("62.00"), "max_daily_qty": M("6"), "min_level": 2,
         "valid_from": D("2020-01-01")},
        {"item_code": "PSA", "item_name": "前列腺特异性抗原测定", "item_kind": "service", "class": "A",
         "price_cap": M("60.00"), "max_daily_qty": M("1"), "sex_limit": "1", "valid_from": D("2020-01-01")},
        {"item_code": "INS", "item_name": "甘精胰岛素注射液", "item_kind": "drug", "class": "B",
         "self_pay_ratio": M("0.10"), "price_cap": M("178.00"), "max_daily_qty": M("2"),
         "indications": ["E10", "E11"], "valid_from": D("2020-01-01")},
        {"item_code": "THY", "item_name": "注射用胸腺五肽", "item_kind": "drug", "class": "C", "price_cap": M("80.00"),
         "max_daily_qty": M("2"), "valid_from": D("2020-01-01")},
        {"item_code": "KID", "item_name": "小儿氨酚黄那敏颗粒", "item_kind": "drug", "class": "A",
         "price_cap": M("12.00"), "max_daily_qty": M("2"), "max_age": 14, "valid_from": D("2020-01-01")},
    ]

    def case(cid, pid, inst_id, setting, a, d, dx, total, fund, excl, sec=None, emergency=False, staff="S1"):
        return {"case_id": cid, "person_id": pid, "institution_id": inst_id, "scheme": "employee",
                "setting": setting, "admit_date": D(a), "discharge_date": D(d), "attending_staff_id": staff,
                "principal_dx": dx, "secondary_dx": sec, "emergency": emergency, "total_cost": M(total),
                "fund_paid": M(fund), "self_pay": M(total) - M(fund) - M(excl), "out_of_pocket_excluded": M(excl),
                "settle_date": D(d), "discharge_mode": "1" if setting == "inpatient" else None}

    cases = [
        case("C1", "P1", "H1", "inpatient", "2024-06-28", "2024-07-02", "J18.900", "1000.00", "700.00", "0.00"),
        case("C2", "P1", "H1", "inpatient", "2024-07-10", "2024-07-12", "J18.000", "500.00", "350.00", "0.00",
             sec=["J96.000"]),
        case("C3", "P1", "H2", "inpatient", "2024-07-11", "2024-07-13", "I10.x00", "300.00", "200.00", "0.00"),
        case("C4", "P2", "H2", "outpatient", "2024-03-05", "2024-03-05", "J06.900", "200.00", "100.00", "0.00"),
        case("C5", "P3", "H1", "outpatient", "2024-03-01", "2024-03-01", "I10.x00", "50.00", "30.00", "0.00"),
        case("C6", "P1", "H1", "inpatient", "2024-09-01", "2024-09-10", "K80.100", "900.00", "600.00", "0.00",
             staff="S2"),
    ]
    L = []

    def line(cid, no, code, name, kind, cat_, day, q, p, amt=None, staff="S1"):
        L.append({"case_id": cid, "line_no": no, "item_code": code, "item_name": name, "item_kind": kind,
                  "fee_category": cat_, "service_date": D(day), "quantity": M(q), "unit_price": M(p),
                  "amount": M(amt) if amt is not None else (M(q) * M(p)).quantize(M("0.01")), "staff_id": staff})

    for i, day in enumerate(["2024-06-28", "2024-06-29", "2024-06-30", "2024-07-01"]):
        line("C1", 2 * i + 1, "BED", "床位费", "facility", "bed", day, "1", "80.00")
        # nursing: 24 yuan until June 30, 28 from July 1 (the version valid on the service date)
        line("C1", 2 * i + 2, "NUR", "Ⅱ级护理", "service", "nursing", day, "1", "28.00")
    line("C1", 9, "DRG1", "注射用美罗培南", "drug", "western_drug", "2024-06-29", "8", "62.00")  # over qty
    line("C1", 10, "DRG1", "注射用美罗培南", "drug", "western_drug", "2024-06-30", "2", "20.00")  # substitution
    line("C1", 11, "THY", "注射用胸腺五肽", "drug", "western_drug", "2024-06-30", "1", "80.00")  # C billed to fund
    line("C1", 12, "BED", "床位费", "facility", "bed", "2024-07-01", "1", "80.00")  # duplicate
    line("C1", 13, "XXX", "不在目录的项目", "service", "other", "2024-07-01", "1", "10.00", "12.00")
    line("C2", 1, "BED", "床位费", "facility", "bed", "2024-07-10", "1", "80.00")
    line("C2", 2, "BED", "床位费", "facility", "bed", "2024-07-11", "1", "80.00")
    line("C2", 3, "PSA", "前列腺特异性抗原测定", "service", "lab", "2024-07-10", "1", "60.00")
    line("C3", 1, "BED", "床位费", "facility", "bed", "2024-07-11", "1", "80.00")
    line("C3", 2, "INS", "甘精胰岛素注射液", "drug", "western_drug", "2024-07-11", "1", "178.00")
    line("C4", 1, "PSA", "前列腺特异性抗原测定", "service", "lab", "2024-03-05", "1", "60.00")
    line("C4", 2, "KID", "小儿氨酚黄那敏颗粒", "drug", "western_drug", "2024-03-05", "1", "12.00")
    line("C5", 1, "KID", "小儿氨酚黄那敏颗粒", "drug", "western_drug", "2024-03-01", "1", "12.00")
    line("C6", 1, "BED", "床位费", "facility", "bed", "2024-09-01", "1", "80.00", staff="S2")
    line("C6", 2, "NUR", "Ⅱ级护理", "service", "nursing", "2024-09-09", "1", "28.00", staff="S2")
    periods = pa.table({"staff_id": ["S2"], "status": ["suspended"], "start_date": [D("2024-08-15")],
                        "end_date": [D("2024-09-05")], "source_id": ["CF1"], "emergency_paid": [True]}, schema=QUALIFICATION_PERIODS)
    return {"institutions": _table("institutions", inst), "insured": _table("insured", insured),
            "catalog": _table("catalog", cat), "cases": _table("cases", cases), "fee_items": _table("fee_items", L),
            "qualification_periods": periods}


def _default_pipeline() -> Pipeline:
    from yibao.review.ruleset import load_rules

    return build_pipeline(load_rules())


REVIEW = register(_default_pipeline(), fixture=review_fixture)
