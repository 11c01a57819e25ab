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
    unit: str  # "pct" (share shown as %), "index", "days", "count", "per100"
    levels: tuple[str, ...] = ("institution", "doctor")
    inpatient: bool = False  # computed over inpatient stays only (the shrinkage counts those)
    source: str = ""  # "" always; "drg" / "dip" / "findings": only with that input; "proxy": only without drg


FEATURES = (
    Feature("cost_index", "例均费用指数（按诊断类别调整）", "index"),
    Feature("los_days_adj", "病种调整平均住院日", "days", inpatient=True),
    Feature("multi_dx_share", "有 2 个及以上其他诊断的住院病例占比（按诊断类别调整）", "pct", inpatient=True, source="proxy"),
    Feature("cc_mcc_share", "伴 CC/MCC 的 DRG 病例占比", "pct", inpatient=True, source="drg"),
    Feature("cmi_cost_ratio", "病例组合指数与费用之比（CMI ÷ 例均费用/全区例均费用）", "index", inpatient=True,
            source="drg"),
    Feature("high_score_share", "高分值病种病例占比（DIP）", "pct", inpatient=True, source="dip"),
    Feature("deviation_share", "偏差病例占比（DIP 高低倍率）", "pct", inpatient=True, source="dip"),
    Feature("points_cost_ratio", "分值与费用之比（全区每点费用 ÷ 本机构每点费用，DIP）", "index", inpatient=True,
            source="dip"),
    Feature("readmit15_share", "15 日内同机构再入院率", "pct", inpatient=True),
    Feature("offday_share", "周末及法定节假日入院占比", "pct", inpatient=True),
    Feature("findings_per100", "每百例审核疑点数", "per100", source="findings"),
    Feature("top_doctor_share", "单一主诊医师病例占比", "pct", ("institution",)),
    Feature("shared_patients", "与另一机构共同住院患者超出预期人数", "count", ("institution",), inpatient=True),
    Feature("shared_suspended", "与暂停/终止资格人员共同患者数", "count"),
)
# DIP: a group whose score is at least this many points is a high-score group (the DIP policy's default
# indicators.high_score_min, 2 × the mean case at a mean score of 1000; src/yibao/dip/defaults.toml)
HIGH_SCORE_MIN = 2000
SOURCE_ZH = {"drg": "DRG 分组结果（--drg-grouped）", "dip": "DIP 赋分结果（--dip-scored）",
             "findings": "审核结果（--findings）"}


def active(have: set[str]) -> tuple[list[Feature], list[dict]]:
    """(the features computed with the inputs in ``have``, a status row per feature: computed or why not)."""
    feats, status = [], []
    for f in FEATURES:
        if f.source == "proxy":
            on = "drg" not in have
            why = "未提供 DRG 分组结果，以其他诊断数代替 CC/MCC" if on else "已由 DRG 分组结果的 CC/MCC 占比代替"
        elif f.source:
            on = f.source in have
            why = f"来自{SOURCE_ZH[f.source]}" if on else f"未计算：未提供{SOURCE_ZH[f.source]}"
        else:
            on, why = True, "来自工作区病例"
        if on:
            feats.append(f)
        status.append({"feature": f.name, "feature_zh": f.zh, "computed": "是" if on else "否", "note": why})
    return feats, status


