"""``yibao findings finalize`` and ``yibao findings deductions`` (the findings workflow of the store of record)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Optional

import typer

from yibao.cli._common import sub_app
from yibao.contract.errors import BadOption

findings_app = sub_app("findings", help="审核疑点处理（记录库）：期限终结、结算扣款")

_STORE_HELP = "记录库地址（默认：工作区内的 SQLite 文件 store.sqlite3；或 postgresql+psycopg://…）"


def _open(workspace: Path, store: Optional[str]):
    from yibao.store.db import STORE_FILE, open_store

    if store is None and not (Path(workspace) / STORE_FILE).exists():
        raise BadOption(f"{workspace}：没有记录库（{STORE_FILE}），请先运行 yibao review --workspace")
    return open_store(workspace, store)


def _day(text: Optional[str]) -> Optional[date]:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadOption(f"--as-of 应为日期 YYYY-MM-DD：{text}") from None


@findings_app.command("finalize")
def finalize_cmd(
    workspace: Path = typer.Option(..., "--workspace", "-w", help="工作区目录"),
    store: Optional[str] = typer.Option(None, "--store", help=_STORE_HELP),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="按此日期判断期限（YYYY-MM-DD，默认今天，北京时间）"),
) -> None:
    """申诉期限已过、未申诉的疑点按原审核结果终结（final），每条记入审计日志。"""
    from yibao.engine.workspace import actor
    from yibao.store.findings import finalize_due

    day = _day(as_of)
    with _open(workspace, store) as st:
        done = finalize_due(st, day, actor=actor(), client="cli")
    when = day.isoformat() if day else "今天"
    print(f"已终结 {len(done):,} 条疑点（申诉期限早于 {when} 且未申诉）")


@findings_app.command("deductions")
def deductions_cmd(
    workspace: Path = typer.Option(..., "--workspace", "-w", help="工作区目录"),
    year: int = typer.Option(..., "--year", help="结算年度"),
    out: Path = typer.Option(..., "--out", help="输出的扣款文件（CSV，供 dip settle / drg settle --deductions）"),
    store: Optional[str] = typer.Option(None, "--store", help=_STORE_HELP),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="先按此日期终结期限已过的疑点（默认今天，北京时间）"),
) -> None:
    """记录库中复审维持（upheld）与已终结（final）的拒付疑点，按机构、年度、就诊类型汇总为扣款文件。"""
    from yibao.engine.workspace import actor
    from yibao.store.findings import export_deductions

    day = _day(as_of)
    with _open(workspace, store) as st:
        rows, total = export_deductions(st, year, out, day, actor=actor())
    print(f"已写出 {out}：{len(rows)} 行，扣款合计 {total} 元（仅复审维持与已终结的拒付疑点）")
