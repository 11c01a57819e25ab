"""Reason codes for quarantined rows (隔离原因) and fatal file errors.

A row that fails validation is never dropped: it goes to the quarantine table with its
original text, the codes of every check it failed, and a Chinese message naming the column
and the evidence. The codes are stable identifiers (documented in docs/contract.md); the
Chinese labels are what users read.
"""

from __future__ import annotations

from yibao.contract.errors import BadFile

REASONS: dict[str, str] = {
    "MISSING_KEY": "主键为空",
    "MISSING_REQUIRED": "必填项为空",
    "BAD_TYPE": "类型错误",
    "BAD_DATE": "日期格式错误或日期不存在（应为 YYYY-MM-DD）",
    "BAD_ENUM": "取值不在允许范围内",
    "BAD_RANGE": "数值超出允许范围",
    "BAD_FORMAT": "格式错误",
    "MONEY_NOT_NUMERIC": "金额不是数字",
    "MONEY_NEGATIVE": "金额为负数",
    "MONEY_TOO_MANY_DECIMALS": "金额小数超过两位",
    "BAD_ICD10": "诊断编码不符合 ICD-10 医保版格式",
    "BAD_ICD9": "手术操作编码不符合 ICD-9-CM-3 医保版格式",
    "DISCHARGE_BEFORE_ADMISSION": "出院日期早于入院日期",
    "SETTLED_BEFORE_DISCHARGE": "结算日期早于出院日期",
    "DATE_ORDER": "结束日期早于开始日期",
    "DUPLICATE_KEY": "主键重复（同一批次中已有相同主键的行，保留首行）",
    "UNKNOWN_INSTITUTION": "机构编码不存在",
    "UNKNOWN_PERSON": "参保人不存在",
    "UNKNOWN_STAFF": "医保相关人员代码不存在",
    "UNKNOWN_CASE": "结算清单不存在（或已被隔离）",
    "BAD_ROW_SHAPE": "字段个数与表头不符",
}


def label(code: str) -> str:
    return REASONS[code]


class FatalLoadError(BadFile):
    """A file that cannot be read at all: stops the load, the workspace is left as it was.

    ``str(err)`` is one line naming the file and the problem.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")
