"""The files of a DRG year (DRG 年度结算文件) and each institution's statement (结算单).

:func:`write_settlement` writes what :func:`yibao.drg.settlement.settle_year` returns; :func:`summary_lines` are
the lines the command prints. CSV through the settlement layer's writer (:func:`yibao.settle.report.write_csv`)
and, for the year's cases, over whole columns (:func:`yibao.engine.csvfile.csv_bytes`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from yibao.contract.errors import ProblemReported
from yibao.contract.vocab import SCHEME_ZH
from yibao.drg.labels import ITEM_ZH, METHOD_ZH, OUTLIER_ZH, RATE_KIND_ZH, WEIGHTS_REPORT_ZH
from yibao.drg.settlement import DrgSettlement, DrgYear
from yibao.engine.columns import relabel
from yibao.engine.csvfile import csv_bytes
from yibao.engine.excel import table_sheet, write_workbook
from yibao.engine.money import ZERO
from yibao.engine.outdir import safe_id, safe_path
from yibao.settle.agreement import EXCLUSION_COLUMNS, exclusion_summary, exclusions_line
from yibao.settle.deductions import NOT_APPLIED_COLUMNS, summary_line
from yibao.settle.report import (
    DRG_CLEARING_COLUMNS,
    DRG_PREPAY_COLUMNS,
    deduction_sheet,
    kinds_of,
    scheme_rows,
    statement_head,
    write_csv,
)
from yibao.settle.report import sheet as statement_sheet

__all__ = ["write_settlement", "summary_lines", "weights_refusal", "write_drg_year", "drg_statement_sheets",
           "with_drg_names", "CASE_COLUMNS", "WEIGHT_COLUMNS", "RATE_COLUMNS", "ITEM_COLUMNS",
           "WEIGHTS_REPORT_COLUMNS"]


RATE_COLUMNS = (("scheme", "险种"), ("kind", "费率类型"), ("month", "月份"), ("budget", "预算（元）"),
                ("points", "病例权重"), ("value", "费率（元/权重）"), ("note", "说明"))
WEIGHT_COLUMNS = (("group_id", "DRG"), ("name", "DRG 名称"), ("cases", "历史病例数"), ("cases_kept", "剔除离群后病例数"),
                  ("avg_cost", "平均费用（年度加权）"), ("relative", "相对权重 RW"), ("reference_cost", "全部病例平均费用"))
CASE_COLUMNS = (("case_id", "病例号"), ("institution_id", "机构编码"), ("scheme", "险种"), ("settle_year", "结算年度"),
                ("settle_month", "结算月份"), ("status", "分组状态"), ("drg", "DRG"), ("drg_name", "DRG 名称"),
                ("rw", "相对权重 RW"),
                ("avg_cost", "DRG 平均费用"), ("total_cost", "医疗总费用"), ("outlier", "倍率"),
                ("adjusted_weight", "调整后权重"), ("coefficient", "机构系数"), ("case_weight", "病例权重"),
                ("method", "结算方式"), ("item_reason", "按项目结算原因"), ("fund_paid", "统筹基金记账"),
                ("los_days", "住院天数"))
ITEM_COLUMNS = (("scheme", "险种"), ("institution_id", "机构编码"), ("name", "机构名称"), ("cases", "按项目结算病例数"),
                ("total_cost", "医疗总费用"), ("paid", "按项目支付（统筹基金记账）"))


WEIGHTS_REPORT_COLUMNS = (("kind", "问题"), ("drg", "DRG"), ("cases", "本年病例数"), ("message", "说明"))


def write_drg_year(y: DrgYear, weights: pa.Table, case_pay: pa.Table, out_dir: Path,
                   statements: bool = True, names: Mapping[str, str] | None = None, issuer=None,
                   deduction_lines=(), weights_report: list[dict] | None = None) -> list[Path]:
    """The year's files; ``names``: DRG → name (the standards'), written beside every DRG code;
    ``weights_report``: what an official weight table and the cases disagree on
    (:func:`yibao.drg.weights.check_weights`), written as weights_report.csv when given."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = dict(names or {})
    files = [write_csv(out_dir / "weights.csv", WEIGHT_COLUMNS, with_drg_names(weights.to_pylist(), names, "group_id"))]
    if weights_report is not None:
        files.append(write_csv(out_dir / "weights_report.csv", WEIGHTS_REPORT_COLUMNS,
                               [{**p, "kind": WEIGHTS_REPORT_ZH[p["kind"]]} for p in weights_report]))
    # every case of the year, one CSV row each: written over whole columns (yibao.engine.csvfile)
    cases = case_pay.filter(pc.equal(case_pay.column("settle_year"), y.year))
    cases = cases.append_column("drg_name", pc.take(pa.array(list(names.values()), pa.string()),
                                                    pc.index_in(cases.column("drg"),
                                                                value_set=pa.array(list(names), pa.string()))))
    labels = {"outlier": OUTLIER_ZH, "item_reason": ITEM_ZH, "method": METHOD_ZH, "scheme": SCHEME_ZH}
    cases = pa.table({k: relabel(cases.column(k), labels[k]) if k in labels else cases.column(k)
                      for k, _ in CASE_COLUMNS})
    (out_dir / "cases.csv").write_bytes(csv_bytes(cases.rename_columns([zh for _, zh in CASE_COLUMNS])))
    files.append(out_dir / "cases.csv")
    rates = [{**r, "scheme": SCHEME_ZH[r["scheme"]],
              "kind": RATE_KIND_ZH[r["kind"]]}
             for r in y.rates]
    files.append(write_csv(out_dir / "base_rates.csv", RATE_COLUMNS, rates))
    pre, clr = [], []
    for s in y.drg.values():
        p, c = scheme_rows(s, "按 DRG", y.institutions)
        pre += p
        clr += c
    items = [{**i, "scheme": SCHEME_ZH[i["scheme"]], "name": y.institutions.get(i["institution_id"], {}).get("name", "")}
             for i in y.item]
    files += [write_csv(out_dir / "prepayments.csv", DRG_PREPAY_COLUMNS, pre),
              write_csv(out_dir / "clearing.csv", DRG_CLEARING_COLUMNS, clr),
              write_csv(out_dir / "item.csv", ITEM_COLUMNS, items),
              write_csv(out_dir / "exclusions.csv", EXCLUSION_COLUMNS, y.excluded)]
    if y.deductions:
        files.append(write_csv(out_dir / "deductions_not_applied.csv", NOT_APPLIED_COLUMNS,
                               y.deductions["not_applied"]))
    summary = {"year": y.year, "weights_version": y.weights_version, "schemes": {
        s: {"budget_after_item": str(x.budget), "weight": str(x.units), "base_rate": str(x.value_shown),
            "entitled": str(x.entitled), "balance": str(x.balance),
            "item_paid": str(sum((i["paid"] for i in y.item if i["scheme"] == s), ZERO))} for s, x in y.drg.items()},
        "outside_agreement": exclusion_summary(y.excluded)}
    if y.deductions:
        d = y.deductions
        summary["deductions"] = {"given": str(d["given"]), "applied": str(d["applied"]),
                                 "not_applied": str(sum((r["amount"] for r in d["not_applied"]), ZERO)),
                                 "line": summary_line(d["given"], d["applied"], d["not_applied"])}
    (out_dir / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                                          encoding="utf-8")
    files.append(out_dir / "summary.json")
    if statements:
        sdir = out_dir / "statements"
        sdir.mkdir(exist_ok=True)
        for i in sorted({r["institution_id"] for r in clr} | {r["institution_id"] for r in items}):
            mine = with_drg_names(cases.filter(pc.equal(cases.column("institution_id"), i)).to_pylist(), names, "drg")
            sheets = drg_statement_sheets(y, i, clr, pre, items, mine, issuer, deduction_lines)
            path = safe_path(sdir, safe_id(i), suffix=".xlsx")  # (an institution code from data: never a path)
            write_workbook(path, sheets)
            files.append(path)
    return files


