"""The benefit calculator (待遇计算): what the pooling fund owes for every case of a year, set-based.

Steps (whole-column operations; no Python loop per case or line). The cost base is one DuckDB statement; the
calculator reads it once (:func:`benefit_sql`) and computes steps 2–5 on whole int64 columns in fen (NumPy):

1. **cost base** (费用构成) per case from its fee lines and the catalogue valid on each line's service date:
   甲类 (class A), 乙类 (class B) with its personal share 乙类先行自付 = ROUND_HALF_UP(amount × self_pay_ratio, 2)
   per line, 丙类 (class C; a line whose code is in no catalogue counts here too, 目录外), and the part of
   ``total_cost`` without lines (``unlisted`` = total − Σ lines, counted as class A or C by the policy).
   Cases treated elsewhere are priced by the place of care's catalogue (就医地目录) when one is given.
2. **policy-covered cost** (政策范围内费用) = A + B − 乙类先行自付 (+ unlisted when counted as A).
3. **deductible** (起付线): per stay ``min(covered, D)``; per year the part of ``D`` not yet met by the person's
   earlier cases of the same scheme and setting in settlement order (``settle_date``, ``case_id``), a running
   sum: ``min(before + covered, D) − min(before, D)``. Both running sums (this one and the cap's) are segmented
   cumulative sums over ONE stable sort of the rows into settlement order within (person, scheme, year, pot) —
   what a window function ``sum(…) OVER (PARTITION BY … ORDER BY settle_date, row_kind, row_id ROWS UNBOUNDED
   PRECEDING)`` computes, without its two sorts.
4. **cost bands** (分段比例): the covered cost above the deductible split at the band tops (positions within
   the stay's covered cost), each part × its rate; the sum rounded once, ROUND_HALF_UP to the fen.
5. **annual cap** (封顶): the running sum of the uncapped payments over the person's year in the pot
   (住院+门诊慢特病 / 普通门诊); the case gets ``min(cum, cap) − min(cum − own, cap)``.

Every part is exact (DECIMAL(18,2) in and out, whole fen and basis points inside); ``fund + self_pay + excluded
= total_cost`` for every case whose lines do not exceed its total (the Hypothesis property of tests/benefit).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from yibao.benefit.policy import LEVELS, MAX_BANDS, POTS, SCHEMES, SETTINGS, cap_rows, rule_rows
from yibao.contract.params import Values
from yibao.contract.vocab import MONEY, MONEY_SQL, sql_str
from yibao.engine.runner import query_arrow
from yibao.settle.inbound import in_region_sql

INF = "1000000000000.00"  # a band top of 0 means "no further band": compared as this

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


PASS_THROUGH = ("row_id", "row_kind", "person_id", "scheme", "level", "order_date", "catalogue_region", "total_cost",
                "class_a", "class_b", "class_b_self_pay", "class_c", "unlisted", "booked_fund", "insured_region",
                "excluded")  # the result's columns read from the cost base as they are (``excluded``: computed there)


def benefit_sql(base: str, policy: Values, columns: tuple[str, ...] = PASS_THROUGH) -> str:
    """The cost base ``base`` (a relation with :data:`BASE_COLUMNS`) as the calculator reads it, ordered by
    ``row_kind, row_id``: the pass-through columns and, per row, the integer inputs of the policy — the rule's
    index (scheme × benefit setting × level), the policy-covered cost in fen and the year/day of the settlement
    order. Rows of a scheme, setting or level the policy has no rule for are not computed."""
    special = policy["benefit.special_dx"]
    is_special = " OR ".join(f"starts_with(b.principal_dx, {sql_str(p)})" for p in special) or "false"
    unlisted_a = policy["benefit.unlisted_class"] == "A"
    covered = (f"{_fen('b.class_a')} + {_fen('b.class_b')} - {_fen('b.class_b_self_pay')}"
               + (f" + {_fen('b.unlisted')}" if unlisted_a else ""))
    excluded = "b.class_c" + ("" if unlisted_a else " + b.unlisted")
    scheme_no = "CASE b.scheme " + " ".join(f"WHEN {sql_str(s)} THEN {i}" for i, s in enumerate(SCHEMES)) + " END"
    setting_no = (f"CASE WHEN b.setting = 'outpatient' AND ({is_special}) THEN {SETTINGS.index('special_outpatient')} "
                  "ELSE CASE b.setting " + " ".join(f"WHEN {sql_str(t)} THEN {i}" for i, t in enumerate(SETTINGS)
                                                    if t != "special_outpatient") + " END END")
    level_no = f"CASE WHEN b.level BETWEEN 0 AND {len(LEVELS) - 1} THEN {len(LEVELS) - 1} - b.level END"
    return f"""
    SELECT {"".join(c + ", " for c in columns)}scheme_no, CAST(setting_no AS TINYINT) AS setting_no,
           CAST((scheme_no * {len(SETTINGS)} + setting_no) * {len(LEVELS)} + level_no AS SMALLINT) AS rule_no,
           cov, class_b_self_pay_fen, booked_fen,
           CAST(year(order_date) AS INTEGER) * 512 + CAST(dayofyear(order_date) AS INTEGER) AS year_day
    FROM (SELECT b.*, CAST({scheme_no} AS TINYINT) AS scheme_no, {setting_no} AS setting_no, {level_no} AS level_no,
                 greatest({covered}, 0) AS cov, {_fen('b.class_b_self_pay')} AS class_b_self_pay_fen,
                 {_fen('b.booked_fund')} AS booked_fen, CAST({excluded} AS {MONEY_SQL}) AS excluded
          FROM {base} b) b
    WHERE scheme_no IS NOT NULL AND setting_no IS NOT NULL AND level_no IS NOT NULL
    ORDER BY row_kind, row_id"""


def _fen(x: str) -> str:
    """A money expression (≤ 2 decimals) as whole fen (BIGINT), exactly."""
    return f"CAST(CAST({x} AS {MONEY_SQL}) * 100 AS BIGINT)"


def _ints(col: pa.ChunkedArray | pa.Array, fill: int = 0) -> np.ndarray:
    """An integer column as int64 NumPy (nulls as ``fill``)."""
    if col.null_count:
        col = pc.fill_null(col, fill)
    return col.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _money(fen: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Whole fen (int64) as DECIMAL(18,2), exactly: the 128-bit unscaled value is the fen (sign-extended), so
    the array is built from its buffers — no arithmetic, no rounding."""
    buf = np.empty((len(fen), 2), dtype=np.int64)
    buf[:, 0] = fen
    buf[:, 1] = fen >> 63
    bitmap = None
    if valid is not None and not valid.all():
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(MONEY, len(fen), [bitmap, pa.py_buffer(buf)],
                                 null_count=-1 if bitmap is not None else 0)


