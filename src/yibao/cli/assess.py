"""``yibao assess``: institution indicators, peer bands and the assessment score (the contract's command)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from yibao.cli._common import app, dir_option, file_option
from yibao.cli._outputs import outputs


def _note(text: str) -> None:
    print("注意：" + text, file=sys.stderr)  # one line, never wrapped


@app.command("assess")
def assess_cmd(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    year: int = typer.Option(..., "--year", help="考核年度（按结算日期）"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    standards: Optional[Path] = dir_option(None, "--standards", help="CHS-DRG 标准目录（手术率、择期手术率、重症病人比例）"),
    policy: Optional[Path] = file_option(None, "--policy", help="考核政策文件（TOML，覆盖内置默认值）"),
    stocking: Optional[Path] = file_option(None, "--stocking",
                                           help="备药清单 CSV（institution_id,item_code），给出时计算目录内药品备药率"),
    budget: Optional[Path] = dir_option(None, "--budget", help="yibao budget 的输出目录：超出年度指标的机构的原因分解与整改意见"),
    scored: Optional[Path] = dir_option(None, "--scored", help="yibao dip score 的输出目录（病例组合 CMI，与 --budget 同用）"),
    issued_on: Optional[str] = typer.Option(None, "--issued-on", help="整改意见下发日期（YYYY-MM-DD），据此算报送期限与跟踪日期"),
) -> None:
    """定点医药机构考核指标：每机构、基金池、区县与全区的指标，同级对比与考核得分（CSV 与 Excel）。"""
    from yibao.assess import assess
    from yibao.contract.errors import BadOption
    from yibao.engine.workspace import DB_FILE
    from yibao.staff import periods_from_workspace

    if not (workspace / DB_FILE).is_file():
        raise BadOption(f"{workspace}: 工作区不存在（先运行 yibao load）")
    if not 1900 <= year <= 2200:
        raise BadOption(f"--year {year}：年度无效")
    if scored is not None and budget is None:
        raise BadOption("--scored 需与 --budget 同用（超总额原因分析）")
    issued = None
    if issued_on is not None:
        import datetime as dt

        try:
            issued = dt.date.fromisoformat(issued_on)
        except ValueError:
            raise BadOption(f"--issued-on {issued_on!r}：应为日期 YYYY-MM-DD") from None
    scored_table = None
    if scored is not None:
        import pyarrow.parquet as pq

        from yibao.contract.errors import BadFile

        path = scored / "scored_cases.parquet"
        if not path.is_file():
            raise BadFile(f"{scored}: 不是 yibao dip score 的输出目录（缺少 scored_cases.parquet）")
        scored_table = pq.read_table(path, columns=["scheme", "institution_id", "settle_year", "score"])
    target = outputs(out_dir)  # an --out that may not be replaced is refused before any work
    periods = periods_from_workspace(workspace)  # the staff capability's public function (staff-sanction share)
    with target as tmp:
        r = assess(workspace, year, tmp, policy=policy, standards=standards, stocking=stocking, periods=periods,
                   budget=budget, scored=scored_table, issued_on=issued)
    print(f"{r.year} 年考核：机构 {r.institutions} 家，结算病例 {r.cases:,} 例；"
          f"超出同级区间的机构 {r.flagged} 家；已计算考核得分 {r.scored} 家")
    if not r.with_standards:
        _note("未给出 --standards，不计算手术率、择期手术率、重症病人比例")
    elif not r.with_severe:
        _note(f"{standards} 中没有 mcc.csv，不计算重症病人比例")
    if not r.with_stocking:
        _note("未给出 --stocking，不计算目录内药品备药率")
    print(f"已写入 {out_dir}（{'、'.join(r.files)}）")
