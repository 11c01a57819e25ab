"""``yibao dip …``: DIP catalogue, case scoring, a hospital's view, supervision indicators, the year's settlement
and policy simulation. Each command parses its options and calls one function of :mod:`yibao.dip.commands`;
the budget policy is read here (:mod:`yibao.budget`) and handed to DIP as a ``BudgetYear``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from yibao.cli._common import dir_option, engine_option, file_option, score_reason_option, scores_option, sub_app
from yibao.cli._outputs import outputs

dip_app = sub_app("dip", help="按病种分值付费（DIP）：病种目录库与病例赋分")


def _echo_out(done) -> None:
    for stream, line in done.lines:
        if stream == "out":
            print(line)


def _echo_err(done) -> None:
    for stream, line in done.lines:
        if stream == "err":
            print(line, file=sys.stderr)


def _echo(done) -> None:
    """The lines a DIP command reports, in order: standard output, warnings on standard error."""
    for stream, line in done.lines:
        print(line, file=sys.stderr if stream == "err" else sys.stdout)


def _budget_year(budget_policy: Path):
    """The budget policy read (input parsing) into what DIP settles against."""
    from yibao.budget.policy import load_policy as load_budget_policy
    from yibao.budget.year import settlement_pots
    from yibao.dip.commands import BudgetYear

    bp = load_budget_policy(budget_policy)
    return BudgetYear(bp.year, settlement_pots(bp), bp.sections.clearing, bp.raw, budget_policy)


def _budget(budget_policy: Path):
    """(kept for ``yibao.cli.drgpay`` until it moves off it) The budget policy and its pots."""
    from yibao.budget.policy import load_policy as load_budget_policy
    from yibao.budget.year import settlement_pots

    bp = load_budget_policy(budget_policy)
    return bp, settlement_pots(bp)


def _require_year(years: list, year: int, source: Path, budget_policy: Path) -> None:
    """(kept for ``yibao.cli.drgpay`` until it moves off it) Refuse a settlement year without a single case."""
    from yibao.settle.pots import require_settle_year

    require_settle_year(years, year, source, budget_policy)


@dip_app.command("build")
def dip_build(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    policy: Optional[Path] = file_option(None, "--policy", help="DIP 政策文件（TOML，缺省用内置默认值）"),
    out_dir: Path = typer.Option(..., "--out", help="目录库输出目录"),
    standards: Optional[Path] = dir_option(None, "--standards", help="CHS-DRG 标准目录（用其 valid_procedures.csv 区分手术）"),
    engine: str = engine_option(),
    year: Optional[int] = typer.Option(None, "--year",
                                       help="结算年度：未在政策文件给出 catalogue.years 时，"
                                       "用该年度之前的历史年度（缺省为工作区最新出院年度）"),
) -> None:
    """由历史住院病例生成 DIP 病种目录库（核心病种、综合病种、分值），存为 CSV、Parquet 与 Excel。"""
    from yibao.dip.commands import build

    _echo(build(workspace, outputs(out_dir), policy=policy, standards=standards, engine=engine, year=year))


@dip_app.command("score")
def dip_score(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    catalogue: Path = dir_option(..., "--catalogue", help="病种目录库目录（yibao dip build 的输出）"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    policy: Optional[Path] = file_option(None, "--policy", help="DIP 政策文件（TOML）：偏差倍数、特例单议比例、系数"),
    review: Optional[Path] = file_option(None, "--review", help="特例单议结果（上次输出的 review_queue.csv，已填 final_score）"),
    year: Optional[int] = typer.Option(None, "--year", help="只输出该结算年度的病例"),
    engine: str = engine_option(),
) -> None:
    """住院病例入组与赋分：核心病种→综合病种→不能入组；偏差病例、机构系数、特例单议。"""
    from yibao.dip.commands import score

    _echo(score(workspace, catalogue, outputs(out_dir), policy=policy, review=review, year=year, engine=engine))


@dip_app.command("hospital")
def dip_hospital(
    scored: Path = dir_option(..., "--scored", help="病例赋分目录（yibao dip score 的输出）"),
    institution: str = typer.Option(..., "--institution", help="机构编码"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    year: Optional[int] = typer.Option(None, "--year", help="只看该出院年度的病例"),
    workspace: Optional[Path] = typer.Option(None, "--workspace", "-w", help="工作区（提供机构等级，用于同级机构对比）"),
    policy: Optional[Path] = file_option(None, "--policy", help="DIP 政策文件（TOML）：说明中的偏差倍数"),
    point_value: Optional[str] = typer.Option(None, "--point-value", help="点值（元/点，精确小数），给出时另列金额"),
) -> None:
    """一家机构的病种分值：病例明细与点数计算说明、病种汇总、与同级机构和全区域对比（Excel 与 CSV）。"""
    from decimal import Decimal, InvalidOperation

    from yibao.contract.errors import BadOption
    from yibao.dip.commands import hospital

    pv = None
    if point_value is not None:
        try:
            pv = Decimal(point_value.strip())
        except InvalidOperation:
            raise BadOption(f"--point-value: 不是数字：{point_value!r}") from None
        if not pv.is_finite() or pv <= 0:
            raise BadOption(f"--point-value: 应为大于 0 的数：{point_value!r}")
    _echo(hospital(scored, institution, outputs(out_dir), year=year, workspace=workspace, policy=policy,
                   point_value=pv))


@dip_app.command("indicators")
def dip_indicators(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录（住院与门诊结算、机构等级）"),
    scored: Path = dir_option(..., "--scored", help="病例赋分目录（yibao dip score 的输出）"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    policy: Optional[Path] = file_option(None, "--policy", help="DIP 政策文件（TOML）：[indicators] 监管阈值"),
) -> None:
    """违规行为监管辅助指标（每机构每年度）：高套病种、分解住院、低标入院、转嫁费用、推诿病人，与同级机构中位数比较。"""
    from yibao.dip.commands import indicators

    _echo(indicators(workspace, scored, outputs(out_dir), policy=policy))


@dip_app.command("settle")
def dip_settle(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    scored: Path = dir_option(..., "--scored", help="病例赋分目录（yibao dip score 的输出，含 scored_cases.parquet）"),
    budget_policy: Path = file_option(..., "--budget-policy",
                                      help="总额控制政策文件（年度、基金数据、[clearing] 结余留用与超支分担）"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    policy: Optional[Path] = file_option(None, "--policy", help="DIP 政策文件（TOML）：[settlement] [bed_day] [per_capita]"),
    deductions: Optional[Path] = file_option(None, "--deductions",
                                             help="扣款（智能审核等）CSV：institution_id,year,source,amount,findings"),
    engine: str = engine_option(),
    statements: bool = typer.Option(True, "--statements/--no-statements", help="是否为每家机构生成 Excel 结算单"),
    scores: Optional[Path] = scores_option(),
    score_reason: Optional[list[str]] = score_reason_option(),
) -> None:
    """DIP 年度结算：预算点值、月度预付点值与按月预付（预留质量保证金）、结算点值与年终清算（结余留用、超支分担、扣款），以及按床日、按人头。"""  # noqa: E501 (typer shows it as the help text)
    from yibao.dip.commands import settle

    target = outputs(out_dir)
    budget = _budget_year(budget_policy)
    used, record, also_write = None, None, None
    if scores is not None:  # the assessment's scores (issue 18): hand-typed ones only as a recorded override
        from yibao.assess.clearing import clearing_scores, parse_reasons, write_record

        used, record = clearing_scores(scores, budget.clearing.scores, parse_reasons(score_reason))

        def also_write(tmp: Path) -> None:
            write_record(record, tmp / "score_sources.csv")

    done = settle(workspace, scored, budget, target, policy=policy, deductions=deductions, engine=engine,
                  statements=statements, scores=used, also_write=also_write)
    if record is not None:
        from yibao.assess.clearing import summary_line as score_line

        _echo_err(done)
        print(score_line(record, scores))
        _echo_out(done)
    else:
        _echo(done)


@dip_app.command("simulate")
def dip_simulate(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录（只读）"),
    catalogue: Path = dir_option(..., "--catalogue", help="基准病种目录库目录（yibao dip build 的输出）"),
    budget_policy: Path = file_option(..., "--budget-policy", help="总额控制政策文件"),
    scenario: Path = file_option(..., "--scenario", help="情景文件（TOML）：[budget] 预算调整、[dip.*] DIP 参数调整"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录（基准、情景与对比，均写在此目录下）"),
    policy: Optional[Path] = file_option(None, "--policy", help="基准 DIP 政策文件（TOML）"),
    deductions: Optional[Path] = file_option(None, "--deductions", help="扣款 CSV（两边相同）"),
    standards: Optional[Path] = dir_option(None, "--standards", help="CHS-DRG 标准目录（情景重建目录库时区分手术）"),
    engine: str = engine_option(),
) -> None:
    """政策模拟：同一年度在另一组参数下（预算、核心病种临界值、系数、结算口径…）重新入组、赋分、结算，与基准并列对比；不改动真实结果。"""
    from yibao.dip.commands import simulate

    _echo(simulate(workspace, catalogue, _budget_year(budget_policy), scenario, outputs(out_dir), policy=policy,
                   deductions=deductions, standards=standards, engine=engine))
