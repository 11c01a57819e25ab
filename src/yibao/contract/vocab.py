"""The shared vocabulary (词汇): Chinese labels of the contract's codes and the constants every layer uses.

One definition each; a capability imports them from here instead of writing its own copy.

- ``MONEY`` / ``MONEY_SQL``: the money type (金额, yuan with two decimals) in Arrow and in SQL.
- ``SCHEME_ZH`` (险种), ``SETTING_ZH`` (就医类别), ``LEVEL_ZH`` (医疗机构等级, keyed by the level *as text*;
  :func:`level_zh` accepts an int too), ``KIND_ZH`` (机构类别, short labels of tables and reports),
  ``KIND_FULL_ZH`` (the long names of statements of record).
- :func:`sql_str` quotes a text as a SQL string literal (the one place that doubles quotes).
"""

from __future__ import annotations

import pyarrow as pa

__all__ = [
    "MONEY", "MONEY_SQL", "RATE_SQL", "SCHEME_ZH", "SETTING_ZH", "LEVEL_ZH", "KIND_ZH", "KIND_FULL_ZH",
    "FUND_ITEM_ZH", "level_zh", "sql_str",
]

MONEY = pa.decimal128(18, 2)
MONEY_SQL = "DECIMAL(18,2)"
RATE_SQL = "DECIMAL(18,4)"

SCHEME_ZH = {"employee": "职工", "resident": "城乡居民"}
SETTING_ZH = {"inpatient": "住院", "outpatient": "门诊"}
LEVEL_ZH = {"3": "三级", "2": "二级", "1": "一级", "0": "未定级"}
KIND_ZH = {"hospital": "医院", "primary": "基层", "pharmacy": "药店"}
KIND_FULL_ZH = {"hospital": "医院", "primary": "基层医疗机构", "pharmacy": "定点零售药店"}
FUND_ITEM_ZH = {
    "opening_balance": "期初累计结余", "contributions": "基金征收", "personal_account": "划入个人账户",
    "fiscal_subsidy": "财政补助", "interest": "利息收入", "other_revenue": "其他收入",
    "out_of_area_realtime": "异地联网即时结算", "out_of_area_manual": "异地就医零星报销",
    "special_outpatient": "特殊病种门诊", "marriage_checkup": "婚检", "outpatient_special_items": "门诊特定项目",
    "other_policy": "其他政策性支出", "inpatient": "住院统筹支付（病例）", "outpatient": "门诊统筹支付（病例）",
}


def level_zh(level: object) -> str:
    """三级 / 二级 / 一级 / 未定级 for a level given as int or text; the value itself when unknown."""
    return LEVEL_ZH.get(str(level), str(level))


def sql_str(text: object) -> str:
    """``text`` as a SQL string literal: ``'O''Brien'``."""
    return "'" + str(text).replace("'", "''") + "'"
