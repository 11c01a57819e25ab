"""Reason codes of the staff capability (医保支付资格), with the Chinese labels users read.

Sanctions that load but cannot score, and ledger entries that are refused, are reported with one
of these codes, counted, and never stop a command. (They live here rather than in
``yibao.contract.reasons`` because that module's table is rendered into the generated
docs/contract.md; see the report of issue 6.)
"""

from __future__ import annotations

STAFF_REASONS: dict[str, str] = {
    "STAFF_NO_RESPONSIBILITY": "责任程度为 none（无责任）或不在记分范围内，不记分",
    "STAFF_BASIS_NOT_SCORING": "处理依据不是行政处罚或较重的协议处理（解除协议、中止协议、违约金），不记分",
    "STAFF_POINTS_OUT_OF_RANGE": "记分不在允许范围（1–12 分）内，不记分",
    "STAFF_REREGISTER_BARRED": "终止后的再次登记备案早于可再次登记日期，不生效",
    "STAFF_ROW_INVALID": "行数据不合格（见原因），未计入",
}
