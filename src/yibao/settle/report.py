"""Tables of a settlement for people (Chinese headers), shared by DIP and DRG statements.

Also the statement head every settlement statement carries (结算单编号, 签发日期, 签发机构, 机构名称:
:func:`statement_head`), the issuing parameters declared once in ``statement.toml`` beside this module
(:func:`issuer_from`), and the list of deductions behind a statement's 审核扣款 figure
(:func:`read_deduction_lines`, :func:`deduction_sheet`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from yibao.contract.errors import BadFile
from yibao.contract.reasons import FatalLoadError  # (a BadFile; tests expect it of [statement])
from yibao.contract.vocab import LEVEL_ZH, SCHEME_ZH, SETTING_ZH  # noqa: F401 (LEVEL_ZH, SCHEME_ZH: re-exported)
from yibao.engine.csvfile import rows_csv
from yibao.engine.excel import Sheet, table_sheet
from yibao.settle.units import SchemeSettlement

# (column, 中文表头)
PREPAY_COLUMNS = (("method", "结算方式"), ("scheme", "险种"), ("institution_id", "机构编码"), ("name", "机构名称"),
                  ("month", "月份"), ("units", "点数/人月"), ("unit", "计量单位"), ("cases", "病例数"), ("gross", "应预付"),
                  ("deposit", "预留质量保证金"), ("paid", "实际拨付"))
CLEARING_COLUMNS = (("method", "结算方式"), ("scheme", "险种"), ("institution_id", "机构编码"), ("name", "机构名称"),
                    ("level", "机构级别"), ("units", "年度点数/人月"), ("unit", "计量单位"), ("cases", "病例数"),
                    ("total_cost", "医疗总费用"), ("booked", "统筹基金记账"),
                    ("units_money", "点数×点值（按人头：人月×人月标准）"),
                    ("patient_paid", "个人负担"), ("amount", "按点值应付"), ("saving", "结余"),
                    ("saving_kept", "结余留用"), ("overrun", "超支"), ("overrun_rate", "超支率"),
                    ("overrun_fund_share", "超支基金分担"), ("overrun_borne", "超支机构承担"), ("base", "分担后应付"),
                    ("deposit_withheld", "质量保证金"), ("score", "考核得分"), ("deposit_returned", "返还保证金"),
                    ("deposit_deducted", "扣减保证金"), ("deductions", "审核扣款"), ("entitlement", "年度应付"),
                    ("prepaid", "已预付"), ("final_transfer", "清算拨付（负数为退回）"), ("note", "计算说明"))

# DRG files: the units are case weights, the money is weight × base rate (权重 × 费率)
DRG_RENAME = {"units": "病例权重", "units_money": "权重×费率"}
DRG_PREPAY_COLUMNS = tuple((k, DRG_RENAME.get(k, zh)) for k, zh in PREPAY_COLUMNS)
DRG_CLEARING_COLUMNS = tuple((k, "年度" + DRG_RENAME[k] if k == "units" else DRG_RENAME.get(k, zh))
                             for k, zh in CLEARING_COLUMNS)
UNIT_ZH = {"按病种分值": "点", "按人头": "人月", "按 DRG": "权重"}  # per-capita units: one person attributed for one month

# column kinds in workbooks (yibao.engine.excel); keys not listed are text
KINDS = {
    "month": "int", "units": "weight", "cases": "count", "gross": "money", "deposit": "money", "paid": "money",
    "total_cost": "money", "booked": "money", "units_money": "money", "patient_paid": "money", "amount": "money",
    "saving": "money", "saving_kept": "money", "overrun": "money", "overrun_rate": "share",
    "overrun_fund_share": "money", "overrun_borne": "money", "base": "money", "deposit_withheld": "money",
    "score": "score", "deposit_returned": "money", "deposit_deducted": "money", "deductions": "money",
    "entitlement": "money", "prepaid": "money", "final_transfer": "money", "institution_id": "code",
    "budget": "money", "points": "weight", "value": "point_value", "bed_days": "count", "rate": "money",
    "standard": "money", "payable": "money", "year": "int", "findings": "count",
}
NOT_SUMMED = {"rate": False, "avg_cost": False, "budget": False}
SOURCE_ZH = {"review": "智能审核", "manual": "人工审核", "audit": "稽核检查", "onsite": "现场检查"}
STATEMENT_DEFAULTS = Path(__file__).with_name("statement.toml")


def scheme_rows(s: SchemeSettlement, method_zh: str, institutions: Mapping[str, dict]) -> tuple[list[dict], list[dict]]:
    """(prepayment rows, clearing rows) of one scheme's settlement, keyed by the column names above."""
    name = {i: r.get("name", "") for i, r in institutions.items()}
    level = {i: LEVEL_ZH.get(str(r.get("level")), str(r.get("level"))) for i, r in institutions.items()}
    unit = UNIT_ZH.get(method_zh, "")
    pre = [{"method": method_zh, "scheme": SCHEME_ZH[s.scheme], "institution_id": p.institution_id,
            "name": name.get(p.institution_id, ""), "month": p.month, "units": p.units, "unit": unit, "cases": p.cases,
            "gross": p.gross, "deposit": p.deposit, "paid": p.paid} for p in s.prepayments]
    clr = []
    for c in s.clearing:
        d = {k: getattr(c, k) for k, _ in CLEARING_COLUMNS if hasattr(c, k)}
        clr.append({**d, "method": method_zh, "scheme": SCHEME_ZH[s.scheme], "unit": unit,
                    "name": name.get(c.institution_id, ""),
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


def kinds_of(cols: Sequence[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """``(key, 中文表头, kind)`` of a ``(key, 中文表头)`` spec by :data:`KINDS`."""
    return [(k, zh, KINDS.get(k, "text")) for k, zh in cols]


def sheet(title: str, cols: Sequence[tuple[str, str]], rows: Sequence[Mapping], notes: Sequence[str] = (),
          skip: tuple[str, ...] = (), total: bool = True, filter: bool = True, kinds: Mapping | None = None) -> Sheet:
    """A statement sheet of settlement rows: typed columns, a 合计 row over the money and the counts
    (not over rates and standards: 床日标准 ``rate``)."""
    return table_sheet(title, kinds_of(cols), rows, notes, skip=skip, total=total, filter=filter, kinds=kinds,
                       totals=NOT_SUMMED)


# --- the statement head ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Issuer:
    """Who issues a statement and when (签发机构、签发日期)."""

    agency: str
    issue_date: dt.date


def issuer_from(raw: Mapping | None = None, where: str = "") -> Issuer:
    """The ``[statement]`` section of a policy file over ``statement.toml``'s defaults."""
    with STATEMENT_DEFAULTS.open("rb") as f:
        d = tomllib.load(f)
    over = dict((raw or {}).get("statement") or {})
    extra = sorted(set(over) - set(d))
    if extra:
        raise FatalLoadError(where or "[statement]", f"[statement] 未知的键：{', '.join(extra)}（可选：agency、issue_date）")
    d.update(over)
    agency = str(d["agency"]).strip()
    if not agency:
        raise FatalLoadError(where or "[statement]", "[statement] agency（签发机构）不能为空")
    text = d["issue_date"]
    if isinstance(text, dt.date):
        day = text
    elif not str(text).strip():
        day = dt.date.today()
    else:
        try:
            day = dt.date.fromisoformat(str(text).strip())
        except ValueError:
            raise FatalLoadError(where or "[statement]", f"[statement] issue_date 应为日期 YYYY-MM-DD：{text!r}") from None
    return Issuer(agency, day)


def statement_number(method: str, year: int, institution_id: str) -> str:
    """A statement's number: method, settlement year and institution (the same statement keeps its number)."""
    return f"{method}-{year}-{institution_id}"


def statement_head(title: str, method: str, year: int, institution_id: str, name: str,
                   issuer: Issuer | None = None) -> list[str]:
    """The lines above a statement: title, number, institution, issuing agency and date."""
    issuer = issuer or issuer_from()
    return [f"{name}（{institution_id}）{year} 年度{title}",
            f"结算单编号：{statement_number(method, year, institution_id)}　　机构名称：{name}　　机构编码：{institution_id}",
            f"签发机构：{issuer.agency}　　签发日期：{issuer.issue_date.isoformat()}"]


# --- the deductions behind a statement's 审核扣款 ---------------------------------------------------

DEDUCTION_COLUMNS = (("year", "结算年度"), ("institution_id", "机构编码"), ("setting", "就医类型"),
                     ("source", "扣款来源"), ("findings", "审核结果条数"), ("amount", "扣款金额"))


def read_deduction_lines(path: Path | None, year: int) -> list[dict]:
    """The rows of a DEDUCTIONS CSV (institution_id,year,setting,source,amount,findings) for ``year``."""
    if path is None:
        return []
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gb18030", errors="replace")
    out = []
    for n, r in enumerate(csv.DictReader(io.StringIO(text)), 2):
        try:
            y, amount = int(str(r.get("year")).strip()), Decimal(str(r.get("amount")).strip())
        except (ValueError, InvalidOperation):
            raise BadFile(f"{path}: 第 {n} 行：应有 institution_id, year, amount 列且为有效值") from None
        if y != year or not amount:
            continue
        findings = str(r.get("findings") or "").strip()
        out.append({"year": y, "institution_id": str(r.get("institution_id") or "").strip(),
                    "setting": (r.get("setting") or "inpatient").strip(), "source": (r.get("source") or "").strip(),
                    "findings": int(findings) if findings.isdigit() else None, "amount": amount})
    return out


def deduction_sheet(lines: Sequence[Mapping], institution_id: str, applied: Decimal | None = None) -> Sheet:
    """扣款明细: the deduction lines of one institution, with a 合计 row and what the clearing applied."""
    mine = [r for r in lines if r["institution_id"] == institution_id]
    notes = ["扣款明细（年终清算「审核扣款」的来源）",
             "住院扣款按机构各险种统筹基金记账金额比例分摊到险种（最大余数法，到分）；门诊扣款计入按人头结算"
             + ("" if applied is None else f"；本结算单年终清算中的审核扣款合计 {applied:,.2f} 元")]
    if not mine:
        notes.append("本年度无扣款")
    return table_sheet("扣款明细", kinds_of(DEDUCTION_COLUMNS), mine, notes,
                       labels={"setting": SETTING_ZH, "source": SOURCE_ZH}, total=True)
