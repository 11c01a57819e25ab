"""Review-side check B01 (待遇计算核对, 量与费 of seed 004): booked ``fund_paid`` against the computed payment.

Findings have the review's columns (``case_id,line_no,rule_id,severity,amount,message``, the contract's
``findings.csv``), so the lead can append them to ``yibao review``'s findings as they are:

- booked more than computed + tolerance → ``reject``, ``amount`` = the excess (the fund does not pay it);
- booked less than computed − tolerance → ``warn``, ``amount`` = the shortfall (the patient may have paid the
  fund's share: for human review).

The message carries the whole arithmetic (政策范围内费用, 起付线, 费用段 × 比例, 封顶) in Chinese.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from yibao.benefit.compute import arithmetic_sql, region_match_sql
from yibao.contract.vocab import MONEY_SQL
from yibao.engine.runner import query_arrow

RULE_ID = "B01"
RULE_NAME = "统筹基金记账与待遇政策计算不符"
FINDINGS_COLUMNS = ("case_id", "line_no", "rule_id", "severity", "amount", "message")


def findings_sql(result: str, tolerance: str, local: str = "true") -> str:
    """Findings of the computed rows ``result`` (a relation with the calculator's columns; cases only);
    ``local``: a SQL predicate over ``insured_region`` choosing the persons our policy applies to (参保地 ours)."""
    return f"""
    SELECT row_id AS case_id, CAST(NULL AS INTEGER) AS line_no, '{RULE_ID}' AS rule_id,
           CASE WHEN difference > 0 THEN 'reject' ELSE 'warn' END AS severity,
           abs(difference)::{MONEY_SQL} AS amount,
           '{RULE_NAME}：统筹基金记账 ' || booked_fund || ' 元，按待遇政策计算应为 ' || fund_computed || ' 元，'
           || CASE WHEN difference > 0 THEN '多记 ' ELSE '少记 ' END || abs(difference) || ' 元（容差 '
           || CAST({tolerance} AS {MONEY_SQL}) || ' 元）：' || {arithmetic_sql()} AS message
    FROM {result}
    WHERE row_kind = 'case' AND ({local}) AND abs(difference) > CAST({tolerance} AS {MONEY_SQL})
    ORDER BY case_id"""


def findings(con: duckdb.DuckDBPyConnection, result: pa.Table, tolerance, region: str | None = None) -> pa.Table:
    """B01 findings of a computed table (:func:`yibao.benefit.compute.compute`'s result); with ``region``, only of
    persons insured there (others' insured are settled by their own region's policy, 参保地政策)."""
    local = region_match_sql("insured_region", region) if region else "true"
    con.register("_benefit_result", result)
    try:
        return query_arrow(con, findings_sql("_benefit_result", f"'{tolerance}'", local))
    finally:
        con.unregister("_benefit_result")


def score_labels(found: set[str], labelled: set[str]) -> dict:
    """Recall and precision of the flagged case ids against labelled booking errors."""
    tp = len(found & labelled)
    return {"labelled": len(labelled), "flagged": len(found), "true_positives": tp,
            "recall": (tp / len(labelled)) if labelled else None, "precision": (tp / len(found)) if found else None}
