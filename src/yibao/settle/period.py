"""Settlement periods (结算期): a month's prepayment and the year-end clearing of one pot, per institution.

A *pot* (基金预算池) is a scheme (职工 / 城乡居民) × a setting (住院 / 门诊); the period policy
(``period.toml``, :func:`load_period_policy`) says which payment method settles it. A *period* is a
month 1–12 of the settlement year or the year-end clearing (年终清算).

This module is the exact arithmetic on what a payment method already computed
(:class:`yibao.settle.units.SchemeSettlement`, the same for DIP points, DRG weights and per-capita
persons); the interfaces layer runs the method on the cases settled up to the period's data cut-off
(数据截止日) and records the result in the store of record.

- Month N (:func:`month_lines`): each institution's prepayment of month N — its share of the month's
  budget by its units of month N, the quality deposit (质量保证金) withheld, the rest paid. A run on the
  cases up to the cut-off gives the same month-N rows as a run on the whole year, because a month's
  prepayment depends only on that month's units (and on the year's budget and seasonality weights,
  which come from the budget and from last year).
- Clearing (:func:`clearing_lines`): the year's entitlement of each institution (its units over the
  whole year, the 结余留用/超支分担 bands, the deposit returned by the score, the deductions; plus its
  bed-day payment in the inpatient pot) less what the **issued** monthly statements paid. So, per
  institution, Σ issued monthly payments + the clearing transfer = the year's entitlement, to the fen.

A clearing computed from part of a year is not a year-end clearing: :func:`partial_year_warning`
says so (used by ``yibao dip settle`` as well).
"""

from __future__ import annotations

import calendar
import datetime as dt
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from yibao.contract.errors import BadPolicy
from yibao.engine.money import ZERO, fmt
from yibao.settle.units import SchemeSettlement

POLICY_FILE = Path(__file__).with_name("period.toml")
SETTINGS = ("inpatient", "outpatient")
METHODS = {"inpatient": ("dip", "drg"), "outpatient": ("per_capita",)}
METHOD_ZH = {"dip": "按病种分值（DIP）", "drg": "按疾病诊断相关分组（DRG）", "per_capita": "按人头"}
CLEARING = "clearing"


@dataclass(frozen=True)
class PeriodPolicy:
    methods: Mapping[str, str]  # setting → payment method
    confirm_working_days: int   # 对账确认期限（工作日）
    source: str                 # where the values come from (file names)


def load_period_policy(path: Path | str | None = None) -> PeriodPolicy:
    """``period.toml`` with the ``[periods]`` section of ``path`` (or a file of the same keys) over it."""
    with POLICY_FILE.open("rb") as f:
        d = tomllib.load(f)
    source = str(POLICY_FILE.name)
    if path is not None:
        try:
            with open(path, "rb") as f:
                raw = tomllib.load(f)
        except OSError as exc:
            raise BadPolicy(f"{path}: 无法读取结算期政策文件（{exc.strerror}）") from None
        except tomllib.TOMLDecodeError as exc:
            raise BadPolicy(f"{path}: 不是有效的 TOML（{exc}）") from None
        over = raw.get("periods", raw)
        unknown = sorted(set(over) - set(d))
        if unknown:
            raise BadPolicy(f"{path}: [periods] 未知的键：{', '.join(unknown)}（可选：methods、confirm）")
        for k, v in over.items():
            if not isinstance(v, dict):
                raise BadPolicy(f"{path}: [periods.{k}] 应为一个表")
            bad = sorted(set(v) - set(d[k]))
            if bad:
                raise BadPolicy(f"{path}: [periods.{k}] 未知的键：{', '.join(bad)}")
            d[k].update(v)
        source += f" + {path}"
    methods = dict(d["methods"])
    for setting, m in methods.items():
        if m not in METHODS[setting]:
            raise BadPolicy(f"{source}: methods.{setting} = {m!r} 无效（可选：{'、'.join(METHODS[setting])}）")
    days = d["confirm"]["working_days"]
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 60:
        raise BadPolicy(f"{source}: confirm.working_days 应为 1–60 的整数：{days!r}")
    return PeriodPolicy(methods, days, source)


def month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def period_label(year: int, month: int | None) -> str:
    return f"{year} 年年终清算" if month is None else f"{year} 年 {month} 月"


def check_cutoff(year: int, month: int | None, cutoff: dt.date) -> None:
    """A month's cut-off lies on or after the month's last day; the clearing's on or after 31 December."""
    last = month_end(year, 12 if month is None else month)
    if cutoff < last:
        raise BadPolicy(f"数据截止日 {cutoff.isoformat()} 早于{period_label(year, month)}的最后一天 "
                        f"{last.isoformat()}：该期的病例尚未全部结算")


