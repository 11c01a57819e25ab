"""The files of a DIP year (结算输出): the CSV tables with Chinese headers (UTF-8 with BOM for Excel),
``summary.json``, and one Excel statement (结算单) per institution — written from a
:class:`~yibao.dip.settlement.DipYear`.

``point_values.csv`` (预算点值、月度预付点值、结算点值), ``prepayments.csv`` (按月预付), ``clearing.csv`` (年终清算),
``bed_day.csv`` (按床日), ``exclusions.csv`` (服务协议期外), ``deductions_not_applied.csv`` (when a deductions file
was given), ``statements/<机构>.xlsx``.
"""

from __future__ import annotations

import json
from pathlib import Path

from yibao.contract.vocab import LEVEL_ZH, SCHEME_ZH
from yibao.dip.labels import BED_ZH, METHOD_ZH
from yibao.dip.settlement import DipYear
from yibao.engine.excel import write_workbook
from yibao.engine.money import ZERO
from yibao.engine.outdir import safe_id, safe_path
from yibao.settle.agreement import EXCLUSION_COLUMNS, exclusion_summary
from yibao.settle.deductions import NOT_APPLIED_COLUMNS, summary_line
from yibao.settle.report import (
    CLEARING_COLUMNS,
    PREPAY_COLUMNS,
    deduction_sheet,
    scheme_rows,
    statement_head,
    write_csv,
)
from yibao.settle.report import sheet as statement_sheet

__all__ = ["POINT_VALUE_COLUMNS", "BED_COLUMNS", "year_rows", "write_year", "statement_sheets", "summary_of"]

# (column, 中文表头)
POINT_VALUE_COLUMNS = (("scheme", "险种"), ("kind", "点值类型"), ("month", "月份"), ("budget", "预算（元）"),
                       ("points", "点数"), ("value", "点值（元/点）"), ("note", "说明"))
BED_COLUMNS = (("scheme", "险种"), ("institution_id", "机构编码"), ("level", "机构级别"), ("bed_kind", "床日类别"),
               ("cases", "病例数"), ("bed_days", "床日数"), ("rate", "床日标准（元/日）"), ("standard", "按标准应付"),
               ("payable", "实际应付（超出床日预算时按比例）"), ("booked", "统筹基金记账"))


def year_rows(y: DipYear) -> dict[str, list[dict]]:
    level = {i: LEVEL_ZH.get(str(r.get("level")), str(r.get("level"))) for i, r in y.institutions.items()}
    pv = [{**v, "scheme": SCHEME_ZH[v["scheme"]], "kind": {"budget": "预算点值", "provisional": "月度预付点值",
                                                             "settlement": "结算点值"}[v["kind"]]} for v in y.point_values]
    pre, clr = [], []
    for method, runs in (("dip", y.dip), ("per_capita", y.capita)):
        for s in runs.values():
            p, c = scheme_rows(s, METHOD_ZH[method], y.institutions)
            pre += p
            clr += c
    beds = [{"scheme": SCHEME_ZH[b.scheme], "institution_id": b.institution_id, "level": level.get(b.institution_id,
             LEVEL_ZH.get(b.level, b.level)), "bed_kind": BED_ZH[b.bed_kind], "cases": b.cases, "bed_days": b.bed_days,
             "rate": b.rate, "standard": b.standard, "payable": b.payable, "booked": b.booked} for b in y.bed_day]
    return {"point_values": pv, "prepayments": pre, "clearing": clr, "bed_day": beds}