# --- the institution's statement (结算单) ---------------------------------------------------------------

CASE_KINDS = {"case_id": "code", "settle_year": "int", "settle_month": "int", "drg": "code", "rw": "weight",
              "avg_cost": "money", "total_cost": "money", "adjusted_weight": "weight", "coefficient": "weight",
              "case_weight": "weight", "fund_paid": "money", "los_days": "int", "adrg": "code"}
NAMED_CASE_COLUMNS = tuple(c for k in CASE_COLUMNS if k[0] != "drg_name" for c in
                           ((k,) if k[0] != "drg" else (k, ("drg_name", "DRG 名称"), ("adrg", "ADRG"),
                                                        ("adrg_name", "ADRG 名称"))))
def with_drg_names(rows: list[dict], names: Mapping[str, str] | None, key: str) -> list[dict]:
    """Rows with the DRG name, its ADRG (the first three characters) and the ADRG name beside ``key``; ``names``:
    ADRG and DRG code → name (:attr:`DrgSettlement.names`: the standards' ``adrg_names`` and ``drg_names``)."""
    names = names or {}
    out = []
    for r in rows:
        code = r.get(key) or ""
        nm = names.get(code, "")
        out.append({**r, "drg_name": nm, "name": nm if key == "group_id" else r.get("name"),
                    "adrg": code[:3] or None, "adrg_name": names.get(code[:3], "") if nm else ""})
    return out


