"""``yibao outarea …``: out-of-area care (异地就医). The benefit calculator (another capability) is handed to the
out-of-area capability here, in the interfaces layer, where capabilities meet."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from yibao.cli._common import file_option, sub_app
from yibao.cli._outputs import outputs

outarea_app = sub_app("outarea", help="异地就医：备案核查、直接结算、零星报销审核、外地参保人员、月度清算")

POLICY_HELP = "政策文件（TOML：[benefit] 待遇政策与统筹区代码、[out_of_area] 异地就医；缺省用内置示例值）"


def _calculator(policy: Optional[Path], catalog: Optional[list[str]]):
    from yibao.benefit.policy import load_policy as load_benefit
    from yibao.benefit.run import compute_workspace
    from yibao.cli.benefit import catalog_files

    bpol = load_benefit(policy)
    cats = catalog_files(catalog)

    def calculate(ws, extra_base, year):
        return compute_workspace(ws, bpol, year, cats, extra_base, explain_kinds=("claim",))

    return bpol, calculate


def _check_ws(workspace: Path, year: Optional[int]) -> None:
    from yibao.contract.errors import BadOption
    from yibao.engine.workspace import DB_FILE

    if not (workspace / DB_FILE).is_file():
        raise BadOption(f"{workspace}: 工作区不存在（先运行 yibao load）")
    if year is not None and not 1900 <= year <= 2200:
        raise BadOption(f"--year {year}：年度无效")


@outarea_app.command("check")
def check_cmd(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    year: Optional[int] = typer.Option(None, "--year", help="年度（缺省为政策文件的 benefit.year）"),
    policy: Optional[Path] = file_option(None, "--policy", help=POLICY_HELP),
    catalog: Optional[list[str]] = typer.Option(None, "--catalog", help="就医地目录：地区代码=目录 CSV（可重复）"),
) -> None:
    """异地就医：直接结算病例的备案核查（O01 未备案、O02 备案不在有效期），零星报销审核与计算，外地参保人员病例，按月清算单。"""
    from yibao.outarea import load_policy, run

    _check_ws(workspace, year)
    bpol, calculate = _calculator(policy, catalog)
    opol = load_policy(policy)
    y = year if year is not None else bpol["benefit.year"]
    with outputs(out_dir) as tmp:
        r = run(workspace, tmp, opol, bpol["benefit.region_code"], y, calculate)
    print(f"{r.year} 年异地就医（统筹区 {r.region}）：本地参保人员异地直接结算 {r.outbound:,} 例，"
          f"备案问题 {r.outbound_findings:,} 例；外地参保人员在本地就医 {r.inbound:,} 例"
          f"（{'计入' if r.inbound_in_local else '不计入'}本地总额预算与 DIP/DRG 结算）")
    if not r.filings and r.outbound:
        print("注意：工作区没有异地就医备案（filings 表为空），每例异地直接结算都按未备案（O01）列出")
    c = r.claims
    print(f"零星报销 {c['total']} 笔：予以报销 {c['approved']} 笔，不予报销 {c['refused']} 笔")
    for row in c["rows"]:
        print(f"  {row['claim_id']}：{row['reason']}" + (f"（统筹基金支付 {row['fund_reimbursed']} 元）"
                                                         if row["decision"] == "approved" else ""))
    for month, n, s_in, s_out, s_net in r.months:
        print(f"  清算 {month}：{n} 个统筹区，对方应付本地 {s_in} 元，本地应付对方 {s_out} 元，净额 {s_net} 元（已平衡）")
    print(f"已写入 {out_dir}（{'、'.join(r.files)}）")


@outarea_app.command("budget-figures")
def budget_figures_cmd(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    year: int = typer.Option(..., "--year", help="取数年度（通常为预算年度的上一年）"),
    policy: Optional[Path] = file_option(None, "--policy", help=POLICY_HELP),
    catalog: Optional[list[str]] = typer.Option(None, "--catalog", help="就医地目录：地区代码=目录 CSV（可重复）"),
    into: Optional[Path] = file_option(None, "--into", help="预算政策文件（TOML）：把推算值写入其 [fund.*]，已有输入值的键保留"),
    out: Optional[Path] = typer.Option(None, "--out", help="写出的新预算政策文件（与 --into 一起用）"),
) -> None:
    """按上一年数据推算预算的异地联网即时结算（out_of_area_realtime）与异地就医零星报销（out_of_area_manual）支出。"""
    from yibao.contract.errors import BadOption
    from yibao.engine.outdir import atomic_file
    from yibao.outarea import budget_figures, load_policy, write_figures

    _check_ws(workspace, year)
    if (into is None) != (out is None):
        raise BadOption("--into 与 --out 须同时给出（读入的预算政策文件与写出的新文件）")
    bpol, calculate = _calculator(policy, catalog)
    figs = budget_figures(workspace, load_policy(policy), bpol["benefit.region_code"], year, calculate)
    for scheme, v in figs.items():
        print(f"[fund.{scheme}] out_of_area_realtime = {v['out_of_area_realtime']}，"
              f"out_of_area_manual = {v['out_of_area_manual']}（{year} 年数据）")
    if into is not None:
        text, notes = write_figures(into.read_text(encoding="utf-8"), figs, year)
        with atomic_file(out) as tmp:
            tmp.write_text(text, encoding="utf-8")
        for n in notes:
            print("  " + n)
        print(f"已写入 {out}")
