"""``yibao fund``: fund operation monitoring and early warning, expenditure projection, a ledger from a budget policy."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from yibao.cli._common import dir_option, file_option, sub_app
from yibao.cli._outputs import outputs

fund_app = sub_app("fund", help="基金运行监测、风险预警与支出预测")


def _years(text: str) -> tuple[int, ...]:
    from yibao.contract.errors import BadOption

    try:
        if "-" in text:
            a, b = (int(x) for x in text.split("-", 1))
            years = tuple(range(a, b + 1))
        else:
            years = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise BadOption(f"--fit {text!r}：应为年度范围（2023-2025）或逗号分隔的年度") from None
    if not years or not all(1900 <= y <= 2200 for y in years):
        raise BadOption(f"--fit {text!r}：年度无效")
    return years


@fund_app.command("monitor")
def fund_monitor(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    year: int = typer.Option(..., "--year", help="监测年度（按结算日期）"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    policy: Optional[Path] = file_option(None, "--policy", help="监测与预警政策文件（TOML，[warning] [monitor]…）"),
    scenario: Optional[Path] = file_option(None, "--scenario", help="情景文件（TOML，[scenario] expenditure_factor…）"),
    flows: Optional[Path] = file_option(None, "--flows",
                                        help="基金收支流水 CSV（fund_flows 的列）；不给则用工作区的 fund_flows 表"),
) -> None:
    """基金运行月度监测：收入、支出、当期结余、累计结余可支付月数、增速与人均支出，并按阈值预警。"""
    from yibao.contract.errors import BadOption
    from yibao.contract.vocab import SCHEME_ZH
    from yibao.fund import run_monitor

    if not 1900 <= year <= 2200:
        raise BadOption(f"--year {year}：年度无效")
    with outputs(out_dir) as tmp:
        r = run_monitor(workspace, year, tmp, policy=policy, scenario=scenario, flows=flows)
    m = r.monitor
    for s in sorted({x.scheme for x in m.rows}):
        last = [x for x in m.rows if x.scheme == s][-1]
        cov = "—" if last.months_covered is None else f"{last.months_covered} 个月"
        print(f"{SCHEME_ZH[s]}：{year} 年收入 {sum(x.revenue for x in m.rows if x.scheme == s):,} 元，支出 "
              f"{sum(x.expenditure for x in m.rows if x.scheme == s):,} 元；12 月末累计结余可支付 {cov}")
    levels = {lv: sum(1 for w in m.warnings if w.level == lv) for lv in ("红色", "橙色", "黄色", "提示")}
    print("预警：" + "，".join(f"{k} {v} 条" for k, v in levels.items()))
    for note in m.notes:
        print("注意：" + note)
    print(f"已写入 {out_dir}（{'、'.join(r.files)}）")


@fund_app.command("project")
def fund_project(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    fit: str = typer.Option(..., "--fit", help="拟合年度：范围 2023-2025 或 2023,2024"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    policy: Optional[Path] = file_option(None, "--policy", help="预测政策文件（TOML，[projection]）"),
    scenario: Optional[Path] = file_option(None, "--scenario", help="情景文件（TOML，[scenario] expenditure_factor…）"),
    backtest: Optional[int] = typer.Option(None, "--backtest", help="回测年度：用早于它的拟合年度预测该年并与实际比较"),
    budget: Optional[Path] = dir_option(None, "--budget", help="yibao budget 的输出目录：与总额控制的公式总额对比"),
) -> None:
    """基金支出预测（3–5 年）：参保人数与年龄结构、按年龄段的人均支出与趋势、情景；可回测。"""
    from yibao.contract.vocab import SCHEME_ZH
    from yibao.fund import run_projection

    years = _years(fit)
    with outputs(out_dir) as tmp:
        r = run_projection(workspace, years, tmp, policy=policy, scenario=scenario, backtest_year=backtest,
                           budget_dir=budget)
    p = r.projection
    for y in sorted({x.year for x in p.rows}):
        parts = [f"{SCHEME_ZH[s]} {sum(x.expenditure for x in p.rows if x.year == y and x.scheme == s):,} 元"
                 for s in sorted({x.scheme for x in p.rows})]
        print(f"{y} 年预测基金支出：" + "，".join(parts))
    if r.backtest is not None:
        for t in r.backtest:
            if t["setting"] == "all":
                share = "—" if t["error_share"] is None else f"{t['error_share']:.2%}"
                print(f"回测 {t['target_year']}（拟合 {t['fit_years']}）{SCHEME_ZH[t['scheme']]}：预测 {t['projected']:,}，"
                      f"实际 {t['actual']:,}，误差 {share}")
    print(f"已写入 {out_dir}（{'、'.join(r.files)}）")


@fund_app.command("ledger")
def fund_ledger(
    budget_policy: Path = file_option(..., "--budget-policy", help="总额控制政策文件（其 [fund.*] 年度数字）"),
    out_file: Path = typer.Option(..., "--out", help="输出的 fund_flows.csv"),
) -> None:
    """由总额控制政策文件的年度数字估算月度基金收支流水（每月均分，到分，最大余额法），供 yibao load 或 --flows 使用。"""
    from yibao.budget.policy import load_policy
    from yibao.engine.outdir import atomic_file
    from yibao.fund import ledger_from_budget

    bp = load_policy(budget_policy)
    with atomic_file(out_file) as tmp:
        n = ledger_from_budget({s: f.amounts for s, f in bp.funds.items()}, bp.year, tmp)
    print(f"已写入 {out_file}（{n} 行，{bp.year} 年，估算值：年度数字按月均分）")