def _case_sql(year: int, have: set[str]) -> str:
    """One row per case settled in ``year`` with its expected cost / LOS (region, same setting and dx category)."""
    g = "drg" in have
    drg = "CAST(g.drg AS VARCHAR)" if g else "CAST(NULL AS VARCHAR)"
    cc = "right(g.drg, 1) IN ('1', '3')" if g else "CAST(NULL AS BOOLEAN)"
    dip = ("CAST(d.score AS DOUBLE) AS dip_score, d.deviation, CAST(d.points AS DOUBLE) AS dip_points"
           if "dip" in have else "CAST(NULL AS DOUBLE) AS dip_score, CAST(NULL AS VARCHAR) AS deviation, "
           "CAST(NULL AS DOUBLE) AS dip_points")
    fnd = "coalesce(f.n, 0)" if "findings" in have else "CAST(NULL AS BIGINT)"
    joins = ("LEFT JOIN lead_grouped g ON g.case_id = c.case_id " if "drg" in have else "") + \
            ("LEFT JOIN lead_dip d ON d.case_id = c.case_id " if "dip" in have else "") + \
            ("LEFT JOIN lead_findings f ON f.case_id = c.case_id " if "findings" in have else "")
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
               CASE WHEN c.setting = 'inpatient' THEN dayofweek(c.admit_date) IN (0, 6) END AS weekend,
               CASE WHEN c.setting = 'inpatient' THEN coalesce(o.off, dayofweek(c.admit_date) IN (0, 6)) END AS offday,
               CASE WHEN c.setting = 'inpatient' THEN {drg} END AS drg,
               CASE WHEN c.setting = 'inpatient' THEN {cc} END AS cc_mcc,
               {dip}, {fnd} AS findings
        FROM main.cases c LEFT JOIN inp i USING (case_id) LEFT JOIN lead_offdays o ON o.day = c.admit_date
        {joins}
        WHERE year(c.settle_date) = {int(year)}
    ), r AS (
        SELECT y.*, avg(cost) OVER w AS exp_cost, avg(los) OVER w AS exp_los, avg(CAST(multi_dx AS DOUBLE)) OVER w AS exp_multi,
               -- the expected cost as shown (leads_cases.csv): exact, in fen, the DECIMAL sum divided by the count
               -- and rounded half up (a DOUBLE average is summed in a thread-dependent order: its last fen varies)
               CAST(sum(total_cost) OVER w * 100 AS HUGEINT) AS exp_cost_sum_fen, count(total_cost) OVER w AS exp_cost_n,
               -- DRG relative weight from the year's costs: the DRG's mean cost ÷ the mean of all grouped stays
               CASE WHEN drg IS NOT NULL THEN avg(cost) OVER (PARTITION BY drg) END AS drg_mean_cost,
               sum(cost) FILTER (WHERE dip_points > 0) OVER () / nullif(sum(dip_points) OVER (), 0) AS region_cost_per_point
        FROM y
        WINDOW w AS (PARTITION BY setting, dx3)
    )
    SELECT r.*, drg_mean_cost / (SELECT avg(cost) FROM r WHERE drg IS NOT NULL) AS rw FROM r
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
               sum(CAST(c.multi_dx AS DOUBLE)) / nullif(sum(c.exp_multi), 0)
                   * (SELECT avg(CAST(multi_dx AS DOUBLE)) FROM lead_cases) AS multi_dx_share,
               avg(CAST(c.readmit15 AS DOUBLE)) AS readmit15_share,
               avg(CAST(c.offday AS DOUBLE)) AS offday_share,
               avg(CAST(c.cc_mcc AS DOUBLE)) AS cc_mcc_share,
               sum(c.rw) / nullif(sum(c.cost) FILTER (WHERE c.rw IS NOT NULL), 0)
                   * (SELECT avg(cost) FROM lead_cases WHERE rw IS NOT NULL) AS cmi_cost_ratio,
               avg(CAST(c.dip_score >= {HIGH_SCORE_MIN} AS DOUBLE)) FILTER (WHERE c.dip_points > 0) AS high_score_share,
               avg(CAST(c.deviation IN ('low', 'high', 'extreme') AS DOUBLE)) FILTER (WHERE c.dip_points > 0)
                   AS deviation_share,
               any_value(c.region_cost_per_point) FILTER (WHERE c.dip_points > 0)
                   / nullif(sum(c.cost) FILTER (WHERE c.dip_points > 0) / nullif(sum(c.dip_points), 0), 0)
                   AS points_cost_ratio,
               sum(c.findings) * 100.0 / count(*) AS findings_per100,
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
           e.cost_index, e.los_days_adj, e.multi_dx_share, e.cc_mcc_share, e.cmi_cost_ratio, e.high_score_share,
           e.deviation_share, e.points_cost_ratio, e.readmit15_share, e.offday_share, e.findings_per100,
           {top} AS top_doctor_share,
           {"CASE WHEN e.inpatient_cases > 0 THEN coalesce(sp.excess, 0) END" if level == "institution"
            else "CAST(NULL AS DOUBLE)"} AS shared_patients,
           CAST((SELECT count(DISTINCT c2.person_id) FROM lead_cases c2
                 WHERE c2.institution_id = e.institution_id {"AND c2.staff_id = e.staff_id" if level == "doctor" else ""}
                   AND c2.person_id IN (SELECT s.person_id FROM lead_cases s JOIN lead_bad b ON b.staff_id = s.staff_id
                                        WHERE true {own})) AS DOUBLE) AS shared_suspended
    FROM e JOIN main.institutions i USING (institution_id)
    {"LEFT JOIN dept d ON d.institution_id = e.institution_id AND d.staff_id = e.staff_id" if level == "doctor"
     else "LEFT JOIN lead_shared sp ON sp.institution_id = e.institution_id"}
    ORDER BY e.institution_id, e.staff_id
    """


SHARED_SQL = """
CREATE OR REPLACE TEMP TABLE lead_shared AS
WITH p AS (SELECT DISTINCT institution_id, person_id FROM lead_cases WHERE setting = 'inpatient'),
n AS (SELECT institution_id, count(*) AS k FROM p GROUP BY ALL),
tot AS (SELECT count(DISTINCT person_id) AS persons FROM p),
pr AS (SELECT a.institution_id, b.institution_id AS partner, count(*) AS shared
       FROM p a JOIN p b ON a.person_id = b.person_id AND a.institution_id <> b.institution_id GROUP BY ALL)
-- patients shared with the one other institution where the sharing most exceeds chance (k_a × k_b ÷ persons)
SELECT pr.institution_id,
       greatest(max(pr.shared - na.k * nb.k / tot.persons), 0) AS excess
FROM pr JOIN n na ON na.institution_id = pr.institution_id JOIN n nb ON nb.institution_id = pr.partner, tot
GROUP BY pr.institution_id
"""


def compute_features(con: duckdb.DuckDBPyConnection, year: int, periods: pa.Table | None, *,
                     grouped: pa.Table | None = None, dip: pa.Table | None = None, findings: pa.Table | None = None,
                     offdays: pa.Table | None = None) -> dict[str, pa.Table]:
    """The year's case table (``lead_cases``, left in ``con``) and one feature table per level.

    ``grouped``: ``case_id, drg`` of the grouped stays (``yibao group drg``); ``dip``: ``case_id, score,
    deviation, points`` (``yibao dip score``); ``findings``: ``case_id, n`` (review findings per case);
    ``offdays``: ``day, off`` — the calendar's exceptions (a weekday off, a weekend day worked)."""
    have = set()
    for name, t, src in (("lead_grouped", grouped, "drg"), ("lead_dip", dip, "dip"), ("lead_findings", findings,
                                                                                      "findings")):
        if t is not None:
            con.register(name, t)
            have.add(src)
    con.register("lead_offdays", offdays if offdays is not None else
                 pa.table({"day": pa.array([], pa.date32()), "off": pa.array([], pa.bool_())}))
    con.execute(_case_sql(year, have))
    for name in ["lead_offdays"] + [n for n, src in (("lead_grouped", "drg"), ("lead_dip", "dip"),
                                                     ("lead_findings", "findings")) if src in have]:
        con.unregister(name)
    con.execute(SHARED_SQL)
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
