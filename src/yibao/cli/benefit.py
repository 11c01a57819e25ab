"""``yibao benefit …``: the benefit calculator (待遇计算) and the booked-vs-computed check B01."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from yibao.cli._common import file_option, sub_app
from yibao.cli._outputs import outputs

benefit_app = sub_app("benefit", help="待遇计算：按待遇政策计算统筹基金支付，核对医疗机构记账（B01）")


def catalog_files(values: list[str] | None) -> dict[str, Path]:
    """``--catalog REGION=FILE`` options as {region: path}; a malformed one is refused in one line."""
    from yibao.contract.errors import BadOption

    out: dict[str, Path] = {}
    for v in values or []:
        region, sep, path = v.partition("=")
        if not sep or not (len(region) == 6 and region.isdigit()) or not path:
            raise BadOption(f"--catalog {v}：应写成 地区代码=目录文件，例如 440100=gz-catalog.csv")
        if not Path(path).is_file():
            raise BadOption(f"--catalog {v}：文件 {path} 不存在")
        out[region] = Path(path)
    return out


@benefit_app.command("compute")
def compute_cmd(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录（benefit.csv、findings.csv、summary.csv）"),
    policy: Optional[Path] = file_option(None, "--policy", help="待遇政策文件（TOML，[benefit] 节；缺省用内置示例值）"),
    year: Optional[int] = typer.Option(None, "--year", help="结算年度（缺省为政策文件的 benefit.year）"),
    catalog: Optional[list[str]] = typer.Option(None, "--catalog", help="就医地目录：地区代码=目录 CSV（可重复）"),
    labels: Optional[Path] = file_option(None, "--labels",
                                         help="记账错误标签（synth --benefit 的 benefit_labels.csv）：报告查全率与查准率"),
) -> None:
    """按待遇政策逐例计算统筹基金应支付金额（甲乙丙类、起付线、分段比例、封顶），与记账金额核对。"""
    from yibao.benefit.run import run
    from yibao.contract.errors import BadOption
    from yibao.engine.workspace import DB_FILE

    if not (workspace / DB_FILE).is_file():
        raise BadOption(f"{workspace}: 工作区不存在（先运行 yibao load）")
    if year is not None and not 1900 <= year <= 2200:
        raise BadOption(f"--year {year}：年度无效")
    cats = catalog_files(catalog)
    with outputs(out_dir) as tmp:
        s = run(workspace, tmp, policy, year, cats, labels)
    print(f"{s['year']} 年待遇计算（统筹区 {s['region_code']}）：结算病例 {s['cases']:,} 例；"
          f"记账与计算不符 {s['findings']:,} 例（多记拒付 {s['reject']:,} 例）")
    if s["inbound_not_checked"]:
        print(f"注意：{s['inbound_not_checked']:,} 例为外地参保人员在本地就医（按参保地政策结算），不核对")
    for scheme, setting, n, total, fund, booked, capped in s["rows"]:
        print(f"  {scheme} {setting}：{n:,} 例，医疗费用 {total} 元，计算统筹支付 {fund} 元，记账 {booked} 元，"
              f"封顶 {capped:,} 例")
    if "labels" in s:
        lab = s["labels"]
        print(f"记账错误标签 {lab['labelled']} 例：查全率 {lab['recall']}，查准率 {lab['precision']}"
              f"（命中 {lab['true_positives']}）")
    print(f"已写入 {out_dir}（benefit.csv、findings.csv、summary.csv）")
