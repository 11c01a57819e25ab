"""The benefit calculator (待遇计算): what the pooling fund owes for every case of a year, set-based in DuckDB.

Steps (one SQL statement; no Python loop per case or line):

1. **cost base** (费用构成) per case from its fee lines and the catalogue valid on each line's service date:
   甲类 (class A), 乙类 (class B) with its personal share 乙类先行自付 = ROUND_HALF_UP(amount × self_pay_ratio, 2)
   per line, 丙类 (class C; a line whose code is in no catalogue counts here too, 目录外), and the part of
   ``total_cost`` without lines (``unlisted`` = total − Σ lines, counted as class A or C by the policy).
   Cases treated elsewhere are priced by the place of care's catalogue (就医地目录) when one is given.
2. **policy-covered cost** (政策范围内费用) = A + B − 乙类先行自付 (+ unlisted when counted as A).
3. **deductible** (起付线): per stay ``min(covered, D)``; per year the part of ``D`` not yet met by the person's
   earlier cases of the same scheme and setting in settlement order (``settle_date``, ``case_id``), a running
   sum: ``min(before + covered, D) − min(before, D)``.
4. **cost bands** (分段比例): the covered cost above the deductible split at the band tops (positions within
   the stay's covered cost), each part × its rate; the sum rounded once, ROUND_HALF_UP to the fen.
5. **annual cap** (封顶): the running sum of the uncapped payments over the person's year in the pot
   (住院+门诊慢特病 / 普通门诊); the case gets ``min(cum, cap) − min(cum − own, cap)``.

Every part is DECIMAL; ``fund + self_pay + excluded = total_cost`` for every case whose lines do not exceed its
total (the Hypothesis property of tests/benefit).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import duckdb
import pyarrow as pa

from yibao.benefit.policy import LEVELS, POTS, SCHEMES, SETTINGS, cap_rows, rule_rows
from yibao.contract.params import Values
from yibao.contract.vocab import MONEY_SQL, sql_str
from yibao.engine.runner import query_arrow
from yibao.settle.inbound import in_region_sql

INF = "1000000000000.00"  # a band top of 0 means "no further band": compared as this
RATE = "DECIMAL(9,4)"

# The columns of a cost base: what the calculator needs of a case (or of a manual claim).
BASE_COLUMNS = ("row_id", "row_kind", "person_id", "scheme", "setting", "principal_dx", "level", "order_date",
                "total_cost", "class_a", "class_b", "class_b_self_pay", "class_c", "unlisted", "booked_fund",
                "catalogue_region", "insured_region")

RESULT_COLUMNS = (
    "row_id", "row_kind", "person_id", "scheme", "benefit_setting", "level", "order_date", "catalogue_region",
    "total_cost", "class_a", "class_b", "class_b_self_pay", "class_c", "unlisted", "covered", "deductible",
    "deductible_before", "band1", "band2", "band3", "rate1", "rate2", "rate3", "fund_uncapped", "cap",
    "cap_used_before", "over_cap", "fund_computed", "self_pay_computed", "excluded_computed", "booked_fund",
    "difference", "insured_region",
)


region_match_sql = in_region_sql  # (the one definition: yibao.settle.inbound)


def _values(rows: list[tuple], types: list[str]) -> str:
    def lit(v, t):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int,)) and t == "INTEGER":
            return str(v)
        return f"CAST({sql_str(v)} AS {t})"

    return "VALUES " + ", ".join("(" + ", ".join(lit(v, t) for v, t in zip(r, types)) + ")" for r in rows)


@dataclass(frozen=True)
class Sources:
    """Relations (table names or ``(SELECT …)``) the calculator reads."""

    cases: str
    fee_items: str
    catalog: str
    institutions: str
    insured: str | None = None  # for 参保地 (insured_region); without it every person counts as ours
    # place-of-care catalogues: region code → relation with the catalogue's columns (就医地目录)
    other_catalogs: tuple[tuple[str, str], ...] = ()


def case_base_sql(src: Sources, policy: Values, year: int) -> str:
    """The cost base of every case settled in ``year`` (columns :data:`BASE_COLUMNS`)."""
    region = policy["benefit.region_code"]
    cats = [f"SELECT {sql_str(region)} AS cat_region, item_code, class, self_pay_ratio, valid_from, valid_to "
            f"FROM {src.catalog}"]
    known = [r for r, _ in src.other_catalogs]
    for r, rel in src.other_catalogs:
        cats.append(f"SELECT {sql_str(r)}, item_code, class, self_pay_ratio, valid_from, valid_to FROM {rel}")
    # the place of care's catalogue: the institution's own region, or its city's, when given; else ours
    pick = "CASE " + "".join(f"WHEN {region_match_sql('i.region_code', r)} THEN {sql_str(r)} "
                             for r in sorted(known, key=len, reverse=True) if r != region) + f"ELSE {sql_str(region)} END"
    pick = pick if known else sql_str(region)
    ins_region = "coalesce(p.region_code, " + sql_str(region) + ")" if src.insured else sql_str(region)
    ins_join = f"LEFT JOIN {src.insured} p ON p.person_id = c.person_id" if src.insured else ""
    return f"""
    WITH c AS (
        SELECT c.case_id, c.person_id, c.scheme, c.setting, c.principal_dx, c.settle_date, c.total_cost, c.fund_paid,
               coalesce(i.level, 0) AS level, {pick} AS cat_region, {ins_region} AS insured_region
        FROM {src.cases} c LEFT JOIN {src.institutions} i ON i.institution_id = c.institution_id
        {ins_join}
        WHERE c.settle_date >= DATE '{year}-01-01' AND c.settle_date < DATE '{year + 1}-01-01'),
    cat0 AS ({" UNION ALL ".join(cats)}),
    -- one version per item and day: a version ends where the next one starts (overlaps cannot double a line)
    cat AS (SELECT cat_region, item_code, class, coalesce(self_pay_ratio, 0) AS ratio, valid_from,
                   least(coalesce(valid_to, DATE '9999-12-31'),
                         coalesce(lead(valid_from) OVER (PARTITION BY cat_region, item_code ORDER BY valid_from)
                                  - INTERVAL 1 DAY, DATE '9999-12-31'))::DATE AS valid_to
            FROM cat0),
    l AS (
        SELECT f.case_id, sum(f.amount) AS lines_total,
               coalesce(sum(f.amount) FILTER (WHERE k.class = 'A'), 0) AS class_a,
               coalesce(sum(f.amount) FILTER (WHERE k.class = 'B'), 0) AS class_b,
               coalesce(sum(round(f.amount * k.ratio, 2)) FILTER (WHERE k.class = 'B'), 0) AS class_b_self_pay,
               coalesce(sum(f.amount) FILTER (WHERE k.class IS NULL OR k.class = 'C'), 0) AS class_c
        FROM {src.fee_items} f JOIN c ON c.case_id = f.case_id
        LEFT JOIN cat k ON k.item_code = f.item_code AND k.cat_region = c.cat_region
                       AND f.service_date BETWEEN k.valid_from AND k.valid_to
        GROUP BY f.case_id)
    SELECT c.case_id AS row_id, 'case' AS row_kind, c.person_id, c.scheme, c.setting, c.principal_dx, c.level,
           c.settle_date AS order_date, c.total_cost,
           coalesce(l.class_a, 0)::{MONEY_SQL} AS class_a, coalesce(l.class_b, 0)::{MONEY_SQL} AS class_b,
           coalesce(l.class_b_self_pay, 0)::{MONEY_SQL} AS class_b_self_pay,
           coalesce(l.class_c, 0)::{MONEY_SQL} AS class_c,
           (c.total_cost - coalesce(l.lines_total, 0))::{MONEY_SQL} AS unlisted,
           c.fund_paid AS booked_fund, c.cat_region AS catalogue_region, c.insured_region
    FROM c LEFT JOIN l ON l.case_id = c.case_id"""


def benefit_sql(base: str, policy: Values, explain_kinds: tuple[str, ...] = ()) -> str:
    """The calculator over a cost base (``base``: a relation with :data:`BASE_COLUMNS`): :data:`RESULT_COLUMNS`,
    plus ``arithmetic`` (the computation in Chinese) for rows whose ``row_kind`` is in ``explain_kinds``."""
    core = _core_sql(base, policy)
    if not explain_kinds:
        return core
    kinds = ", ".join(sql_str(k) for k in explain_kinds)
    return f"SELECT z.*, CASE WHEN row_kind IN ({kinds}) THEN {arithmetic_sql('z.')} END AS arithmetic FROM ({core}) z"


def _fen(x: str) -> str:
    """A money expression (≤ 2 decimals) as whole fen (BIGINT), exactly."""
    return f"CAST(CAST({x} AS {MONEY_SQL}) * 100 AS BIGINT)"


def _yuan(x: str) -> str:
    """Whole fen (BIGINT) back to DECIMAL(18,2), exactly: DECIMAL(16,0) × DECIMAL(2,2) is a DECIMAL(18,2) product,
    one 64-bit multiplication (never a division, no 128-bit intermediate)."""
    return f"CAST({x} AS DECIMAL(16,0)) * CAST(0.01 AS DECIMAL(2,2))"


ROUND_HALF_UP = "({x} + 5000) // 10000"  # fen × basis points → fen, ROUND_HALF_UP (the operand is never negative)


def _core_sql(base: str, policy: Values) -> str:
    # Integer fen and basis points inside (BIGINT: exact and fast; the project's "DECIMAL or integer fen"),
    # DECIMAL(18,2) in and out. The two running sums over the person's year are window functions over integer
    # keys: the person's id is numbered once (a hash aggregate), the partition is (person, scheme, year, pot) as one
    # BIGINT, and the second window orders by the first one's row number — string keys are sorted once.
    inf = int(Decimal(INF) * 100)
    rows = [(s, t, lv, int(d * 100), py, pot, POTS.index(pot), int(t1 * 100) or inf, int(t2 * 100) or inf,
             int(r1 * 10000), int(r2 * 10000), int(r3 * 10000), r1, r2, r3)
            for s, t, lv, d, py, pot, t1, t2, r1, r2, r3 in rule_rows(policy)]
    rules = _values(rows, ["VARCHAR", "VARCHAR", "INTEGER", "BIGINT", "BOOLEAN", "VARCHAR", "INTEGER", "BIGINT",
                           "BIGINT", "BIGINT", "BIGINT", "BIGINT", RATE, RATE, RATE])
    caps = _values([(s, pot, int(c * 100)) for s, pot, c in cap_rows(policy)], ["VARCHAR", "VARCHAR", "BIGINT"])
    special = policy["benefit.special_dx"]
    is_special = " OR ".join(f"starts_with(b.principal_dx, {sql_str(p)})" for p in special) or "false"
    unlisted_a = policy["benefit.unlisted_class"] == "A"
    covered = (f"{_fen('b.class_a')} + {_fen('b.class_b')} - {_fen('b.class_b_self_pay')}"
               + (f" + {_fen('b.unlisted')}" if unlisted_a else ""))
    excluded = "b.class_c" + ("" if unlisted_a else " + b.unlisted")
    # settlement order within the person's year (the tie-breaks: date, kind, id); ``g`` numbers (person, scheme,
    # year, pot), ``g * 4 + setting`` the deductible's partition
    order = "ORDER BY order_date, row_kind, row_id ROWS UNBOUNDED PRECEDING"
    setting_no = "CASE benefit_setting " + " ".join(f"WHEN {sql_str(t)} THEN {i}" for i, t in enumerate(SETTINGS)) + " END"
    fund = "(least(cum, cap) - least(cum - unc, cap))"
    return f"""
    WITH r(scheme, setting, level, ded, per_year, pot, pot_no, t1, t2, r1, r2, r3, rate1, rate2, rate3) AS ({rules}),
    k(scheme, pot, cap) AS ({caps}),
    b AS (
        SELECT b.*, CASE WHEN b.setting = 'outpatient' AND ({is_special}) THEN 'special_outpatient'
                         ELSE b.setting END AS benefit_setting,
               greatest({covered}, 0) AS cov, CAST({excluded} AS {MONEY_SQL}) AS excluded
        FROM {base} b),
    n AS (SELECT person_id, row_number() OVER () AS person_no FROM (SELECT DISTINCT person_id FROM b)),
    j AS MATERIALIZED (
        SELECT b.*, r.ded, r.per_year, r.pot, r.t1, r.t2, r.r1, r.r2, r.r3, r.rate1, r.rate2, r.rate3, k.cap,
               ((n.person_no * {len(SCHEMES)} + CASE b.scheme {" ".join(f"WHEN {sql_str(s)} THEN {i}"
                                                                   for i, s in enumerate(SCHEMES))} END) * 65536
                + year(b.order_date)) * {len(POTS)} + r.pot_no AS g
        FROM b JOIN n ON n.person_id IS NOT DISTINCT FROM b.person_id
               JOIN r ON r.scheme = b.scheme AND r.setting = b.benefit_setting AND r.level = b.level
               JOIN k ON k.scheme = b.scheme AND k.pot = r.pot),
    -- the running sums over narrow rows (a window sorts its whole input: keys and value only, joined back by
    -- the row's key); the running deductible only where it is per year and not 0 (nothing else carries over)
    w1 AS (
        SELECT row_kind, row_id, CAST(sum(cov) OVER (PARTITION BY g * 4 + {setting_no} {order}) AS BIGINT) - cov AS cov_before
        FROM (SELECT g, benefit_setting, order_date, row_kind, row_id, cov FROM j WHERE per_year AND ded > 0)),
    s AS (SELECT j.*, coalesce(w1.cov_before, 0) AS cov_before FROM j LEFT JOIN w1 USING (row_kind, row_id)),
    d AS (
        SELECT s.*, CASE WHEN per_year THEN least(cov_before + cov, ded) - least(cov_before, ded)
                         ELSE least(cov, ded) END AS ded_fen
        FROM s),
    p AS (
        SELECT d.*, greatest(least(cov, t1) - ded_fen, 0) AS b1, greatest(least(cov, t2) - greatest(ded_fen, t1), 0) AS b2,
               greatest(cov - greatest(ded_fen, t2), 0) AS b3
        FROM d),
    u AS MATERIALIZED (SELECT p.*, {ROUND_HALF_UP.format(x='b1 * r1 + b2 * r2 + b3 * r3')} AS unc FROM p),
    w2 AS (SELECT row_kind, row_id, CAST(sum(unc) OVER (PARTITION BY g {order}) AS BIGINT) AS cum
           FROM (SELECT g, order_date, row_kind, row_id, unc FROM u)),
    q AS (SELECT u.*, w2.cum FROM u JOIN w2 USING (row_kind, row_id)),
    f AS (SELECT q.*, {fund} AS fund FROM q)
    SELECT row_id, row_kind, person_id, scheme, benefit_setting, level, order_date, catalogue_region, total_cost,
           class_a, class_b, class_b_self_pay, class_c, unlisted, {_yuan('cov')} AS covered,
           {_yuan('ded_fen')} AS deductible, {_yuan('CASE WHEN per_year THEN least(cov_before, ded) ELSE 0 END')}
               AS deductible_before,
           {_yuan('b1')} AS band1, {_yuan('b2')} AS band2, {_yuan('b3')} AS band3, rate1, rate2, rate3,
           {_yuan('unc')} AS fund_uncapped, {_yuan('cap')} AS cap, {_yuan('least(cum - unc, cap)')} AS cap_used_before,
           {_yuan('unc - fund')} AS over_cap, {_yuan('fund')} AS fund_computed,
           {_yuan('cov - fund + ' + _fen('class_b_self_pay'))} AS self_pay_computed,
           excluded AS excluded_computed, booked_fund,
           CAST(booked_fund - {_yuan('fund')} AS {MONEY_SQL}) AS difference, insured_region
    FROM f"""


def compute(con: duckdb.DuckDBPyConnection, src: Sources, policy: Values, year: int | None = None,
            extra_base: str | None = None, explain_kinds: tuple[str, ...] = ()) -> pa.Table:
    """Every case settled in ``year`` (default: the policy's) with its computed fund payment and parts, ordered by
    ``row_kind, row_id``. ``extra_base``: more cost-base rows (e.g. manual claims, ``row_kind = 'claim'``)
    accumulated together with the cases over each person's year."""
    y = policy["benefit.year"] if year is None else year
    base = f"({case_base_sql(src, policy, y)})"
    if extra_base:
        cols = ", ".join(BASE_COLUMNS)
        base = f"(SELECT {cols} FROM {base} UNION ALL SELECT {cols} FROM {extra_base})"
    sql = benefit_sql(base, policy, explain_kinds) + " ORDER BY row_kind, row_id"
    return query_arrow(con, sql)


def _pct(rate: str) -> str:
    return f"(rtrim(rtrim(({rate} * 100)::DECIMAL(9,2)::VARCHAR, '0'), '.') || '%')"


def arithmetic_sql(t: str = "") -> str:
    """SQL text expression: the computation of a result row (columns :data:`RESULT_COLUMNS`, prefix ``t``) in
    Chinese — 政策范围内费用, 起付线, the cost bands with their rates, the cap."""
    c = (lambda n: f"{t}{n}")
    bands = " || ".join(
        f"CASE WHEN {c(f'band{i}')} > 0 THEN {'' if i == 1 else chr(39) + ' + ' + chr(39) + ' || '}"
        f"{c(f'band{i}')}::VARCHAR || '×' || {_pct(c(f'rate{i}'))} ELSE '' END" for i in (1, 2, 3))
    return f"""('政策范围内费用 ' || {c('covered')} || ' 元（甲类 ' || {c('class_a')} || ' + 乙类 ' || {c('class_b')}
        || ' − 乙类先行自付 ' || {c('class_b_self_pay')}
        || CASE WHEN {c('unlisted')} <> 0 THEN ' + 无明细部分 ' || {c('unlisted')} ELSE '' END
        || '；丙类及目录外 ' || {c('class_c')} || ' 元自费）；起付线 ' || {c('deductible')} || ' 元'
        || CASE WHEN {c('deductible_before')} > 0 THEN '（本年度此前已累计起付 ' || {c('deductible_before')} || ' 元）'
                ELSE '' END
        || '；' || CASE WHEN {c('band1')} + {c('band2')} + {c('band3')} = 0 THEN '无可支付费用段'
                       ELSE ltrim({bands}, ' +') END
        || ' = ' || {c('fund_uncapped')} || ' 元（四舍五入到分）'
        || CASE WHEN {c('over_cap')} > 0 THEN '；年度最高支付限额 ' || {c('cap')} || ' 元，此前已支付 '
                || {c('cap_used_before')} || ' 元，封顶扣减 ' || {c('over_cap')} || ' 元' ELSE '' END)"""


__all__ = [
    "BASE_COLUMNS",
    "LEVELS",
    "RESULT_COLUMNS",
    "Sources",
    "arithmetic_sql",
    "benefit_sql",
    "case_base_sql",
    "compute",
    "region_match_sql",
]
