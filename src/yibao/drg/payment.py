"""The SQL of DRG payment (DRG 付费): the pipelines of relative weights from history and of each case's weight.

- **Weights (相对权重 RW)**: each DRG's average cost over the history years (trimmed and year-weighted exactly as
  the DIP catalogue, by the shared :mod:`yibao.settle.relative` steps) ÷ the all-case average.
- **A case's weight**: RW × the institution's coefficient; 高倍率 (cost > ``high_ratio`` × the DRG's average):
  RW × ((cost / average − high_ratio) + 1); 低倍率 (cost < ``low_ratio`` × average): RW × cost / average.
- **By item (按项目)**: cases that did not group, DRGs without a weight, stays of ≤ ``short_stay_days`` or
  ≥ ``long_stay_days`` days and per-diem (按床日) diagnoses leave DRG payment: the fund pays what was booked,
  out of the inpatient budget first.
- **Base rate (费率)** = (budget − by-item fund) ÷ the year's total case weight: the value of one unit in the
  shared settlement (:mod:`yibao.settle.units`) — monthly provisional rate and prepayment with the quality
  deposit, year-end clearing with the budget policy's 结余留用、超支分担 bands and deductions. The very
  machinery that settles DIP points, not a copy of it (:mod:`yibao.drg.settlement`).

The parameters are :mod:`yibao.drg.policy`'s (the ``drg_pay_params``, ``drg_years``, ``drg_per_diem`` and
``drg_coefficients`` tables); the year's files and statements are :mod:`yibao.drg.report`'s.
"""

from __future__ import annotations

import pyarrow as pa

from yibao.contract.vocab import MONEY
from yibao.drg.policy import PARAM
from yibao.engine.runner import Pipeline, Step
from yibao.settle.agreement import NOT_EXCLUDED
from yibao.settle.relative import group_year_step, relative_step

__all__ = ["DRG_WEIGHTS", "DRG_PAYMENT", "CASE_COSTS", "WEIGHT_CASES", "CASE_PAY", "PAY_UNITS", "SCORE"]

SCORE = pa.decimal128(18, 4)  # weights (RW, case weights): four decimals


CASE_COSTS = Step(
    name="drg_pay_case_costs",
    main="drg_grouped",
    mode="global",
    broadcast=("cases", "drg_pay_params", "drg_per_diem"),
    sql="""
WITH c AS (
    SELECT g.case_id, g.status, g.drg, x.institution_id, x.scheme, x.total_cost, x.fund_paid,
           CAST(year(x.discharge_date) AS INTEGER) AS year,
           CAST(year(x.settle_date) AS INTEGER) AS settle_year,
           CAST(month(x.settle_date) AS INTEGER) AS settle_month,
           CAST(date_diff('day', x.admit_date, x.discharge_date) AS INTEGER) AS los_days,
           upper(trim(coalesce(x.principal_dx, ''))) AS dx
    FROM drg_grouped g JOIN cases x USING (case_id)
    WHERE x.setting = 'inpatient'
)
SELECT c.case_id, c.status, c.drg, c.institution_id, c.scheme, c.total_cost, c.fund_paid, c.year, c.settle_year,
       c.settle_month, c.los_days,
       CASE WHEN c.status <> 'ok' OR c.drg IS NULL THEN 'not_grouped'
            WHEN p.short_stay_days > 0 AND c.los_days <= p.short_stay_days THEN 'short_stay'
            WHEN c.los_days >= p.long_stay_days THEN 'long_stay'
            WHEN EXISTS (SELECT 1 FROM drg_per_diem d WHERE starts_with(c.dx, d.prefix)) THEN 'per_diem'
       END AS item_reason
FROM c, drg_pay_params p
""",
    schema=pa.schema([("case_id", pa.string()), ("status", pa.string()), ("drg", pa.string()),
                      ("institution_id", pa.string()), ("scheme", pa.string()), ("total_cost", MONEY),
                      ("fund_paid", MONEY), ("year", pa.int32()), ("settle_year", pa.int32()),
                      ("settle_month", pa.int32()), ("los_days", pa.int32()), ("item_reason", pa.string())]),
    order_by=("case_id",),
    doc="住院病例的 DRG、费用、结算月份与按项目结算的原因（未入组、住院天数、按床日病种）",
)

WEIGHT_CASES = Step(
    name="drg_weight_cases",
    main="drg_pay_case_costs",
    mode="rowwise",
    sql="""
SELECT drg AS group_id, year, case_id, total_cost FROM drg_pay_case_costs WHERE item_reason IS NULL
""",
    schema=pa.schema([("group_id", pa.string()), ("year", pa.int32()), ("case_id", pa.string()),
                      ("total_cost", MONEY)]),
    order_by=("case_id",),
    doc="计算权重的历史病例（按 DRG 付费的病例）",
)

DRG_WEIGHTS = Pipeline(
    name="drg_weights",
    steps=(CASE_COSTS, WEIGHT_CASES,
           group_year_step("drg_group_year", "drg_weight_cases", "drg_years", "drg_pay_params"),
           relative_step("drg_weights", "drg_group_year", "drg_years", "drg_pay_params",
                         doc="DRG 相对权重 RW = DRG 平均费用（年度加权、剔除离群病例）÷ 全部病例平均费用")),
    doc="DRG 相对权重：由历史病例计算",
)

