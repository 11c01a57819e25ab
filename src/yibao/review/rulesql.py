"""The claims-review SQL (智能审核): a rule set rendered into the review pipeline's steps, tables in, findings out.

Steps (each a pure function of Arrow tables, see :mod:`yibao.engine.runner`):

1. ``review_cases`` (rowwise over ``cases``): case facts — sex and age (from ``insured`` when blank),
   institution level and kind, the diagnosis list, the person's death date.
2. ``review_line_findings`` (rowwise over ``fee_items``): every line rule in one pass; each line is joined
   to its case and to the catalogue version valid on its service date (三目录, ``valid_from``..``valid_to``;
   overlapping versions: the later one wins from its start) and to the qualification periods of its staff.
3. ``review_case_line_findings`` (partitioned by ``case_id`` over ``fee_items``): rules that look at all
   lines of a case (same-day duplicates, 丙类 booked to the fund, phantom stay days, upcoding evidence).
3a. ``review_reference_prices`` (partitioned by ``item_code`` over ``fee_items``): the reference unit price of
   each item code learned from the lines of the period (串换 rule L10): per code, catalogue version
   (``version_from``: the ``valid_from`` of the version valid on the service date, ``0001-01-01`` when none — a
   price change comes with a new version, capped or not), price basis (a share of the
   catalogue cap valid on the service date, or the price itself where the code has no cap) and institution
   level (``-1`` = all levels): the number of lines and institutions, the median and the median absolute
   deviation (MAD), all integers (parts per million of the cap, or fen). Parameter-free: the rules using it
   say how many lines and institutions a reference needs.
3b. ``review_dx_evidence`` (global over ``fee_items``, with ``review_cases`` and the CHS-DRG complication tables
   ``cc_codes`` / ``cc_exclusions``): the items that usually accompany each complication code in the period's
   inpatient stays (高套 rule C07: support and lift, thresholds from the enabled ``upcoding`` rules).
4. ``review_person_findings`` (partitioned by ``person_id`` over ``review_cases``): rules over a person's
   cases (death, overlapping stays, readmissions, visit frequency) and case-only rules.
5. ``review_findings``: all findings, ordered by ``case_id, line_no, rule_id`` (case findings: blank
   ``line_no``, after the lines of the case).

Inputs: the contract tables ``cases``, ``insured``, ``institutions``, ``fee_items``, ``catalog``, the CHS-DRG
complication tables ``cc_codes`` / ``cc_exclusions`` (:func:`yibao.contract.standards.cc_tables`; empty without the
standards) and the derived table ``qualification_periods`` (:data:`yibao.contract.derived.QUALIFICATION_PERIODS`; empty when
the staff capability gave none).

Parameters of a rule (``[rule.params]``) are rendered as SQL literals (:func:`sql_literal`) into the logic's
``${name}`` places (:func:`render`); a rule whose logic names a parameter it lacks, whose message names an
evidence column the logic does not give, or whose line filter reads case facts is refused
(:class:`~yibao.contract.errors.BadPolicy`, naming the rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

from yibao.contract.derived import emergency_paid_sql
from yibao.contract.errors import BadPolicy
from yibao.contract.vocab import MONEY, sql_str
from yibao.engine.runner import Pipeline, Step
from yibao.review.logic import (
    CASE_LINES,
    COMPLICATIONS_SQL,
    LINE,
    LINE_COLUMNS,
    LINE_LOGIC,
    PERSON,
    PERSON_READS_LINES,
    SET_LOGIC,
    qty,
)

__all__ = [
    "FINDINGS",
    "ORDER",
    "COMPLICATIONS_SQL",
    "DX_EVIDENCE",
    "DX_PROFILES",
    "REFERENCE_PRICES",
    "REVIEW_CASES",
    "build_pipeline",
    "evidence_sql",
    "line_findings_sql",
    "line_rule_parts",
    "message_sql",
    "param_sql",
    "render",
    "rule_sql",
    "set_findings_sql",
    "sql_literal",
]

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


def message_sql(template: str, column) -> str:
    """A Chinese message template as a SQL text expression: ``{name}`` → the evidence column as text."""
    parts, pos = [], 0
    for m in _PLACEHOLDER.finditer(template):
        if m.start() > pos:
            parts.append(sql_str(template[pos:m.start()]))
        parts.append(f"coalesce(CAST({column(m.group(1))} AS VARCHAR), '')")
        pos = m.end()
    if pos < len(template):
        parts.append(sql_str(template[pos:]))
    return "concat(" + ", ".join(parts or ["''"]) + ")"


def _scope(rule, alias: str) -> str:
    """The rule's settings / institution levels / kinds as a predicate over ``alias`` (true when unrestricted)."""
    conds = []
    if rule.settings:
        conds.append(f"{alias}.setting IN ({', '.join(sql_str(s) for s in rule.settings)})")
    if rule.institution_levels:
        conds.append(f"{alias}.inst_level IN ({', '.join(str(v) for v in rule.institution_levels)})")
    if rule.institution_kinds:
        conds.append(f"{alias}.inst_kind IN ({', '.join(sql_str(s) for s in rule.institution_kinds)})")
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
    where = f"规则 {rule.id}"
    params = param_sql(rule)
    lg = LINE_LOGIC[rule.logic]
    ev = {k: render(v, params, where) for k, v in lg.evidence.items()}

    def col(name: str) -> str:
        if name in ev:
            return ev[name]
        if name in _QTY_COLUMNS:
            return qty(f"l.{name}")
        if name in LINE_COLUMNS:
            return f"l.{name}"
        raise BadPolicy(f"{where}：消息模板中的 {{{name}}} 不是可用的证据列")

    cond = render(lg.cond, params, where)
    return LineRuleSQL(f"({cond}) AND ({_scope(rule, 'l')})", _amount(rule, render(lg.amount, params, where)),
                       message_sql(rule.message, col))


