"""Effect on settlement (结算): what the fund does not pay because of a suspension or termination.

Rule (seed 001, 顾荣 answer 1: 暂停期内提供服务发生的医保费用不予结算（急救、抢救除外）; 终止期内 … 不予结算):

- a **case** whose attending staff (``attending_staff_id``) had no payment qualification on its
  admission date (outpatient: the visit date) is not paid by the fund: ``fund_paid`` is withheld;
- a **fee line** of another case whose prescribing/performing staff (``staff_id``) had none on
  the line's ``service_date`` is not paid: its ``amount`` is withheld, the case's withheld lines
  together never more than the case's ``fund_paid``;
- except cases with ``emergency = 1`` (急诊、抢救), never withheld.

"No qualification on day D" = a QUALIFICATION_PERIODS row with ``start_date ≤ D`` and
(``end_date`` NULL or ``D < end_date``). Money is DECIMAL(18,2), sums exact. The year is the
settlement year (``settle_date``). The claims-review rule of issue 6 (yibao.review) applies the
same rule per case/line with its own rule id; this module gives the per-institution figures for
``make demo`` and the settlement deductions (``DEDUCTIONS`` with ``source = 'staff_qualification'``).
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from yibao.contract.derived import DEDUCTIONS, QUALIFICATION_PERIODS
from yibao.engine.runner import query_arrow

SOURCE = "staff_qualification"
MONEY = pa.decimal128(18, 2)

WITHHELD_LINES = pa.schema([
    pa.field("case_id", pa.string(), nullable=False),
    pa.field("line_no", pa.int64()),                     # NULL = the whole case
    pa.field("institution_id", pa.string(), nullable=False),
    pa.field("year", pa.int32(), nullable=False),
    pa.field("staff_id", pa.string(), nullable=False),
    pa.field("status", pa.string(), nullable=False),
    pa.field("service_date", pa.date32(), nullable=False),
    pa.field("amount", MONEY, nullable=False),
    pa.field("source_id", pa.string()),
])

_DETAIL_SQL = """
    WITH p AS (SELECT staff_id, status, start_date, end_date, source_id FROM periods),
    case_hits AS (
        SELECT c.case_id, NULL::BIGINT AS line_no, c.institution_id, CAST(year(c.settle_date) AS INTEGER) AS year,
               c.attending_staff_id AS staff_id, p.status, c.admit_date AS service_date,
               CAST(c.fund_paid AS DECIMAL(18,2)) AS amount, p.source_id,
               row_number() OVER (PARTITION BY c.case_id ORDER BY p.start_date, p.status) AS k
        FROM cases AS c JOIN p ON p.staff_id = c.attending_staff_id
         AND p.start_date <= c.admit_date AND (p.end_date IS NULL OR c.admit_date < p.end_date)
        WHERE NOT coalesce(CAST(c.emergency AS BOOLEAN), FALSE)
    ),
    line_hits AS (
        SELECT f.case_id, CAST(f.line_no AS BIGINT) AS line_no, c.institution_id,
               CAST(year(c.settle_date) AS INTEGER) AS year, f.staff_id, p.status, f.service_date,
               CAST(f.amount AS DECIMAL(18,2)) AS amount, p.source_id,
               row_number() OVER (PARTITION BY f.case_id, f.line_no ORDER BY p.start_date, p.status) AS k
        FROM fee_items AS f JOIN cases AS c ON c.case_id = f.case_id
        JOIN p ON p.staff_id = f.staff_id AND p.start_date <= f.service_date
         AND (p.end_date IS NULL OR f.service_date < p.end_date)
        WHERE NOT coalesce(CAST(c.emergency AS BOOLEAN), FALSE)
          AND f.case_id NOT IN (SELECT case_id FROM case_hits)
    )
    SELECT case_id, line_no, institution_id, year, staff_id, status, service_date, amount, source_id
    FROM case_hits WHERE k = 1
    UNION ALL
    SELECT case_id, line_no, institution_id, year, staff_id, status, service_date, amount, source_id
    FROM line_hits WHERE k = 1
"""

_SUMMARY_SQL = """
    WITH d AS (SELECT * FROM withheld_detail),
    per_case AS (
        SELECT d.institution_id, d.year, d.case_id, any_value(c.setting) AS setting,
               CASE WHEN bool_or(d.line_no IS NULL) THEN sum(d.amount)
                    ELSE least(sum(d.amount), any_value(CAST(c.fund_paid AS DECIMAL(18,2)))) END AS amount
        FROM d JOIN cases AS c USING (case_id) GROUP BY d.institution_id, d.year, d.case_id
    )
    SELECT institution_id, year, setting, 'staff_qualification' AS source,
           CAST(sum(amount) AS DECIMAL(18,2)) AS amount, count(*) AS findings
    FROM per_case GROUP BY institution_id, year, setting ORDER BY institution_id, year, setting
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
        cur.register("periods", periods.cast(QUALIFICATION_PERIODS))
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
