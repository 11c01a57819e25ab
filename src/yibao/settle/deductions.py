"""Deductions (扣款) handed to a settlement: which it applies, and every one it does not, with the reason.

A DEDUCTIONS file (``institution_id, year, setting, source, amount, findings``, e.g. the claims review's
``deductions.csv``) may hold amounts a settlement cannot take: other settlement years, outpatient deductions of
institutions outside the per-capita pot (pharmacies), outpatient deductions given to DRG (which clears the
inpatient pot only). Nothing is dropped without a word: :func:`reconcile` compares what was given with what
the settlement's clearing rows took, per setting and institution, and lists the rest with its reason, so that
applied + not applied = given, to the fen (``deductions_not_applied.csv`` and a line in the summary).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from yibao.contract.errors import BadFile
from yibao.contract.vocab import SETTING_ZH

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Deduction:
    line: int            # line number in the file (header = 1)
    institution_id: str
    year: int
    setting: str         # a file without a ``setting`` column counts as inpatient
    source: str
    amount: Decimal


def read_deductions(path: Path) -> list[Deduction]:
    """Every row of a DEDUCTIONS CSV (UTF-8 with or without BOM, or GB18030 as Excel saves it)."""
    raw = None
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BadFile(f"{path}: 无法读取扣款文件：{exc.strerror or exc}") from None
    for enc in ("utf-8-sig", "gb18030"):
        try:
            raw = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    if raw is None:
        raise BadFile(f"{path}: 无法读取扣款文件：既不是 UTF-8 也不是 GB18030 编码")
    rows = list(csv.DictReader(raw.splitlines()))
    out = []
    for n, r in enumerate(rows, 2):
        try:
            y, inst, amt = int(r["year"]), r["institution_id"].strip(), Decimal(r["amount"].strip())
        except (KeyError, ValueError, InvalidOperation, AttributeError, TypeError):
            raise BadFile(f"{path}: 第 {n} 行：应有 institution_id, year, amount 列且为有效值") from None
        if not amt.is_finite() or amt < 0 or amt != amt.quantize(Decimal("0.01")):
            raise BadFile(f"{path}: 第 {n} 行：扣款金额应为 ≥ 0、至多两位小数：{r['amount']}")
        out.append(Deduction(n, inst, y, (r.get("setting") or "inpatient").strip(), (r.get("source") or "").strip(),
                             amt.quantize(Decimal("0.01"))))
    return out


def by_institution(rows: list[Deduction], year: int, setting: str) -> dict[str, Decimal]:
    """The year's amounts of one setting summed per institution (what a settlement is offered)."""
    out: dict[str, Decimal] = {}
    for d in rows:
        if d.year == year and d.setting == setting and d.amount:
            out[d.institution_id] = out.get(d.institution_id, ZERO) + d.amount
    return out


def reconcile(rows: list[Deduction], year: int, applied: Mapping[tuple[str, str], Decimal],
              why_not: Callable[[Deduction], str]) -> tuple[Decimal, Decimal, list[dict]]:
    """(given, applied, not applied rows). ``applied[(setting, institution_id)]`` is what the settlement's
    clearing rows deducted; every given row of another year, or of a (setting, institution) the settlement did
    not deduct, is listed with its reason (``why_not``); a part left over is listed too."""
    given = sum((d.amount for d in rows), ZERO)
    offered: dict[tuple[str, str], list[Deduction]] = {}
    out: list[dict] = []
    for d in rows:
        if not d.amount:
            continue
        if d.year != year:
            out.append(_row(d, d.amount, f"扣款所属结算年度 {d.year}，本次结算 {year} 年度"))
            continue
        offered.setdefault((d.setting, d.institution_id), []).append(d)
    total_applied = ZERO
    for key, ds in sorted(offered.items()):
        took = applied.get(key, ZERO)
        total_applied += took
        want = sum((d.amount for d in ds), ZERO)
        if took == want:
            continue
        if took == ZERO:
            out += [_row(d, d.amount, why_not(d)) for d in ds]
        else:  # only part taken (not expected): the rest on the first row, with the figures
            out.append(_row(ds[0], want - took, f"只扣减了 {took}（应扣 {want}）：{why_not(ds[0])}"))
    out.sort(key=lambda r: (r["line"], r["institution_id"]))
    not_applied = sum((r["amount"] for r in out), ZERO)
    assert total_applied + not_applied == given, "applied + not applied must equal the deductions given"
    return given, total_applied, out


def reconciled(rows: list[Deduction], year: int, applied: Mapping[tuple[str, str], Decimal],
               why_not: Callable[[Deduction], str], institutions: Mapping[str, Mapping]) -> dict:
    """:func:`reconcile` as the settlements report it: {"given", "applied", "not_applied"} with each row not
    applied named by its institution (``institutions[id]["name"]``)."""
    g, a, out = reconcile(rows, year, applied, why_not)
    for r in out:
        r["name"] = institutions.get(r["institution_id"], {}).get("name", "")
    return {"given": g, "applied": a, "not_applied": out}


def _row(d: Deduction, amount: Decimal, reason: str) -> dict:
    return {"line": d.line, "institution_id": d.institution_id, "year": d.year,
            "setting": SETTING_ZH.get(d.setting, d.setting), "source": d.source, "amount": amount, "reason": reason}


# (column, 中文表头) of deductions_not_applied.csv
NOT_APPLIED_COLUMNS = (("line", "扣款文件行号"), ("institution_id", "机构编码"), ("name", "机构名称"),
                       ("year", "结算年度"), ("setting", "就诊类型"), ("source", "来源"), ("amount", "未扣减金额"),
                       ("reason", "未扣减原因"))


def summary_line(given: Decimal, applied: Decimal, not_applied: list[dict]) -> str:
    rest = sum((r["amount"] for r in not_applied), ZERO)
    return (f"扣款：给出 {given} 元，本次结算扣减 {applied} 元，未扣减 {rest} 元"
            + (f"（{len(not_applied)} 笔，原因见 deductions_not_applied.csv）" if not_applied else ""))
