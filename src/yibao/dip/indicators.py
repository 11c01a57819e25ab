"""DIP supervision indicators (违规行为监管辅助目录) per institution and year.

``indicator_table(scored, cases, levels, policy)`` computes, in one set-based DuckDB query over
the scored cases (``yibao dip score``), the workspace's cases and the institutions' levels:

============================  =====================================================================
``upcoding_high_share``       高套病种: grouped cases in high-score groups (group score ≥
                              ``indicators.high_score_min``) ÷ grouped cases
``upcoding_cmi``              高套病种: CMI = Σ group score ÷ grouped cases ÷ 1000
``readmission``               分解住院: stays whose admission is ≤ ``readmit_days`` after the discharge
                              of an earlier inpatient stay of the same person at the same institution
                              with the same ICD-10 category (first three characters) ÷ stays
``low_standard_admission``    低标入院: grouped cases in low-score groups (score ≤ ``low_score_max``)
                              with discharge − admission ≤ ``short_stay_days`` ÷ grouped cases
``cost_shifting``             转嫁费用: Σ outpatient ``fund_paid`` of the same person at the same
                              institution with a visit date in [admission − ``shift_days``, admission]
                              or [discharge, discharge + ``shift_days``], ÷ stays (yuan per stay)
``refusing_severe``           推诿病人: high-score share this year − the share the year before
============================  =====================================================================

Each value is compared with its **peer band**: the exact median of the institutions of the same
level in the same year that have a value (this institution included); band = median × the
indicator's multiple (flag when above), or for ``refusing_severe`` median − ``refuse_drop`` (flag
when below). With fewer than ``min_peers`` such institutions no flag is set. Shares, CMI and
changes have 4 decimals, cost per stay 2; every division is exact (``div_round``, half-up).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from yibao.dip.inputs import read_levels, read_scored
from yibao.dip.labels import cell_text
from yibao.dip.policy import DipPolicy
from yibao.engine.csvfile import rows_csv
from yibao.engine.runner import LocalRunner, Pipeline, Runner, Step, query_arrow
from yibao.engine.sqlmoney import div_round
from yibao.engine.workspace import Workspace

__all__ = ["DIP_INDICATORS", "INDICATORS", "CASE_COLUMNS", "indicator_params", "indicator_table", "indicators_csv", "indicators"]

INDICATORS = {  # code → (Chinese name, direction, multiple key or None, explanation)
    "upcoding_high_share": ("高套病种：高分值病种病例占比", "above", "upcoding_multiple",
                            "分值 ≥ {high_score_min} 的入组病例数 ÷ 入组病例数"),
    "upcoding_cmi": ("高套病种：CMI", "above", "upcoding_multiple", "入组病例病种分值之和 ÷ 入组病例数 ÷ 1000"),
    "readmission": ("分解住院：{readmit_days} 天内同类目再入院率", "above", "readmit_multiple",
                    "同一参保人、同一机构、主要诊断类目相同，出院后 {readmit_days} 天内再次入院的病例数 ÷ 住院病例数"),
    "low_standard_admission": ("低标入院：低分值短住院病例占比", "above", "low_admission_multiple",
                               "分值 ≤ {low_score_max} 且住院 ≤ {short_stay_days} 天的入组病例数 ÷ 入组病例数"),
    "cost_shifting": ("转嫁费用：住院前后门诊统筹支付（元/人次）", "above", "shift_multiple",
                      "同一参保人在同一机构入院前 {shift_days} 天至入院当日、出院当日至出院后 {shift_days} "
                      "天门诊统筹支付之和 ÷ 住院病例数"),
    "refusing_severe": ("推诿病人：高分值病种病例占比较上年变化", "below", None,
                        "本年高分值病种病例占比 − 上年占比（上年无病例则不计）"),
}
HEADERS = ["机构编码", "机构等级", "年度", "指标代码", "指标", "指标值", "同级机构数", "同级中位数", "预警界值", "预警方向",
           "预警", "计算方法"]
CASE_COLUMNS = ("case_id", "person_id", "institution_id", "setting", "admit_date", "discharge_date", "principal_dx",
                "fund_paid")


def indicator_params(policy: DipPolicy) -> pa.Table:
    """The ``p`` table the SQL reads: every ``[indicators]`` value of the policy (yibao.dip.policy.TABLE), one row,
    one column each (sorted by name)."""
    ind = policy.indicators
    return pa.table({k: [ind[k]] for k in sorted(ind)})


def _q4(expr: str, num_scale: int = 0, den: str = "1", den_scale: int = 0) -> str:
    return div_round(expr, den, num_scale=num_scale, den_scale=den_scale, scale=4)


SQL = f"""
WITH sc AS (
    SELECT s.case_id, s.institution_id, s.year, s.score, s.points, l.level
    FROM scored s LEFT JOIN levels l ON l.institution_id = s.institution_id
),
inp AS (  -- every inpatient stay of the workspace (earlier stays count even when not scored)
    SELECT case_id, person_id, institution_id, admit_date, discharge_date,
           upper(substr(trim(principal_dx), 1, 3)) AS dx_cat
    FROM cases WHERE setting = 'inpatient'
),
stays AS (
    SELECT sc.*, i.person_id, i.admit_date, i.discharge_date, i.dx_cat
    FROM sc JOIN inp i ON i.case_id = sc.case_id
),
readmit AS (
    SELECT b.case_id FROM stays b, p
    WHERE EXISTS (
        SELECT 1 FROM inp a
        WHERE a.person_id = b.person_id AND a.institution_id = b.institution_id AND a.dx_cat = b.dx_cat
          AND a.case_id <> b.case_id AND a.discharge_date <= b.admit_date
          AND (a.admit_date < b.admit_date OR a.admit_date = b.admit_date AND a.case_id < b.case_id)
          AND date_diff('day', a.discharge_date, b.admit_date) <= p.readmit_days)
),
shift AS (  -- per stay: outpatient fund spending around it (a visit may count for two close stays)
    SELECT b.case_id, sum(o.fund_paid) AS fund
    FROM stays b JOIN cases o ON o.setting = 'outpatient' AND o.person_id = b.person_id
                             AND o.institution_id = b.institution_id, p
    WHERE o.admit_date BETWEEN b.admit_date - CAST(p.shift_days AS INTEGER) AND b.admit_date
       OR o.admit_date BETWEEN b.discharge_date AND b.discharge_date + CAST(p.shift_days AS INTEGER)
    GROUP BY b.case_id
),
base AS (
    SELECT sc.institution_id, sc.year, any_value(sc.level) AS level,
           count(*) AS cases,
           count(sc.points) AS grouped,
           count(*) FILTER (WHERE sc.points IS NOT NULL AND sc.score >= p.high_score_min) AS high_cases,
           sum(sc.score) FILTER (WHERE sc.points IS NOT NULL) AS score_sum,
           count(*) FILTER (WHERE sc.points IS NOT NULL AND sc.score <= p.low_score_max
                             AND date_diff('day', st.admit_date, st.discharge_date) <= p.short_stay_days) AS low_short,
           count(st.case_id) AS stays,
           count(r.case_id) AS readmissions,
           coalesce(sum(sh.fund), 0) AS shift_fund
    FROM sc LEFT JOIN stays st ON st.case_id = sc.case_id
            LEFT JOIN readmit r ON r.case_id = sc.case_id
            LEFT JOIN shift sh ON sh.case_id = sc.case_id, p
    GROUP BY sc.institution_id, sc.year
),
rates AS (
    SELECT *, {_q4("high_cases", den="grouped")} AS high_share FROM base
),
v AS (
    SELECT institution_id, level, year, 'upcoding_high_share' AS indicator, high_share AS value FROM rates
    UNION ALL SELECT institution_id, level, year, 'upcoding_cmi',
        {_q4("score_sum", num_scale=4, den="1000 * grouped")} FROM rates
    UNION ALL SELECT institution_id, level, year, 'readmission', {_q4("readmissions", den="stays")} FROM rates
    UNION ALL SELECT institution_id, level, year, 'low_standard_admission', {_q4("low_short", den="grouped")} FROM rates
    UNION ALL SELECT institution_id, level, year, 'cost_shifting',
        CAST({div_round("shift_fund", "stays", num_scale=2, scale=2)} AS DECIMAL(18, 4)) FROM rates
    UNION ALL SELECT r.institution_id, r.level, r.year, 'refusing_severe', r.high_share - r0.high_share
        FROM rates r LEFT JOIN rates r0 ON r0.institution_id = r.institution_id AND r0.year = r.year - 1
),
ranked AS (
    SELECT v.*, count(value) OVER w AS peers,
           CASE WHEN value IS NOT NULL THEN row_number() OVER (PARTITION BY level, year, indicator, value IS NULL
                                                               ORDER BY value, institution_id) END AS rn
    FROM v WINDOW w AS (PARTITION BY level, year, indicator)
),
med AS (
    SELECT level, year, indicator,
           {_q4("sum(value)", num_scale=4, den="count(*)")} AS median
    FROM ranked WHERE rn IN ((peers + 1) // 2, (peers + 2) // 2)
    GROUP BY level, year, indicator
),
bands AS (
    SELECT r.*, m.median,
           CASE r.indicator
             WHEN 'refusing_severe' THEN m.median - p.refuse_drop
             ELSE {_q4("m.median * CASE r.indicator WHEN 'readmission' THEN p.readmit_multiple "
                       "WHEN 'low_standard_admission' THEN p.low_admission_multiple "
                       "WHEN 'cost_shifting' THEN p.shift_multiple ELSE p.upcoding_multiple END", num_scale=8)}
           END AS band
    FROM ranked r LEFT JOIN med m USING (level, year, indicator), p
)
SELECT institution_id, level, year, indicator, value, peers, median, band,
       CASE WHEN value IS NULL OR peers < p.min_peers THEN NULL
            WHEN indicator = 'refusing_severe' THEN value < band
            ELSE value > band END AS flag
FROM bands, p
"""


INDICATOR_STEP = Step(
    name="dip_indicators",
    main="scored",
    mode="global",
    broadcast=("cases", "levels", "p"),
    sql=SQL,
    schema=pa.schema([("institution_id", pa.string()), ("level", pa.int64()), ("year", pa.int32()),
                      ("indicator", pa.string()), ("value", pa.decimal128(18, 4)), ("peers", pa.int64()),
                      ("median", pa.decimal128(18, 4)), ("band", pa.decimal128(18, 4)), ("flag", pa.bool_())]),
    order_by=("institution_id", "year", "indicator"),
    doc="违规行为监管辅助指标：每机构每年度的指标值、同级机构中位数、预警界值与预警",
)
DIP_INDICATORS = Pipeline(name="dip_indicators", steps=(INDICATOR_STEP,),
                          doc="DIP 监管指标：高套病种、分解住院、低标入院、转嫁费用、推诿病人")


def indicator_table(scored: pa.Table, cases: pa.Table, levels: pa.Table, policy: DipPolicy,
                    runner: Runner | None = None) -> list[dict]:
    """One dict per institution × year × indicator (see the module doc), sorted."""
    sources = {"scored": scored.select(["case_id", "institution_id", "year", "score", "points"]),
               "cases": cases.select(list(CASE_COLUMNS)),
               "levels": levels.select(["institution_id", "level"]).cast(
                   pa.schema([("institution_id", pa.string()), ("level", pa.int64())])),
               "p": indicator_params(policy)}
    table = (runner or LocalRunner()).run_pipeline(DIP_INDICATORS, sources)["dip_indicators"]
    order = {k: i for i, k in enumerate(INDICATORS)}
    rows = table.to_pylist()
    rows.sort(key=lambda r: (r["institution_id"], r["year"], order[r["indicator"]]))
    for r in rows:
        if r["indicator"] == "cost_shifting":
            for k in ("value", "median", "band"):
                if r[k] is not None:
                    r[k] = r[k].quantize(Decimal("0.01"))
    return rows


def indicators_csv(rows: list[dict], policy: DipPolicy) -> bytes:
    ind = {k: format(v.normalize(), "f") if isinstance(v, Decimal) else v for k, v in policy.indicators.items()}
    out = []
    for r in rows:
        name, direction, _, how = INDICATORS[r["indicator"]]
        out.append([r["institution_id"], cell_text(r["level"]), r["year"], r["indicator"], name.format(**ind),
                    cell_text(r["value"]), r["peers"], cell_text(r["median"]), cell_text(r["band"]),
                    "高于界值预警" if direction == "above" else "低于界值预警",
                    "同级机构不足 {}".format(ind["min_peers"]) if r["value"] is not None and r["flag"] is None
                    else cell_text(r["flag"]), how.format(**ind)])
    return rows_csv(HEADERS, out)


def indicators(workspace: Path, scored_dir: Path, policy: DipPolicy, out_dir: Path) -> list[dict]:
    scored = read_scored(scored_dir)
    levels = read_levels(workspace)
    with Workspace(workspace, read_only=True) as ws:
        cases = query_arrow(ws.con, f"SELECT {', '.join(CASE_COLUMNS)} FROM main.cases")
    rows = indicator_table(scored, cases, levels, policy)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "indicators.csv").write_bytes(indicators_csv(rows, policy))
    return rows
