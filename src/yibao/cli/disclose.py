"""``yibao disclose``: the public disclosure report of a budget year (信息公开)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from yibao.cli._common import app, dir_option, file_option
from yibao.cli._outputs import outputs


@app.command("disclose")
def disclose_cmd(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    year: int = typer.Option(..., "--year", help="公开年度（按结算日期）"),
    budget: Path = dir_option(..., "--budget", help="yibao budget 的输出目录（付费总额与分解）"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    assess: Optional[Path] = dir_option(None, "--assess", help="yibao assess 的输出目录（考核结果）"),
    dip: Optional[Path] = dir_option(None, "--dip", help="yibao dip settle 的输出目录（点值）"),
    policy: Optional[Path] = file_option(None, "--policy", help="信息公开政策文件（TOML，[disclose]）"),
    publish: bool = typer.Option(False, "--publish", help="同时发布到工作区的 public/ 目录：yibao serve 的公开页面 /public 显示"),
) -> None:
    """向社会公开的年度报告：付费总额及其分解、点值、考核结果、按机构级别的费用动态（PDF、Excel 与公开页面的数据）。"""
    from yibao.contract.errors import BadOption
    from yibao.disclose import disclose
    from yibao.disclose import publish as publish_report

    if not 1900 <= year <= 2200:
        raise BadOption(f"--year {year}：年度无效")
    with outputs(out_dir) as tmp:
        r = disclose(workspace, year, tmp, budget_dir=budget, assess_dir=assess, dip_dir=dip, policy=policy)
    d = r.data
    print(f"{year} 年信息公开：机构指标 {len(d['split'])} 行，费用动态 {len(d['cost_dynamics'])} 格"
          + ("" if d["assessment"] is None else f"，考核结果 {len(d['assessment'])} 家")
          + ("" if d["point_values"] is None else f"，点值 {len(d['point_values'])} 行"))
    print(f"已写入 {out_dir}（{'、'.join(r.files)}）")
    if publish:
        dest = publish_report(out_dir, workspace, year)
        print(f"已发布到 {dest}（公开页面 /public/{year}，无需登录）")
