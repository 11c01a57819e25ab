"""``yibao review`` (智能审核) and ``yibao check`` (事前提醒).

The interfaces layer is where capabilities meet: the staff capability's qualification periods
(:data:`yibao.contract.derived.QUALIFICATION_PERIODS`) are computed here and handed to the review.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from yibao.cli._common import UserError, app, dir_option, engine_option, err, file_argument, file_option
from yibao.cli._outputs import outputs

if TYPE_CHECKING:  # (annotations only: pyarrow is imported by the commands that use it)
    import pyarrow as pa


def _periods_from_dir(data_dir: Path) -> pa.Table | None:
    """QUALIFICATION_PERIODS of a region directory from the staff capability (None without a staff table)."""
    from yibao.staff import periods_from_dir

    if not any(Path(data_dir).glob("staff.*")):
        err.print("注意：数据目录中没有 staff 表，暂停/终止资格期间按空表处理")
        return None
    return periods_from_dir(Path(data_dir))


def _periods_from_workspace(workspace: Path) -> pa.Table | None:
    """QUALIFICATION_PERIODS of a loaded workspace (read-only), with procedure decisions and imported periods."""
    from yibao.staff import periods_from_workspace

    return periods_from_workspace(Path(workspace))


def _print_evaluation(ev: pa.Table) -> None:
    print(f"{'异常模式':<24}{'规则':<14}{'标注':>8}{'命中':>8}{'正确':>8}{'召回率':>9}{'精确率':>9}")
    for r in ev.to_pylist():
        rec = "-" if r["recall"] is None else f"{r['recall']:.4f}"
        pre = "-" if r["precision"] is None else f"{r['precision']:.4f}"
        print(f"{r['pattern']:<24}{r['rules']:<14}{r['labelled']:>8}{r['flagged']:>8}{r['true_positive']:>8}"
              f"{rec:>9}{pre:>9}")


def _benefit(workspace: Path, res, rs, policy):
    from yibao.cli.review_benefit import add_benefit_check  # B01: review + benefit composed (docs/benefit.md)

    res, rs, summaries = add_benefit_check(workspace, res, rs, policy)
    for b in summaries:
        print(f"B01 待遇计算核对（{b['year']} 年，统筹区 {b['region_code']}）：计算 {b['computed']:,} 例，"
              f"记账与计算不符 {b['findings']:,} 例（多记拒付 {b['reject']:,} 例），已并入审核结果")
    return res, rs


def _standards(standards: Path | None):
    """The CHS-DRG complication tables (``--standards DIR``, else found by ``find_standards``); None when there are
    none (C07 then judges the evidence table's diagnoses only and the run says so)."""
    from yibao.contract.standards import cc_tables, find_standards

    found = find_standards(standards)
    if standards is not None and found is None:
        raise UserError(f"{standards}：不是 CHS-DRG 标准目录（缺少 diagnoses.csv）")
    return cc_tables(found) if found is not None else None


@app.command("review")
def review_cmd(
    data: Optional[Path] = typer.Option(None, "--data", help="统筹区数据目录（先校验装载到临时工作区，隔离行不审核）"),
    workspace: Optional[Path] = typer.Option(None, "--workspace", "-w", help="已装载的工作区（只读打开）"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="输出目录：findings.csv、机构汇总、deductions.csv"),
    rules: Optional[Path] = file_option(None, "--rules", help="本地规则文件（TOML）：启停规则、调整参数"),
    knowledge: Optional[Path] = typer.Option(None, "--knowledge", help="知识库目录（CSV 表，见 docs/knowledge-base.md）"),
    evaluate: Optional[Path] = file_option(None, "--evaluate", help="标签文件 labels.csv：按异常模式报告召回率与精确率"),
    engine: str = engine_option(),
    memory_limit: Optional[str] = typer.Option(None, "--memory-limit",
                                               help="DuckDB 内存上限，如 4GB（超出部分写入临时文件）"),
    store: Optional[str] = typer.Option(None, "--store",
                                        help="记录库地址（默认工作区内 store.sqlite3）：--workspace 时审核结果记入其中"),
    benefit_policy: Optional[list[Path]] = file_option(
        None, "--benefit-policy", help="待遇政策文件（[benefit] 节）：同时运行 B01 记账与待遇计算核对；"
                                       "可重复，每年一个文件，病例按其结算年度的政策计算"),
    standards: Optional[Path] = dir_option(None, "--standards",
                                           help="CHS-DRG 标准目录（CC/MCC 与排除表，高套规则 C07 用；缺省自动查找）"),
) -> None:
    """智能审核：对每条费用明细、每个病例与参保人运行全部规则，输出审核结果、机构汇总与结算扣款。"""
    from yibao.review import outputs as rout
    from yibao.review.evaluation import evaluate as evaluate_labels
    from yibao.review.evaluation import read_labels
    from yibao.review.knowledge import apply_knowledge
    from yibao.review.ruleset import load_rules
    from yibao.review.run import run_workspace

    if (data is None) == (workspace is None):
        raise UserError("请指定 --data 数据目录或 --workspace 工作区（二者选一）")
    if out_dir is None and evaluate is None:
        raise UserError("请指定 --out 输出目录")
    if engine not in ("duckdb", "spark"):
        raise UserError(f"未知的引擎 {engine}（duckdb 或 spark）")
    if memory_limit is not None and not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", memory_limit):
        raise UserError(f"内存上限 {memory_limit} 无法识别（例如 4GB、512MB）")
    rs = apply_knowledge(load_rules(rules), knowledge)  # a RuleError is a BadPolicy: one line, exit 2
    for note in rs.notes:
        err.print(note)
    if benefit_policy:
        from yibao.cli.review_benefit import benefit_policy as load_benefit

        benefit_policy = load_benefit(benefit_policy)  # a bad file is refused before the review runs
    if engine == "spark":
        try:
            import pyspark  # noqa: F401
        except ImportError:
            raise UserError("Spark 引擎需要安装 pyspark（pip install -e '.[spark]'）和 Java 17+") from None
    cc = _standards(standards)
    labels = read_labels(evaluate) if evaluate is not None else None
    target = outputs(out_dir) if out_dir is not None else None  # a --out that may not be replaced: refused now
    t0 = time.perf_counter()
    quarantined: dict[str, int] = {}
    if data is not None:
        from yibao.engine.loading import load_region

        with tempfile.TemporaryDirectory(prefix="yibao-review-") as tmp:
            rep = load_region(Path(data), Path(tmp) / "ws")
            quarantined = {t.table: t.quarantined for t in rep.tables if t.quarantined}
            periods = _periods_from_dir(Path(data))
            res = run_workspace(Path(tmp) / "ws", rs, periods, engine, memory_limit=memory_limit, standards=cc)
            if benefit_policy:
                res, rs = _benefit(Path(tmp) / "ws", res, rs, benefit_policy)
    else:
        from yibao.engine.workspace import is_parquet_region

        parquet = is_parquet_region(Path(workspace))  # yibao load --engine spark: read by Spark, no store of record
        if parquet and engine != "spark":
            raise UserError(f"{workspace}：这是 Parquet 数据目录（yibao load --engine spark 的输出），请加 --engine spark")
        if not parquet and not (Path(workspace) / "yibao.duckdb").exists():
            raise UserError(f"{workspace}：不是 yibao 工作区（缺少 yibao.duckdb），请先运行 yibao load")
        periods = _periods_from_workspace(Path(workspace))
        from yibao.cli.server import record_review, started_now  # the workspace's store of record (docs/server.md)

        started_at = started_now()
        res = run_workspace(Path(workspace), rs, periods, engine, memory_limit=memory_limit, standards=cc)
        if benefit_policy:
            res, rs = _benefit(Path(workspace), res, rs, benefit_policy)
        if not parquet or store is not None:
            record_review(Path(workspace), store, res, rs, started_at)
    secs = time.perf_counter() - t0
    f = res.findings
    import pyarrow.compute as pc  # (not at the top: every command's start pays the top-level imports)

    n_rej = pc.sum(pc.equal(f.column("severity"), "reject")).as_py() or 0
    print(f"审核病例 {res.counts.get('cases', 0):,}、费用明细 {res.counts.get('lines', 0):,}，"
          f"启用规则 {len(rs.enabled)} 条，用时 {secs:.1f} 秒")
    for note in res.notes:
        print(note)
    if quarantined:
        print("未审核（装载时隔离）：" + "，".join(f"{k} {v:,} 行" for k, v in sorted(quarantined.items())))
    ev = evaluate_labels(f, labels, rs) if labels is not None else None
    if target is not None:
        with target as tmp:
            s = rout.write_outputs(res, rs, tmp)
            if ev is not None:
                rout.write_csv(ev, tmp / "evaluation.csv")
        per_year = rout.deductions_by_year(s["deductions"])
        print(f"审核结果 {f.num_rows:,} 条（拒付 {n_rej:,}，提示 {f.num_rows - n_rej:,}）")
        print("结算应扣减（拒付金额，按结算年度）：" + ("；".join(f"{y} 年 {a:,.2f} 元" for y, a in per_year.items()) or "无"))
        print(f"已写入 {out_dir}（findings.csv、summary_by_institution.csv、summary_by_rule.csv、top_rules.csv、"
              f"deductions.csv、rules.csv、{'reference_prices.csv、' if res.references is not None else ''}"
              f"{'dx_evidence.csv、' if res.dx_evidence is not None else ''}{rout.NOTES + '、' if res.notes else ''}"
              f"{rout.WORKBOOK}）")
        if f.num_rows > rout.MAX_SHEET_ROWS:
            print(f"注意：{rout.WORKBOOK} 的审核结果表只列前 {rout.MAX_SHEET_ROWS:,} 条（共 {f.num_rows:,} 条），全部见 "
                  "findings.csv")
    if ev is not None:
        _print_evaluation(ev)


@app.command("check")
def check_cmd(
    file: Path = file_argument(..., help="一张处方或一个病例的 JSON（含费用明细 lines）"),
    catalog: Optional[Path] = file_option(None, "--catalog", help="三目录文件（catalog.csv/.parquet）"),
    workspace: Optional[Path] = typer.Option(None, "--workspace", "-w", help="从工作区读取三目录与机构"),
    rules: Optional[Path] = file_option(None, "--rules", help="本地规则文件（TOML）"),
    knowledge: Optional[Path] = typer.Option(None, "--knowledge", help="知识库目录（CSV 表，见 docs/knowledge-base.md）"),
    standards: Optional[Path] = dir_option(None, "--standards",
                                           help="CHS-DRG 标准目录（CC/MCC 与排除表，高套规则 C07 用；缺省自动查找）"),
) -> None:
    """事前提醒：对一张处方或一个病例即时运行审核规则，输出提示（JSON）。"""
    from yibao.review.check import Checker
    from yibao.review.knowledge import apply_knowledge
    from yibao.review.ruleset import load_rules

    try:
        rs = apply_knowledge(load_rules(rules), knowledge)
        cc = _standards(standards)
        from yibao.review.run import fallback_notes

        for note in (*rs.notes, *fallback_notes(rs, cc)):
            err.print(note)
        if catalog is not None:
            checker = Checker.from_catalog_file(catalog, rs, standards=cc)
        elif workspace is not None:
            checker = Checker.from_workspace(workspace, rs, standards=cc)
        else:
            raise UserError("请指定 --catalog 三目录文件或 --workspace 工作区")
        text = sys.stdin.read() if str(file) == "-" else Path(file).read_text(encoding="utf-8")
        result = checker.check(json.loads(text))
    except json.JSONDecodeError as exc:
        raise UserError(f"{file}：不是有效的 JSON（第 {exc.lineno} 行）") from None
    except FileNotFoundError as exc:
        raise UserError(f"{exc.filename}：文件不存在") from None
    print(json.dumps(result, ensure_ascii=False, indent=1, default=str))
