"""Institutions (机构): the share of their staff suspended or terminated in a year, and the 通报 lists.

Seed 001, 王国栋 answer (三是): institutions whose registered staff were suspended or terminated
above a share in a year are dealt with in the agreement assessment; 顾荣 answer 1 (四是): the
scored, suspended and terminated staff are reported to the health (卫健) and drug (药监) regulators.

Per institution and year (the staff member's institution in the staff table, or the sanction's):

- ``registered``: staff of the institution registered on or before 31 December of the year;
- ``suspended`` / ``terminated``: of those, how many had a suspension / termination period
  overlapping the year (a person counted once, as terminated if both);
- ``share`` = (suspended + terminated) / registered, 4 decimals half-up; ``flagged`` when above
  ``institutions.flag_share``.

The 通报 list: every person with a period overlapping the year, with institution, role, dates
and the year's points; pharmacy principals and pharmacists go to the drug regulator (药监),
everyone else to the health regulator (卫健).
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pyarrow as pa

from yibao.engine.runner import query_arrow
from yibao.staff.policy import StaffPolicy

SHARES = pa.schema([
    pa.field("institution_id", pa.string(), nullable=False),
    pa.field("name", pa.string()),
    pa.field("year", pa.int32(), nullable=False),
    pa.field("registered", pa.int64(), nullable=False),
    pa.field("suspended", pa.int64(), nullable=False),
    pa.field("terminated", pa.int64(), nullable=False),
    pa.field("share", pa.decimal128(9, 4), nullable=False),
    pa.field("flagged", pa.bool_(), nullable=False),
])


def _persons_sql(year: int) -> str:
    y0, y1 = dt.date(year, 1, 1).isoformat(), dt.date(year + 1, 1, 1).isoformat()
    return f"""
        SELECT staff_id, CASE WHEN bool_or(status = 'terminated') THEN 'terminated' ELSE 'suspended' END AS status,
               min(start_date) AS first_start, max(coalesce(end_date, DATE '9999-12-31')) AS last_end
        FROM periods
        WHERE start_date < DATE '{y1}' AND (end_date IS NULL OR end_date > DATE '{y0}')
        GROUP BY staff_id"""


def shares(con: duckdb.DuckDBPyConnection, periods: pa.Table, year: int, pol: StaffPolicy) -> pa.Table:
    """Per institution of the ``staff`` table in ``con``: registered, suspended, terminated, share, flagged."""
    cur = con.cursor()
    try:
        cur.register("periods", periods)
        rows = cur.execute(f"""
            WITH reg AS (SELECT staff_id, institution_id FROM staff WHERE registered_on < DATE '{year + 1}-01-01'),
                 per AS ({_persons_sql(year)})
            SELECT r.institution_id, any_value(i.name), count(*) AS registered,
                   count(*) FILTER (WHERE per.status = 'suspended'), count(*) FILTER (WHERE per.status = 'terminated')
            FROM reg AS r LEFT JOIN per USING (staff_id) LEFT JOIN institutions AS i USING (institution_id)
            GROUP BY r.institution_id ORDER BY r.institution_id""").fetchall()
    finally:
        cur.close()
    out = []
    for inst, name, reg, s, t in rows:
        share = (Decimal(s + t) / Decimal(reg)).quantize(Decimal("0.0001"), ROUND_HALF_UP) if reg else Decimal(0)
        out.append({"institution_id": inst, "name": name, "year": year, "registered": reg, "suspended": s,
                    "terminated": t, "share": share, "flagged": share > pol.flag_share})
    return pa.Table.from_pylist(out, schema=SHARES)


def notification_list(con: duckdb.DuckDBPyConnection, periods: pa.Table, year: int,
                      points: pa.Table | None = None) -> pa.Table:
    """The 通报 list of the year: one row per person with a period overlapping it."""
    cur = con.cursor()
    try:
        cur.register("periods", periods)
        pts = points if points is not None else pa.table({"staff_id": pa.array([], pa.string()),
                                                          "year_points": pa.array([], pa.int64())})
        cur.register("pts", pts)
        return query_arrow(cur, f"""
            WITH per AS ({_persons_sql(year)})
            SELECT CASE WHEN s.role IN ('pharmacist', 'pharmacy_principal') THEN '药监部门' ELSE '卫生健康部门' END
                       AS regulator,
                   per.staff_id, s.name, s.role, s.institution_id, i.name AS institution_name,
                   CASE per.status WHEN 'terminated' THEN '终止' ELSE '暂停' END AS status,
                   per.first_start AS start_date,
                   CASE WHEN per.last_end = DATE '9999-12-31' THEN NULL ELSE per.last_end END AS end_date,
                   coalesce(pts.year_points, 0) AS year_points
            FROM per LEFT JOIN staff AS s USING (staff_id) LEFT JOIN institutions AS i ON i.institution_id = s.institution_id
            LEFT JOIN pts USING (staff_id)
            ORDER BY regulator, s.institution_id, per.staff_id""")
    finally:
        cur.close()