CASE_PAY = Step(
    name="drg_case_pay",
    main="drg_pay_case_costs",
    mode="rowwise",
    broadcast=("drg_weights", "drg_pay_params", "institutions", "drg_coefficients", "settle_outside_agreement"),
    sql="""
WITH m AS (
    SELECT c.*, w.relative AS rw, w.avg_cost, w.group_id IS NOT NULL AS listed,
           CAST(coalesce(ci.coefficient, cl.coefficient, 1) AS DECIMAL(9, 4)) AS coefficient
    FROM drg_pay_case_costs c
    LEFT JOIN drg_weights w ON w.group_id = c.drg
    LEFT JOIN institutions i ON i.institution_id = c.institution_id
    LEFT JOIN drg_coefficients ci ON ci.scope = 'institution' AND ci.key = c.institution_id
    LEFT JOIN drg_coefficients cl ON cl.scope = 'level' AND cl.key = CAST(i.level AS VARCHAR)
),
u AS (  -- exact integer units: fen for money, 1/10 000 for weights and ratios
    SELECT m.*, p.high_ratio, p.low_ratio,
           CASE WHEN m.item_reason IS NULL AND m.listed AND m.rw IS NULL THEN 'listed_by_item'
                WHEN m.item_reason IS NULL AND (m.rw IS NULL OR m.avg_cost IS NULL OR m.avg_cost <= 0) THEN 'no_weight'
                ELSE m.item_reason END AS item_why,
           CAST(m.total_cost * 100 AS BIGINT) AS cost_f,
           nullif(CAST(m.avg_cost * 100 AS BIGINT), 0) AS avg_f,
           CAST(m.rw * 10000 AS BIGINT) AS rw_u,
           CAST(p.high_ratio * 10000 AS BIGINT) AS high_u
    FROM m, drg_pay_params p
),
s AS (
    SELECT u.*,
           CASE WHEN item_why IS NOT NULL THEN NULL
                WHEN total_cost > high_ratio * avg_cost THEN 'high'
                WHEN total_cost < low_ratio * avg_cost THEN 'low'
                ELSE 'normal' END AS outlier,
           -- ROUND_HALF_UP(n / d) = (2n + d) // 2d on non-negative integers
           CASE WHEN item_why IS NOT NULL THEN NULL
                WHEN total_cost > high_ratio * avg_cost THEN CAST(
                    (2 * CAST(rw_u AS HUGEINT) * (cost_f * 10000 - (high_u - 10000) * avg_f) + avg_f * 10000)
                    // (2 * CAST(avg_f AS HUGEINT) * 10000) AS BIGINT)
                WHEN total_cost < low_ratio * avg_cost THEN CAST(
                    (2 * CAST(rw_u AS HUGEINT) * cost_f + avg_f) // (2 * CAST(avg_f AS HUGEINT)) AS BIGINT)
                ELSE rw_u END AS adj_u
    FROM u
)
SELECT case_id, institution_id, scheme, year, settle_year, settle_month, status, drg, rw, avg_cost, outlier,
       CAST(adj_u * CAST(0.0001 AS DECIMAL(5, 4)) AS DECIMAL(18, 4)) AS adjusted_weight, coefficient,
       CAST(((2 * adj_u * CAST(coefficient * 10000 AS BIGINT) + 10000) // 20000)
            * CAST(0.0001 AS DECIMAL(5, 4)) AS DECIMAL(18, 4)) AS case_weight,
       -- a service outside the institution's agreement is not settled (韶关办法第四条, yibao.settle.agreement)
       CASE WHEN """ + NOT_EXCLUDED.format(alias="s") + """ THEN CASE WHEN item_why IS NULL THEN 'drg' ELSE 'item' END
            ELSE 'excluded' END AS method,
       item_why AS item_reason, total_cost, fund_paid, los_days
FROM s
""",
    schema=pa.schema([("case_id", pa.string()), ("institution_id", pa.string()), ("scheme", pa.string()),
                      ("year", pa.int32()), ("settle_year", pa.int32()), ("settle_month", pa.int32()),
                      ("status", pa.string()), ("drg", pa.string()), ("rw", SCORE), ("avg_cost", MONEY),
                      ("outlier", pa.string()), ("adjusted_weight", SCORE), ("coefficient", PARAM),
                      ("case_weight", SCORE), ("method", pa.string()), ("item_reason", pa.string()),
                      ("total_cost", MONEY), ("fund_paid", MONEY), ("los_days", pa.int32())]),
    order_by=("case_id",),
    doc="病例权重：RW × 机构系数，高倍率与低倍率病例调整；按项目结算的病例；服务协议期外的病例（不予结算）",
)

PAY_UNITS = Step(
    name="drg_pay_units",
    main="drg_case_pay",
    mode="partitioned",
    partition_by=("institution_id",),
    broadcast=("drg_pay_params",),
    sql="""
SELECT c.settle_year AS year, c.scheme, c.institution_id, c.settle_month AS month, c.method,
       CAST(count(*) AS BIGINT) AS cases,
       CAST(coalesce(sum(c.case_weight), 0) AS DECIMAL(18, 4)) AS units,
       CAST(sum(c.total_cost) AS DECIMAL(18, 2)) AS total_cost,
       CAST(sum(c.fund_paid) AS DECIMAL(18, 2)) AS fund_paid
FROM drg_case_pay c, drg_pay_params p
WHERE c.settle_year <= p.year AND c.scheme IS NOT NULL
GROUP BY ALL
""",
    schema=pa.schema([("year", pa.int32()), ("scheme", pa.string()), ("institution_id", pa.string()),
                      ("month", pa.int32()), ("method", pa.string()), ("cases", pa.int64()), ("units", SCORE),
                      ("total_cost", MONEY), ("fund_paid", MONEY)]),
    order_by=("year", "scheme", "institution_id", "month", "method"),
    doc="每机构每月：DRG 病例权重合计与按项目结算病例，及其费用与统筹基金记账",
)

DRG_PAYMENT = Pipeline(
    name="drg_payment",
    steps=(CASE_COSTS, CASE_PAY, PAY_UNITS),
    doc="DRG 付费：病例权重与按项目结算，按机构、月份汇总",
)
