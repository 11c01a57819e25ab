"""Tables of a settlement for people (Chinese headers), shared by DIP and DRG statements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from yibao.engine.csvfile import rows_csv
from yibao.settle.units import SchemeSettlement

SCHEME_ZH = {"employee": "职工", "resident": "城乡居民"}
LEVEL_ZH = {"3": "三级", "2": "二级", "1": "一级", "0": "未定级"}

# (column, 中文表头)
PREPAY_COLUMNS = (("method", "结算方式"), ("scheme", "险种"), ("institution_id", "机构编码"), ("name", "机构名称"),
                  ("month", "月份"), ("units", "点数/权重/人数"), ("cases", "病例数"), ("gross", "应预付"),
                  ("deposit", "预留质量保证金"), ("paid", "实际拨付"))
CLEARING_COLUMNS = (("method", "结算方式"), ("scheme", "险种"), ("institution_id", "机构编码"), ("name", "机构名称"),
                    ("level", "机构级别"), ("units", "年度点数/权重/人数"), ("cases", "病例数"),
                    ("total_cost", "医疗总费用"), ("booked", "统筹基金记账"), ("units_money", "点数×点值"),
                    ("patient_paid", "个人负担"), ("amount", "按点值应付"), ("saving", "结余"),
                    ("saving_kept", "结余留用"), ("overrun", "超支"), ("overrun_rate", "超支率"),
                    ("overrun_fund_share", "超支基金分担"), ("overrun_borne", "超支机构承担"), ("base", "分担后应付"),
                    ("deposit_withheld", "质量保证金"), ("score", "考核得分"), ("deposit_returned", "返还保证金"),
                    ("deposit_deducted", "扣减保证金"), ("deductions", "审核扣款"), ("entitlement", "年度应付"),
                    ("prepaid", "已预付"), ("final_transfer", "清算拨付（负数为退回）"), ("note", "计算说明"))


def scheme_rows(s: SchemeSettlement, method_zh: str, institutions: Mapping[str, dict]) -> tuple[list[dict], list[dict]]:
    """(prepayment rows, clearing rows) of one scheme's settlement, keyed by the column names above."""
    name = {i: r.get("name", "") for i, r in institutions.items()}
    level = {i: LEVEL_ZH.get(str(r.get("level")), str(r.get("level"))) for i, r in institutions.items()}
    pre = [{"method": method_zh, "scheme": SCHEME_ZH[s.scheme], "institution_id": p.institution_id,
            "name": name.get(p.institution_id, ""), "month": p.month, "units": p.units, "cases": p.cases,
            "gross": p.gross, "deposit": p.deposit, "paid": p.paid} for p in s.prepayments]
    clr = []
    for c in s.clearing:
        d = {k: getattr(c, k) for k, _ in CLEARING_COLUMNS if hasattr(c, k)}
        clr.append({**d, "method": method_zh, "scheme": SCHEME_ZH[s.scheme], "name": name.get(c.institution_id, ""),
                    "level": level.get(c.institution_id, "")})
    return pre, clr


def cell(v) -> object:
    return "" if v is None else v


def csv_bytes(cols: Sequence[tuple[str, str]], rows: Sequence[Mapping]) -> bytes:
    """UTF-8 with BOM (opens in Excel), Chinese header row; text that a spreadsheet would run is escaped."""
    return rows_csv([zh for _, zh in cols], ([cell(r.get(k)) for k, _ in cols] for r in rows))


def write_csv(path: Path, cols: Sequence[tuple[str, str]], rows: Sequence[Mapping]) -> Path:
    path.write_bytes(csv_bytes(cols, rows))
    return path


def sheet_rows(cols: Sequence[tuple[str, str]], rows: Sequence[Mapping], skip: tuple[str, ...] = ()) \
        -> tuple[list[str], list[list]]:
    keep = [(k, zh) for k, zh in cols if k not in skip]
    return [zh for _, zh in keep], [[cell(r.get(k)) for k, _ in keep] for r in rows]
