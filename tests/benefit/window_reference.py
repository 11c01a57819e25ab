"""The calculator's previous formulation — one SQL statement with two window functions (the running deductible and
the running cap sum) — kept as a test oracle: tests/benefit/test_window_reference.py checks that the NumPy
accumulations of ``yibao.benefit.compute.calculate`` give the same table, column by column, on a generated region.
(Copied from src/yibao/benefit/compute.py at commit 33b0a00; not used by the package.)"""

from __future__ import annotations

from decimal import Decimal

from yibao.benefit.policy import POTS, SCHEMES, SETTINGS, cap_rows, rule_rows
from yibao.contract.params import Values
from yibao.contract.vocab import MONEY_SQL, sql_str

INF = "1000000000000.00"
RATE = "DECIMAL(9,4)"


def _values(rows: list[tuple], types: list[str]) -> str:
    def lit(v, t):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int,)) and t == "INTEGER":
            return str(v)
        return f"CAST({sql_str(v)} AS {t})"

    return "VALUES " + ", ".join("(" + ", ".join(lit(v, t) for v, t in zip(r, types)) + ")" for r in rows)


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
