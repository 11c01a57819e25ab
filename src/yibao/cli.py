"""The ``yibao`` command (interfaces layer). Messages for users are in Chinese.

Bad input never shows a Python traceback: it ends with one line on stderr naming the file and
the problem, and a non-zero exit status.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from yibao.contract.reasons import REASONS, FatalLoadError
from yibao.contract.schema import TABLES

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="yibao 医保基金经办与监管引擎")
contract_app = typer.Typer(no_args_is_help=True, help="数据合同（contract）")
app.add_typer(contract_app, name="contract")

err = Console(stderr=True, highlight=False)
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """A problem with the user's input: printed as one line, no traceback."""


class RateProgress:
    """A rich progress bar per table with rows and rows/s (on stderr; quiet when not a terminal)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.progress = Progress(
            TextColumn("[bold]{task.description:<14}"), BarColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[rows]:>12,} 行"), TextColumn("{task.fields[rate]:>12} 行/秒"),
            TimeElapsedColumn(), console=err, transient=False, disable=not err.is_terminal,
        )
        self.tasks: dict[str, tuple[int, float]] = {}

    def __enter__(self) -> "RateProgress":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def update(self, name: str, rows: int, done: bool = False) -> None:
        if name not in self.tasks:
            self.tasks[name] = (self.progress.add_task(name, total=None, rows=0, rate="-"), time.perf_counter())
        task, t0 = self.tasks[name]
        dt = max(time.perf_counter() - t0, 1e-9)
        self.progress.update(task, rows=rows, rate=f"{rows / dt:,.0f}" if rows else "-",
                             total=1 if done else None, completed=1 if done else 0)


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    _print_error(message)
    raise typer.Exit(code)


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
    with RateProgress("synth") as bar:
        summary = generate(out_dir, seed, cases, standards_dir=std, anomaly_rate=anomaly_rate,
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

    pol = load_policy(policy)  # a bad policy stops here: nothing is written
    totals = compute_totals(pol)
    result = None
    if workspace is not None:
        from yibao.budget.year import run_year

        try:
            result = run_year(workspace, pol, totals, engine=engine)
        except BudgetError as exc:
            _fail(f"{policy}: {exc}")
    write_totals(pol, totals, out_dir)
    for t in totals:
        print(f"{SCHEME_ZH[t.scheme]:<6} 当年付费总额 {fmt(t.final_total):>18}  {BINDING_ZH[t.binding]}"
              + (f"；缺口 {fmt(t.shortfall)}" if t.shortfall else ""))
    print(f"已写入 {out_dir / 'totals.csv'} 与 {out_dir / 'totals_explained.md'}")
    if result is not None:
        from yibao.budget.statements import write_statements
        from yibao.budget.year import write_year

        write_year(result, out_dir)
        written = write_statements(result, out_dir)
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
            import csv

            with out_file.open("w", encoding="utf-8-sig", newline="") as f:
                w = csv.writer(f)
                w.writerow([d[0] for d in rel.description])
                w.writerows(rel.fetchall())
            print(f"已导出 {out_file}")
    finally:
        ws.close()


@contract_app.command("docs")
def contract_docs(out_file: Path = typer.Option(Path("docs/contract.md"), "--out")) -> None:
    """由唯一的表结构定义生成数据合同文档。"""
    from yibao.contract.docs import render

    out_file.write_text(render(), encoding="utf-8")
    out.print(f"已写入 {out_file}")


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


def main() -> None:
    try:
        app(standalone_mode=False)
    except FatalLoadError as exc:
        _print_error(str(exc))
        sys.exit(EXIT_BAD_INPUT)
    except UserError as exc:
        _print_error(str(exc))
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        _print_error("已中断：工作区保持中断前的状态")
        sys.exit(EXIT_INTERRUPTED)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except FileNotFoundError as exc:
        _print_error(f"{exc.filename or ''}: 文件或目录不存在" if exc.filename else str(exc))
        sys.exit(EXIT_BAD_INPUT)
    except Exception as exc:  # usage errors (click exceptions carry show() and exit_code)
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(exc.exit_code)
        if type(exc).__module__.startswith("duckdb") and "lock" in str(exc).lower():
            _print_error("工作区正被另一个进程使用（数据库文件已加锁），请稍后再试")
            sys.exit(EXIT_BAD_INPUT)
        raise


def _print_error(message: str) -> None:
    print("错误：" + " ".join(message.split()), file=sys.stderr)


if __name__ == "__main__":
    main()
