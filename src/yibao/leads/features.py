"""Per-entity features of the fraud-lead model (大数据模型线索), set-based DuckDB SQL.

Entities: institutions (``level = 'institution'``) and attending doctors (``level = 'doctor'``, keyed by
``(institution_id, attending_staff_id)``) with cases settled in the year. Every feature is "higher = more
suspicious"; an inpatient-only feature is NULL for an entity without inpatient cases (it then scores 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from yibao.engine.runner import query_arrow


@dataclass(frozen=True)
class Feature:
    name: str
    zh: str
    unit: str  # "pct" (share shown as %), "index", "days", "count"
    levels: tuple[str, ...] = ("institution", "doctor")
    inpatient: bool = False  # computed over inpatient stays only (the shrinkage counts those)


FEATURES = (
    Feature("cost_index", "例均费用指数（按诊断类别调整）", "index"),
    Feature("los_days_adj", "病种调整平均住院日", "days", inpatient=True),
    Feature("multi_dx_share", "有 2 个及以上其他诊断的住院病例占比", "pct", inpatient=True),
    Feature("readmit15_share", "15 日内同机构再入院率", "pct", inpatient=True),
    Feature("weekend_share", "周末入院占比", "pct", inpatient=True),
    Feature("top_doctor_share", "单一主诊医师病例占比", "pct", ("institution",)),
    Feature("shared_suspended", "与暂停/终止资格人员共同患者数", "count"),
)


def _case_sql(year: int) -> str:
    """One row per case settled in ``year`` with its expected cost / LOS (region, same setting and dx category)."""
    return f"""
    CREATE OR REPLACE TEMP TABLE lead_cases AS
    WITH inp AS (   -- every inpatient stay (any year) for the 15-day readmission look-ahead
        SELECT case_id, lead(admit_date) OVER (PARTITION BY person_id, institution_id
                                               ORDER BY admit_date, discharge_date, case_id) AS next_admit
        FROM main.cases WHERE setting = 'inpatient'
    ), y AS (
        SELECT c.case_id, c.person_id, c.institution_id, c.attending_staff_id AS staff_id, c.setting,
               c.dept_code, left(c.principal_dx, 3) AS dx3, c.admit_date, c.discharge_date,
               c.total_cost, CAST(c.total_cost AS DOUBLE) AS cost,
               CASE WHEN c.setting = 'inpatient' THEN greatest(date_diff('day', c.admit_date, c.discharge_date), 1) END AS los,
               CASE WHEN c.setting = 'inpatient' THEN coalesce(len(c.secondary_dx), 0) >= 2 END AS multi_dx,
               CASE WHEN c.setting = 'inpatient' THEN coalesce(i.next_admit IS NOT NULL
                    AND i.next_admit >= c.discharge_date AND date_diff('day', c.discharge_date, i.next_admit) <= 15, false)
               END AS readmit15,
               CASE WHEN c.setting = 'inpatient' THEN dayofweek(c.admit_date) IN (0, 6) END AS weekend
        FROM main.cases c LEFT JOIN inp i USING (case_id)
        WHERE year(c.settle_date) = {int(year)}
    )
    SELECT y.*, avg(cost) OVER w AS exp_cost, avg(los) OVER w AS exp_los,
           -- the expected cost as shown (leads_cases.csv): exact, in fen, the DECIMAL sum divided by the count
           -- and rounded half up (a DOUBLE average is summed in a thread-dependent order: its last fen varies)
           CAST(sum(total_cost) OVER w * 100 AS HUGEINT) AS exp_cost_sum_fen, count(total_cost) OVER w AS exp_cost_n
    FROM y
    WINDOW w AS (PARTITION BY setting, dx3)
    """


def _entity_sql(level: str) -> str:
    if level == "institution":
        key, staff = "c.institution_id", "CAST(NULL AS VARCHAR)"
        where = ""
    else:
        key, staff = "c.institution_id, c.staff_id", "c.staff_id"
        where = "WHERE c.staff_id IS NOT NULL"
    top = ("(SELECT max(n) FROM (SELECT count(*) AS n FROM lead_cases d WHERE d.institution_id = e.institution_id "
           "AND d.staff_id IS NOT NULL GROUP BY d.staff_id)) / e.cases"
           if level == "institution" else "CAST(NULL AS DOUBLE)")
    own = "AND s.staff_id IS DISTINCT FROM e.staff_id" if level == "doctor" else ""
    return f"""
    WITH e AS (
        SELECT c.institution_id, {staff} AS staff_id, count(*) AS cases,
               count(*) FILTER (WHERE c.setting = 'inpatient') AS inpatient_cases,
               sum(c.cost) / nullif(sum(c.exp_cost), 0) AS cost_index,
               sum(c.los) / nullif(sum(c.exp_los), 0) * (SELECT avg(los) FROM lead_cases) AS los_days_adj,
               avg(CAST(c.multi_dx AS DOUBLE)) AS multi_dx_share,
               avg(CAST(c.readmit15 AS DOUBLE)) AS readmit15_share,
               avg(CAST(c.weekend AS DOUBLE)) AS weekend_share,
               min(c.dept_code) FILTER (WHERE c.dept_code IS NOT NULL) AS any_dept
        FROM lead_cases c {where}
        GROUP BY {key}
    ), dept AS (   -- a doctor's department: the one of most of their cases (ties: smallest code)
        SELECT institution_id, staff_id, arg_min(dept_code, (-n, dept_code)) AS dept_code FROM (
            SELECT institution_id, staff_id, dept_code, count(*) AS n FROM lead_cases
            WHERE staff_id IS NOT NULL AND dept_code IS NOT NULL GROUP BY ALL) GROUP BY ALL
    )
    SELECT '{level}' AS level, e.institution_id, e.staff_id, e.cases, e.inpatient_cases,
           i.kind, i.level AS inst_level,
           {"i.kind || '/' || CAST(i.level AS VARCHAR)" if level == "institution"
            else "i.kind || '/' || coalesce(d.dept_code, '-')"} AS peer_group,
           e.cost_index, e.los_days_adj, e.multi_dx_share, e.readmit15_share, e.weekend_share,
           {top} AS top_doctor_share,
           CAST((SELECT count(DISTINCT c2.person_id) FROM lead_cases c2
                 WHERE c2.institution_id = e.institution_id {"AND c2.staff_id = e.staff_id" if level == "doctor" else ""}
                   AND c2.person_id IN (SELECT s.person_id FROM lead_cases s JOIN lead_bad b ON b.staff_id = s.staff_id
                                        WHERE true {own})) AS DOUBLE) AS shared_suspended
    FROM e JOIN main.institutions i USING (institution_id)
    {"LEFT JOIN dept d ON d.institution_id = e.institution_id AND d.staff_id = e.staff_id" if level == "doctor" else ""}
    ORDER BY e.institution_id, e.staff_id
    """


def compute_features(con: duckdb.DuckDBPyConnection, year: int, periods: pa.Table | None) -> dict[str, pa.Table]:
    """The year's case table (``lead_cases``, left in ``con``) and one feature table per level."""
    con.execute(_case_sql(year))
    bad = periods if periods is not None else pa.table({"staff_id": pa.array([], pa.string()),
                                                       "status": pa.array([], pa.string()),
                                                       "start_date": pa.array([], pa.date32()),
                                                       "end_date": pa.array([], pa.date32())})
    con.register("lead_periods_in", bad.select(["staff_id", "status", "start_date", "end_date"]))
    con.execute(f"""CREATE OR REPLACE TEMP TABLE lead_bad AS
        SELECT DISTINCT staff_id FROM lead_periods_in
        WHERE status IN ('suspended', 'terminated') AND start_date <= DATE '{int(year)}-12-31'
          AND (end_date IS NULL OR end_date > DATE '{int(year)}-01-01')""")
    con.unregister("lead_periods_in")
    return {lv: query_arrow(con, _entity_sql(lv)) for lv in ("institution", "doctor")}
