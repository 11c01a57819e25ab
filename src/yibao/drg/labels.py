"""The Chinese labels of DRG grouping and payment (分组状态、并发症等级、结算方式…), one place.

Shared vocabulary (险种, 机构等级, money type) is :mod:`yibao.contract.vocab`'s; these are DRG's own.
"""

from __future__ import annotations

__all__ = ["STATUS_ZH", "STATUS_SHORT_ZH", "WARNINGS_ZH", "CC_LEVEL_ZH", "MAP_STATUS_ZH", "ITEM_ZH", "OUTLIER_ZH",
           "METHOD_ZH", "RATE_KIND_ZH", "WEIGHTS_REPORT_ZH"]

# a grouping status in a few words: the summary line of ``yibao group drg``
STATUS_SHORT_ZH = {
    "ok": "分组成功", "ungroupable": "无法入组", "invalid_dx": "主要诊断编码无效",
    "unacceptable_principal_dx": "主要诊断不能作主诊断", "sex_conflict": "诊断与性别不符",
    "age_conflict": "诊断与年龄不符", "missing_sex": "缺性别", "invalid_sex": "性别无效",
    "missing_age": "缺年龄", "missing_age_days": "缺天龄", "missing_newborn_weight": "缺新生儿体重",
    "missing_dx": "缺主要诊断", "unmappable_dx": "诊断不能转换", "unmappable_procedure": "手术操作不能转换",
    "missing_los": "缺住院天数",
}
# a code mapping failure (mapping.MAP_SQL)
MAP_STATUS_ZH = {"unmappable_dx": "诊断不能转换为分组器支持的编码",
                 "unmappable_procedure": "手术操作不能转换为分组器支持的编码"}
# a grouping status (grouper.STATUSES) in a sentence: the explanation and the messages
STATUS_ZH: dict[str, str] = {
    "ok": "分组成功",
    "missing_sex": "性别为空",
    "invalid_sex": "性别不是 1（男）或 2（女）",
    "missing_age": "年龄为空",
    "missing_age_days": "年龄为 0 岁但天龄为空",
    "missing_newborn_weight": "新生儿（天龄不超过分组标准的新生儿期）出生体重为空",
    "missing_dx": "主要诊断为空",
    "invalid_dx": "主要诊断不是分组标准中的编码",
    "unacceptable_principal_dx": "主要诊断不能作为任何 MDC 的主要诊断",
    "sex_conflict": "主要诊断与性别不符（只属于另一性别的 MDC）",
    "age_conflict": "主要诊断与年龄不符（只属于新生儿 MDC）",
    "ungroupable": "无法入组（进入的 MDC 中没有匹配的 ADRG）",
    "unmappable_dx": "诊断不能转换为分组器支持的编码（--map-codes）",
    "unmappable_procedure": "手术操作不能转换为分组器支持的编码（--map-codes）",
    "missing_los": "已入 ADRG，但其 DRG 按住院天数细分，病例缺少入院或出院日期（住院天数）",
}
WARNINGS_ZH: dict[str, str] = {
    "unknown_secondary_dx": "有其他诊断不是分组标准中的编码（不参与分组）",
    "unknown_procedure": "有手术操作不是分组标准中的编码（不参与分组）",
}
# a case's complication level (standards.LEVELS)
CC_LEVEL_ZH = {"mcc": "伴严重并发症或合并症（MCC）", "cc": "伴并发症或合并症（CC）", "none": "不伴并发症或合并症"}


# --- payment (yibao.drg.payment, yibao.drg.report) ---
# why a case is paid by item (按项目结算), drg_case_pay.item_reason
ITEM_ZH = {"not_grouped": "未能入组", "no_weight": "该 DRG 无权重", "listed_by_item": "权重表规定按项目据实支付",
           "short_stay": "住院天数过短",
           "long_stay": "住院天数过长", "per_diem": "按床日付费病种"}
OUTLIER_ZH = {"high": "高倍率", "low": "低倍率", "normal": "正常"}  # drg_case_pay.outlier
METHOD_ZH = {"drg": "按 DRG", "item": "按项目", "excluded": "协议期外不予结算"}  # drg_case_pay.method
RATE_KIND_ZH = {"budget": "预算费率", "provisional": "月度预付费率", "settlement": "结算费率"}  # base_rates.csv
WEIGHTS_REPORT_ZH = {"unknown_drg": "权重表中的 DRG 不在分组标准中", "missing_weight": "有病例的 DRG 没有权重",
                     "name_differs": "名称与分组标准不同"}
