"""Foundation commands: synth, load, summary, budget, quarantine, contract docs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from yibao.cli._common import (RateProgress, _fail, app,
                               contract_app, out)
from yibao.cli._outputs import outputs
from yibao.engine.outdir import atomic_file
from yibao.contract.reasons import REASONS
from yibao.contract.schema import TABLES


@app.command()
def synth(
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    seed: int = typer.Option(1, "--seed", help="随机种子（相同种子输出逐字节相同）"),
    cases: int = typer.Option(200_000, "--cases", help="结算清单总数（住院+门诊+购药）"),
    standards: Optional[Path] = typer.Option(None, "--standards", help="CHS-DRG 标准目录（缺省自动查找）"),
    anomaly_rate: float = typer.Option(0.02, "--anomaly-rate", help="注入异常的病例比例"),
    first_year: int = typer.Option(2023, "--first-year"),
    years: int = typer.Option(3, "--years"),
    fmt: str = typer.Option("csv", "--format", help="csv 或 parquet"),
) -> None:
    """生成合成统筹区数据（合同格式 + labels.csv）。"""
    from yibao.synth import generate

    from yibao.contract.standards import find_standards

    std = find_standards(standards)
    if standards is not None and std is None:
        _fail(f"{standards}: 不是 CHS-DRG 标准目录（缺少 diagnoses.csv）")
    with outputs(out_dir) as tmp, RateProgress("synth") as bar:
        summary = generate(tmp, seed, cases, standards_dir=std, anomaly_rate=anomaly_rate,
                           first_year=first_year, years=years, fmt=fmt,
                           progress=lambda table, rows: bar.update(table, rows))
    for name, n in summary["tables"].items():
        out.print(f"{name:<13} {n:>12,} 行")
    out.print("注入异常：" + "，".join(f"{k} {v:,}" for k, v in summary["labels"].items()))
    out.print(f"已写入 {out_dir}（种子 {seed}，代码来源：{'CHS-DRG 标准目录 ' + str(std) if std else '内置代码集'}）")


@app.command()
def load(
    directory: Path = typer.Argument(..., help="统筹区数据目录"),
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
) -> None:
    """校验并装载数据目录到工作区；问题行进入隔离表。"""
    from yibao.engine.loading import load_region

    with RateProgress("load") as bar:
        report = load_region(directory, workspace,
                             progress=lambda t, phase, rows: bar.update(t, rows, done=phase == "done"))
    total_read = sum(t.read for t in report.tables)
    for t in report.tables:
        print(t.line())
    print(f"{'total':<13} read {total_read:>10,}  accepted {sum(t.accepted for t in report.tables):>10,}  "
          f"quarantined {sum(t.quarantined for t in report.tables):>8,}")
    for t in report.tables:
        if t.reasons:
            print(f"  {t.table} 隔离原因：" + "，".join(f"{k} {v:,}" for k, v in t.reasons.items()))
        if t.ignored_columns:
            print(f"  {t.table} 忽略的非合同列：{', '.join(t.ignored_columns)}")
    if report.skipped:
        print(f"  未识别的文件（未装载）：{', '.join(report.skipped)}")
    rate = total_read / report.seconds if report.seconds else 0
    print(f"装载批次 {report.load_id} 完成：{report.seconds:.1f} 秒，{rate:,.0f} 行/秒，工作区 {report.workspace}")


@app.command()
def summary(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb 或 spark"),
) -> None:
    """统筹区概况：按年度、险种、就诊类型汇总。"""
    from yibao.profile.report import print_summary

    print_summary(workspace, engine, out)


@app.command()
def budget(
    policy: Path = typer.Option(..., "--policy", help="政策文件（TOML）：基金收支数据、分解、月度拨付与清算参数"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    workspace: Optional[Path] = typer.Option(None, "--workspace", "-w",
                                             help="工作区：给出时按其结算清单完成年度分解、月度拨付、年终清算与结算单"),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb 或 spark（汇总结算清单）"),
) -> None:
    """总额控制：测算当年付费总额（公式、保底、封顶）并说明每一步；给出工作区时完成全年结算。"""
    from yibao.budget.policy import SCHEME_ZH, load_policy
    from yibao.budget.report import write_totals
    from yibao.budget.split import BudgetError
    from yibao.budget.totals import BINDING_ZH, compute_totals
    from yibao.engine.money import fmt

    target = outputs(out_dir)  # an --out that may not be replaced stops here, before any work
    pol = load_policy(policy)  # a bad policy stops here: nothing is written
    totals = compute_totals(pol)
    result = None
    if workspace is not None:
        from yibao.budget.year import run_year

        try:
            result = run_year(workspace, pol, totals, engine=engine)
        except BudgetError as exc:
            _fail(f"{policy}: {exc}")
    with target as tmp:
        write_totals(pol, totals, tmp)
        if result is not None:
            from yibao.budget.statements import write_statements
            from yibao.budget.year import write_year

            write_year(result, tmp)
            written = write_statements(result, tmp)
    for t in totals:
        print(f"{SCHEME_ZH[t.scheme]:<6} 当年付费总额 {fmt(t.final_total):>18}  {BINDING_ZH[t.binding]}"
              + (f"；缺口 {fmt(t.shortfall)}" if t.shortfall else ""))
    print(f"已写入 {out_dir / 'totals.csv'} 与 {out_dir / 'totals_explained.md'}")
    if result is not None:
        for r in result.rows("pots"):
            print(f"{r['pot_zh']:<8} 总额 {fmt(r['amount']):>16}  机构 {r['institutions']:>4}  记账 {fmt(r['booked']):>16}  "
                  f"基金支付 {fmt(r['fund_total_paid']):>16}  结余 {fmt(r['balance']):>14}")
        print(f"已写入 {result.year} 年度分解、月度拨付与年终清算（{out_dir}），结算单 {len(written) - 2} 份及全市汇总、公开表")


@app.command()
def quarantine(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    table: Optional[str] = typer.Option(None, "--table", help="只导出该表的隔离行"),
    out_file: Optional[Path] = typer.Option(None, "--out", help="导出为 CSV（UTF-8 带 BOM，可直接用 Excel 打开）"),
) -> None:
    """隔离行：按表和原因统计；--out 导出明细（含原始文本），便于退回机构更正。"""
    from yibao.engine.workspace import Workspace

    if table is not None and table not in TABLES:
        _fail(f"{table}: 不是数据合同中的表（可选：{', '.join(TABLES)}）")
    ws = Workspace(workspace, read_only=True)
    try:
        where, params = ("WHERE table_name = ?", [table]) if table else ("", [])
        counts = ws.con.execute(f"SELECT table_name, reason_code, count(*) FROM quarantine {where} "
                                "GROUP BY ALL ORDER BY 1, 3 DESC, 2", params).fetchall()
        for t, code, n in counts:
            print(f"{t:<13} {code:<28} {n:>10,}  {REASONS.get(code, '')}")
        if not counts:
            print("没有隔离行")
        if out_file is not None:
            rel = ws.con.execute(
                f"""SELECT load_id AS 装载批次, table_name AS 表, source_file AS 来源文件, source_row AS 行号,
                           reason_code AS 原因代码, message AS 原因说明, original AS 原始内容
                    FROM quarantine {where} ORDER BY load_id, table_name, source_file, source_row""", params)
            from yibao.engine.csvfile import rows_csv

            with atomic_file(out_file) as tmp:
                tmp.write_bytes(rows_csv([d[0] for d in rel.description], rel.fetchall()))
            print(f"已导出 {out_file}")
    finally:
        ws.close()


@contract_app.command("docs")
def contract_docs(out_file: Path = typer.Option(Path("docs/contract.md"), "--out")) -> None:
    """由唯一的表结构定义生成数据合同文档。"""
    from yibao.contract.docs import render

    with atomic_file(out_file) as tmp:
        tmp.write_text(render(), encoding="utf-8")
    out.print(f"已写入 {out_file}")