def rule_sql(rule, rs) -> str:
    """The rendered SQL of one rule: a struct expression (line rules) or a findings SELECT (set rules)."""
    where = f"规则 {rule.id}"
    params = param_sql(rule, evidence_sql(rs.evidence) if rule.logic == "upcoding" else None)
    if rule.shape == LINE:
        p = line_rule_parts(rule)
        return (f"CASE WHEN {p.cond} THEN struct_pack(rule_id := {sql_str(rule.id)}, "
                f"severity := {sql_str(rule.severity)}, amount := {p.amount}, message := {p.message}) END")
    sql = render(SET_LOGIC[rule.logic].sql, params, where)
    msg = message_sql(rule.message, lambda n: f"r.{n}")
    line_no = "CAST(r.line_no AS INTEGER)" if SET_LOGIC[rule.logic].line_level else "CAST(NULL AS INTEGER)"
    return (f"SELECT r.case_id, {line_no} AS line_no, {sql_str(rule.id)} AS rule_id, {sql_str(rule.severity)} AS severity, "
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
    rules = [r for r in rs.enabled if r.shape == LINE]
    if not rules:
        return _EMPTY
    parts = [line_rule_parts(r) for r in rules]
    filters = []
    for r in rules:
        lg = LINE_LOGIC[r.logic]
        f = render(lg.line_filter or lg.cond, param_sql(r), f"规则 {r.id}")
        cols = set(_L_COLUMN.findall(f))
        if cols - set(LINE_COLUMNS) or cols & set(CASE_FACTS):
            raise BadPolicy(f"规则 {r.id}：逻辑 {r.logic} 的明细筛选条件只能读明细、目录和资格区间的列，"
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
SELECT h.case_id, h.line_no, {by_rule([sql_str(r.id) for r in rules])} AS rule_id,
       {by_rule([sql_str(r.severity) for r in rules])} AS severity,
       {by_rule([p.amount for p in parts])} AS amount,
       {by_rule([p.message for p in parts])} AS message
FROM h"""


REFERENCE_PRICES = pa.schema([
    ("item_code", pa.string()), ("version_from", pa.date32()), ("basis", pa.string()), ("inst_level", pa.int32()),
    ("n_lines", pa.int64()),
    ("n_institutions", pa.int64()), ("median", pa.int64()), ("mad", pa.int64()),
])

# a line's relative price: parts per million of the cap valid on the service date (rounded half up, integer
# arithmetic), or the unit price in fen where the code has no cap that day
REL_PRICE = """CASE WHEN k.price_cap > 0
                THEN (CAST(f.unit_price * 100 AS BIGINT) * 2000000 + CAST(k.price_cap * 100 AS BIGINT))
                     // (2 * CAST(k.price_cap * 100 AS BIGINT))
                ELSE CAST(f.unit_price * 100 AS BIGINT) END"""
PRICE_BASIS = "CASE WHEN k.price_cap > 0 THEN 'cap' ELSE 'price' END"

def reference_prices_sql(rs) -> str:
    """The reference-price step over the lines of the item kinds the enabled ``price_reference`` rules judge
    (none enabled: no lines). Lower median and MAD per group from the counts of each distinct relative price
    (few per code: most lines of a code carry one price), not from a sort of every line."""
    kinds = sorted({k for r in rs.enabled if r.logic == "price_reference" for k in r.params.get("item_kinds", [])})
    where = f"f.item_kind IN ({', '.join(sql_str(k) for k in kinds)})" if kinds else "FALSE"
    key = "item_code, version_from, basis, inst_level"
    return f"""
WITH {CAT_CTE},
x AS (
    SELECT f.item_code, coalesce(k.valid_from, DATE '0001-01-01') AS version_from,
           coalesce(c.inst_level, -2) AS inst_level, c.institution_id, {PRICE_BASIS} AS basis, {REL_PRICE} AS rel
    FROM fee_items f JOIN review_cases c ON c.case_id = f.case_id
         LEFT JOIN cat k ON k.item_code = f.item_code AND f.service_date BETWEEN k.valid_from AND k.valid_end
    WHERE {where}),
v0 AS (SELECT {key}, rel, count(*) AS n FROM x GROUP BY ALL),
v AS (SELECT * FROM v0 UNION ALL
      SELECT item_code, version_from, basis, -1, rel, sum(n) FROM v0 GROUP BY item_code, version_from, basis, rel),
ni AS (SELECT item_code, version_from, basis, coalesce(inst_level, -1) AS inst_level,
              count(DISTINCT institution_id) AS n_institutions
       FROM x GROUP BY GROUPING SETS ((item_code, version_from, basis, inst_level), (item_code, version_from, basis))),
-- lower median: the smallest value whose cumulative count passes position floor((N - 1) / 2) (0-based)
cm AS (SELECT *, sum(n) OVER (PARTITION BY {key} ORDER BY rel) AS cum, sum(n) OVER (PARTITION BY {key}) AS total
       FROM v),
med AS (SELECT {key}, any_value(total) AS n_lines, min(rel) AS median FROM cm WHERE cum > (total - 1) // 2
        GROUP BY ALL),
dv AS (SELECT v.item_code, v.version_from, v.basis, v.inst_level, abs(v.rel - m.median) AS dev, sum(v.n) AS n
       FROM v JOIN med m USING ({key}) GROUP BY ALL),
cd AS (SELECT *, sum(n) OVER (PARTITION BY {key} ORDER BY dev) AS cum, sum(n) OVER (PARTITION BY {key}) AS total
       FROM dv),
mad AS (SELECT {key}, min(dev) AS mad FROM cd WHERE cum > (total - 1) // 2 GROUP BY ALL)
SELECT m.item_code, m.version_from, m.basis, m.inst_level, m.n_lines, ni.n_institutions, m.median, d.mad
FROM med m JOIN mad d USING ({key}) JOIN ni USING ({key})
"""


DX_PROFILES = pa.schema([
    ("dx_cat", pa.string()), ("n_cases", pa.int64()), ("n_outpatient", pa.int64()), ("n_peers", pa.int64()),
    ("peer_median_cost", MONEY), ("n_any", pa.int64()), ("n_any_outpatient", pa.int64()),
])


def dx_profiles_sql(rs) -> str:
    """How the region treats each diagnosis category (first 3 characters of the principal diagnosis; rule C06):
    its outpatient and inpatient cases, and the median total cost of its inpatient *peers* — stays longer than
    the rule's ``peer_min_los_days`` (a short cheap stay is what the rule looks for, so it is no peer). The row
    ``*`` is the whole region's inpatient peers (the reference of a category with too few peers of its own).
    ``n_any`` / ``n_any_outpatient``: cases coded with the category as any diagnosis (principal or secondary),
    and how many of them are outpatient (whether a secondary diagnosis is serious).
    The peer length comes from the enabled rules using the logic ``low_standard_learned`` (one value)."""
    vals = sorted({int(r.params["peer_min_los_days"]) for r in rs.enabled if r.logic == "low_standard_learned"
                   and "peer_min_los_days" in r.params})
    if len(vals) > 1:
        raise BadPolicy(f"逻辑 low_standard_learned 的规则 peer_min_los_days 不一致（{vals}）：全区只学一份病种画像")
    n = vals[0] if vals else 4
    return f"""
WITH c AS (SELECT left(principal_dx, 3) AS dx_cat, setting, total_cost,
                  setting = 'inpatient' AND discharge_date - admit_date >= {n} AS peer
           FROM review_cases WHERE setting IN ('inpatient', 'outpatient') AND principal_dx IS NOT NULL),
a AS (SELECT dx_cat, count(*) AS n_any, count(*) FILTER (WHERE setting = 'outpatient') AS n_any_outpatient
      FROM (SELECT DISTINCT case_id, setting, left(unnest(dx_list), 3) AS dx_cat FROM review_cases
            WHERE setting IN ('inpatient', 'outpatient'))
      GROUP BY dx_cat),
pc AS (SELECT dx_cat, count(*) AS n_cases, count(*) FILTER (WHERE setting = 'outpatient') AS n_outpatient,
              count(*) FILTER (WHERE peer) AS n_peers,
              CAST(quantile_disc(total_cost, 0.5) FILTER (WHERE peer) AS DECIMAL(18,2)) AS peer_median_cost
       FROM c GROUP BY dx_cat)
SELECT coalesce(pc.dx_cat, a.dx_cat) AS dx_cat, coalesce(pc.n_cases, 0) AS n_cases,
       coalesce(pc.n_outpatient, 0) AS n_outpatient, coalesce(pc.n_peers, 0) AS n_peers, pc.peer_median_cost,
       coalesce(a.n_any, 0) AS n_any, coalesce(a.n_any_outpatient, 0) AS n_any_outpatient
FROM pc FULL JOIN a ON a.dx_cat = pc.dx_cat
UNION ALL
SELECT '*', count(*), count(*) FILTER (WHERE setting = 'outpatient'), count(*) FILTER (WHERE peer),
       CAST(quantile_disc(total_cost, 0.5) FILTER (WHERE peer) AS DECIMAL(18,2)), 0, 0
FROM c
"""


DX_EVIDENCE = pa.schema([
    ("dx", pa.string()), ("item_code", pa.string()), ("item_name", pa.string()), ("n_dx_cases", pa.int64()),
    ("n_with_item", pa.int64()), ("n_item_cases", pa.int64()), ("n_cases", pa.int64()),
    ("support", pa.decimal128(6, 4)), ("lift", pa.decimal128(12, 2)),
])

def _upcoding_params(rs) -> tuple[int, str, str]:
    """The learning thresholds of the enabled rules using the logic ``upcoding`` (one set: the region learns one
    table); none enabled: nothing is learned."""
    vals = sorted({(int(r.params["min_cases"]), str(r.params["min_support"]), str(r.params["min_lift"]))
                   for r in rs.enabled if r.logic == "upcoding"
                   and {"min_cases", "min_support", "min_lift"} <= set(r.params)})
    if len(vals) > 1:
        raise BadPolicy(f"逻辑 upcoding 的规则 min_cases/min_support/min_lift 不一致（{vals}）：全区只学一份并发症伴随项目表")
    return vals[0] if vals else (0, "", "")


def dx_evidence_sql(rs) -> str:
    """What usually accompanies each complication in the region (rule C07, co-occurrence): per diagnosis code of the
    complications (CC/MCC secondary diagnoses not excluded by the principal one; per code, not per 3-character
    category: a category mixes conditions cared for differently, K92.2 bleeding and K92.9 functional disorders) of
    the period's inpatient stays with fee lines, the item codes billed in at least ``min_support`` of its stays
    (``n_with_item / n_dx_cases``) and at least ``min_lift`` times as often as in all inpatient stays with lines
    (lift = P(item | dx) / P(item) = ``n_with_item · n_cases / (n_dx_cases · n_item_cases)``), for a category of at
    least ``min_cases`` stays. The thresholds come from the enabled ``upcoding`` rules; the comparisons are exact
    (integers against the decimal parameters); ``support`` and ``lift`` are for people reading the table."""
    n, sup, lift = _upcoding_params(rs)
    if not sup:
        return "SELECT " + ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in (
            ("dx", "VARCHAR"), ("item_code", "VARCHAR"), ("item_name", "VARCHAR"), ("n_dx_cases", "BIGINT"),
            ("n_with_item", "BIGINT"), ("n_item_cases", "BIGINT"), ("n_cases", "BIGINT"),
            ("support", "DECIMAL(6,4)"), ("lift", "DECIMAL(12,2)"))) + " WHERE FALSE"
    sup_sql, lift_sql = sql_literal(sup), sql_literal(lift)
    return f"""
WITH ip AS (SELECT case_id FROM review_cases WHERE setting = 'inpatient'),
ci AS (SELECT f.case_id, f.item_code, min(f.item_name) AS item_name FROM fee_items f SEMI JOIN ip USING (case_id)
       WHERE f.item_code IS NOT NULL GROUP BY f.case_id, f.item_code),
tot AS (SELECT count(DISTINCT case_id) AS n_cases FROM ci),
items AS (SELECT item_code, count(*) AS n_item_cases, min(item_name) AS item_name FROM ci GROUP BY item_code),
comp AS (SELECT DISTINCT case_id, dx FROM ({COMPLICATIONS_SQL.format(cases="review_cases")})
         SEMI JOIN (SELECT DISTINCT case_id FROM ci) USING (case_id)),
nd AS (SELECT dx, count(*) AS n_dx_cases FROM comp GROUP BY dx HAVING count(*) >= {n}),
co AS (SELECT comp.dx, ci.item_code, count(*) AS n_with_item
       FROM comp JOIN ci USING (case_id) WHERE comp.dx IN (SELECT dx FROM nd) GROUP BY ALL)
SELECT co.dx, co.item_code, items.item_name, nd.n_dx_cases, co.n_with_item, items.n_item_cases, tot.n_cases,
       -- rounded half up, integer arithmetic (exact on every engine)
       CAST(CAST((co.n_with_item * 20000 + nd.n_dx_cases) // (2 * nd.n_dx_cases) AS DECIMAL(18,0)) * 0.0001
            AS DECIMAL(6,4)) AS support,
       CAST(CAST((co.n_with_item * tot.n_cases * 200 + nd.n_dx_cases * items.n_item_cases)
                 // (2 * nd.n_dx_cases * items.n_item_cases) AS DECIMAL(18,0)) * 0.01 AS DECIMAL(12,2)) AS lift
FROM co JOIN nd USING (dx) JOIN items USING (item_code) CROSS JOIN tot
WHERE co.n_with_item >= {sup_sql} * nd.n_dx_cases
  AND co.n_with_item * tot.n_cases >= {lift_sql} * nd.n_dx_cases * items.n_item_cases
"""


def set_findings_sql(rs, shape: str) -> str:
    rules = [r for r in rs.enabled if r.shape == shape]
    if not rules:
        return _EMPTY
    body = "\nUNION ALL\n".join(f"SELECT * FROM ({rule_sql(r, rs)})" for r in rules)
    if shape == CASE_LINES:
        # ``rcl`` once for all rules (a semi join of the cases with every line: inlined, each rule reading it
        # paid it again)
        return (f"WITH {CAT_CTE},\n"
                "rcl AS MATERIALIZED (SELECT * FROM review_cases WHERE case_id IN (SELECT case_id FROM fee_items))\n"
                f"{body}")
    return body


def _person_broadcast(rs) -> tuple[str, ...]:
    """The person step's broadcast inputs: the fee lines too when an enabled rule asks whether a case has any
    (``PERSON_READS_LINES``: a partition of the lines cannot tell)."""
    reads = any(r.shape == PERSON and r.logic in PERSON_READS_LINES for r in rs.enabled)
    base = ("qualification_periods", "review_dx_profiles")
    return (*base, "fee_items") if reads else base


def build_pipeline(rs, name: str = "review") -> Pipeline:
    """The review pipeline of a rule set (only its enabled rules)."""
    steps = (
        Step("review_cases", "cases", REVIEW_CASES_SQL, REVIEW_CASES, ("case_id",), mode="rowwise",
             broadcast=("insured", "institutions"), doc="case facts for review rules"),
        Step("review_line_findings", "fee_items", line_findings_sql(rs), FINDINGS, ORDER, mode="rowwise",
             broadcast=("review_cases", "catalog", "qualification_periods"), doc="line rules, one pass"),
        Step("review_reference_prices", "fee_items", reference_prices_sql(rs), REFERENCE_PRICES,
             ("item_code", "version_from", "basis", "inst_level"), mode="partitioned", partition_by=("item_code",),
             broadcast=("review_cases", "catalog"), doc="reference unit prices learned per code and level"),
        Step("review_dx_evidence", "fee_items", dx_evidence_sql(rs), DX_EVIDENCE, ("dx", "item_code"),
             mode="global", broadcast=("review_cases", "cc_codes", "cc_exclusions"),
             doc="items that usually accompany each complication in the region (upcoding, co-occurrence)"),
        Step("review_case_line_findings", "fee_items", set_findings_sql(rs, CASE_LINES), FINDINGS, ORDER,
             mode="partitioned", partition_by=("case_id",),
             broadcast=("review_cases", "catalog", "review_reference_prices", "review_dx_evidence", "cc_codes",
                        "cc_exclusions"),
             doc="rules over all lines of a case"),
        Step("review_dx_profiles", "review_cases", dx_profiles_sql(rs), DX_PROFILES, ("dx_cat",), mode="global",
             doc="diagnosis categories: outpatient share and inpatient peers' cost (low-standard admission)"),
        Step("review_person_findings", "review_cases", set_findings_sql(rs, PERSON), FINDINGS, ORDER,
             mode="partitioned", partition_by=("person_id",), broadcast=_person_broadcast(rs),
             doc="rules over a person's cases"),
        Step("review_findings", "review_line_findings",
             "SELECT * FROM review_line_findings UNION ALL SELECT * FROM review_case_line_findings "
             "UNION ALL SELECT * FROM review_person_findings", FINDINGS, ORDER, mode="global",
             broadcast=("review_case_line_findings", "review_person_findings"), doc="all findings, ordered"),
    )
    return Pipeline(name, steps, doc="智能审核：全部规则（明细、病例、参保人）")


def sql_literal(v: Any) -> str:
    """A TOML parameter as a SQL literal: integers as such, decimal strings as exact DECIMAL, lists as lists."""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):  # refused earlier by name (_param_problems); kept for rules built in code
        raise BadPolicy(f"参数 {v!r} 是浮点数：金额与比例请写成字符串（如 \"0.50\"）")
    if isinstance(v, str):
        try:
            d = Decimal(v)
            if d.is_finite():
                return f"CAST('{d}' AS DECIMAL(18,4))"
        except InvalidOperation:
            pass
        return sql_str(v)
    if isinstance(v, list):
        if not v:
            return "CAST([] AS VARCHAR[])"
        if all(isinstance(x, str) for x in v):
            return "[" + ", ".join(sql_str(x) for x in v) + "]"
        if all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            return "[" + ", ".join(str(x) for x in v) + "]"
    raise BadPolicy(f"参数 {v!r} 的类型不支持（整数、金额字符串、字符串或其列表）")


_PARAM = re.compile(r"\$\{(\w+)\}")
# a keyword list matched against a column: ``regexp_matches(coalesce(COLUMN, ''), ${NAME_regex})``
_KEYWORD_MATCH = re.compile(r"regexp_matches\(coalesce\(([A-Za-z_][\w.]*), ''\), \$\{(\w+)_regex\}\)")


class Params(dict):
    """A rule's parameters as SQL literals by name (:func:`param_sql`), with its keyword lists as written
    (``keywords``: name → list of str), for :func:`render`'s keyword matches."""

    keywords: dict[str, list[str]]


def render(sql: str, params: dict[str, str], where: str) -> str:
    """``sql`` with each ``${name}`` replaced by the parameter's literal; every missing name in one error.

    A keyword match ``regexp_matches(coalesce(COLUMN, ''), ${NAME_regex})`` whose list ``NAME`` the parameters
    hold (:class:`Params`) is rendered as ``contains(coalesce(COLUMN, ''), 'k1') OR contains(…, 'k2') …`` (an
    empty list: ``FALSE``) — the same truth value (the regular expression is the alternation of the escaped
    keywords, matched anywhere), and about 30× faster: RE2 over an alternation of Chinese keywords costs
    ~150 ns per line, ``contains`` a few (docs/review.md §8)."""
    keywords = getattr(params, "keywords", {})

    def contains_any(m: re.Match) -> str:
        words = keywords.get(m.group(2))
        if words is None:
            return m.group(0)
        col = f"coalesce({m.group(1)}, '')"
        return "(" + " OR ".join(f"contains({col}, {sql_str(w)})" for w in words) + ")" if words else "FALSE"

    sql = _KEYWORD_MATCH.sub(contains_any, sql)
    missing = sorted({m.group(1) for m in _PARAM.finditer(sql)} - set(params))
    if missing:
        raise BadPolicy(f"{where}：缺少参数 {'、'.join(missing)}")
    return _PARAM.sub(lambda m: params[m.group(1)], sql)


def param_sql(rule, extra: dict[str, str] | None = None) -> Params:
    """A rule's parameters as SQL literals, by name; keyword lists also as one regular expression
    (``NAME_regex``, an RE2 alternation of the escaped keywords; an empty list matches nothing) and as written
    (``Params.keywords``)."""
    out = Params({k: sql_literal(v) for k, v in rule.params.items()})
    out.keywords = {}
    for k, v in rule.params.items():
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            out[f"{k}_regex"] = sql_str("|".join(re.escape(x) for x in v) if v else "(?!)")
            out.keywords[k] = list(v)
    out.update(extra or {})
    for k in [k for k in out.keywords if f"{k}_regex" in (extra or {})]:  # a regex given as such stays one
        del out.keywords[k]
    return out


def evidence_sql(evidence: dict) -> dict[str, str]:
    """The upcoding evidence table (``{"diagnosis": [...], "group": [...]}``) as SQL VALUES rows
    (``evidence_rows``, ``group_rows``)."""
    groups = {g["name"]: g for g in evidence.get("group", [])}
    ev = []
    for d in evidence.get("diagnosis", []):
        for g in d["evidence"]:
            ev.append(f"({sql_str(d['dx_prefix'])}, {sql_str(d.get('name', d['dx_prefix']))}, {sql_str(g)}, "
                      f"{sql_str(groups[g].get('zh', g))})")
    gr = []
    for g in groups.values():
        for kw in g.get("keywords", []):
            gr.append(f"({sql_str(g['name'])}, {sql_str(kw)}, NULL::VARCHAR)")
        for code in g.get("item_codes", []):
            gr.append(f"({sql_str(g['name'])}, NULL::VARCHAR, {sql_str(code)})")
    if not ev:
        ev = ["(NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR)"]
    if not gr:
        gr = ["(NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR)"]
    return {"evidence_rows": ", ".join(ev), "group_rows": ", ".join(gr)}
