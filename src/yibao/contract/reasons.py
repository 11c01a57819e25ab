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
    "PARTS_OVER_TOTAL": "费用构成超过医疗费用总额（乙类加丙类超过总额，或乙类先行自付超过乙类费用）",
    "DUPLICATE_KEY": "主键重复（同一批次中已有相同主键的行，保留首行）",
    "UNKNOWN_INSTITUTION": "机构编码不存在",
    "UNKNOWN_PERSON": "参保人不存在",
    "UNKNOWN_STAFF": "医保相关人员代码不存在",
    "UNKNOWN_CASE": "结算清单不存在（或已被隔离）",
    "BAD_ROW_SHAPE": "字段个数与表头不符",
    "UNCLOSED_QUOTE": "引号未闭合（该行以双引号开始的单元格没有结束引号；本行单独隔离，其后各行照常装载）",
    "UNSAFE_CODE": "编码含不允许的字符（只允许字母、数字、-、_ 和不在开头的 .；不得含 /、\\、..、空白或控制字符）",
    "INVISIBLE_CHAR": "编码含不可见字符（如 BOM、零宽空格），会与看起来相同的编码混为两个",
    "BAD_CODE_FORMAT": "编码不符合国家编码格式",
    "BAD_ID_NUMBER": "身份证号无效（GB 11643）",
    "NUMERIC_CODE_CELL": "编码在 Excel 中是数字单元格（前导零和第 16 位以后的数字已丢失），请把该列设为文本后重新导出",
    "CONTROL_CHAR": "含控制字符（如 0x00），不是正常文本",
    "CELL_TOO_LONG": "单元格过长（超过 32767 个字符，Excel 单元格的上限）",
    "BAD_DATE_RANGE": "日期超出合理范围",
    "BIRTH_IN_FUTURE": "出生日期晚于装载当日",
    "ADMITTED_BEFORE_BIRTH": "就诊日期早于参保人出生日期",
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
