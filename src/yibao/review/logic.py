"""Rule logic (规则逻辑): each ``logic`` name a rule file may use, defined ONCE — its set-based SQL and its
single-case form in one record.

A rule (规则) = logic + parameters + threshold + severity (两库框架). The logic is written here; everything else
(id, Chinese name, severity, amount kind, message template, basis, parameters) is data in ``rules/*.toml``.
Parameters appear in the SQL as ``${name}`` and are rendered as SQL literals (:mod:`yibao.review.rulesql`).

Each logic is one record (:class:`LineLogic` or :class:`SetLogic`) declared with a decorator on its single-case
form, the Python function the before-the-fact check (事前提醒, :mod:`yibao.review.check`) runs for one case in
well under a millisecond (the same SQL over one case takes about 100 ms: DuckDB plans a statement of two
dozen rules)::


@line_logic("price_over_cap", cond="…SQL over l…", amount="…", evidence={...}, doc="…")
    def _price_over_cap(p, ln, c, k, sp):      # → (holds, amount, evidence)
        ...

A record without its single-case form cannot be built (``one`` is required), a logic declared without one
(``line_logic(...)`` not applied to a function) stops the import of this module, and
``tests/review/test_logic_equality.py`` runs every logic on generated cases both ways (Hypothesis) and
requires the same findings.

Three shapes of logic, by what they need to see:

- :data:`LINE`: one fee line with its case facts and its catalogue version valid on the service date
  (relation ``l``, columns listed in :data:`LINE_COLUMNS`). A logic is a condition, an amount and named
  evidence expressions; all line rules of a rule set run in one pass over the lines. Single-case form:
  ``one(p, ln, c, k, sp) -> (holds, amount, evidence)`` (``p`` the rule's parameters as written in TOML,
  ``ln`` the line, ``c`` the case facts, ``k`` the catalogue version or None, ``sp`` the staff member's
  qualification interval :meth:`~yibao.review.lookup.Lookup.period` or None).
- :data:`CASE_LINES`: a case together with all its lines (``fee_items`` of the case, ``rcl`` = the
  ``review_cases`` rows of the cases whose lines are present, ``cat`` = catalogue versions); a full SELECT
  giving ``case_id``, optionally ``line_no``, ``amount`` and evidence columns. Split by case.
- :data:`PERSON`: a person's cases together (``review_cases``, ``qualification_periods``); a full SELECT
  giving ``case_id``, ``amount`` and evidence columns. Split by person.

  Single-case form of both: ``one(p, f: CaseFacts) -> [(line_no or None, amount, evidence)]`` for the case
  ``f.case``; a person logic reads the person's other cases in ``f.history`` (the before-the-fact check
  knows only the case being checked).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from yibao.contract.derived import emergency_paid_sql
from yibao.contract.vocab import MONEY_SQL
from yibao.review.lookup import FEN, CaseFacts, dec, qtext, r2

__all__ = [
    "CASE_LINES",
    "COMPLICATIONS_SQL",
    "LINE",
    "LINE_COLUMNS",
    "LINE_LOGIC",
    "PERSON",
    "SET_LOGIC",
    "LineLogic",
    "SetLogic",
    "line_logic",
    "money_round",
    "pct",
    "qty",
    "set_logic",
    "shape_of",
]


def qty(expr: str) -> str:
    """A quantity as text without trailing zeros (2.5000 → 2.5, 3.0000 → 3)."""
    return f"rtrim(rtrim(CAST({expr} AS VARCHAR), '0'), '.')"


def pct(num: str, den: str) -> str:
    """num / den as a percentage with one decimal, for messages only (exact decimal arithmetic)."""
    return f"CAST(round(CAST({num} AS DECIMAL(18,2)) * 100 / {den}, 1) AS DECIMAL(18,1))"


def money_round(expr: str) -> str:
    """Round a non-negative exact decimal to the fen, half up (四舍五入; DuckDB rounds ties away from zero)."""
    return f"CAST(round({expr}, 2) AS {MONEY_SQL})"


LineOne = Callable[[dict, dict, dict, "dict | None", "tuple | None"], "tuple[bool, Decimal, dict]"]
SetOne = Callable[[dict, CaseFacts], "list[tuple]"]


@dataclass(frozen=True, kw_only=True)
class LineLogic:
    name: str
    cond: str
    amount: str  # the amount a reject takes (line / excess), SQL over ``l``
    one: LineOne  # the single-case form: (params, line, case facts, catalogue version, qualification interval)
    evidence: dict[str, str] = field(default_factory=dict)
    doc: str = ""
    # a necessary condition that reads only the line, its catalogue version and its staff's qualification
    # interval — no case facts (speed only: lines passing no rule's filter are dropped before they are joined
    # to their cases). Absent: the condition itself, which then must read no case facts.
    line_filter: str | None = None

    def __post_init__(self) -> None:
        if not callable(self.one):
            raise TypeError(f"logic {self.name}: no single-case form (one=)")


@dataclass(frozen=True, kw_only=True)
class SetLogic:
    name: str
    shape: str  # CASE_LINES or PERSON
    sql: str
    one: SetOne  # the single-case form: (params, CaseFacts) → [(line_no, amount, evidence)]
    doc: str = ""
    line_level: bool = False  # findings name a line (``line_no`` column) rather than the whole case

    def __post_init__(self) -> None:
        if not callable(self.one):
            raise TypeError(f"logic {self.name}: no single-case form (one=)")
        if self.shape not in (CASE_LINES, PERSON):
            raise TypeError(f"logic {self.name}: shape {self.shape!r}")


LINE, CASE_LINES, PERSON = "line", "case_lines", "person"

LINE_LOGIC: dict[str, LineLogic] = {}
SET_LOGIC: dict[str, SetLogic] = {}
_PENDING: set[str] = set()  # declared, single-case form not yet given


def _declare(name: str) -> None:
    if name in LINE_LOGIC or name in SET_LOGIC or name in _PENDING:
        raise TypeError(f"logic {name} declared twice")
    _PENDING.add(name)


def line_logic(name: str, cond: str, amount: str, evidence: dict[str, str] | None = None, doc: str = "", *,
               line_filter: str | None = None) -> Callable[[LineOne], LineOne]:
    """Declare a line logic; the decorated function is its single-case form."""
    _declare(name)

    def register(one: LineOne) -> LineOne:
        LINE_LOGIC[name] = LineLogic(name=name, cond=cond, amount=amount, one=one, evidence=dict(evidence or {}),
                                     doc=doc, line_filter=line_filter)
        _PENDING.discard(name)
        return one

    return register


def set_logic(name: str, shape: str, sql: str, doc: str = "", *,
              line_level: bool = False) -> Callable[[SetOne], SetOne]:
    """Declare a case-lines or person logic; the decorated function is its single-case form."""
    _declare(name)

    def register(one: SetOne) -> SetOne:
        SET_LOGIC[name] = SetLogic(name=name, shape=shape, sql=sql, one=one, doc=doc, line_level=line_level)
        _PENDING.discard(name)
        return one

    return register


def require_single_case_forms() -> None:
    """Every declared logic has its single-case form (called at the end of this module: an import error)."""
    if _PENDING:
        raise TypeError(f"rule logic without a single-case form: {', '.join(sorted(_PENDING))}")


EXPECTED = money_round("l.quantity * l.unit_price")

# --- line logic ---

@line_logic("not_in_catalog",
        "l.cat_code IS NULL", "l.amount", {},
        "no catalogue version of the item code is valid on the service date")
def _not_in_catalog(p, ln, c, k, sp):
    return k is None, ln["amount"], {}


@line_logic("price_over_cap",
        "l.price_cap IS NOT NULL AND l.unit_price > l.price_cap",
        f"least(l.amount, {money_round('(l.unit_price - l.price_cap) * l.quantity')})",
        {"excess": f"least(l.amount, {money_round('(l.unit_price - l.price_cap) * l.quantity')})"},
        "unit price above the price cap of the version valid on the service date; takes the excess")
def _price_over_cap(p, ln, c, k, sp):
    if k is None or k["price_cap"] is None or not ln["unit_price"] > k["price_cap"]:
        return False, ln["amount"], {}
    ex = min(ln["amount"], r2((ln["unit_price"] - k["price_cap"]) * ln["quantity"]))
    return True, ex, {"excess": ex}


@line_logic("amount_over",
        f"l.amount - {EXPECTED} > ${{tolerance}}", f"l.amount - {EXPECTED}",
        {"expected": EXPECTED, "excess": f"l.amount - {EXPECTED}"},
        "amount above quantity × unit price (rounded half up to the fen) beyond the tolerance",
        # rounding moves quantity × unit price by at most half a fen: a necessary condition with no division
        line_filter="l.amount - l.quantity * l.unit_price > ${tolerance} - 0.005")
def _amount_over(p, ln, c, k, sp):
    exp = r2(ln["quantity"] * ln["unit_price"])
    diff = ln["amount"] - exp
    return diff > dec(p["tolerance"]), diff, {"expected": exp, "excess": diff}


@line_logic("amount_under",
        f"{EXPECTED} - l.amount > ${{tolerance}}", f"{EXPECTED} - l.amount",
        {"expected": EXPECTED, "excess": f"{EXPECTED} - l.amount"},
        "amount below quantity × unit price beyond the tolerance",
        line_filter="l.quantity * l.unit_price - l.amount > ${tolerance} - 0.005")
def _amount_under(p, ln, c, k, sp):
    exp = r2(ln["quantity"] * ln["unit_price"])
    diff = exp - ln["amount"]
    return diff > dec(p["tolerance"]), diff, {"expected": exp, "excess": diff}


@line_logic("over_quantity",
        "l.max_daily_qty IS NOT NULL AND l.quantity > l.max_daily_qty",
        f"least(l.amount, {money_round('(l.quantity - l.max_daily_qty) * l.unit_price')})",
        {"excess": f"least(l.amount, {money_round('(l.quantity - l.max_daily_qty) * l.unit_price')})",
         "max_daily_qty": qty("l.max_daily_qty")},
        "one line's quantity above the catalogue's max_daily_qty; takes the excess quantity × unit price")
def _over_quantity(p, ln, c, k, sp):
    if k is None or k["max_daily_qty"] is None or not ln["quantity"] > k["max_daily_qty"]:
        return False, ln["amount"], {}
    ex = min(ln["amount"], r2((ln["quantity"] - k["max_daily_qty"]) * ln["unit_price"]))
    return True, ex, {"excess": ex, "max_daily_qty": qtext(k["max_daily_qty"])}


@line_logic("sex_limit",
        "l.sex_limit IS NOT NULL AND l.sex IS NOT NULL AND l.sex <> l.sex_limit", "l.amount",
        {"limit_zh": "CASE l.sex_limit WHEN '1' THEN '男' ELSE '女' END",
         "sex_zh": "CASE l.sex WHEN '1' THEN '男' ELSE '女' END"},
        "item limited to one sex billed for the other", line_filter="l.sex_limit IS NOT NULL")
def _sex_limit(p, ln, c, k, sp):
    ok = k is not None and k["sex_limit"] is not None and c["sex"] is not None and c["sex"] != k["sex_limit"]
    return ok, ln["amount"], {"limit_zh": "男" if ok and k["sex_limit"] == "1" else "女",
                              "sex_zh": "男" if c["sex"] == "1" else "女"}


@line_logic("age_limit",
        "l.age IS NOT NULL AND ((l.min_age IS NOT NULL AND l.age < l.min_age) "
        "OR (l.max_age IS NOT NULL AND l.age > l.max_age))", "l.amount",
        {"age_range": "concat(coalesce(CAST(l.min_age AS VARCHAR), ''), '–', coalesce(CAST(l.max_age AS VARCHAR), ''))"},
        "patient's age outside the item's min_age..max_age",
        line_filter="l.min_age IS NOT NULL OR l.max_age IS NOT NULL")
def _age_limit(p, ln, c, k, sp):
    a = c["age"]
    if k is None or a is None:
        return False, ln["amount"], {}
    ok = (k["min_age"] is not None and a < k["min_age"]) or (k["max_age"] is not None and a > k["max_age"])
    rng = f"{'' if k['min_age'] is None else k['min_age']}–{'' if k['max_age'] is None else k['max_age']}"
    return ok, ln["amount"], {"age_range": rng}


@line_logic("indication_limit",
        "l.indications IS NOT NULL AND len(l.indications) > 0 AND NOT coalesce(list_bool_or(list_transform("
        "l.indications, lambda p: list_bool_or(list_transform(l.dx_list, lambda d: starts_with(d, p))))), false)",
        "l.amount",
        {"indications": "array_to_string(l.indications, '|')", "diagnoses": "array_to_string(l.dx_list, '|')"},
        "限定支付范围: none of the case's diagnoses (principal and secondary) starts with an allowed prefix",
        line_filter="l.indications IS NOT NULL AND len(l.indications) > 0")
def _indication_limit(p, ln, c, k, sp):
    ind = k["indications"] if k is not None else None
    ok = bool(ind) and not any(d.startswith(pf) for d in c["dx_list"] for pf in ind)
    return ok, ln["amount"], {"indications": "|".join(ind or []), "diagnoses": "|".join(c["dx_list"])}


@line_logic("level_limit",
        "l.min_level IS NOT NULL AND l.inst_level IS NOT NULL AND l.inst_level < l.min_level", "l.amount", {},
        "item limited to institutions of a minimum level billed at a lower level",
        line_filter="l.min_level IS NOT NULL")
def _level_limit(p, ln, c, k, sp):
    ok = (k is not None and k["min_level"] is not None and c["inst_level"] is not None
          and c["inst_level"] < k["min_level"])
    return ok, ln["amount"], {}


@line_logic("substitution",
        "l.price_cap IS NOT NULL AND l.price_cap > 0 AND list_contains(${item_kinds}, l.item_kind) "
        "AND l.unit_price <= l.price_cap * ${min_price_ratio}", "l.amount",
        {"ratio_pct": "CAST(${min_price_ratio} * 100 AS INTEGER)"},
        "price band mismatch (串换): a covered code billed far below its cap, typically at another item's price")
def _substitution(p, ln, c, k, sp):
    cap = k["price_cap"] if k is not None else None
    ok = (cap is not None and cap > 0 and ln["item_kind"] in p["item_kinds"]
          and ln["unit_price"] <= cap * dec(p["min_price_ratio"]))
    return ok, ln["amount"], {"ratio_pct": int(dec(p["min_price_ratio"]) * 100)}


@line_logic("suspended_staff",
        "l.sp_status IS NOT NULL AND NOT (l.emergency AND l.sp_emergency_paid)", "l.amount",
        {"period_start": "l.sp_start", "status_zh": "CASE l.sp_status WHEN 'terminated' THEN '终止' ELSE '暂停' END"},
        "service on a day inside a suspension/termination of the line's own staff (QUALIFICATION_PERIODS): the "
        "money effect defined once in yibao.contract.derived; emergencies exempt only where every covering period "
        "has emergency_paid (by default suspensions, not terminations)",
        line_filter="l.sp_status IS NOT NULL")
def _suspended_staff(p, ln, c, k, sp):
    ok = sp is not None and not (c["emergency"] and sp[2])
    return ok, ln["amount"], {"period_start": sp[1] if sp else None,
                              "status_zh": "终止" if sp and sp[0] == "terminated" else "暂停"}


@line_logic("dept_limit",
        "regexp_matches(coalesce(l.item_name, ''), ${item_keywords_regex}) "
        "AND len(list_filter(${dept_prefixes}, lambda p: starts_with(coalesce(l.dept_code, ''), p))) = 0",
        "l.amount", {"dept_prefixes": "array_to_string(${dept_prefixes}, '、')", "dept": "coalesce(l.dept_code, '空')"},
        "限定科室: an item of the listed kind billed by a department outside the allowed department code prefixes",
        line_filter="regexp_matches(coalesce(l.item_name, ''), ${item_keywords_regex})")
def _dept_limit(p, ln, c, k, sp):
    ok = (any(kw in (ln["item_name"] or "") for kw in p["item_keywords"])
          and not any((c.get("dept_code") or "").startswith(x) for x in p["dept_prefixes"]))
    return ok, ln["amount"], {"dept_prefixes": "、".join(p["dept_prefixes"]), "dept": c.get("dept_code") or "空"}


@line_logic("scheme_limit",
        "regexp_matches(coalesce(l.item_name, ''), ${item_keywords_regex}) AND NOT list_contains(${schemes}, l.scheme)",
        "l.amount", {"schemes": "array_to_string(${schemes}, '、')"},
        "限定险种: an item of the listed kind billed to a scheme outside the allowed ones",
        line_filter="regexp_matches(coalesce(l.item_name, ''), ${item_keywords_regex})")
def _scheme_limit(p, ln, c, k, sp):
    ok = any(kw in (ln["item_name"] or "") for kw in p["item_keywords"]) and c.get("scheme") not in p["schemes"]
    return ok, ln["amount"], {"schemes": "、".join(p["schemes"])}


# Columns of ``l`` (the line relation) usable in line logic and message templates.
LINE_COLUMNS = (
    "case_id", "line_no", "item_code", "item_name", "item_kind", "fee_category", "service_date", "quantity",
    "unit_price", "amount", "staff_id", "person_id", "institution_id", "inst_level", "inst_kind", "sex", "age",
    "setting", "emergency", "dx_list", "dept_code", "scheme", "cat_code", "cat_name", "class", "price_cap", "max_daily_qty",
    "sex_limit",
    "min_age", "max_age", "indications", "min_level", "sp_status", "sp_start", "sp_emergency_paid",
)

# --- case and person logic ---

@set_logic("duplicate_charge", CASE_LINES, f"""
        WITH multi AS (  -- only (case, item, day) groups with more than one line can hold a duplicate; the
                         -- 64-bit hash only narrows the search (a collision adds a group the window then clears)
            SELECT h FROM (SELECT hash(case_id, item_code, service_date) AS h FROM fee_items)
            GROUP BY h HAVING count(*) > 1),
        d AS (
            SELECT f.case_id, f.line_no, f.item_name, f.service_date, f.quantity, f.unit_price, f.amount,
                   k.max_daily_qty,
                   count(*) OVER w AS n_lines,
                   sum(f.quantity) OVER w AS day_qty,
                   row_number() OVER (PARTITION BY f.case_id, f.item_code, f.service_date ORDER BY f.line_no) AS rn,
                   sum(f.quantity) OVER (PARTITION BY f.case_id, f.item_code, f.service_date ORDER BY f.line_no
                                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum_qty
            FROM fee_items f SEMI JOIN multi m ON m.h = hash(f.case_id, f.item_code, f.service_date)
            JOIN cat k ON k.item_code = f.item_code
                 AND f.service_date BETWEEN k.valid_from AND k.valid_end
            WHERE k.max_daily_qty IS NOT NULL
            WINDOW w AS (PARTITION BY f.case_id, f.item_code, f.service_date))
        SELECT case_id, line_no, item_name, service_date,
               least(amount, {money_round('(cum_qty - greatest(cum_qty - quantity, max_daily_qty)) * unit_price')}) AS amount,
               least(amount, {money_round('(cum_qty - greatest(cum_qty - quantity, max_daily_qty)) * unit_price')}) AS excess,
               n_lines AS lines, {qty('day_qty')} AS day_qty, {qty('max_daily_qty')} AS max_daily_qty
        FROM d
        WHERE rn > 1 AND cum_qty > max_daily_qty
    """, "the same item on the same day of a case in several lines whose quantities add up beyond the daily "
         "limit: each line past the limit, for its quantity past the limit", line_level=True)
def _duplicate_charge(p, f):
    out, groups = [], {}
    for ln in sorted(f.lines, key=lambda x: x["line_no"]):
        k = f.look.version(ln["item_code"], ln["service_date"])
        if k is None or k["max_daily_qty"] is None:
            continue
        groups.setdefault((ln["item_code"], ln["service_date"]), []).append((ln, k["max_daily_qty"]))
    for g in groups.values():
        day_qty = sum((ln["quantity"] for ln, _ in g), Decimal(0))
        cum = Decimal(0)
        for rn, (ln, mx) in enumerate(g, 1):
            cum += ln["quantity"]
            if rn > 1 and cum > mx:
                ex = min(ln["amount"], r2((cum - max(cum - ln["quantity"], mx)) * ln["unit_price"]))
                out.append((ln["line_no"], ex, {"item_name": ln["item_name"], "service_date": ln["service_date"],
                                                "excess": ex, "lines": len(g), "day_qty": qtext(day_qty),
                                                "max_daily_qty": qtext(mx)}))
    return out


@set_logic("substitution_price_match", CASE_LINES, """
        WITH own AS (
            SELECT f.case_id, f.line_no, f.item_code, f.item_name, f.service_date, f.unit_price, f.amount, k.price_cap
            FROM fee_items f JOIN cat k ON k.item_code = f.item_code
                 AND f.service_date BETWEEN k.valid_from AND k.valid_end
            WHERE list_contains(${item_kinds}, f.item_kind) AND k.price_cap IS NOT NULL
              AND f.unit_price < k.price_cap * ${max_price_ratio}),
        alt AS (SELECT item_code, item_name, price_cap, valid_from, valid_end FROM cat
                WHERE list_contains(${item_kinds}, item_kind) AND price_cap IS NOT NULL)
        SELECT o.case_id, o.line_no, any_value(o.item_name) AS item_name, any_value(o.unit_price) AS unit_price,
               any_value(o.price_cap) AS price_cap, min(a.item_code) AS other_code,
               arg_min(a.item_name, a.item_code) AS other_name, any_value(o.amount) AS amount
        FROM own o JOIN alt a ON a.price_cap = o.unit_price AND a.item_code <> o.item_code
             AND o.service_date BETWEEN a.valid_from AND a.valid_end
        GROUP BY o.case_id, o.line_no
    """, "a line billed below its own code's cap at exactly the cap of another catalogue item of the same kind "
         "valid that day: the price says another product (串换)", line_level=True)
def _substitution_price_match(p, f):
    out, kinds, ratio = [], p["item_kinds"], dec(p["max_price_ratio"])
    for ln in f.lines:
        k = f.look.version(ln["item_code"], ln["service_date"])
        if (ln["item_kind"] not in kinds or k is None or k["price_cap"] is None
                or not ln["unit_price"] < k["price_cap"] * ratio):
            continue
        alts = sorted(code for code, rows in f.look.cat.items() if code != ln["item_code"] for r in rows
                      if r["item_kind"] in kinds and r["price_cap"] == ln["unit_price"]
                      and r["valid_from"] <= ln["service_date"] <= r["valid_end"])
        if alts:
            other = f.look.version(alts[0], ln["service_date"])
            out.append((ln["line_no"], ln["amount"], {"item_name": ln["item_name"], "unit_price": ln["unit_price"],
                                                      "price_cap": k["price_cap"], "other_code": alts[0],
                                                      "other_name": other["item_name"], "amount": ln["amount"]}))
    return out


PPM = 1_000_000  # a relative price of a capped code: parts per million of the cap valid on the service date
NO_VERSION = dt.date(1, 1, 1)  # the reference group of lines without a catalogue version
MAD_SCALE = Decimal("1.4826")  # MAD × 1.4826 estimates the standard deviation of normally spread prices


def rel_price(unit_price: Decimal, cap: Decimal | None) -> tuple[str, int]:
    """A line's price basis and relative price (the SQL ``REL_PRICE`` of :mod:`yibao.review.rulesql`): ppm of the
    cap, rounded half up, where the code has a cap that day, else the unit price in fen."""
    p = int(unit_price * 100)
    if cap is not None and cap > 0:
        c = int(cap * 100)
        return "cap", (p * 2 * PPM + c) // (2 * c)
    return "price", p


@set_logic("price_reference", CASE_LINES, """
        WITH x AS (
            SELECT f.case_id, f.line_no, f.item_code, f.item_name, f.unit_price, f.amount, k.price_cap,
                   coalesce(k.valid_from, DATE '0001-01-01') AS version_from, coalesce(c.inst_level, -2) AS lvl,
                   CASE WHEN k.price_cap > 0 THEN 'cap' ELSE 'price' END AS basis,
                   CASE WHEN k.price_cap > 0
                        THEN (CAST(f.unit_price * 100 AS BIGINT) * 2000000 + CAST(k.price_cap * 100 AS BIGINT))
                             // (2 * CAST(k.price_cap * 100 AS BIGINT))
                        ELSE CAST(f.unit_price * 100 AS BIGINT) END AS rel
            FROM fee_items f JOIN rcl c ON c.case_id = f.case_id
                 LEFT JOIN cat k ON k.item_code = f.item_code AND f.service_date BETWEEN k.valid_from AND k.valid_end
            WHERE list_contains(${item_kinds}, f.item_kind)),
        r AS (SELECT * FROM review_reference_prices
              WHERE n_lines >= ${min_lines} AND n_institutions >= ${min_institutions} AND median > 0),
        y AS (
            SELECT x.*,
                   coalesce(a.median, b.median, CASE WHEN x.basis = 'cap' THEN 1000000 END) AS med,
                   coalesce(a.mad, b.mad, 0) AS mad,
                   coalesce(a.n_lines, b.n_lines, 0) AS ref_lines,
                   CASE WHEN a.median IS NOT NULL THEN '本级机构 ' || a.n_lines || ' 条明细的中位数'
                        WHEN b.median IS NOT NULL THEN '全部机构 ' || b.n_lines || ' 条明细的中位数'
                        ELSE '目录限价' END AS ref_source
            FROM x LEFT JOIN r a ON a.item_code = x.item_code AND a.version_from = x.version_from
                        AND a.basis = x.basis AND a.inst_level = x.lvl
                   LEFT JOIN r b ON b.item_code = x.item_code AND b.version_from = x.version_from
                        AND b.basis = x.basis AND b.inst_level = -1)
        SELECT case_id, line_no, item_name, unit_price, amount, ref_source,
               CAST(CAST(CASE WHEN basis = 'cap'
                              THEN (med * CAST(price_cap * 100 AS BIGINT) * 2 + 1000000) // 2000000
                              ELSE med END AS DECIMAL(18,0)) * 0.01 AS DECIMAL(18,2)) AS ref_price,
               (rel * 200 + med) // (2 * med) AS ratio_pct
        FROM y
        WHERE med IS NOT NULL AND med > 0
          AND (rel < med * ${low_ratio} OR (basis = 'price' AND rel > med * ${high_ratio}))
          AND abs(rel - med) * 10000 > ${spread_mads} * 14826 * mad
    """, "a line whose unit price is far from its code's reference price (串换): below it, or above it where the "
         "code has no cap (above a cap is price_over_cap's excess); the "
         "reference learned from the period's lines of the code at the institution's level (else at all levels; "
         "review_reference_prices: median and MAD, enough lines and institutions), else the catalogue cap",
         line_level=True)
def _price_reference(p, f):
    out, c = [], f.case
    lvl = c["inst_level"] if c["inst_level"] is not None else -2
    lo, hi, k_mad = dec(p["low_ratio"]), dec(p["high_ratio"]), dec(p["spread_mads"])
    need_l, need_i = int(p["min_lines"]), int(p["min_institutions"])

    def ref(code: str, version: dt.date, basis: str, level: int):
        r = f.look.ref.get((code, version, basis, level))
        if r is not None and r["n_lines"] >= need_l and r["n_institutions"] >= need_i and r["median"] > 0:
            return r
        return None

    for ln in f.lines:
        if ln["item_kind"] not in p["item_kinds"]:
            continue
        k = f.look.version(ln["item_code"], ln["service_date"])
        cap = k["price_cap"] if k is not None else None
        basis, rel = rel_price(ln["unit_price"], cap)
        version = k["valid_from"] if k is not None else NO_VERSION
        a, b = ref(ln["item_code"], version, basis, lvl), ref(ln["item_code"], version, basis, -1)
        if a is not None:
            med, mad, src = a["median"], a["mad"], f"本级机构 {a['n_lines']} 条明细的中位数"
        elif b is not None:
            med, mad, src = b["median"], b["mad"], f"全部机构 {b['n_lines']} 条明细的中位数"
        elif basis == "cap":
            med, mad, src = PPM, 0, "目录限价"
        else:
            continue
        if not (rel < med * lo or (basis == "price" and rel > med * hi)) or not abs(rel - med) * 10000 > k_mad * 14826 * mad:
            continue
        ref_fen = (med * int(cap * 100) * 2 + PPM) // (2 * PPM) if basis == "cap" else med
        out.append((ln["line_no"], ln["amount"], {
            "item_name": ln["item_name"], "unit_price": ln["unit_price"], "amount": ln["amount"],
            "ref_source": src, "ref_price": (Decimal(ref_fen) / 100).quantize(FEN),
            "ratio_pct": (rel * 200 + med) // (2 * med)}))
    return out


@set_logic("uncovered_to_fund", CASE_LINES, """
        WITH n AS (
            SELECT f.case_id, count(*) AS lines, sum(f.amount) AS noncovered,
                   string_agg(DISTINCT coalesce(f.item_name, f.item_code), '、'
                              ORDER BY coalesce(f.item_name, f.item_code)) AS items
            FROM fee_items f LEFT JOIN cat k ON k.item_code = f.item_code
                 AND f.service_date BETWEEN k.valid_from AND k.valid_end
            WHERE k.item_code IS NULL OR k.class = 'C'
            GROUP BY f.case_id)
        SELECT n.case_id, n.lines, n.noncovered, n.items, c.out_of_pocket_excluded AS excluded,
               n.noncovered - c.out_of_pocket_excluded AS excess,
               n.noncovered - c.out_of_pocket_excluded AS amount
        FROM n JOIN rcl c USING (case_id)
        WHERE n.noncovered - c.out_of_pocket_excluded > 0.01
    """, "丙类 and out-of-catalogue lines of a case add up to more than the case's 个人自费: the rest was booked "
         "to the fund")
def _uncovered_to_fund(p, f):
    c = f.case
    nc = [ln for ln in f.lines
          if (k := f.look.version(ln["item_code"], ln["service_date"])) is None or k["class"] == "C"]
    if not nc:
        return []
    total = sum((ln["amount"] for ln in nc), Decimal("0.00"))
    ex = total - c["out_of_pocket_excluded"]
    if not ex > FEN:
        return []
    names = sorted({ln["item_name"] or ln["item_code"] for ln in nc})
    return [(None, ex, {"lines": len(nc), "noncovered": total, "items": "、".join(names),
                        "excluded": c["out_of_pocket_excluded"], "excess": ex})]


@set_logic("phantom_stay", CASE_LINES, """
        WITH c AS (
            SELECT case_id, admit_date, discharge_date, fund_paid,
                   CAST(discharge_date - admit_date AS INTEGER) AS los
            FROM rcl WHERE setting = 'inpatient' AND discharge_date > admit_date),
        days AS (
            SELECT c.case_id, c.los, c.fund_paid, CAST(unnest(range(c.admit_date, c.discharge_date, INTERVAL 1 DAY)) AS DATE) AS d
            FROM c),
        covered AS (
            SELECT DISTINCT f.case_id, f.service_date AS d FROM fee_items f
            WHERE list_contains(${day_categories}, f.fee_category) OR list_contains(${day_item_kinds}, f.item_kind)),
        empty AS (
            SELECT days.case_id, any_value(days.los) AS los, any_value(days.fund_paid) AS fund_paid,
                   count(*) AS empty_days, min(days.d) AS first_empty
            FROM days ANTI JOIN covered USING (case_id, d)
            GROUP BY days.case_id)
        SELECT case_id, los, empty_days, first_empty, fund_paid AS amount FROM empty
        WHERE empty_days >= ${min_empty_days}
    """, "days of an inpatient stay (admission day up to the day before discharge) without any bed, nursing "
         "or drug line")
def _phantom_stay(p, f):
    c = f.case
    if c["setting"] != "inpatient" or c["discharge_date"] <= c["admit_date"]:
        return []
    cats, kinds = set(p["day_categories"]), set(p["day_item_kinds"])
    covered = {ln["service_date"] for ln in f.lines if ln["fee_category"] in cats or ln["item_kind"] in kinds}
    los = (c["discharge_date"] - c["admit_date"]).days
    empty = [c["admit_date"] + dt.timedelta(days=i) for i in range(los)
             if c["admit_date"] + dt.timedelta(days=i) not in covered]
    if empty and len(empty) >= int(p["min_empty_days"]):
        return [(None, c["fund_paid"], {"los": los, "empty_days": len(empty), "first_empty": empty[0]})]
    return []


# the complications of an inpatient stay (rule C07): its secondary diagnoses that are a CC or MCC of the CHS-DRG
# tables (``cc_codes``) not excluded by the principal diagnosis's exclusion table (``cc_exclusions``)
COMPLICATIONS_SQL = """
    SELECT DISTINCT s.case_id, s.dx, k.level, k.name
    FROM (SELECT case_id, principal_dx, unnest(dx_list[2:]) AS dx FROM {cases} WHERE setting = 'inpatient') s
         JOIN cc_codes k ON k.code = s.dx
         LEFT JOIN cc_exclusions x ON x.principal_dx = s.principal_dx
    WHERE x.exclusion_table IS NULL OR x.exclusion_table <> k.exclusion_table"""


@set_logic("upcoding", CASE_LINES, """
        WITH req AS (SELECT * FROM (VALUES ${evidence_rows}) AS t(dx_prefix, dx_name, grp, grp_zh)),
        grp AS (SELECT * FROM (VALUES ${group_rows}) AS t(grp, keyword, code)),
        dx AS (
            SELECT case_id, fund_paid, unnest(dx_list) AS dx FROM rcl WHERE setting = 'inpatient'),
        need AS (
            SELECT DISTINCT dx.case_id, dx.fund_paid, dx.dx, req.dx_prefix, req.dx_name, req.grp, req.grp_zh
            FROM dx JOIN req ON starts_with(dx.dx, req.dx_prefix)),
        nl AS (
            SELECT f.case_id, f.item_name, f.item_code FROM fee_items f
            SEMI JOIN (SELECT DISTINCT case_id FROM need) nc ON nc.case_id = f.case_id),
        have AS (
            SELECT DISTINCT nl.case_id, grp.grp FROM nl CROSS JOIN grp
            WHERE (grp.keyword IS NOT NULL AND contains(nl.item_name, grp.keyword))
               OR (grp.code IS NOT NULL AND nl.item_code = grp.code)),
        unsupported AS (
            SELECT need.case_id, need.dx, any_value(need.dx_name) AS dx_name, any_value(need.fund_paid) AS fund_paid,
                   string_agg(DISTINCT need.grp_zh, '或' ORDER BY need.grp_zh) AS evidence,
                   count(have.grp) AS supported
            FROM need LEFT JOIN have ON have.case_id = need.case_id AND have.grp = need.grp
            GROUP BY need.case_id, need.dx),
        listed AS (
            SELECT case_id, dx, dx_name, '需有' || evidence || '费用支持' AS evidence, fund_paid
            FROM unsupported WHERE supported = 0),
        comp AS (
            SELECT c.case_id, c.dx, c.level, c.name, r.fund_paid
            FROM (COMPLICATIONS) c JOIN rcl r ON r.case_id = c.case_id
            WHERE NOT EXISTS (SELECT 1 FROM req WHERE starts_with(c.dx, req.dx_prefix))),
        ev AS (
            SELECT dx, item_code, n_dx_cases,
                   coalesce(item_name, item_code) || '（'
                   || CAST(CAST(CAST((n_with_item * 2000 + n_dx_cases) // (2 * n_dx_cases) AS DECIMAL(18,0)) * 0.1
                                AS DECIMAL(18,1)) AS VARCHAR) || '%）' AS item_zh,
                   row_number() OVER (PARTITION BY dx ORDER BY n_with_item DESC, item_code) AS rk
            FROM review_dx_evidence),
        evtext AS (
            SELECT dx, any_value(n_dx_cases) AS n_dx_cases,
                   string_agg(item_zh, '、' ORDER BY rk) FILTER (WHERE rk <= ${max_items_named}) AS items
            FROM ev GROUP BY dx),
        lhave AS (
            SELECT DISTINCT f.case_id, f.item_code FROM fee_items f SEMI JOIN comp ON comp.case_id = f.case_id),
        lunsup AS (
            SELECT comp.case_id, comp.dx FROM comp JOIN ev ON ev.dx = comp.dx
                 LEFT JOIN lhave ON lhave.case_id = comp.case_id AND lhave.item_code = ev.item_code
            GROUP BY comp.case_id, comp.dx HAVING count(lhave.item_code) = 0),
        learned AS (
            SELECT u.case_id, u.dx,
                   coalesce(c.name || '，', '')
                   || CASE c.level WHEN 'mcc' THEN '严重并发症或合并症 MCC' ELSE '并发症或合并症 CC' END AS dx_name,
                   '在本区 ' || t.n_dx_cases || ' 例编码该诊断的住院病例中通常伴有 ' || t.items AS evidence,
                   c.fund_paid
            FROM lunsup u JOIN comp c ON c.case_id = u.case_id AND c.dx = u.dx JOIN evtext t ON t.dx = c.dx),
        found AS (SELECT * FROM listed UNION ALL SELECT * FROM learned)
        SELECT case_id, min(dx) AS dx, arg_min(dx_name, dx) AS dx_name, arg_min(evidence, dx) AS evidence,
               any_value(fund_paid) AS amount
        FROM found GROUP BY case_id
    """.replace("COMPLICATIONS", COMPLICATIONS_SQL.format(cases="rcl")),
    "an inpatient stay coded with a complication none of whose supporting items it has: a diagnosis of the "
    "evidence table (any diagnosis of the case) without a line of its evidence groups; else a secondary CC/MCC of "
    "the CHS-DRG tables (cc_codes, not excluded by the principal diagnosis: cc_exclusions) without any of the items "
    "that usually accompany it in the region (review_dx_evidence: support and lift)")
def _upcoding(p, f):
    c = f.case
    if c["setting"] != "inpatient":
        return []
    groups = {g["name"]: g for g in f.evidence.get("group", [])}
    listed = f.evidence.get("diagnosis", [])

    def has(g: str) -> bool:
        grp = groups[g]
        return any(any(kw in (ln["item_name"] or "") for kw in grp.get("keywords", []))
                   or ln["item_code"] in grp.get("item_codes", []) for ln in f.lines)

    bad = []
    for dx in set(c["dx_list"]):
        need = [(d, g) for d in listed if dx.startswith(d["dx_prefix"]) for g in d["evidence"]]
        if need and not any(has(g) for _, g in need):
            zh = sorted({groups[g].get("zh", g) for _, g in need})
            bad.append((dx, need[0][0].get("name", need[0][0]["dx_prefix"]), f"需有{'或'.join(zh)}费用支持"))
    codes = {ln["item_code"] for ln in f.lines}
    for dx, level, name in complications(c, f.look):
        if any(dx.startswith(d["dx_prefix"]) for d in listed):
            continue
        ev = f.look.dx_evidence.get(dx)
        if not ev or any(r["item_code"] in codes for r in ev):
            continue
        items = "、".join(f"{r['item_name'] if r['item_name'] is not None else r['item_code']}（"
                         f"{share_pct(r['n_with_item'], r['n_dx_cases'])}%）" for r in ev[:int(p["max_items_named"])])
        zh = "严重并发症或合并症 MCC" if level == "mcc" else "并发症或合并症 CC"
        bad.append((dx, f"{name}，{zh}" if name is not None else zh,
                    f"在本区 {ev[0]['n_dx_cases']} 例编码该诊断的住院病例中通常伴有 {items}"))
    if not bad:
        return []
    dx, name, evid = min(bad)
    return [(None, c["fund_paid"], {"dx": dx, "dx_name": name, "evidence": evid})]


def share_pct(n: int, d: int) -> Decimal:
    """n / d as a percentage with one decimal, rounded half up in integers (the SQL's
    ``(n * 2000 + d) // (2 * d)`` tenths)."""
    return (Decimal((n * 2000 + d) // (2 * d)) / 10).quantize(Decimal("0.1"))


def complications(c: dict, look) -> list[tuple[str, str, str | None]]:
    """The complications of a stay (the SQL ``COMPLICATIONS_SQL``): its distinct secondary diagnoses that are a CC or
    MCC of the CHS-DRG tables, not excluded by the principal diagnosis's exclusion table — (code, level, name)."""
    if c["setting"] != "inpatient":
        return []
    excl = look.cc_exclusions.get(c["principal_dx"])
    out = []
    for dx in sorted({d for d in c["dx_list"][1:] if d is not None}):
        k = look.cc_codes.get(dx)
        if k is not None and (excl is None or excl != k["exclusion_table"]):
            out.append((dx, k["level"], k["name"]))
    return out


@set_logic("course_length", CASE_LINES, """
        WITH m AS (
            SELECT f.case_id, f.line_no, f.item_code, f.item_name, f.service_date, f.amount FROM fee_items f
            WHERE (len(${fee_categories}) = 0 OR list_contains(${fee_categories}, f.fee_category))
              AND (len(${name_keywords}) = 0 OR regexp_matches(coalesce(f.item_name, ''), ${name_keywords_regex}))),
        d AS (SELECT *, dense_rank() OVER (PARTITION BY case_id, item_code ORDER BY service_date) AS day_n FROM m),
        e AS (SELECT *, max(day_n) OVER (PARTITION BY case_id, item_code) AS days FROM d)
        SELECT case_id, line_no, item_name, service_date, days, day_n, ${max_days} AS max_days, amount FROM e
        WHERE day_n > ${max_days}
    """, "an item of a limited course (e.g. TCM injections: at most 14 days per stay) billed on more distinct days "
         "than allowed: the lines of the days past the limit", line_level=True)
def _course_length(p, f):
    out, cats, kws, mx = [], p["fee_categories"], p["name_keywords"], int(p["max_days"])
    m = [ln for ln in f.lines if (not cats or ln["fee_category"] in cats)
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


@set_logic("same_day_category", CASE_LINES, """
        WITH m AS (
            SELECT f.case_id, f.line_no, f.item_code, f.item_name, f.service_date, f.unit_price, f.amount,
                   list_filter(${name_keywords}, lambda k: contains(coalesce(f.item_name, ''), k))[1] AS grp
            FROM fee_items f
            WHERE list_contains(${fee_categories}, f.fee_category)
              AND regexp_matches(coalesce(f.item_name, ''), ${name_keywords_regex})),
        multi AS (SELECT case_id, service_date, grp FROM m GROUP BY ALL HAVING min(item_code) <> max(item_code)),
        g AS (SELECT m.*, first_value(item_name) OVER w AS kept, row_number() OVER w AS rk
              FROM m SEMI JOIN multi USING (case_id, service_date, grp)
              WINDOW w AS (PARTITION BY case_id, service_date, grp ORDER BY unit_price DESC, line_no))
        SELECT case_id, line_no, item_name, service_date, kept, amount FROM g WHERE rk > 1
    """, "two different items of a once-a-day kind (a bed day, a nursing level: items of the fee categories whose "
         "names contain the same keyword) on the same day of a case: every line but the dearest", line_level=True)
def _same_day_category(p, f):
    out, by = [], {}
    for ln in f.lines:
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


@set_logic("repeated_surcharge", CASE_LINES, """
        WITH m AS (
            SELECT f.case_id, f.line_no, f.item_code, f.item_name, f.service_date, f.amount,
                   row_number() OVER (PARTITION BY f.case_id, f.item_code, f.service_date ORDER BY f.line_no) AS rn,
                   count(*) OVER (PARTITION BY f.case_id, f.item_code, f.service_date) AS n
            FROM fee_items f WHERE regexp_matches(coalesce(f.item_name, ''), ${name_keywords_regex}))
        SELECT case_id, line_no, item_name, service_date, n AS lines, ${max_per_day} AS max_per_day, amount
        FROM m WHERE rn > ${max_per_day}
    """, "a surcharge item (加收) billed more often on one day of a case than allowed: the lines past the limit",
         line_level=True)
def _repeated_surcharge(p, f):
    out, by = [], {}
    for ln in sorted(f.lines, key=lambda x: x["line_no"]):
        if any(k in (ln["item_name"] or "") for k in p["name_keywords"]):
            by.setdefault((ln["item_code"], ln["service_date"]), []).append(ln)
    mx = int(p["max_per_day"])
    for grp in by.values():
        for ln in grp[mx:]:
            out.append((ln["line_no"], ln["amount"], {"item_name": ln["item_name"], "service_date": ln["service_date"],
                                                      "lines": len(grp), "max_per_day": mx, "amount": ln["amount"]}))
    return out


@set_logic("unbundled", CASE_LINES, """
        WITH p AS (
            SELECT case_id, service_date, min(item_name) AS parent FROM fee_items
            WHERE regexp_matches(coalesce(item_name, ''), ${parent_keywords_regex}) GROUP BY case_id, service_date)
        SELECT f.case_id, f.line_no, f.item_name, f.service_date, p.parent, f.amount
        FROM fee_items f JOIN p ON p.case_id = f.case_id AND p.service_date = f.service_date
        WHERE regexp_matches(coalesce(f.item_name, ''), ${child_keywords_regex})
    """, "an item included in the price of another (分解收费) billed separately on the same day as it",
         line_level=True)
def _unbundled(p, f):
    out, parents = [], {}
    for ln in f.lines:
        if any(k in (ln["item_name"] or "") for k in p["parent_keywords"]):
            d = ln["service_date"]
            parents[d] = min(parents.get(d, ln["item_name"]), ln["item_name"])
    for ln in f.lines:
        if ln["service_date"] in parents and any(k in (ln["item_name"] or "") for k in p["child_keywords"]):
            out.append((ln["line_no"], ln["amount"], {"item_name": ln["item_name"], "service_date": ln["service_date"],
                                                      "parent": parents[ln["service_date"]], "amount": ln["amount"]}))
    return out


@set_logic("missing_companion", CASE_LINES, """
        WITH t AS (
            SELECT case_id, count(*) AS lines, sum(amount) AS amount, min(item_name) AS item FROM fee_items
            WHERE regexp_matches(coalesce(item_name, ''), ${trigger_keywords_regex}) GROUP BY case_id),
        r AS (
            SELECT DISTINCT f.case_id FROM fee_items f SEMI JOIN t ON t.case_id = f.case_id
            WHERE regexp_matches(coalesce(f.item_name, ''), ${required_keywords_regex}))
        SELECT t.case_id, t.item, t.lines, t.amount, array_to_string(${required_keywords}, '、') AS required
        FROM t ANTI JOIN r ON r.case_id = t.case_id
    """, "a case billing an item that needs a companion item (e.g. transfusion needs cross-matching) without any "
         "line of the companion")
def _missing_companion(p, f):
    trig = [ln for ln in f.lines if any(k in (ln["item_name"] or "") for k in p["trigger_keywords"])]
    if not trig or any(any(k in (ln["item_name"] or "") for k in p["required_keywords"]) for ln in f.lines):
        return []
    amt = sum((ln["amount"] for ln in trig), Decimal("0.00"))
    return [(None, amt, {"item": min(ln["item_name"] for ln in trig), "lines": len(trig), "amount": amt,
                         "required": "、".join(p["required_keywords"])})]


@set_logic("item_requires_procedure", CASE_LINES, """
        WITH t AS (
            SELECT case_id, count(*) AS lines, sum(amount) AS amount, min(item_name) AS item FROM fee_items
            WHERE regexp_matches(coalesce(item_name, ''), ${trigger_keywords_regex}) GROUP BY case_id)
        SELECT t.case_id, t.item, t.lines, t.amount FROM t JOIN rcl c ON c.case_id = t.case_id
        WHERE c.procedures IS NULL OR len(c.procedures) = 0
    """, "a case billing an item that presupposes an operation (anaesthesia) with no procedure coded")
def _item_requires_procedure(p, f):
    trig = [ln for ln in f.lines if any(k in (ln["item_name"] or "") for k in p["trigger_keywords"])]
    if not trig or f.case.get("procedures"):
        return []
    amt = sum((ln["amount"] for ln in trig), Decimal("0.00"))
    return [(None, amt, {"item": min(ln["item_name"] for ln in trig), "lines": len(trig), "amount": amt})]


@set_logic("after_death", PERSON, """
        SELECT case_id, person_id, death_date, admit_date, fund_paid, fund_paid AS amount
        FROM review_cases WHERE death_date IS NOT NULL AND admit_date > death_date
    """, "a case admitted (or visited) after the insured person's death date")
def _after_death(p, f):
    c = f.case
    if c["death_date"] is not None and c["admit_date"] > c["death_date"]:
        return [(None, c["fund_paid"], {k: c[k] for k in ("person_id", "death_date", "admit_date", "fund_paid")})]
    return []


@set_logic("overlapping_stay", PERSON, """
        WITH s AS (SELECT case_id, person_id, institution_id, admit_date, discharge_date, fund_paid
                   FROM review_cases WHERE setting = 'inpatient')
        SELECT b.case_id, any_value(b.person_id) AS person_id, any_value(b.admit_date) AS admit_date,
               arg_min(a.case_id, a.admit_date) AS other_case, arg_min(a.institution_id, a.admit_date) AS other_institution,
               min(a.admit_date) AS other_admit, arg_min(a.discharge_date, a.admit_date) AS other_discharge,
               any_value(b.fund_paid) AS amount
        FROM s b JOIN s a ON a.person_id = b.person_id AND a.case_id <> b.case_id
             AND b.admit_date < a.discharge_date
             AND (a.admit_date < b.admit_date OR (a.admit_date = b.admit_date AND a.case_id < b.case_id))
        GROUP BY b.case_id
    """, "an inpatient stay admitted while the same person was already in another stay (the later admission "
         "is flagged; a same-day pair flags the later case id)")
def _overlapping_stay(p, f):
    c = f.case
    if c["setting"] != "inpatient":
        return []
    before = [a for a in f.history if a["setting"] == "inpatient" and a["case_id"] != c["case_id"]
              and a["discharge_date"] is not None and c["admit_date"] < a["discharge_date"]
              and (a["admit_date"], a["case_id"]) < (c["admit_date"], c["case_id"])]
    if not before:
        return []
    a = min(before, key=lambda x: (x["admit_date"], x["case_id"]))
    return [(None, c["fund_paid"], {"person_id": c["person_id"], "admit_date": c["admit_date"],
                                    "other_case": a["case_id"], "other_institution": a["institution_id"],
                                    "other_admit": a["admit_date"], "other_discharge": a["discharge_date"]})]


@set_logic("split_admission", PERSON, """
        WITH s AS (SELECT case_id, person_id, institution_id, admit_date, discharge_date, principal_dx,
                          discharge_mode, fund_paid, left(principal_dx, ${dx_prefix_len}) AS dx_cat
                   FROM review_cases WHERE setting = 'inpatient'
                   AND NOT len(list_filter(${exempt_dx_prefixes}, lambda p: starts_with(principal_dx, p))) > 0)
        SELECT b.case_id, any_value(b.principal_dx) AS principal_dx,
               arg_max(a.case_id, a.discharge_date) AS prev_case, max(a.discharge_date) AS discharge_prev,
               arg_max(a.principal_dx, a.discharge_date) AS prev_dx,
               CAST(any_value(b.admit_date) - max(a.discharge_date) AS INTEGER) AS gap,
               any_value(b.fund_paid) AS amount
        FROM s b JOIN s a ON a.person_id = b.person_id AND a.institution_id = b.institution_id
             AND a.case_id <> b.case_id AND a.dx_cat = b.dx_cat
             AND b.admit_date >= a.discharge_date AND b.admit_date - a.discharge_date <= ${max_gap_days}
             AND coalesce(a.discharge_mode, '') <> '5'
        GROUP BY b.case_id
    """, "readmission at the same institution for the same diagnosis category (first characters of the "
         "principal diagnosis) within N days of the previous discharge")
def _split_admission(p, f):
    n, exempt = int(p["dx_prefix_len"]), p["exempt_dx_prefixes"]

    def stay(x: dict) -> bool:
        return x["setting"] == "inpatient" and not any(x["principal_dx"].startswith(e) for e in exempt)

    c = f.case
    if not stay(c):
        return []
    prev = [a for a in f.history if stay(a) and a["institution_id"] == c["institution_id"]
            and a["case_id"] != c["case_id"] and a["principal_dx"][:n] == c["principal_dx"][:n]
            and c["admit_date"] >= a["discharge_date"] and (c["admit_date"] - a["discharge_date"]).days <= int(p["max_gap_days"])
            and (a["discharge_mode"] or "") != "5"]
    if not prev:
        return []
    a = max(prev, key=lambda x: (x["discharge_date"], x["case_id"]))
    return [(None, c["fund_paid"], {"principal_dx": c["principal_dx"], "prev_case": a["case_id"],
                                    "discharge_prev": a["discharge_date"], "prev_dx": a["principal_dx"],
                                    "gap": (c["admit_date"] - a["discharge_date"]).days})]


@set_logic("low_standard_admission", PERSON, """
        SELECT case_id, principal_dx, CAST(discharge_date - admit_date AS INTEGER) AS los, total_cost,
               fund_paid AS amount
        FROM review_cases
        WHERE setting = 'inpatient' AND NOT emergency
          AND discharge_date - admit_date <= ${max_los_days} AND total_cost <= ${max_total_cost}
          AND len(list_filter(${minor_dx_prefixes}, lambda p: starts_with(principal_dx, p))) > 0
    """, "an inpatient stay for a listed minor condition, short and cheap, not an emergency")
def _low_standard_admission(p, f):
    c = f.case
    los = (c["discharge_date"] - c["admit_date"]).days
    if (c["setting"] == "inpatient" and not c["emergency"] and los <= int(p["max_los_days"])
            and c["total_cost"] <= dec(p["max_total_cost"])
            and any(c["principal_dx"].startswith(x) for x in p["minor_dx_prefixes"])):
        return [(None, c["fund_paid"], {"principal_dx": c["principal_dx"], "los": los, "total_cost": c["total_cost"]})]
    return []


@set_logic("low_standard_learned", PERSON, """
        WITH p AS (SELECT *, n_outpatient + n_peers AS n_base FROM review_dx_profiles),
        region AS (SELECT peer_median_cost FROM p WHERE dx_cat = '*'),
        s AS (
            SELECT c.case_id, c.principal_dx, CAST(c.discharge_date - c.admit_date AS INTEGER) AS los, c.total_cost,
                   c.fund_paid, p.n_outpatient, p.n_base,
                   p.n_base >= ${min_category_cases} AS learned,
                   CASE WHEN p.n_peers >= ${min_peers} THEN p.peer_median_cost ELSE region.peer_median_cost END
                       AS peer_cost,
                   CASE WHEN p.n_peers >= ${min_peers} THEN '同类诊断住院病例' ELSE '全区住院病例' END AS peer_zh,
                   CASE WHEN p.n_peers >= ${min_peers} THEN ${max_cost_ratio} ELSE ${max_cost_ratio_region} END
                       AS cost_ratio
            FROM review_cases c JOIN p ON p.dx_cat = left(c.principal_dx, 3) CROSS JOIN region
            WHERE c.setting = 'inpatient' AND NOT c.emergency
              AND c.discharge_date - c.admit_date <= ${max_los_days}
              AND len(coalesce(c.procedures, CAST([] AS VARCHAR[]))) = 0
              AND (c.discharge_mode IS NULL OR list_contains(${home_discharge_modes}, c.discharge_mode))
              AND NOT EXISTS (SELECT 1 FROM review_dx_profiles q
                              WHERE q.dx_cat <> '*'
                                AND list_contains(list_transform(c.dx_list[2:], lambda d: left(d, 3)), q.dx_cat)
                                AND q.n_any >= ${min_category_cases}
                                AND q.n_any_outpatient < q.n_any * ${serious_max_outpatient_share})
              AND (p.n_base >= ${min_category_cases} AND p.n_outpatient >= p.n_base * ${min_outpatient_share}
                   OR p.n_base < ${min_category_cases} AND p.n_peers = 0
                      AND len(list_filter(${symptom_prefixes}, lambda x: starts_with(c.principal_dx, x))) > 0))
        SELECT case_id, principal_dx, los, total_cost, peer_zh, peer_cost,
               CAST(cost_ratio * 100 AS INTEGER) AS ratio_pct,
               CASE WHEN learned
                    THEN concat('所属类别在本区门诊与 ', ${peer_min_los_days}, ' 天以上住院的就诊中 ',
                                CAST(CAST(CAST((n_outpatient * 2000 + n_base) // (2 * greatest(n_base, 1)) AS DECIMAL(18,0))
                                          * 0.1 AS DECIMAL(18,1)) AS VARCHAR), '% 为门诊')
                    ELSE concat('为症状体征，所属类别在本区门诊 ', n_outpatient, ' 例、无 ', ${peer_min_los_days},
                                ' 天以上住院（病例过少，按门诊诊疗）') END AS dx_basis,
               fund_paid AS amount
        FROM s WHERE peer_cost IS NOT NULL AND total_cost <= peer_cost * cost_ratio
    """, "an inpatient stay for a diagnosis category the region treats as outpatient care (share of the category's "
         "visits that are outpatient among its outpatient visits and its inpatient peers — the short stays the rule "
         "looks at are left out, so that many of them cannot make themselves look normal —, learned: "
         "review_dx_profiles), short, cheap against the category's inpatient peers (else the region's), no "
         "procedure, no serious secondary diagnosis (one whose category the region treats mostly as inpatient "
         "care), discharged home, not an emergency")
def _low_standard_learned(p, f):
    c = f.case
    if c["setting"] != "inpatient" or c["emergency"] or c["principal_dx"] is None:
        return []
    los = (c["discharge_date"] - c["admit_date"]).days
    prof, region = f.look.dx_profile.get(c["principal_dx"][:3]), f.look.dx_profile.get("*")
    if (prof is None or region is None or los > int(p["max_los_days"]) or c["procedures"]
            or (c["discharge_mode"] is not None and c["discharge_mode"] not in p["home_discharge_modes"])
            or any((q := f.look.dx_profile.get(d[:3])) is not None and d[:3] != "*"
                   and q["n_any"] >= int(p["min_category_cases"])
                   and q["n_any_outpatient"] < q["n_any"] * dec(p["serious_max_outpatient_share"])
                   for d in c["dx_list"][1:])):
        return []
    base = prof["n_outpatient"] + prof["n_peers"]  # outpatient visits and inpatient peers: no short stay
    enough = base >= int(p["min_category_cases"])
    if not ((enough and prof["n_outpatient"] >= base * dec(p["min_outpatient_share"]))
            or (not enough and prof["n_peers"] == 0
                and any(c["principal_dx"].startswith(x) for x in p["symptom_prefixes"]))):
        return []
    own = prof["n_peers"] >= int(p["min_peers"])
    peer = prof["peer_median_cost"] if own else region["peer_median_cost"]
    ratio = dec(p["max_cost_ratio"] if own else p["max_cost_ratio_region"])
    if peer is None or not c["total_cost"] <= peer * ratio:
        return []
    days = int(p["peer_min_los_days"])
    if enough:
        pct = (Decimal((prof["n_outpatient"] * 2000 + base) // (2 * max(base, 1))) / 10).quantize(Decimal("0.1"))
        basis = f"所属类别在本区门诊与 {days} 天以上住院的就诊中 {pct}% 为门诊"
    else:
        basis = f"为症状体征，所属类别在本区门诊 {prof['n_outpatient']} 例、无 {days} 天以上住院（病例过少，按门诊诊疗）"
    return [(None, c["fund_paid"], {"principal_dx": c["principal_dx"], "los": los, "total_cost": c["total_cost"],
                                    "peer_zh": "同类诊断住院病例" if own else "全区住院病例", "peer_cost": peer,
                                    "ratio_pct": int(ratio * 100), "dx_basis": basis})]


@set_logic("suspended_attending", PERSON, f"""
        SELECT c.case_id, c.attending_staff_id AS staff_id, c.admit_date, min(q.start_date) AS period_start,
               CASE max(q.status) WHEN 'terminated' THEN '终止' ELSE '暂停' END AS status_zh,
               any_value(c.fund_paid) AS amount
        FROM review_cases c JOIN qualification_periods q ON q.staff_id = c.attending_staff_id
             AND c.admit_date >= q.start_date AND (q.end_date IS NULL OR c.admit_date < q.end_date)
        GROUP BY c.case_id, c.attending_staff_id, c.admit_date
        HAVING NOT (any_value(c.emergency) AND bool_and({emergency_paid_sql('q')}))
    """, "the attending physician had no payment qualification on the admission (visit) day (emergencies exempt as "
         "for L11): a flag for the reviewer; the money effect is the person's own lines (L11)")
def _suspended_attending(p, f):
    c = f.case
    sp = f.look.period(c["attending_staff_id"], c["admit_date"])
    if sp and not (c["emergency"] and sp[2]):
        return [(None, c["fund_paid"], {"staff_id": c["attending_staff_id"], "admit_date": c["admit_date"],
                                        "period_start": sp[1], "status_zh": "终止" if sp[0] == "terminated" else "暂停"})]
    return []


@set_logic("outside_agreement", PERSON, """
        SELECT case_id, institution_id, coalesce(discharge_date, admit_date) AS service_date, agreement_start,
               coalesce(CAST(agreement_end AS VARCHAR), '长期') AS agreement_end, fund_paid, fund_paid AS amount
        FROM review_cases
        WHERE agreement_start IS NOT NULL
          AND (coalesce(discharge_date, admit_date) < agreement_start
               OR coalesce(discharge_date, admit_date) > agreement_end)
    """, "the service date (discharge date, else admission) outside the institution's service agreement "
         "(agreement_start..agreement_end, inclusive): the settlement pays no such service (yibao.settle.agreement)")
def _outside_agreement(p, f):
    c = f.case
    day = c["discharge_date"] or c["admit_date"]
    start, end = c.get("agreement_start"), c.get("agreement_end")
    if start is not None and (day < start or (end is not None and day > end)):
        return [(None, c["fund_paid"], {"institution_id": c["institution_id"], "service_date": day,
                                        "agreement_start": start, "agreement_end": end or "长期",
                                        "fund_paid": c["fund_paid"]})]
    return []


@set_logic("visit_frequency", PERSON, """
        WITH v AS (SELECT case_id, person_id, strftime(admit_date, '%Y-%m') AS month,
                          count(*) OVER (PARTITION BY person_id, strftime(admit_date, '%Y-%m')) AS visits,
                          row_number() OVER (PARTITION BY person_id, strftime(admit_date, '%Y-%m')
                                             ORDER BY admit_date, case_id) AS n
                   FROM review_cases WHERE setting = 'outpatient' AND inst_kind <> 'pharmacy')
        SELECT case_id, person_id, month, visits, n, 0.00 AS amount, ${max_visits} AS max_visits
        FROM v WHERE n > ${max_visits}
    """, "outpatient visits (pharmacy purchases excluded) of a person in a calendar month beyond the limit: "
         "each visit past the limit")
def _visit_frequency(p, f):
    def visit(x: dict) -> bool:  # (SQL: inst_kind <> 'pharmacy' is not true for a NULL kind)
        return x["setting"] == "outpatient" and x.get("inst_kind") is not None and x["inst_kind"] != "pharmacy"

    c = f.case
    if not visit(c):
        return []
    month = c["admit_date"].strftime("%Y-%m")
    same = sorted((x["admit_date"], x["case_id"]) for x in f.history
                  if visit(x) and x["admit_date"].strftime("%Y-%m") == month)
    n, mx = same.index((c["admit_date"], c["case_id"])) + 1, int(p["max_visits"])
    if n > mx:
        return [(None, Decimal("0.00"), {"person_id": c["person_id"], "month": month, "visits": len(same),
                                         "n": n, "max_visits": mx})]
    return []


@set_logic("out_of_catalog_share", PERSON, f"""
        SELECT case_id, out_of_pocket_excluded AS excluded, total_cost,
               {pct('out_of_pocket_excluded', 'total_cost')} AS share,
               CAST(${{max_share}} * 100 AS DECIMAL(18,1)) AS max_pct, 0.00 AS amount
        FROM review_cases WHERE total_cost > 0 AND out_of_pocket_excluded > total_cost * ${{max_share}}
    """, "个人自费 (out of catalogue) share of the total cost above the standard")
def _out_of_catalog_share(p, f):
    return _share(f.case, f.case["out_of_pocket_excluded"], dec(p["max_share"]))


@set_logic("cash_share", PERSON, f"""
        SELECT case_id, self_pay, out_of_pocket_excluded AS excluded, total_cost,
               {pct('self_pay + out_of_pocket_excluded', 'total_cost')} AS share,
               CAST(${{max_share}} * 100 AS DECIMAL(18,1)) AS max_pct, 0.00 AS amount
        FROM review_cases WHERE total_cost > 0 AND self_pay + out_of_pocket_excluded > total_cost * ${{max_share}}
    """, "personal cash (自付 + 自费) share of the total cost above the standard")
def _cash_share(p, f):
    return _share(f.case, f.case["out_of_pocket_excluded"] + f.case["self_pay"], dec(p["max_share"]))


@set_logic("total_cost_over", PERSON, """
        SELECT case_id, total_cost, ${max_total_cost} AS max_total_cost, 0.00 AS amount
        FROM review_cases WHERE total_cost > ${max_total_cost}
    """, "total cost of a case above the standard")
def _total_cost_over(p, f):
    c, mx = f.case, dec(p["max_total_cost"])
    if c["total_cost"] > mx:
        return [(None, Decimal("0.00"), {"total_cost": c["total_cost"], "max_total_cost": mx.quantize(Decimal("0.0001"))})]
    return []


def _share(c: dict, num: Decimal, mx: Decimal) -> list[tuple]:
    if c["total_cost"] > 0 and num > c["total_cost"] * mx:
        share = (num * 100 / c["total_cost"]).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        return [(None, Decimal("0.00"), {"excluded": c["out_of_pocket_excluded"], "self_pay": c["self_pay"],
                                         "total_cost": c["total_cost"], "share": share,
                                         "max_pct": (mx * 100).quantize(Decimal("0.1"))})]
    return []


require_single_case_forms()


def shape_of(logic: str) -> str:
    if logic in LINE_LOGIC:
        return LINE
    if logic in SET_LOGIC:
        return SET_LOGIC[logic].shape
    raise KeyError(logic)


# ======================================================================================================
# Completeness of the settlement list (结算清单完整性) and the knowledge base (知识库, 两库框架) — engineer
# "knowledge" (issue 17 §1). New records only; the rules using them: rules/completeness.toml and
# rules/knowledge.toml (the knowledge rules' tables come from ``yibao review --knowledge DIR``,
# yibao.review.knowledge, as parallel lists of text in the rule's parameters: ``kb_id``, ``kb_item``,
# ``kb_source`` and the kind's own columns; blank = '').
# ======================================================================================================

# person logics whose SQL also reads ``fee_items`` (the person step then gets the lines as a broadcast input:
# whether a case has lines at all cannot be judged on one partition of the lines)
PERSON_READS_LINES = {"no_fee_lines"}


@set_logic("no_fee_lines", PERSON, """
        SELECT c.case_id, c.total_cost, c.fund_paid, c.fund_paid AS amount
        FROM review_cases c ANTI JOIN fee_items f ON f.case_id = c.case_id
        WHERE c.total_cost > ${min_total_cost}
    """, "a case with a total cost and not one fee line (a hospital that sends only totals, seed 004 五)")
def _no_fee_lines(p, f):
    c = f.case
    if not f.lines and c["total_cost"] > dec(p["min_total_cost"]):
        return [(None, c["fund_paid"], {"total_cost": c["total_cost"], "fund_paid": c["fund_paid"]})]
    return []


@set_logic("lines_total_mismatch", CASE_LINES, """
        WITH s AS (SELECT case_id, count(*) AS lines, sum(amount) AS line_total FROM fee_items GROUP BY case_id)
        SELECT s.case_id, s.lines, CAST(s.line_total AS DECIMAL(18,2)) AS line_total, c.total_cost,
               CAST(abs(s.line_total - c.total_cost) AS DECIMAL(18,2)) AS diff,
               CAST(abs(s.line_total - c.total_cost) AS DECIMAL(18,2)) AS amount,
               CASE WHEN s.line_total < c.total_cost THEN '少' ELSE '多' END AS direction,
               CAST(${tolerance} AS DECIMAL(18,2)) AS tolerance
        FROM s JOIN rcl c ON c.case_id = s.case_id
        WHERE abs(s.line_total - c.total_cost) > ${tolerance}
    """, "the fee lines of a case do not add up to its total cost (beyond the tolerance); amount = the difference")
def _lines_total_mismatch(p, f):
    if not f.lines:
        return []
    c, tol = f.case, dec(p["tolerance"])
    s = sum((ln["amount"] for ln in f.lines), Decimal("0.00"))
    diff = abs(s - c["total_cost"])
    if not diff > tol:
        return []
    return [(None, diff, {"lines": len(f.lines), "line_total": s, "total_cost": c["total_cost"], "diff": diff,
                          "direction": "少" if s < c["total_cost"] else "多", "tolerance": tol.quantize(FEN)})]


@set_logic("payment_parts_mismatch", PERSON, """
        SELECT case_id, total_cost, fund_paid, self_pay, out_of_pocket_excluded AS excluded,
               CAST(fund_paid + self_pay + out_of_pocket_excluded AS DECIMAL(18,2)) AS parts,
               CAST(abs(fund_paid + self_pay + out_of_pocket_excluded - total_cost) AS DECIMAL(18,2)) AS diff,
               CAST(abs(fund_paid + self_pay + out_of_pocket_excluded - total_cost) AS DECIMAL(18,2)) AS amount
        FROM review_cases
        WHERE abs(fund_paid + self_pay + out_of_pocket_excluded - total_cost) > ${tolerance}
    """, "统筹基金支付 + 个人自付 + 个人自费 ≠ 医疗费用总额 (beyond the tolerance): the settlement list's parts do "
         "not make its total")
def _payment_parts_mismatch(p, f):
    c = f.case
    parts = c["fund_paid"] + c["self_pay"] + c["out_of_pocket_excluded"]
    diff = abs(parts - c["total_cost"])
    if not diff > dec(p["tolerance"]):
        return []
    return [(None, diff, {"total_cost": c["total_cost"], "fund_paid": c["fund_paid"], "self_pay": c["self_pay"],
                          "excluded": c["out_of_pocket_excluded"], "parts": parts, "diff": diff})]


# --- the knowledge base (知识库): one logic per rule kind, the table in the rule's parameters ---

_KB_CACHE: dict[int, tuple] = {}


def kb_rows(p: dict, *cols: str) -> list[dict]:
    """The knowledge table of a rule's parameters as rows (``kb_id``, ``kb_item``, ``kb_source`` and ``cols``),
    indexed once per parameter list (the before-the-fact check calls a logic per case)."""
    key = p["kb_id"]
    hit = _KB_CACHE.get(id(key))
    if hit is not None and hit[0] is key and hit[1] == cols:
        return hit[2]
    names = ("kb_id", "kb_item", "kb_source", *cols)
    rows = [dict(zip(names, vals)) for vals in zip(*(p[n] for n in names))]
    _KB_CACHE[id(key)] = (key, cols, rows)
    return rows


def _kb_by_item(p: dict, *cols: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for r in kb_rows(p, *cols):
        if r["kb_item"] not in out or r["kb_id"] < out[r["kb_item"]]["kb_id"]:
            out[r["kb_item"]] = r
    return out


def _kb_cte(*cols: str) -> str:
    """``kb`` = the rule's knowledge table (one row per entry) from its parallel parameter lists."""
    sel = ", ".join(f"unnest(${{{c}}}) AS {c}" for c in ("kb_id", "kb_item", "kb_source", *cols))
    return f"kb AS (SELECT {sel})"


def _kb_lines(extra: str = "") -> str:
    """Lines of the case with the knowledge row of their item code (the lowest id when several) and case facts."""
    return f"""kl AS (
            SELECT f.case_id, f.line_no, f.item_code, f.item_name, f.service_date, f.quantity, f.unit_price,
                   f.amount, k.*, c.sex, c.age, c.setting, c.inst_level, c.scheme{extra}
            FROM fee_items f JOIN (SELECT * FROM kb QUALIFY row_number() OVER (PARTITION BY kb_item ORDER BY kb_id) = 1) k
                 ON k.kb_item = f.item_code
            JOIN rcl c ON c.case_id = f.case_id)"""


def _zh_list(text: str, names: dict[str, str]) -> str:
    return "、".join(names.get(x, x) for x in text.split("|") if x)


def _zh_list_sql(expr: str, names: dict[str, str]) -> str:
    out = f"replace({expr}, '|', '、')"
    for k, v in names.items():
        out = f"replace({out}, '{k}', '{v}')"
    return out


_SEX_ZH = {"1": "男", "2": "女"}


@set_logic("kb_sex_limit", CASE_LINES, f"""
        WITH {_kb_cte('kb_sex')}, {_kb_lines()}
        SELECT case_id, line_no, item_name, amount, kb_id, kb_source,
               CASE kb_sex WHEN '1' THEN '男' ELSE '女' END AS limit_zh, CASE sex WHEN '1' THEN '男' ELSE '女' END AS sex_zh
        FROM kl WHERE sex IS NOT NULL AND sex <> kb_sex
    """, "知识库 限性别: an item of the table billed for a patient of the other sex", line_level=True)
def _kb_sex_limit(p, f):
    kb, sex, out = _kb_by_item(p, "kb_sex"), f.case["sex"], []
    for ln in f.lines:
        r = kb.get(ln["item_code"])
        if r is not None and sex is not None and sex != r["kb_sex"]:
            out.append((ln["line_no"], ln["amount"], {"item_name": ln["item_name"], "amount": ln["amount"],
                                                      "kb_id": r["kb_id"], "kb_source": r["kb_source"],
                                                      "limit_zh": "男" if r["kb_sex"] == "1" else "女",
                                                      "sex_zh": "男" if sex == "1" else "女"}))
    return out


@set_logic("kb_age_limit", CASE_LINES, f"""
        WITH {_kb_cte('kb_min_age', 'kb_max_age')}, {_kb_lines()}
        SELECT case_id, line_no, item_name, amount, kb_id, kb_source, age,
               concat(kb_min_age, '–', kb_max_age) AS age_range
        FROM kl WHERE age IS NOT NULL AND (age < CAST(nullif(kb_min_age, '') AS INTEGER)
                                           OR age > CAST(nullif(kb_max_age, '') AS INTEGER))
    """, "知识库 限年龄 (限儿童: max_age): the patient's age outside the row's min_age..max_age", line_level=True)
def _kb_age_limit(p, f):
    kb, age, out = _kb_by_item(p, "kb_min_age", "kb_max_age"), f.case["age"], []
    for ln in f.lines:
        r = kb.get(ln["item_code"])
        if r is None or age is None:
            continue
        lo, hi = r["kb_min_age"], r["kb_max_age"]
        if (lo != "" and age < int(lo)) or (hi != "" and age > int(hi)):
            out.append((ln["line_no"], ln["amount"], {"item_name": ln["item_name"], "amount": ln["amount"],
                                                      "kb_id": r["kb_id"], "kb_source": r["kb_source"], "age": age,
                                                      "age_range": f"{lo}–{hi}"}))
    return out


@set_logic("kb_setting_limit", CASE_LINES, f"""
        WITH {_kb_cte('kb_settings')}, {_kb_lines()}
        SELECT case_id, line_no, item_name, amount, kb_id, kb_source,
               {_zh_list_sql('kb_settings', {'inpatient': '住院', 'outpatient': '门诊'})} AS allowed_zh,
               CASE setting WHEN 'inpatient' THEN '住院' ELSE '门诊' END AS setting_zh
        FROM kl WHERE NOT list_contains(string_split(kb_settings, '|'), setting)
    """, "知识库 限就诊方式: an item billed in a setting (住院/门诊) the row does not allow", line_level=True)
def _kb_setting_limit(p, f):
    kb, s, out = _kb_by_item(p, "kb_settings"), f.case["setting"], []
    for ln in f.lines:
        r = kb.get(ln["item_code"])
        if r is not None and s not in r["kb_settings"].split("|"):
            out.append((ln["line_no"], ln["amount"], {
                "item_name": ln["item_name"], "amount": ln["amount"], "kb_id": r["kb_id"], "kb_source": r["kb_source"],
                "allowed_zh": _zh_list(r["kb_settings"], {"inpatient": "住院", "outpatient": "门诊"}),
                "setting_zh": "住院" if s == "inpatient" else "门诊"}))
    return out


@set_logic("kb_level_limit", CASE_LINES, f"""
        WITH {_kb_cte('kb_min_level', 'kb_max_level')}, {_kb_lines()}
        SELECT case_id, line_no, item_name, amount, kb_id, kb_source, inst_level,
               concat(kb_min_level, '–', kb_max_level) AS level_range
        FROM kl WHERE inst_level IS NOT NULL AND (inst_level < CAST(nullif(kb_min_level, '') AS INTEGER)
                                                  OR inst_level > CAST(nullif(kb_max_level, '') AS INTEGER))
    """, "知识库 限医疗机构级别: an item billed by an institution whose level is outside the row's range",
    line_level=True)
def _kb_level_limit(p, f):
    kb, lv, out = _kb_by_item(p, "kb_min_level", "kb_max_level"), f.case["inst_level"], []
    for ln in f.lines:
        r = kb.get(ln["item_code"])
        if r is None or lv is None:
            continue
        lo, hi = r["kb_min_level"], r["kb_max_level"]
        if (lo != "" and lv < int(lo)) or (hi != "" and lv > int(hi)):
            out.append((ln["line_no"], ln["amount"], {"item_name": ln["item_name"], "amount": ln["amount"],
                                                      "kb_id": r["kb_id"], "kb_source": r["kb_source"],
                                                      "inst_level": lv, "level_range": f"{lo}–{hi}"}))
    return out


@set_logic("kb_scheme_limit", CASE_LINES, f"""
        WITH {_kb_cte('kb_schemes')}, {_kb_lines()}
        SELECT case_id, line_no, item_name, amount, kb_id, kb_source,
               {_zh_list_sql('kb_schemes', {'employee': '职工', 'resident': '城乡居民'})} AS allowed_zh,
               CASE scheme WHEN 'employee' THEN '职工' ELSE '城乡居民' END AS scheme_zh
        FROM kl WHERE scheme IS NOT NULL AND NOT list_contains(string_split(kb_schemes, '|'), scheme)
    """, "知识库 限险种: an item billed to an insurance scheme the row does not allow", line_level=True)
def _kb_scheme_limit(p, f):
    kb, s, out = _kb_by_item(p, "kb_schemes"), f.case["scheme"], []
    for ln in f.lines:
        r = kb.get(ln["item_code"])
        if r is not None and s is not None and s not in r["kb_schemes"].split("|"):
            out.append((ln["line_no"], ln["amount"], {
                "item_name": ln["item_name"], "amount": ln["amount"], "kb_id": r["kb_id"], "kb_source": r["kb_source"],
                "allowed_zh": _zh_list(r["kb_schemes"], {"employee": "职工", "resident": "城乡居民"}),
                "scheme_zh": "职工" if s == "employee" else "城乡居民"}))
    return out


@set_logic("kb_course_limit", CASE_LINES, f"""
        WITH {_kb_cte('kb_max_days')}, {_kb_lines()},
        d AS (SELECT *, dense_rank() OVER (PARTITION BY case_id, item_code ORDER BY service_date) AS day_n FROM kl),
        e AS (SELECT *, max(day_n) OVER (PARTITION BY case_id, item_code) AS days FROM d)
        SELECT case_id, line_no, item_name, service_date, amount, kb_id, kb_source, days, day_n,
               CAST(kb_max_days AS INTEGER) AS max_days
        FROM e WHERE day_n > CAST(kb_max_days AS INTEGER)
    """, "知识库 疗程: an item billed on more distinct days of a case than the row's max_days: the lines of the days "
         "past the limit", line_level=True)
def _kb_course_limit(p, f):
    kb, out, by = _kb_by_item(p, "kb_max_days"), [], {}
    for ln in f.lines:
        if ln["item_code"] in kb:
            by.setdefault(ln["item_code"], []).append(ln)
    for code, grp in by.items():
        r, days = kb[code], sorted({ln["service_date"] for ln in grp})
        rank, mx = {d: i + 1 for i, d in enumerate(days)}, int(r["kb_max_days"])
        for ln in grp:
            if rank[ln["service_date"]] > mx:
                out.append((ln["line_no"], ln["amount"], {
                    "item_name": ln["item_name"], "service_date": ln["service_date"], "amount": ln["amount"],
                    "kb_id": r["kb_id"], "kb_source": r["kb_source"], "days": len(days),
                    "day_n": rank[ln["service_date"]], "max_days": mx}))
    return out


_PER_ZH = {"day": "每日", "stay": "每次就诊", "window": "天内"}


@set_logic("kb_frequency_limit", CASE_LINES, f"""
        WITH {_kb_cte('kb_max_qty', 'kb_per', 'kb_window_days')}, {_kb_lines()},
        m AS (SELECT *, CAST(kb_max_qty AS DECIMAL(18,4)) AS max_qty,
                     CASE kb_per WHEN 'day' THEN 1 WHEN 'window' THEN CAST(kb_window_days AS INTEGER) END AS wdays
              FROM kl),
        s AS (SELECT y.case_id, y.line_no, sum(x.quantity) AS cum
              FROM m y JOIN m x ON x.case_id = y.case_id AND x.item_code = y.item_code
                   AND (x.service_date < y.service_date OR (x.service_date = y.service_date AND x.line_no <= y.line_no))
                   AND (y.wdays IS NULL OR x.service_date > y.service_date - y.wdays)
              GROUP BY y.case_id, y.line_no)
        SELECT m.case_id, m.line_no, m.item_name, m.service_date, m.kb_id, m.kb_source,
               CASE m.kb_per WHEN 'day' THEN '每日' WHEN 'stay' THEN '每次就诊' ELSE concat(m.kb_window_days, ' 天内') END
                   AS per_zh,
               {qty('s.cum')} AS cum_qty, {qty('m.max_qty')} AS max_qty,
               least(m.amount, {money_round('(s.cum - greatest(s.cum - m.quantity, m.max_qty)) * m.unit_price')}) AS excess,
               least(m.amount, {money_round('(s.cum - greatest(s.cum - m.quantity, m.max_qty)) * m.unit_price')}) AS amount
        FROM m JOIN s ON s.case_id = m.case_id AND s.line_no = m.line_no
        WHERE s.cum > m.max_qty
    """, "知识库 频次/数量: an item's quantity per day, per case (stay or visit) or per rolling window of N days beyond "
         "the row's max_qty, counted in line order (date, line number): each line past the limit, for its part past "
         "the limit", line_level=True)
def _kb_frequency_limit(p, f):
    kb, out, by = _kb_by_item(p, "kb_max_qty", "kb_per", "kb_window_days"), [], {}
    for ln in f.lines:
        if ln["item_code"] in kb:
            by.setdefault(ln["item_code"], []).append(ln)
    for code, grp in by.items():
        r = kb[code]
        mx = Decimal(r["kb_max_qty"])
        w = {"day": 1, "stay": None}.get(r["kb_per"], int(r["kb_window_days"] or 0))
        per = {"day": "每日", "stay": "每次就诊"}.get(r["kb_per"], f"{r['kb_window_days']} 天内")
        for y in grp:
            cum = sum((x["quantity"] for x in grp
                       if (x["service_date"], x["line_no"]) <= (y["service_date"], y["line_no"])
                       and (w is None or (y["service_date"] - x["service_date"]).days < w)), Decimal(0))
            if cum > mx:
                ex = min(y["amount"], r2((cum - max(cum - y["quantity"], mx)) * y["unit_price"]))
                out.append((y["line_no"], ex, {"item_name": y["item_name"], "service_date": y["service_date"],
                                               "kb_id": r["kb_id"], "kb_source": r["kb_source"], "per_zh": per,
                                               "cum_qty": qtext(cum), "max_qty": qtext(mx), "excess": ex}))
    return out


@set_logic("kb_duplicate_pair", CASE_LINES, f"""
        WITH {_kb_cte('kb_other', 'kb_window_days')},
        y AS (SELECT f.case_id, f.line_no, f.item_code, f.item_name, f.service_date, f.amount, k.*
              FROM fee_items f JOIN kb k ON k.kb_other = f.item_code),
        hit AS (
            SELECT y.case_id, y.line_no, y.item_name, y.service_date, y.amount, y.kb_id, y.kb_source,
                   CAST(y.kb_window_days AS INTEGER) AS window_days, x.line_no AS first_line,
                   x.service_date AS first_date, x.item_name AS first_name,
                   row_number() OVER (PARTITION BY y.case_id, y.line_no ORDER BY y.kb_id, x.service_date, x.line_no) AS rn
            FROM y JOIN fee_items x ON x.case_id = y.case_id AND x.item_code = y.kb_item AND x.line_no <> y.line_no
                 AND abs(y.service_date - x.service_date) <= CAST(y.kb_window_days AS INTEGER)
                 AND (y.kb_item <> y.kb_other OR x.service_date < y.service_date
                      OR (x.service_date = y.service_date AND x.line_no < y.line_no)))
        SELECT case_id, line_no, item_name, service_date, amount, kb_id, kb_source, window_days, first_line,
               first_date, first_name
        FROM hit WHERE rn = 1
    """, "知识库 重复收费: an item (``kb_other``) billed within ``window_days`` days of another line of ``kb_item`` in "
         "the same case (the same item twice: the later line); the row with the lowest id, the earliest such line",
    line_level=True)
def _kb_duplicate_pair(p, f):
    rows, out = kb_rows(p, "kb_other", "kb_window_days"), []
    for y in f.lines:
        best = None
        for r in rows:
            if r["kb_other"] != y["item_code"]:
                continue
            w = int(r["kb_window_days"])
            for x in f.lines:
                if (x["item_code"] == r["kb_item"] and x["line_no"] != y["line_no"]
                        and abs((y["service_date"] - x["service_date"]).days) <= w
                        and (r["kb_item"] != r["kb_other"]
                             or (x["service_date"], x["line_no"]) < (y["service_date"], y["line_no"]))):
                    key = (r["kb_id"], x["service_date"], x["line_no"])
                    if best is None or key < best[0]:
                        best = (key, r, x, w)
        if best is not None:
            _, r, x, w = best
            out.append((y["line_no"], y["amount"], {
                "item_name": y["item_name"], "service_date": y["service_date"], "amount": y["amount"],
                "kb_id": r["kb_id"], "kb_source": r["kb_source"], "window_days": w, "first_line": x["line_no"],
                "first_date": x["service_date"], "first_name": x["item_name"]}))
    return out


require_single_case_forms()