def write_year(y: DipYear, out_dir, statements: bool = True, issuer=None, deduction_lines=()) -> list:
    """CSV files with Chinese headers (UTF-8 with BOM for Excel), summary.json, one Excel statement per institution."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = year_rows(y)
    spec = {"point_values": POINT_VALUE_COLUMNS, "prepayments": PREPAY_COLUMNS, "clearing": CLEARING_COLUMNS,
            "bed_day": BED_COLUMNS}
    files = [write_csv(out_dir / f"{n}.csv", cols, rows[n]) for n, cols in spec.items()]
    files.append(write_csv(out_dir / "exclusions.csv", EXCLUSION_COLUMNS, y.excluded))
    if y.deductions:
        files.append(write_csv(out_dir / "deductions_not_applied.csv", NOT_APPLIED_COLUMNS,
                               y.deductions["not_applied"]))
    summary = summary_of(y)
    (out_dir / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2, sort_keys=True, default=str)
                                          + "\n", encoding="utf-8")
    files.append(out_dir / "summary.json")
    if statements:
        sdir = out_dir / "statements"
        sdir.mkdir(exist_ok=True)
        insts = sorted({r["institution_id"] for r in rows["clearing"]} | {r["institution_id"] for r in rows["bed_day"]})
        for i in insts:
            sheets = statement_sheets(y, i, rows, issuer, deduction_lines)
            path = safe_path(sdir, safe_id(i), suffix=".xlsx")  # (an institution code from data: never a path)
            write_workbook(path, sheets)
            files.append(path)
    return files


def statement_sheets(y: DipYear, i: str, rows: dict[str, list[dict]], issuer=None, deduction_lines=()) -> list:
    """One institution's statement workbook: clearing (with the statement head), months, values, beds, deductions."""
    nm = y.institutions.get(i, {}).get("name", "")
    clr = [r for r in rows["clearing"] if r["institution_id"] == i]
    pre = [r for r in rows["prepayments"] if r["institution_id"] == i]
    bed = [r for r in rows["bed_day"] if r["institution_id"] == i]
    vals = [r for r in rows["point_values"] if r["kind"] != "月度预付点值"]
    notes = statement_head("医保结算单：按病种分值（DIP）、按人头、按床日", "DIP", y.year, i, nm, issuer) + [
        "金额单位：元；点值与报销比例为精确值的显示（6 位小数），金额按点数分配预算（最大余数法，到分）；"
        "按人头的计量单位为人月（归属人数 × 月数）"]
    sheets = [statement_sheet("年终清算", CLEARING_COLUMNS, clr, notes, skip=("name", "level"), filter=False),
              statement_sheet("按月预付", PREPAY_COLUMNS, pre, [f"{nm}（{i}）{y.year} 年按月预付"], skip=("name",)),
              statement_sheet("点值", POINT_VALUE_COLUMNS, vals, [f"{y.year} 年点值"], total=False,
                              kinds={"points": "weight"})]
    if bed:
        sheets.append(statement_sheet("按床日", BED_COLUMNS, bed, [f"{nm}（{i}）{y.year} 年按床日结算"]))
    sheets.append(deduction_sheet(deduction_lines, i, sum((r["deductions"] for r in clr), ZERO)))
    return sheets


def summary_of(y: DipYear) -> dict:
    out: dict = {"year": y.year, "policy": y.policy, "schemes": {}}
    for scheme, s in y.dip.items():
        c = y.capita.get(scheme)
        out["schemes"][scheme] = {
            "dip": {"budget": str(s.budget), "convention": s.convention, "points": str(s.units),
                    "settlement_point_value": str(s.value_shown), "ratio": None if s.ratio is None else str(s.ratio_shown),
                    "institutions": len(s.clearing), "entitled": str(s.entitled), "balance": str(s.balance),
                    "prepaid": str(sum((x.paid for x in s.prepayments), ZERO)),
                    "final_transfers": str(sum((x.final_transfer for x in s.clearing), ZERO)),
                    "deductions": str(sum((x.deductions for x in s.clearing), ZERO))},
            "per_capita": None if c is None else {
                "budget": str(c.budget), "persons": str(c.units / 12), "institutions": len(c.clearing),
                "entitled": str(c.entitled), "balance": str(c.balance)},
            "bed_day": {"cases": sum(b.cases for b in y.bed_day if b.scheme == scheme),
                        "bed_days": sum(b.bed_days for b in y.bed_day if b.scheme == scheme),
                        "payable": str(sum((b.payable for b in y.bed_day if b.scheme == scheme), ZERO)),
                        "capped": y.bed_day_capped.get(scheme, False)},
        }
    out["unscored_cases"] = sum(r["cases"] for r in y.unscored)
    out["outside_agreement"] = exclusion_summary(y.excluded)
    if y.deductions:
        d = y.deductions
        out["deductions"] = {"given": str(d["given"]), "applied": str(d["applied"]),
                             "not_applied": str(sum((r["amount"] for r in d["not_applied"]), ZERO)),
                             "line": summary_line(d["given"], d["applied"], d["not_applied"])}
    return out

