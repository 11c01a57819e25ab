"""``yibao group drg`` (CHS-DRG grouping of a cases file, the contract's command interface) and ``yibao drg settle``
(DRG payment of a year: :func:`yibao.drg.settlement.settle_year`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from yibao.cli._common import dir_option, err, file_argument, file_option, score_reason_option, scores_option, sub_app
from yibao.cli._outputs import outputs

group_app = sub_app("group", help="病例分组（CHS-DRG）")
drg_app = sub_app("drg", help="按疾病诊断相关分组付费（CHS-DRG）：权重、费率与年度结算")


@group_app.command("drg")
def group_drg(
    cases_csv: Path = file_argument(..., help="病例文件（cases 表格式，CSV）"),
    out_csv: Path = typer.Argument(..., help="输出 CSV：case_id,status,mdc,adrg,drg"),
    standards: Optional[Path] = typer.Option(None, "--standards", help="CHS-DRG 分组标准目录（缺省自动查找）"),
    explain: Optional[str] = typer.Option(None, "--explain", help="另打印该病例（case_id）的分组过程"),
    map_codes: bool = typer.Option(False, "--map-codes",
                                   help="分组前按标准的编码对照表转换诊断与手术编码（参照分组器缺省不转换）"),
) -> None:
    """按 CHS-DRG 分组标准表为病例分组：编码校验 → MDC → ADRG → DRG。"""
    from yibao.drg.cases import group_file
    from yibao.drg.standards import load_standards

    done = group_file(cases_csv, out_csv, load_standards(standards), map_codes=map_codes, explain=explain,
                      notify=err.print)
    print(done.summary)
    for text in done.explanations:
        print(text)


@drg_app.command("settle")
def drg_settle(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录（只读）"),
    standards: Optional[Path] = dir_option(None, "--standards", help="CHS-DRG 分组标准目录"),
    budget_policy: Path = file_option(..., "--budget-policy", help="总额控制政策文件（年度、基金数据、[clearing]）"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    policy: Optional[Path] = file_option(None, "--policy", help="DRG 付费政策文件（TOML）：[weights] [payment]"),
    deductions: Optional[Path] = file_option(None, "--deductions", help="扣款 CSV：institution_id,year,source,amount,findings"),
    statements: bool = typer.Option(True, "--statements/--no-statements", help="是否为每家机构生成 Excel 结算单"),
    weights_file: Optional[Path] = file_option(None, "--weights",
                                               help="官方权重表（CSV 或 Excel：DRG编码、RW，可有 DRG名称、支付标准），"
                                               "代替由历史计算的权重"),
    scores: Optional[Path] = scores_option(),
    score_reason: Optional[list[str]] = score_reason_option(),
) -> None:
    """DRG 年度结算：全部住院病例分组 → 历史年度相对权重 → 病例权重（系数、高低倍率、按项目）→ 费率、按月预付与年终清算。"""
    from yibao.assess.clearing import clearing_scores, parse_reasons, write_record
    from yibao.assess.clearing import summary_line as score_line
    from yibao.budget.policy import load_policy as load_budget_policy
    from yibao.budget.year import settlement_pots
    from yibao.contract.reasons import FatalLoadError
    from yibao.contract.standards import find_standards
    from yibao.drg.policy import load_payment_policy
    from yibao.drg.report import summary_lines, weights_refusal, write_settlement
    from yibao.drg.settlement import settle_year
    from yibao.drg.standards import load_standards
    from yibao.drg.weights import read_weights
    from yibao.settle.deductions import read_deductions
    from yibao.settle.report import issuer_from, read_deduction_lines

    target = outputs(out_dir)
    bp = load_budget_policy(budget_policy)
    budgets = settlement_pots(bp)
    issuer = issuer_from(bp.raw, str(budget_policy))
    pol = load_payment_policy(policy)
    cp = bp.sections.clearing
    used, record = cp.scores, None
    if scores is not None:  # the assessment's scores (issue 18): hand-typed ones only as a recorded override
        used, record = clearing_scores(scores, cp.scores, parse_reasons(score_reason))
    sdir = find_standards(standards)
    if sdir is None:
        raise FatalLoadError(str(standards or "--standards"), "找不到 CHS-DRG 分组标准目录，请用 --standards 指定")
    std = load_standards(sdir)
    official = read_weights(weights_file) if weights_file is not None else None
    result = settle_year(workspace, std, budgets, cp, read_deductions(deductions) if deductions is not None else None,
                         bp.year, policy=pol, scores=used, default_score=cp.default_score, official=official,
                         year_from=budget_policy)
    with target as tmp:
        files = write_settlement(result, tmp, statements=statements, issuer=issuer,
                                 deduction_lines=read_deduction_lines(deductions, bp.year))
        if record is not None:
            write_record(record, tmp / "score_sources.csv")
    if record is not None:
        print(score_line(record, scores))
    for line in summary_lines(result, out_dir, files, statements=statements, weights_file=weights_file):
        print(line)
    warnings, error = weights_refusal(result, out_dir)
    for w in warnings:
        err.print(w)
    if error is not None:
        raise error
