"""``yibao leads``: the ranked fraud-lead list of a settlement year (the contract's command)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from yibao.cli._common import app, dir_option, file_option
from yibao.cli._outputs import outputs


@app.command("leads")
def leads_cmd(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    year: int = typer.Option(..., "--year", help="结算年度"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    evaluate: Optional[Path] = file_option(None, "--evaluate",
                                           help="方案标签 CSV（level,institution_id,staff_id,scheme）：报告 "
                                           "precision@k 与各方案名次"),
    drg_grouped: Optional[Path] = file_option(None, "--drg-grouped",
                                              help="DRG 分组结果（yibao group drg 的输出 CSV）：CC/MCC 占比、CMI 与费用之比"),
    dip_scored: Optional[Path] = dir_option(None, "--dip-scored",
                                             help="DIP 赋分目录（yibao dip score 的输出）：高分值病种与偏差病例占比、"
                                             "分值与费用之比"),
    findings: Optional[Path] = file_option(None, "--findings", help="审核结果 findings.csv（yibao review 的输出）：每百例疑点数"),
) -> None:
    """飞行检查线索：机构与主诊医师的同类对比特征、稳健Z值与孤立森林评分，按可疑程度排序。"""
    from yibao.contract.errors import BadOption
    from yibao.engine.workspace import DB_FILE
    from yibao.leads import Inputs, leads
    from yibao.staff import periods_from_workspace

    if not (workspace / DB_FILE).is_file():
        raise BadOption(f"{workspace}: 工作区不存在（先运行 yibao load）")
    if not 1900 <= year <= 2200:
        raise BadOption(f"--year {year}：年度无效")
    periods = periods_from_workspace(workspace)  # the staff capability's public function (shared patients)
    with outputs(out_dir) as tmp:
        r = leads(workspace, year, tmp, periods=periods, labels=evaluate,
                  inputs=Inputs(drg_grouped=drg_grouped, dip_scored=dip_scored, findings=findings))
    print(f"{r.year} 年线索：结算病例 {r.cases:,} 例；机构 {r.counts['institution']} 家，主诊医师 {r.counts['doctor']} 人")
    if r.unattended:
        print(f"注意：{r.unattended:,} 例病例没有主诊医师代码，只计入机构层级")
    print("模型特征：" + "；".join(f"{m['feature_zh']}（{m['note']}）" for m in r.model if m["computed"] == "是"))
    skipped = [m for m in r.model if m["computed"] != "是"]
    if skipped:
        print("未计算的特征：" + "；".join(f"{m['feature_zh']}（{m['note']}）" for m in skipped))
    for lv, zh in (("institution", "机构"), ("doctor", "医师")):
        top = [o for o in r.leads if o["level"] == lv][:3]
        for o in top:
            who = o["institution_id"] + (f" / {o['staff_id']}" if o["staff_id"] else "")
            print(f"{zh}第 {o['rank']} 名 {who}（得分 {o['score']}）：{o['reasons']}")
    if r.evaluation:
        for e in r.evaluation:
            if e["kind"] == "precision":
                print(f"precision@{e['k']}（{e['level']}）：{e['value']}（命中 {e['hits']}）")
        for e in r.evaluation:
            if e["kind"] == "scheme_rank":
                who = e["institution_id"] + (f" / {e['staff_id']}" if e["staff_id"] else "")
                print(f"方案 {e['scheme']}（{e['level']} {who}）：名次 {e['value'] or '不在名单中'}")
    print(f"已写入 {out_dir}（{'、'.join(r.files)}）")


@app.command("leads-import")
def leads_import_cmd(
    out_dir: Path = typer.Argument(..., help="yibao leads --out 的输出目录"),
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录（其记录库）"),
    year: int = typer.Option(..., "--year", help="线索的结算年度"),
    store: Optional[str] = typer.Option(None, "--store", help="记录库地址（默认：工作区内的 SQLite 文件；或 postgresql+psycopg://…）"),
) -> None:
    """把一次线索运行导入记录库，供监管人员在网页上核查并记录结果（待核查 / 已检查 / 查实 / 未查实）。"""
    from yibao.contract.errors import BadOption
    from yibao.engine.workspace import DB_FILE, actor
    from yibao.store.db import open_store
    from yibao.store.leads import import_run

    if store is None and not (workspace / DB_FILE).is_file():
        raise BadOption(f"{workspace}: 工作区不存在（先运行 yibao load）")
    if not out_dir.is_dir():
        raise BadOption(f"{out_dir}: 目录不存在（yibao leads --out 的输出目录）")
    with open_store(workspace, store) as st:
        run_id, n, new = import_run(st, out_dir, year, actor=actor(), role="cli")
    if new:
        print(f"已导入线索批次 {run_id}：{year} 年 {n:,} 条线索，均为待核查")
    else:
        print(f"线索批次 {run_id} 已导入过（{n:,} 条），未作改动")
