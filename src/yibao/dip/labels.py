"""The Chinese labels of DIP's codes (病种类型、操作层级、不能入组原因、偏差类型、病例状态、结算方式), and how a cell
reads in a CSV or report (:func:`cell_text`).

The labels shared with other capabilities (险种、机构等级、机构类别、就医类别) are in :mod:`yibao.contract.vocab`.
"""

from __future__ import annotations

__all__ = ["TIER_ZH", "GROUP_KIND_ZH", "REASONS_ZH", "DEVIATION_ZH", "STATUS_ZH", "METHOD_ZH", "BED_ZH",
           "cell_text"]

# 操作层级 of a comprehensive group, lowest first
TIER_ZH = {"conservative": "保守治疗", "diagnostic": "诊断性操作", "therapeutic": "治疗性操作", "surgical": "手术"}
# 病种类型
GROUP_KIND_ZH = {"core": "核心病种", "comprehensive": "综合病种"}
# why a stay is not grouped (不能入组)
REASONS_ZH = {
    "NO_PRINCIPAL_DX": "无主要诊断",
    "BAD_PRINCIPAL_DX": "主要诊断编码不符合 ICD-10 医保版格式",
    "BAD_PROCEDURE": "手术操作编码不符合 ICD-9-CM-3 医保版格式",
    "ZERO_COST": "医疗费用总额为零或缺失",
    "NO_GROUP": "目录中既无对应核心病种，也无对应综合病种",
}
# 偏差类型 and 病例状态 of a scored stay
DEVIATION_ZH = {"normal": "正常", "high": "高倍率", "low": "低倍率", "extreme": "极高倍率（特例单议）"}
STATUS_ZH = {"scored": "已赋分", "review": "待特例单议", "reviewed": "特例单议已定", "ungroupable": "未入组"}
# 结算方式 and 床日类别 of the settlement
METHOD_ZH = {"dip": "按病种分值", "per_capita": "按人头", "bed_day": "按床日"}
BED_ZH = {"psychiatric": "精神类长期住院", "rehabilitation": "医疗康复"}


def cell_text(v: object) -> str:
    """A cell as users read it: blank for NULL, 是/否 for booleans, decimals as stored."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "是" if v else "否"
    return str(v)
