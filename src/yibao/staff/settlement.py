"""Effect on settlement (结算): what the fund does not pay because of a suspension or termination.

The rule is the one definition in :mod:`yibao.contract.derived` (next to QUALIFICATION_PERIODS), shared with
the claims review's rule L11 (seed 001, 顾荣 answer 1: 暂停期内提供服务发生的医保费用不予结算（急救、抢救除外）;
终止期内所提供服务发生的医保费用将不予结算):

- a **fee line** whose own staff member (``fee_items.staff_id``, 开单/执行人员) had no payment qualification
  on the line's ``service_date`` is not settled: its ``amount`` is withheld — the person's own services;
- lines of other staff on a case the person attended (``attending_staff_id``) are their services and are
  paid (until issue 13 the whole case of a suspended attending physician was withheld here while the review
  rejected only the person's lines; the seed speaks of the services the person provided);
- the emergency exception (``emergency = 1``, 急救、抢救) holds only for periods with ``emergency_paid``
  (by default suspensions, ``staff.emergency_paid_statuses``): a terminated person's emergency services are
  not settled either.

"No qualification on day D" = a QUALIFICATION_PERIODS row with ``start_date ≤ D`` and
(``end_date`` NULL or ``D < end_date``). Money is DECIMAL(18,2), sums exact. The year is the
settlement year (``settle_date``). The deductions per institution (``DEDUCTIONS`` with
``source = 'staff_qualification'``) equal the review's L11 reject amounts on the same data.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from yibao.contract.derived import DEDUCTIONS, as_qualification_periods, emergency_paid_sql
from yibao.contract.vocab import MONEY
from yibao.engine.runner import query_arrow

SOURCE = "staff_qualification"

WITHHELD_LINES = pa.schema([
    pa.field("case_id", pa.string(), nullable=False),
    pa.field("line_no", pa.int64()),
    pa.field("institution_id", pa.string(), nullable=False),
    pa.field("year", pa.int32(), nullable=False),
    pa.field("staff_id", pa.string(), nullable=False),
    pa.field("status", pa.string(), nullable=False),
    pa.field("service_date", pa.date32(), nullable=False),
    pa.field("amount", MONEY, nullable=False),
    pa.field("source_id", pa.string()),
])

_DETAIL_SQL = """
    WITH p AS (SELECT staff_id, status, start_date, end_date, source_id,
                      {paid} AS emergency_paid FROM periods),
    line_hits AS (
        SELECT f.case_id, CAST(f.line_no AS BIGINT) AS line_no, c.institution_id,
               CAST(year(c.settle_date) AS INTEGER) AS year, f.staff_id, p.status, f.service_date,
               CAST(f.amount AS DECIMAL(18,2)) AS amount, p.source_id,
               coalesce(CAST(c.emergency AS BOOLEAN), FALSE) AS emergency, p.emergency_paid,
               row_number() OVER (PARTITION BY f.case_id, f.line_no ORDER BY p.start_date, p.status) AS k,
               bool_and(p.emergency_paid) OVER (PARTITION BY f.case_id, f.line_no) AS all_paid
        FROM fee_items AS f JOIN cases AS c ON c.case_id = f.case_id
        JOIN p ON p.staff_id = f.staff_id AND p.start_date <= f.service_date
         AND (p.end_date IS NULL OR f.service_date < p.end_date)
    )
    SELECT case_id, line_no, institution_id, year, staff_id, status, service_date, amount, source_id
    FROM line_hits WHERE k = 1 AND NOT (emergency AND all_paid)
""".replace("{paid}", emergency_paid_sql())

_SUMMARY_SQL = """
    SELECT d.institution_id, d.year, c.setting, 'staff_qualification' AS source,
           CAST(sum(d.amount) AS DECIMAL(18,2)) AS amount, count(DISTINCT d.case_id) AS findings
    FROM withheld_detail d JOIN cases AS c USING (case_id)
    GROUP BY d.institution_id, d.year, c.setting ORDER BY d.institution_id, d.year, c.setting
"""


def withheld(con: duckdb.DuckDBPyConnection, periods: pa.Table, cases: str | pa.Table = "cases",
             fee_items: str | pa.Table = "fee_items") -> tuple[pa.Table, pa.Table]:
    """(detail per withheld case or line, DEDUCTIONS per institution and year).

    ``cases`` and ``fee_items`` are Arrow tables or names of tables in ``con`` (the workspace's);
    they need the columns named in the SQL above. ``periods`` is a QUALIFICATION_PERIODS table.
    ``findings`` in the summary counts cases.
    """
    cur = con.cursor()
    try:
        cur.register("periods", as_qualification_periods(periods))
        for name, src in (("cases", cases), ("fee_items", fee_items)):
            if isinstance(src, pa.Table):
                cur.register(name, src)
            elif src != name:
                cur.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {src}")
        detail = query_arrow(cur, _DETAIL_SQL).select(WITHHELD_LINES.names).cast(WITHHELD_LINES)
        detail = detail.sort_by([("institution_id", "ascending"), ("case_id", "ascending"), ("line_no", "ascending")])
        cur.register("withheld_detail", detail)
        summary = query_arrow(cur, _SUMMARY_SQL).cast(DEDUCTIONS)
        return detail, summary
    finally:
        cur.close()
