"""``yibao dip …``: DIP catalogue, case scoring, a hospital's view, supervision indicators."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from yibao.cli._common import (app)


dip_app = typer.Typer(no_args_is_help=True, help="按病种分值付费（DIP）：病种目录库与病例赋分")
app.add_typer(dip_app, name="dip")


@dip_app.command("build")
def dip_build(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    policy: Optional[Path] = typer.Option(None, "--policy", help="DIP 政策文件（TOML，缺省用内置默认值）"),
    out_dir: Path = typer.Option(..., "--out", help="目录库输出目录"),
    standards: Optional[Path] = typer.Option(None, "--standards", help="CHS-DRG 标准目录（用其 valid_procedures.csv 区分手术）"),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb 或 spark"),
) -> None:
    """由历史住院病例生成 DIP 病种目录库（核心病种、综合病种、分值），存为 CSV、Parquet 与 Excel。"""
    from yibao.dip.build import build
    from yibao.dip.policy import load_policy

    pol = load_policy(policy)
    cat = build(workspace, pol, out_dir, standards=standards, engine=engine)
    th, m = cat.threshold, cat.manifest
    print(f"病种目录库 {cat.version}：年度 {m['parameters']['years']}，核心病种 {m['groups']['core']} 个，"
          f"综合病种 {m['groups']['comprehensive']} 个")
    print(f"核心病种病例数临界值 {th['core_min_cases']}，核心病种覆盖病例 {th['core_cases']}/{th['total_cases']}"
          f"（{th['core_share']}）；全部病例平均费用 {m['reference_cost']} 元")
    print(f"不能入组的历史病例：{m['history_cases']['ungroupable'] or '无'}")
    print(f"已写入 {out_dir}（catalogue.csv / .parquet / .xlsx、manifest.json）")


@dip_app.command("score")
def dip_score(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    catalogue: Path = typer.Option(..., "--catalogue", help="病种目录库目录（yibao dip build 的输出）"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    policy: Optional[Path] = typer.Option(None, "--policy", help="DIP 政策文件（TOML）：偏差倍数、特例单议比例、系数"),
    review: Optional[Path] = typer.Option(None, "--review", help="特例单议结果（上次输出的 review_queue.csv，已填 final_score）"),
    year: Optional[int] = typer.Option(None, "--year", help="只输出该结算年度的病例"),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb 或 spark"),
) -> None:
    """住院病例入组与赋分：核心病种→综合病种→不能入组；偏差病例、机构系数、特例单议。"""
    from yibao.dip.build import score
    from yibao.dip.policy import load_policy

    pol = load_policy(policy)
    s = score(workspace, catalogue, pol, out_dir, review=review, engine=engine, year=year)
    print(f"目录库 {s['catalogue_version']}：住院病例 {s['cases']}，状态 {s['status']}，病种类型 {s['group_kind']}")
    print(f"偏差 {s['deviation']}；特例单议待审 {s['review_queue']}（超 {pol.extreme_ratio.normalize()} 倍 {s['extreme_flagged']}）；"
          f"总分值 {s['points_total']}")
    if s["ungroupable"]:
        print("不能入组：" + "，".join(f"{v['zh']} {v['count']}" for v in s["ungroupable"].values()))
    print(f"已写入 {out_dir}（scored_cases.csv / .parquet、review_queue.csv、summary.json）")


@dip_app.command("hospital")
def dip_hospital(
    scored: Path = typer.Option(..., "--scored", help="病例赋分目录（yibao dip score 的输出）"),
    institution: str = typer.Option(..., "--institution", help="机构编码"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    year: Optional[int] = typer.Option(None, "--year", help="只看该出院年度的病例"),
    workspace: Optional[Path] = typer.Option(None, "--workspace", "-w", help="工作区（提供机构等级，用于同级机构对比）"),
    policy: Optional[Path] = typer.Option(None, "--policy", help="DIP 政策文件（TOML）：说明中的偏差倍数"),
    point_value: Optional[str] = typer.Option(None, "--point-value", help="点值（元/点，精确小数），给出时另列金额"),
) -> None:
    """一家机构的病种分值：病例明细与点数计算说明、病种汇总、与同级机构和全区域对比（Excel 与 CSV）。"""
    from decimal import Decimal, InvalidOperation

    from yibao.dip.hospital import HospitalError, hospital_view
    from yibao.dip.policy import load_policy

    pv = None
    if point_value is not None:
        try:
            pv = Decimal(point_value.strip())
        except InvalidOperation:
            raise HospitalError("--point-value", f"不是数字：{point_value!r}") from None
        if not pv.is_finite() or pv <= 0:
            raise HospitalError("--point-value", f"应为大于 0 的数：{point_value!r}")
    pol = load_policy(policy)
    v = hospital_view(scored, institution, out_dir, pol, year=year, workspace=workspace, point_value=pv)
    me = v.summary["institution"]
    reg = v.summary["region"]
    print(f"机构 {institution}：病例 {me['cases']}（入组 {me['grouped']}），总点数 {me['points']}，CMI {me['cmi']}"
          f"（全区域 {reg['cmi']}），每点费用 {me['cost_per_point']} 元（全区域 {reg['cost_per_point']} 元）")
    print(f"已写入 {', '.join(p.name for p in v.files)} 于 {out_dir}")


@dip_app.command("indicators")
def dip_indicators(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录（住院与门诊结算、机构等级）"),
    scored: Path = typer.Option(..., "--scored", help="病例赋分目录（yibao dip score 的输出）"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    policy: Optional[Path] = typer.Option(None, "--policy", help="DIP 政策文件（TOML）：[indicators] 监管阈值"),
) -> None:
    """违规行为监管辅助指标（每机构每年度）：高套病种、分解住院、低标入院、转嫁费用、推诿病人，与同级机构中位数比较。"""
    from yibao.dip.indicators import indicators
    from yibao.dip.policy import load_policy

    pol = load_policy(policy)
    rows = indicators(workspace, scored, pol, out_dir)
    flagged = sum(1 for r in rows if r["flag"])
    print(f"监管指标 {len(rows)} 行（{len({(r['institution_id'], r['year']) for r in rows})} 个机构年度），预警 {flagged} 项")
    print(f"已写入 {out_dir / 'indicators.csv'}")


