"""``yibao drg settle``: DRG payment of a year (weights from history, base rate, prepayment, clearing)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from yibao.cli._common import app
from yibao.cli._outputs import outputs

drg_app = typer.Typer(no_args_is_help=True, help="按疾病诊断相关分组付费（CHS-DRG）：权重、费率与年度结算")
app.add_typer(drg_app, name="drg")


@drg_app.command("settle")
def drg_settle(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录（只读）"),
    standards: Optional[Path] = typer.Option(None, "--standards", help="CHS-DRG 分组标准目录"),
    budget_policy: Path = typer.Option(..., "--budget-policy", help="总额控制政策文件（年度、基金数据、[clearing]）"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    policy: Optional[Path] = typer.Option(None, "--policy", help="DRG 付费政策文件（TOML）：[weights] [payment]"),
    deductions: Optional[Path] = typer.Option(None, "--deductions", help="扣款 CSV：institution_id,year,source,amount,findings"),
    statements: bool = typer.Option(True, "--statements/--no-statements", help="是否为每家机构生成 Excel 结算单"),
) -> None:
    """DRG 年度结算：全部住院病例分组 → 历史年度相对权重 → 病例权重（系数、高低倍率、按项目）→ 费率、按月预付与年终清算。"""
    from yibao.cli.dip import _budget, _read_deductions
    from yibao.contract.reasons import FatalLoadError
    from yibao.contract.standards import find_standards
    from yibao.drg.grouper import group_table
    from yibao.drg.payment import (DRG_PAYMENT, DRG_WEIGHTS, budget_rate_of, history_years, load_payment_policy,
                                   param_tables, settle_drg_year, write_drg_year)
    from yibao.drg.standards import load_standards
    from yibao.settle.units import booked_by_institution, split_deductions
    from yibao.engine.runner import LocalRunner, query_arrow
    from yibao.engine.workspace import Workspace

    target = outputs(out_dir)
    bp, budgets = _budget(budget_policy)
    pol = load_payment_policy(policy)
    sdir = find_standards(standards)
    if sdir is None:
        raise FatalLoadError(str(standards or "--standards"), "找不到 CHS-DRG 分组标准目录，请用 --standards 指定")
    std = load_standards(sdir)
    if not (workspace / "yibao.duckdb").exists():
        raise FatalLoadError(str(workspace), "不是 yibao 工作区（缺少 yibao.duckdb），请先运行 yibao load")
    ws = Workspace(workspace, read_only=True)
    try:
        db = ws.con.execute("SELECT current_database()").fetchall()[0][0]
        runner = LocalRunner(con=ws.con)
        cases = f'"{db}".main.cases'
        grouped = group_table(f"(SELECT * FROM {cases} WHERE setting = 'inpatient')", std, runner)
        years = [r[0] for r in ws.con.execute(
            f"SELECT DISTINCT CAST(year(discharge_date) AS INTEGER) FROM {cases} WHERE setting = 'inpatient' "
            "ORDER BY 1").fetchall()]
        hist = history_years(years, bp.year, pol)
        src = {"drg_grouped": grouped, "cases": cases, "institutions": f'"{db}".main.institutions',
               **param_tables(pol, bp.year, hist)}
        weights = runner.run_pipeline(DRG_WEIGHTS, src)["drg_weights"]
        out = runner.run_pipeline(DRG_PAYMENT, {**src, "drg_weights": weights})
        institutions = query_arrow(ws.con, f'SELECT * FROM "{db}".main.institutions ORDER BY institution_id')
    finally:
        ws.close()
    units = out["drg_pay_units"]
    ded = {}
    if deductions is not None:  # split over schemes by the institution's DRG-year booked fund, as for DIP
        ded = split_deductions(_read_deductions(deductions, bp.year),
                               booked_by_institution(units.to_pylist(), bp.year))
    cp = bp.sections.clearing
    y = settle_drg_year(bp.year, units, institutions, budgets.inpatient, pol, cp, cp.scores, cp.default_score, ded,
                        weights_version=str(getattr(std, "version", "")))
    hist_units = {}
    for r in units.to_pylist():
        if r["method"] == "drg" and r["year"] in hist:
            hist_units.setdefault(r["scheme"], {}).setdefault(r["year"], 0)
            hist_units[r["scheme"]][r["year"]] += r["units"]
    for scheme in list(y.drg):
        rate = budget_rate_of(y.drg[scheme].budget, hist_units.get(scheme, {}), pol, hist)
        y.rates.insert(0, {"scheme": scheme, "kind": "budget", "month": None, "budget": y.drg[scheme].budget,
                           "points": None, "value": rate,
                           "note": "预算费率 = 预算 ÷ 历史年度病例权重加权" if rate is not None else "无历史年度权重"})
    with target as tmp:
        files = write_drg_year(y, weights, out["drg_case_pay"], tmp, statements=statements)
    print(f"分组标准 {getattr(std, 'version', '')}；权重年度 {hist}，DRG {weights.num_rows} 个")
    for scheme, s in y.drg.items():
        zh = {"employee": "职工", "resident": "城乡居民"}[scheme]
        item = sum(i["paid"] for i in y.item if i["scheme"] == scheme)
        print(f"{zh}：按项目结算 {item}，DRG 预算 {s.budget}，病例权重 {s.units}，费率 {s.value_shown} 元/权重，"
              f"机构 {len(s.clearing)} 家，年度应付 {s.entitled}，基金结余 {s.balance}")
    print(f"已写入 {out_dir}（weights / cases / base_rates / prepayments / clearing / item .csv、summary.json"
          + (f"、{sum(1 for f in files if f.suffix == '.xlsx')} 份机构结算单" if statements else "") + "）")
