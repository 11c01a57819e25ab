"""Relative costs of groups from history (相对权重 / 病种分值), shared by DRG weights and DIP-style scores.

Two runner steps, built for a caller's table names:

1. :func:`group_year_step` — per group × year: cases, and after trimming the group's outliers (离群病例剔除:
   the cases ranked by cost inside their group over all history years together; the lowest
   ``floor(n × trim_lower)`` and the highest ``floor(n × (1 − trim_upper))`` left out) the cases kept and their cost.
2. :func:`relative_step` — per group: the year means of kept cases (half up to the fen), averaged with the
   year weights (e.g. 1:2:7) → the group's average cost; the reference = the weighted average of every
   year's all-case mean; relative value = group average ÷ reference × ``base`` (1 for a DRG weight RW,
   1000 for a DIP score), half up to 4 decimals.

Inputs: ``main`` with columns ``group_id, year, case_id, total_cost`` (only cases that count), a years
table ``(year INTEGER, weight DECIMAL(9,4))`` and a one-row parameter table with ``trim_lower``,
``trim_upper`` and the base (DECIMAL(9,4); column ``base`` unless named otherwise). Used by the DIP
catalogue (``dip_group_year``, ``dip_relative``: base ``score_base`` = 1000) and the DRG weights (base 1).
"""

from __future__ import annotations

import pyarrow as pa

from yibao.contract.vocab import MONEY
from yibao.engine.runner import Step
from yibao.engine.sqlmoney import div_round

SCORE = pa.decimal128(18, 4)

GROUP_YEAR_SCHEMA = pa.schema([("group_id", pa.string()), ("year", pa.int32()), ("cases", pa.int64()),
                               ("cases_kept", pa.int64()), ("cost_all", MONEY), ("cost_kept", MONEY)])
RELATIVE_SCHEMA = pa.schema([("group_id", pa.string()), ("cases", pa.int64()), ("cases_kept", pa.int64()),
                             ("avg_cost", MONEY), ("relative", SCORE), ("reference_cost", MONEY)])


def group_year_step(name: str, main: str, years: str, params: str, doc: str = "") -> Step:
    return Step(
        name=name, main=main, mode="partitioned", partition_by=("group_id",), broadcast=(years, params),
        sql=f"""
WITH k AS (
    SELECT group_id, year, case_id, total_cost FROM {main}
    WHERE year IN (SELECT year FROM {years}) AND group_id IS NOT NULL AND total_cost > 0
),
r AS (
    SELECT *, row_number() OVER (PARTITION BY group_id ORDER BY total_cost, case_id) AS pos,
           count(*) OVER (PARTITION BY group_id) AS n
    FROM k
),
t AS (
    SELECT r.*, (pos > floor(n * p.trim_lower) AND pos <= n - floor(n * (1 - p.trim_upper))) AS kept
    FROM r, {params} p
)
SELECT group_id, year, CAST(count(*) AS BIGINT) AS cases, CAST(count(*) FILTER (WHERE kept) AS BIGINT) AS cases_kept,
       CAST(sum(total_cost) AS DECIMAL(18,2)) AS cost_all,
       CAST(coalesce(sum(total_cost) FILTER (WHERE kept), 0) AS DECIMAL(18,2)) AS cost_kept
FROM t GROUP BY group_id, year
""",
        schema=GROUP_YEAR_SCHEMA, order_by=("group_id", "year"),
        doc=doc or "分组×年度：病例数、剔除离群病例后的病例数与费用（组内按费用排位，跨年度合并排位）")


def relative_step(name: str, main: str, years: str, params: str, doc: str = "", base_column: str = "base") -> Step:
    year_mean = div_round("cost_kept", "cases_kept", num_scale=2, scale=2)
    ref_year_mean = div_round("sum(cost_all)", "sum(cases)", num_scale=2, scale=2)
    return Step(
        name=name, main=main, mode="global", broadcast=(years, params),
        sql=f"""
WITH ym AS (
    SELECT g.group_id, g.year, w.weight, {year_mean} AS mean
    FROM {main} g JOIN {years} w USING (year) WHERE g.cases_kept > 0
),
gw AS (
    SELECT group_id, CAST(sum(weight * mean) AS DECIMAL(38, 6)) AS wsum, CAST(sum(weight) AS DECIMAL(38, 4)) AS w
    FROM ym GROUP BY group_id
),
ry AS (
    SELECT g.year, min(w.weight) AS weight, {ref_year_mean} AS mean
    FROM {main} g JOIN {years} w USING (year) GROUP BY g.year
),
ref AS (
    SELECT {div_round("sum(weight * mean)", "sum(weight)", num_scale=6, den_scale=4, scale=2)} AS ref_cost FROM ry
),
g AS (
    SELECT group_id, CAST(sum(cases) AS BIGINT) AS cases, CAST(sum(cases_kept) AS BIGINT) AS cases_kept
    FROM {main} GROUP BY group_id
),
a AS (SELECT group_id, {div_round("wsum", "w", num_scale=6, den_scale=4, scale=2)} AS avg_cost FROM gw)
SELECT g.group_id, g.cases, g.cases_kept, a.avg_cost,
       {div_round(f"a.avg_cost * p.{base_column}", "ref.ref_cost", num_scale=6, den_scale=2, scale=4)} AS relative,
       ref.ref_cost AS reference_cost
FROM g JOIN a USING (group_id), ref, {params} p
""",
        schema=RELATIVE_SCHEMA, order_by=("group_id",),
        doc=doc or "分组平均费用（年度加权、剔除离群病例）÷ 全部病例平均费用（年度加权）× 基数 = 相对值")