def month_lines(s: SchemeSettlement, month: int) -> list[dict]:
    """Month ``month``'s prepayment of each institution of one scheme's settlement (money as Decimal)."""
    mv = next(v for v in s.months if v.month == month)
    out = []
    for p in s.prepayments:
        if p.month != month:
            continue
        items = [("本月计量单位", str(p.units)), ("本月病例数", str(p.cases)),
                 ("本月预算", fmt(mv.budget)), ("本月点值/单位值", "—" if mv.value is None else str(mv.value)),
                 ("按单位分配本月预算", fmt(p.gross_units_money))]
        if s.convention == "total_cost":
            items.append(("减个人负担", fmt(p.patient_paid)))
        items += [("应预付", fmt(p.gross)), ("预留质量保证金", fmt(p.deposit)), ("本月拨付", fmt(p.paid))]
        out.append({"institution_id": p.institution_id, "units": p.units, "cases": p.cases, "gross": p.gross,
                    "deposit": p.deposit, "deductions": ZERO, "amount": p.paid, "items": items})
    return out


def clearing_lines(s: SchemeSettlement, issued_paid: Mapping[str, Decimal],
                   bed_day: Mapping[str, Decimal] | None = None) -> list[dict]:
    """The year-end clearing of one scheme's settlement against what the issued months paid.

    ``issued_paid[institution]``: Σ of the issued monthly statements' payments; ``bed_day[institution]``:
    its bed-day payment of the year (inpatient pot). Transfer = entitlement (+ bed days) − issued paid.
    """
    bed_day = dict(bed_day or {})
    by = {c.institution_id: c for c in s.clearing}
    out = []
    for i in sorted(set(by) | set(bed_day) | set(issued_paid)):
        c = by.get(i)
        bed = bed_day.get(i, ZERO)
        paid = issued_paid.get(i, ZERO)
        entitlement = (c.entitlement if c else ZERO) + bed
        items = []
        if c is not None:
            items += [("年度计量单位", str(c.units)), ("年度病例数", str(c.cases)), ("统筹基金记账", fmt(c.booked)),
                      ("按单位应付", fmt(c.amount)), ("结余留用", fmt(c.saving_kept)),
                      ("超支分担（基金承担）", fmt(c.overrun_fund_share)), ("清算基数", fmt(c.base)),
                      ("预留质量保证金", fmt(c.deposit_withheld)), ("考核得分", str(c.score)),
                      ("返还质量保证金", fmt(c.deposit_returned)), ("扣除质量保证金", fmt(c.deposit_deducted)),
                      ("审核扣款", fmt(c.deductions))]
        if bed:
            items.append(("按床日应付", fmt(bed)))
        items += [("年度应付", fmt(entitlement)), ("已签发的月度预付合计", fmt(paid)),
                  ("清算拨付（负数为退回）", fmt(entitlement - paid))]
        if c is not None and c.prepaid != paid:
            items.append(("说明", f"按全年数据重算的月度预付合计为 {fmt(c.prepaid)}，与已签发合计相差 "
                                  f"{fmt(c.prepaid - paid)}（截止日后补结算的病例），差额在本次清算中补足"))
        out.append({"institution_id": i, "units": c.units if c else Decimal(0), "cases": c.cases if c else 0,
                    "gross": entitlement, "deposit": c.deposit_deducted if c else ZERO,
                    "deductions": c.deductions if c else ZERO, "amount": entitlement - paid, "items": items})
    return out


def partial_year_warning(months: Iterable[int], year: int, what: str = "年终清算") -> str | None:
    """A warning when a year's settlement is computed from fewer than 12 months of cases (None otherwise)."""
    have = sorted({int(m) for m in months if m is not None})
    if len(have) >= 12:
        return None
    span = "无病例" if not have else f"只有 {'、'.join(str(m) for m in have)} 月的病例"
    return (f"警告：{year} 年度{span}（不足 12 个月）：按全年预算与部分月份的点数计算的{what}点值偏高，"
            f"不是年终清算结果；按月结算请用 yibao period run --month N（只计算第 N 月的预付）")


__all__ = ["CLEARING", "METHOD_ZH", "PeriodPolicy", "SETTINGS", "check_cutoff", "clearing_lines",
           "load_period_policy", "month_end", "month_lines", "partial_year_warning", "period_label"]