def drg_statement_sheets(y: DrgYear, i: str, clr: list[dict], pre: list[dict], items: list[dict],
                         cases: list[dict], issuer=None, deduction_lines=()) -> list:
    """One institution's DRG statement: clearing (with the statement head), months, by-item cases, cases,
    the deductions behind the clearing's 审核扣款."""
    nm = y.institutions.get(i, {}).get("name", "")
    mine = [r for r in clr if r["institution_id"] == i]
    notes = statement_head("DRG 付费结算单", "DRG", y.year, i, nm, issuer) + [
        "金额单位：元；费率为精确值的显示（6 位小数）；DRG 金额 = 病例权重 × 费率（元/权重）"]
    return [statement_sheet("年终清算", DRG_CLEARING_COLUMNS, mine, notes, skip=("name", "level"), filter=False),
            statement_sheet("按月预付", DRG_PREPAY_COLUMNS, [r for r in pre if r["institution_id"] == i],
                            [f"{nm}（{i}）{y.year} 年按月预付"], skip=("name",)),
            statement_sheet("按项目结算", ITEM_COLUMNS, [r for r in items if r["institution_id"] == i],
                            [f"{nm}（{i}）{y.year} 年按项目结算"], skip=("name",)),
            table_sheet("病例", kinds_of(NAMED_CASE_COLUMNS), cases, [f"{nm}（{i}）{y.year} 年结算病例"],
                        kinds=CASE_KINDS, skip=("institution_id",), total=True,
                        totals={"avg_cost": False, "case_weight": True}),
            deduction_sheet(deduction_lines, i, sum((r["deductions"] for r in mine), ZERO))]


# --- the command's files and lines ---------------------------------------------------------------------

def write_settlement(s: DrgSettlement, out_dir: Path, *, statements: bool = True, issuer=None,
                     deduction_lines=()) -> list[Path]:
    """The files of :func:`~yibao.drg.settlement.settle_year`'s result (weights_report.csv with an official
    table)."""
    return write_drg_year(s.year, s.weights, s.case_pay, out_dir, statements=statements, names=s.names,
                          issuer=issuer, deduction_lines=deduction_lines,
                          weights_report=s.weights_report if s.official is not None else None)


def summary_lines(s: DrgSettlement, out_dir: Path, files: list[Path], *, statements: bool = True,
                  weights_file: Path | None = None) -> list[str]:
    """What ``yibao drg settle`` prints: the weights used, per scheme the year's amounts, the exclusions, the
    deductions, the files written."""
    y = s.year
    lines = []
    if s.official is not None:
        listed = sum(1 for w in s.official.rows.values() if w.weight is None)
        lines.append(f"分组标准 {s.standards_version}；官方权重表 {weights_file}（DRG {len(s.official.rows)} 个，"
                     f"其中按项目据实支付 {listed} 个）")
    else:
        lines.append(f"分组标准 {s.standards_version}；权重年度 {s.history}，DRG {s.weights.num_rows} 个")
    for scheme, x in y.drg.items():
        item = sum(i["paid"] for i in y.item if i["scheme"] == scheme)
        lines.append(f"{SCHEME_ZH[scheme]}：按项目结算 {item}，DRG 预算 {x.budget}，病例权重 {x.units}，"
                     f"费率 {x.value_shown} 元/权重，机构 {len(x.clearing)} 家，年度应付 {x.entitled}，基金结余 {x.balance}")
    lines.append(exclusions_line(y.excluded))
    if y.deductions:
        lines.append(summary_line(y.deductions["given"], y.deductions["applied"], y.deductions["not_applied"]))
    lines.append(f"已写入 {out_dir}（weights / cases / base_rates / prepayments / clearing / item / exclusions .csv、"
                 "summary.json" + ("、weights_report.csv" if s.official is not None else "")
                 + (f"、{sum(1 for f in files if f.suffix == '.xlsx')} 份机构结算单" if statements else "") + "）")
    return lines


def weights_refusal(s: DrgSettlement, out_dir: Path) -> tuple[list[str], ProblemReported | None]:
    """An official weight table that disagrees with the standards or the cases: the first warnings and the error
    to end with (exit 3, the files are written); ([], None) when it agrees."""
    serious = s.weights_problems
    if not serious:
        return [], None
    counts = {k: sum(1 for p in serious if p["kind"] == k) for k in ("unknown_drg", "missing_weight")}
    return [f"警告：{p['message']}" for p in serious[:10]], ProblemReported(
        f"权重表与分组标准或病例不一致：{counts['unknown_drg']} 个 DRG 不在分组标准中，"
        f"{counts['missing_weight']} 个有病例的 DRG 没有权重（其病例按项目结算）；"
        f"详见 {out_dir / 'weights_report.csv'}")
