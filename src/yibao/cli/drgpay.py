"""``yibao drg settle``: DRG payment of a year (weights from history, base rate, prepayment, clearing)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from yibao.cli._common import dir_option, err, file_option, sub_app
from yibao.cli._outputs import outputs

drg_app = sub_app("drg", help="按疾病诊断相关分组付费（CHS-DRG）：权重、费率与年度结算")


@drg_app.command("settle")
def drg_settle(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录（只读）"),
    standards: Optional[Path] = dir_option(None, "--standards", help="CHS-DRG 分组标准目录"),
    budget_policy: Path = file_option(..., "--budget-policy", help="总额控制政策文件（年度、基金数据、[clearing]）"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    policy: Optional[Path] = file_option(None, "--policy", help="DRG 付费政策文件（TOML）：[weights] [payment]"),
    deductions: Optional[Path] = file_option(None, "--deductions", help="扣款 CSV：institution_id,year,source,amount,findings"),
    statements: bool = typer.Option(True, "--statements/--no-statements", help="是否为每家机构生成 Excel 结算单"),
    weights_file: Optional[Path] = file_option(None, "--weights", help="官方权重表（CSV 或 Excel：DRG编码、RW，可有 DRG名称、支付标准），代替由历史计算的权重"),
    scores: Optional[Path] = file_option(None, "--scores", help="考核得分（yibao assess 输出的 score_totals.csv），代替手填的 [clearing.scores] 返还质量保证金"),
    score_reason: Optional[list[str]] = typer.Option(None, "--score-reason", help="手工得分覆盖考核得分的理由：机构编码=理由（可重复）"),
) -> None:
    """DRG 年度结算：全部住院病例分组 → 历史年度相对权重 → 病例权重（系数、高低倍率、按项目）→ 费率、按月预付与年终清算。"""
    from yibao.cli.dip import _budget, _require_year
    from yibao.contract.reasons import FatalLoadError
    from yibao.contract.standards import find_standards
    from yibao.drg.grouper import group_table
    from yibao.drg.payment import (DRG_PAYMENT, DRG_WEIGHTS, budget_rate_of, history_years, load_payment_policy,
                                   param_tables, settle_drg_year, write_drg_year)
    from yibao.drg.standards import load_standards
    from yibao.drg.payment import drg_wholly_excluded, finish_drg_year
    from yibao.drg.weights import check_weights, official_weights, read_weights
    from yibao.settle.agreement import OUTSIDE_AGREEMENT, agreement_sources, exclusions_line
    from yibao.settle.deductions import by_institution, read_deductions, summary_line
    from yibao.settle.units import booked_by_institution, split_deductions
    from yibao.engine.runner import LocalRunner, query_arrow
    from yibao.engine.workspace import Workspace

    from yibao.settle.report import issuer_from, read_deduction_lines

    target = outputs(out_dir)
    bp, budgets = _budget(budget_policy)
    issuer = issuer_from(bp.raw, str(budget_policy))
    pol = load_payment_policy(policy)
    cp = bp.sections.clearing
    used, record = cp.scores, None
    if scores is not None:  # the assessment's scores (issue 18): hand-typed ones only as a recorded override
        from yibao.assess.clearing import clearing_scores, parse_reasons

        used, record = clearing_scores(scores, cp.scores, parse_reasons(score_reason))
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
               **param_tables(pol, bp.year, hist), **agreement_sources(bp.year)}
        excluded = runner.run_pipeline(OUTSIDE_AGREEMENT, src)["settle_outside_agreement"]
        src["settle_outside_agreement"] = excluded
        weights = runner.run_pipeline(DRG_WEIGHTS, src)["drg_weights"]
        official = read_weights(weights_file) if weights_file is not None else None
        if official is not None:  # the city's published weights; the history only lends costs where it has them
            weights = official_weights(official, weights)
        out = runner.run_pipeline(DRG_PAYMENT, {**src, "drg_weights": weights})
        institutions = query_arrow(ws.con, f'SELECT * FROM "{db}".main.institutions ORDER BY institution_id')
    finally:
        ws.close()
    units = out["drg_pay_units"]
    _require_year(units.column("year").to_pylist(), bp.year, workspace, budget_policy)
    ded = {}
    given = read_deductions(deductions) if deductions is not None else None
    gone = drg_wholly_excluded(units, excluded, bp.year)
    if given is not None:  # split over schemes by the institution's DRG-year booked fund, as for DIP
        ded = split_deductions({i: a for i, a in by_institution(given, bp.year, "inpatient").items()
                                if ("inpatient", i) not in gone},
                               booked_by_institution([r for r in units.to_pylist() if r["method"] != "excluded"],
                                                     bp.year))
    y = settle_drg_year(bp.year, units, institutions, budgets.inpatient, pol, cp, used, cp.default_score, ded,
                        weights_version=official.version if official else str(getattr(std, "version", "")))
    finish_drg_year(y, excluded, given, gone)
    problems = []
    if official is not None:
        year_drgs: dict[str, int] = {}
        for r in out["drg_case_pay"].to_pylist():
            if r["settle_year"] == bp.year and r["status"] == "ok" and r["drg"] and r["method"] != "excluded":
                year_drgs[r["drg"]] = year_drgs.get(r["drg"], 0) + 1
        problems = check_weights(official, std, year_drgs)
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
        files = write_drg_year(y, weights, out["drg_case_pay"], tmp, statements=statements,
                               names={**std.adrg_names, **std.drg_names}, issuer=issuer,
                               deduction_lines=read_deduction_lines(deductions, bp.year),
                               weights_report=problems if official is not None else None)
        if record is not None:
            from yibao.assess.clearing import write_record

            write_record(record, tmp / "score_sources.csv")
    if record is not None:
        from yibao.assess.clearing import summary_line as score_line

        print(score_line(record, scores))
    if official is not None:
        listed = sum(1 for w in official.rows.values() if w.weight is None)
        print(f"分组标准 {getattr(std, 'version', '')}；官方权重表 {weights_file}（DRG {len(official.rows)} 个，"
              f"其中按项目据实支付 {listed} 个）")
    else:
        print(f"分组标准 {getattr(std, 'version', '')}；权重年度 {hist}，DRG {weights.num_rows} 个")
    for scheme, s in y.drg.items():
        zh = {"employee": "职工", "resident": "城乡居民"}[scheme]
        item = sum(i["paid"] for i in y.item if i["scheme"] == scheme)
        print(f"{zh}：按项目结算 {item}，DRG 预算 {s.budget}，病例权重 {s.units}，费率 {s.value_shown} 元/权重，"
              f"机构 {len(s.clearing)} 家，年度应付 {s.entitled}，基金结余 {s.balance}")
    print(exclusions_line(y.excluded))
    if y.deductions:
        print(summary_line(y.deductions["given"], y.deductions["applied"], y.deductions["not_applied"]))
    print(f"已写入 {out_dir}（weights / cases / base_rates / prepayments / clearing / item / exclusions .csv、summary.json"
          + ("、weights_report.csv" if official is not None else "")
          + (f"、{sum(1 for f in files if f.suffix == '.xlsx')} 份机构结算单" if statements else "") + "）")
    serious = [p for p in problems if p["kind"] in ("unknown_drg", "missing_weight")]
    if serious:
        from yibao.contract.errors import ProblemReported

        for p in serious[:10]:
            err.print(f"警告：{p['message']}")
        counts = {k: sum(1 for p in serious if p["kind"] == k) for k in ("unknown_drg", "missing_weight")}
        raise ProblemReported(f"权重表与分组标准或病例不一致：{counts['unknown_drg']} 个 DRG 不在分组标准中，"
                              f"{counts['missing_weight']} 个有病例的 DRG 没有权重（其病例按项目结算）；"
                              f"详见 {out_dir / 'weights_report.csv'}")
