"""Foundation commands: synth, load, summary, budget, quarantine, contract docs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from yibao.cli._common import (
    RateProgress,
    UserError,
    _fail,
    app,
    choice_option,
    contract_app,
    dir_option,
    engine_option,
    file_option,
    out,
    score_reason_option,
)
from yibao.cli._outputs import get_current_context, outputs
from yibao.contract.reasons import REASONS
from yibao.engine.outdir import atomic_file


@app.command()
def synth(
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    seed: int = typer.Option(1, "--seed", help="随机种子（相同种子输出逐字节相同）"),
    cases: int = typer.Option(200_000, "--cases", help="结算清单总数（住院+门诊+购药）"),
    standards: Optional[Path] = dir_option(None, "--standards", help="CHS-DRG 标准目录（缺省自动查找）"),
    anomaly_rate: float = typer.Option(0.02, "--anomaly-rate", help="注入异常的病例比例"),
    first_year: int = typer.Option(2023, "--first-year"),
    years: int = typer.Option(3, "--years"),
    fmt: str = choice_option("csv", "--format", choices=("csv", "parquet"), help="csv 或 parquet"),
    schemes: bool = typer.Option(False, "--schemes",
                                 help="另注入机构与医师层级的欺诈方案（住院日虚高的医院、分解住院的医师），标签写入 "
                                 "scheme_labels.csv"),
    benefit: bool = typer.Option(False, "--benefit",
                                 help="按写在旁边的待遇政策（benefit_policy.toml）记账统筹基金支付，并注入少量记账错误（benefit_labels.csv）"),
    vary: Optional[int] = typer.Option(None, "--vary", help="另一套目录（编码、名称、价格、无限价药品）与异常清单（变体种子），"
                                       "检验审核规则是否依赖生成器的清单；缺省为常规区域"),
    out_of_area: bool = typer.Option(False, "--out-of-area",
                                     help="另生成异地就医：外地机构与就医地目录、异地直接结算病例、备案与零星报销（含 "
                                     "--benefit）"),
    faults: bool = typer.Option(False, "--faults",
                                help="另注入结算清单完整性错误（只传总费用无明细、明细合计与总额不符、支付构成不符），"
                                "按病例标注；缺省不注入"),
) -> None:
    """生成合成统筹区数据（合同格式 + labels.csv）。"""
    from yibao.contract.standards import find_standards
    from yibao.synth import generate

    std = find_standards(standards)
    if standards is not None and std is None:
        _fail(f"{standards}: 不是 CHS-DRG 标准目录（缺少 diagnoses.csv）")
    if vary is None:  # the default region's manifest stays byte-identical to the one before --vary existed
        get_current_context().params.pop("vary", None)
    if not faults:  # likewise for --faults
        get_current_context().params.pop("faults", None)
    with outputs(out_dir) as tmp, RateProgress("synth") as bar:
        summary = generate(tmp, seed, cases, standards_dir=std, anomaly_rate=anomaly_rate,
                           first_year=first_year, years=years, fmt=fmt, schemes=schemes, benefit=benefit,
                           out_of_area=out_of_area, vary=vary, faults=faults,
                           progress=lambda table, rows: bar.update(table, rows))
    for name, n in summary["tables"].items():
        out.print(f"{name:<13} {n:>12,} 行")
    for level, inst_id, staff_id, scheme in summary.get("schemes", []):
        out.print(f"注入方案：{scheme}（{level} {inst_id}{' / ' + staff_id if staff_id else ''}），见 scheme_labels.csv")
    out.print("注入异常：" + "，".join(f"{k} {v:,}" for k, v in summary["labels"].items()))
    if "benefit" in summary:
        b = summary["benefit"]
        out.print(f"待遇政策记账：{b['benefit_policy']}；注入记账错误 {b['booking_errors']} 例，见 benefit_labels.csv"
                  + (f"；异地直接结算病例 {b['outbound_cases']} 例，备案 {b['filings']} 条，零星报销 {b['claims']} 笔"
                     if "claims" in b else ""))
    out.print(f"已写入 {out_dir}（种子 {seed}，代码来源：{'CHS-DRG 标准目录 ' + str(std) if std else '内置代码集'}）")


@app.command()
def load(
    directory: Path = typer.Argument(..., help="统筹区数据目录"),
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    mapping: Optional[Path] = typer.Option(None, "--mapping",
                                           help="本地区映射配置（TOML）：文件名、表头与代码值，合并在内置全国映射之上"),
    max_quarantine_share: Optional[str] = typer.Option(
        None, "--max-quarantine-share",
        help="任一表隔离行占比超过该值（如 0.05 或 5%）时整个装载不生效（退出码 3，工作区不变）"),
    memory_limit: Optional[str] = typer.Option(
        None, "--memory-limit",
        help="装载时数据库的内存上限（如 2GB、512MB；缺省 2GB），超出部分暂存磁盘：大统筹区也能在有限内存中装载"),
    engine: str = engine_option(help="duckdb（装载到工作区）或 spark（校验为分区 Parquet，写入 --out；docs/scale.md §3）"),
    out: Optional[Path] = typer.Option(None, "--out", help="--engine spark：Parquet 输出目录（隔离行在其 quarantine/ 下）"),
) -> None:
    """校验并装载数据目录到工作区；问题行进入隔离表。"""
    from yibao.engine.loading import LoadProblem, load_region

    try:
        if engine == "spark":  # Spark: the same rules into partitioned Parquet (yibao.engine.sparkload)
            if out is None:
                raise UserError("--engine spark 需要 --out Parquet 输出目录")
            from yibao.engine.sparkload import load_region_spark

            report = load_region_spark(directory, out, mapping=mapping, max_quarantine_share=max_quarantine_share,
                                       options={"engine": engine})
        else:
            with RateProgress("load") as bar:
                report = load_region(directory, workspace,
                                     progress=lambda t, phase, rows: bar.update(t, rows, done=phase == "done"),
                                     mapping=mapping, max_quarantine_share=max_quarantine_share,
                                     memory_limit=memory_limit)
    except LoadProblem as exc:
        for t in exc.tables:  # the counts behind the refusal, on stdout; the one-line error follows
            print(t.line())
        for t in exc.tables:
            for note in t.notes():
                print("  " + note)
        for name, hint in exc.unrecognised:
            print(f"  未识别的文件（未装载）：{name}：{hint}")
        raise
    total_read = sum(t.read for t in report.tables)
    for t in report.tables:
        print(t.line())
    print(f"{'total':<13} read {total_read:>10,}  accepted {sum(t.accepted for t in report.tables):>10,}  "
          f"quarantined {sum(t.quarantined for t in report.tables):>8,}")
    for t in report.tables:
        for note in t.notes():
            print("  " + note)
    for name, hint in report.unrecognised:
        print(f"  未识别的文件（未装载）：{name}：{hint}")
    if len(report.mapping) > 1:
        print(f"  映射配置：{'；'.join(report.mapping)}")
    rate = total_read / report.seconds if report.seconds else 0
    print(f"装载批次 {report.load_id} 完成：{report.seconds:.1f} 秒，{rate:,.0f} 行/秒，工作区 {report.workspace}")


@app.command()
def summary(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    engine: str = engine_option(),
) -> None:
    """统筹区概况：按年度、险种、就诊类型汇总。"""
    from yibao.profile.report import print_summary

    print_summary(workspace, engine, out)


@app.command()
def budget(
    policy: Path = file_option(..., "--policy", help="政策文件（TOML）：基金收支数据、分解、月度拨付与清算参数"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    workspace: Optional[Path] = typer.Option(None, "--workspace", "-w",
                                             help="工作区：给出时按其结算清单完成年度分解、月度拨付、年终清算与结算单"),
    engine: str = engine_option(help="duckdb 或 spark（汇总结算清单）"),
    scores: Optional[Path] = file_option(None, "--scores",
                                         help="考核得分（yibao assess 输出的 score_totals.csv），年终清算按其返还质量保证金；需 "
                                         "--workspace"),
    score_reason: Optional[list[str]] = score_reason_option(),
) -> None:
    """总额控制：测算当年付费总额（公式、保底、封顶）并说明每一步；给出工作区时完成全年结算。"""
    from yibao.budget.policy import load_policy
    from yibao.budget.report import write_totals
    from yibao.budget.split import BudgetError
    from yibao.budget.totals import BINDING_ZH, compute_totals
    from yibao.contract.vocab import SCHEME_ZH
    from yibao.engine.money import fmt
    from yibao.settle.report import issuer_from

    target = outputs(out_dir)  # an --out that may not be replaced stops here, before any work
    pol = load_policy(policy)  # a bad policy stops here: nothing is written
    record = None
    if scores is not None:  # the assessment's scores (issue 18): hand-typed ones only as a recorded override
        from dataclasses import replace

        from yibao.assess.clearing import clearing_scores, parse_reasons
        from yibao.contract.errors import BadOption

        if workspace is None:
            raise BadOption("--scores 用于年终清算，需同时给出 --workspace")
        sec = pol.sections
        used, record = clearing_scores(scores, sec.clearing.scores, parse_reasons(score_reason))
        pol = replace(pol, sections=replace(sec, clearing=replace(sec.clearing, scores=used), sources={
            **sec.sources, "clearing.scores": f"{scores}（yibao assess 考核得分；手工覆盖见 score_sources.csv）"}))
    issuer = issuer_from(pol.raw, str(policy))
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
            written = write_statements(result, tmp, issuer)
            if record is not None:
                from yibao.assess.clearing import write_record

                write_record(record, tmp / "score_sources.csv")
    for t in totals:
        print(f"{SCHEME_ZH[t.scheme]:<6} 当年付费总额 {fmt(t.final_total):>18}  {BINDING_ZH[t.binding]}"
              + (f"；缺口 {fmt(t.shortfall)}" if t.shortfall else ""))
    print(f"已写入 {out_dir / 'totals.csv'} 与 {out_dir / 'totals_explained.md'}")
    if result is not None:
        for r in result.rows("pots"):
            print(f"{r['pot_zh']:<8} 总额 {fmt(r['amount']):>16}  机构 {r['institutions']:>4}  记账 {fmt(r['booked']):>16}  "
                  f"基金支付 {fmt(r['fund_total_paid']):>16}  结余 {fmt(r['balance']):>14}")
        print(f"已写入 {result.year} 年度分解、月度拨付与年终清算（{out_dir}），结算单 {len(written) - 2} 份及全市汇总、公开表")
        if record is not None:
            from yibao.assess.clearing import summary_line

            print(summary_line(record, scores))


@app.command()
def quarantine(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    table: Optional[str] = typer.Option(None, "--table", help="只导出该表的隔离行"),
    out_file: Optional[Path] = typer.Option(None, "--out",
                                            help="导出为 CSV（UTF-8 带 BOM，可直接用 Excel 打开；身份证号、姓名默认脱敏）"),
    unmasked: bool = typer.Option(False, "--unmasked",
                                  help="导出身份证号、姓名明文（未脱敏导出，须按个人信息保护要求保管；须同时给出 "
                                  "--reason，记入审计日志）"),
    reason: Optional[str] = typer.Option(None, "--reason", help="未脱敏导出的理由（记入审计日志）"),
    store: Optional[str] = typer.Option(None, "--store", help="记录审计日志的存储库 URL（默认为工作区内的 SQLite）"),
) -> None:
    """隔离行：按表和原因统计；--out 导出明细（含原始文本），便于退回机构更正。"""
    from yibao.contract.errors import BadOption
    from yibao.engine.quarantine import export_quarantine, quarantine_counts

    if unmasked and (out_file is None or not (reason or "").strip()):
        raise BadOption("--unmasked 须与 --out 和 --reason 同用：未脱敏导出是记入审计日志的操作，须写明理由")

    counts = quarantine_counts(workspace, table)
    for t, code, n in counts:
        print(f"{t:<13} {code:<28} {n:>10,}  {REASONS.get(code, '')}")
    if not counts:
        print("没有隔离行")
    if out_file is not None:
        n = export_quarantine(workspace, out_file, table, masked=not unmasked)
        if unmasked:  # recorded before the line that says it was written (参保人个人信息 access, seed 002)
            from yibao.engine.workspace import Workspace, actor
            from yibao.store.audit import record
            from yibao.store.db import open_store

            detail = {"file": str(out_file), "table": table or "全部", "rows": n, "reason": reason.strip()}
            with Workspace(workspace) as ws:
                ws.log_event("export_unmasked", detail)
            record(open_store(workspace, store), actor=actor(), role="cli", action="export.unmasked",
                   object=f"quarantine:{table or '*'}", detail=detail)
            print(f"已导出 {out_file}（{n:,} 行）：未脱敏导出，含身份证号、姓名明文，请按个人信息保护要求保管")
        else:
            print(f"已导出 {out_file}（{n:,} 行）：身份证号、姓名已脱敏（明文导出用 --unmasked）")


@contract_app.command("docs")
def contract_docs(out_file: Path = typer.Option(Path("docs/contract.md"), "--out")) -> None:
    """由唯一的表结构定义生成数据合同文档。"""
    from yibao.contract.docs import render

    with atomic_file(out_file) as tmp:
        tmp.write_text(render(), encoding="utf-8")
    out.print(f"已写入 {out_file}")