def _running(values: np.ndarray, starts: np.ndarray, part: np.ndarray) -> np.ndarray:
    """The running sum of ``values`` (in settlement order) within each partition — the window function
    ``sum(v) OVER (PARTITION BY … ORDER BY … ROWS UNBOUNDED PRECEDING)`` over rows already sorted by partition and
    order: one cumulative sum, minus its value before the partition's first row (``starts``: the first row's
    index of every partition, ``part``: each row's partition number)."""
    cs = np.cumsum(values)
    before = np.concatenate(([0], cs))[starts]
    return cs - before[part]


def calculate(con: duckdb.DuckDBPyConnection, base: str, policy: Values,
              explain_kinds: tuple[str, ...] = (), columns: tuple[str, ...] = RESULT_COLUMNS) -> pa.Table:
    """The calculator over a cost base (``base``: a relation with :data:`BASE_COLUMNS`): the ``columns`` (a
    subset of :data:`RESULT_COLUMNS`, default all of them, in their order), ordered by ``row_kind, row_id``, plus
    ``arithmetic`` (the computation in Chinese, which needs every column) for rows whose ``row_kind`` is in
    ``explain_kinds``. A caller that needs only the payment (e.g. ``("row_id", "row_kind", "fund_computed")``)
    asks for it: the explanation columns are then neither read nor built.

    DuckDB reads the cost base (the integer inputs, :func:`benefit_sql`); the accumulations over the person's year
    are then integer arithmetic on whole columns (NumPy, int64 fen and basis points: exact; no loop per row):
    ONE stable sort of the rows into settlement order within (person, scheme, year, pot) serves both running
    sums — the per-year deductible (one running sum per benefit setting, each over its own setting's rows) and the
    annual cap (over the uncapped payments)."""
    unknown = [c for c in columns if c not in RESULT_COLUMNS]
    if unknown:
        raise ValueError(f"not result columns: {unknown}")
    if explain_kinds:
        columns = RESULT_COLUMNS
    passed = tuple(c for c in PASS_THROUGH if c in columns or (c == "excluded" and "excluded_computed" in columns))
    t = query_arrow(con, benefit_sql(base, policy, ("row_kind", "row_id", "person_id")
                                     + tuple(c for c in passed if c not in ("row_kind", "row_id", "person_id"))))
    n = t.num_rows
    rr = rule_rows(policy)
    inf = int(Decimal(INF) * 100)
    ded_r = np.array([int(r[3] * 100) for r in rr], dtype=np.int64)
    per_year_r = np.array([r[4] for r in rr], dtype=bool)
    pot_r = np.array([POTS.index(r[5]) for r in rr], dtype=np.int64)
    t1_r = np.array([int(r[6] * 100) or inf for r in rr], dtype=np.int64)
    t2_r = np.array([int(r[7] * 100) or inf for r in rr], dtype=np.int64)
    rate_r = [np.array([int(r[8 + i] * 10000) for r in rr], dtype=np.int64) for i in range(MAX_BANDS)]
    caps = {(s, p): int(c * 100) for s, p, c in cap_rows(policy)}
    cap_r = np.array([caps[(s, p)] for s in SCHEMES for p in POTS], dtype=np.int64)

    rule = _ints(t["rule_no"])
    scheme_no, setting_no = _ints(t["scheme_no"]), _ints(t["setting_no"])
    cov = _ints(t["cov"])
    ded, per_year, pot = ded_r[rule], per_year_r[rule], pot_r[rule]
    cap = cap_r[scheme_no * len(POTS) + pot]
    # the person's year in the pot: (person, scheme, year, pot) → one int64 key (persons numbered by a hash)
    persons = pc.dictionary_encode(t["person_id"].combine_chunks()).indices
    person = _ints(persons, fill=len(persons))  # a missing person id is one person (as IS NOT DISTINCT FROM)
    year_day = _ints(t["year_day"])
    group = ((person * len(SCHEMES) + scheme_no) * 256 + (year_day >> 9) % 256) * len(POTS) + pot
    # settlement order: (group, day of the year) as one int64 key; the rows come ordered by (row_kind, row_id), so
    # a stable sort keeps that order as the tie-break (date, kind, id)
    order = np.argsort(group * 512 + (year_day & 511), kind="stable")
    g_s = group[order]
    new = np.empty(n, dtype=bool)
    new[:1] = True
    np.not_equal(g_s[1:], g_s[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    part = np.cumsum(new) - 1

    # per-year deductible (起付线): the covered cost of the person's earlier rows of the same setting in the group
    cov_s = cov[order]
    carry = (per_year & (ded > 0))[order]
    set_s = setting_no[order]
    cov_before_s = np.zeros(n, dtype=np.int64)
    for k in np.unique(set_s[carry]):  # one running sum per benefit setting that carries (≤ 3), whole columns
        m = carry & (set_s == k)
        run = _running(np.where(m, cov_s, 0), starts, part)
        cov_before_s[m] = run[m] - cov_s[m]
    cov_before = np.empty(n, dtype=np.int64)
    cov_before[order] = cov_before_s
    ded_fen = np.where(per_year, np.minimum(cov_before + cov, ded) - np.minimum(cov_before, ded),
                       np.minimum(cov, ded))
    t1, t2 = t1_r[rule], t2_r[rule]
    b1 = np.maximum(np.minimum(cov, t1) - ded_fen, 0)
    b2 = np.maximum(np.minimum(cov, t2) - np.maximum(ded_fen, t1), 0)
    b3 = np.maximum(cov - np.maximum(ded_fen, t2), 0)
    # fen × basis points → fen, ROUND_HALF_UP (the operand is never negative)
    unc = (b1 * rate_r[0][rule] + b2 * rate_r[1][rule] + b3 * rate_r[2][rule] + 5000) // 10000
    # annual cap (封顶): the running sum of the uncapped payments in the same order
    cum = np.empty(n, dtype=np.int64)
    cum[order] = _running(unc[order], starts, part)
    fund = np.minimum(cum, cap) - np.minimum(cum - unc, cap)

    def booked_minus_fund():
        booked = t["booked_fen"]
        valid = None if not booked.null_count else ~booked.is_null().to_numpy(zero_copy_only=False)
        return _money(_ints(booked) - fund, valid)

    rule_arr = pa.array(rule.astype(np.int32))

    def rate(i):
        return pa.array([r[8 + i] for r in rr], pa.decimal128(9, 4)).take(rule_arr)

    built = {
        "benefit_setting": lambda: pa.array(SETTINGS, pa.string()).take(pa.array(setting_no)),
        "covered": lambda: _money(cov), "deductible": lambda: _money(ded_fen),
        "deductible_before": lambda: _money(np.where(per_year, np.minimum(cov_before, ded), 0)),
        "band1": lambda: _money(b1), "band2": lambda: _money(b2), "band3": lambda: _money(b3),
        "rate1": lambda: rate(0), "rate2": lambda: rate(1), "rate3": lambda: rate(2),
        "fund_uncapped": lambda: _money(unc), "cap": lambda: _money(cap),
        "cap_used_before": lambda: _money(np.minimum(cum - unc, cap)),
        "over_cap": lambda: _money(unc - fund), "fund_computed": lambda: _money(fund),
        "self_pay_computed": lambda: _money(cov - fund + _ints(t["class_b_self_pay_fen"])),
        "excluded_computed": lambda: t["excluded"], "difference": booked_minus_fund,
    }
    cols = {c: (built[c]() if c in built else t[c]) for c in columns}
    result = pa.table(cols)
    if not explain_kinds:
        return result
    kinds = ", ".join(sql_str(k) for k in explain_kinds)
    con.register("_benefit_explain", result)
    try:
        return query_arrow(con, f"SELECT z.*, CASE WHEN row_kind IN ({kinds}) THEN {arithmetic_sql('z.')} END AS "
                                f"arithmetic FROM _benefit_explain z ORDER BY row_kind, row_id")
    finally:
        con.unregister("_benefit_explain")


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
    return calculate(con, base, policy, explain_kinds)


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
    "calculate",
    "case_base_sql",
    "compute",
    "region_match_sql",
]
