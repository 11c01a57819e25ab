"""``yibao rectify``: the overrun rectification notices (超总额整改) as records of the store."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from yibao.cli._common import file_argument, sub_app

rectify_app = sub_app("rectify", help="超总额整改意见：下发、查看（机构反馈与跟踪在网页或接口中）")
_STORE_HELP = "记录库 URL（默认为工作区内的 SQLite；PostgreSQL：postgresql+psycopg://…）"


@rectify_app.command("issue")
def rectify_issue(
    overrun: Path = file_argument(..., help="yibao assess --budget … --issued-on 日期 写出的 overrun.csv"),
    year: int = typer.Option(..., "--year", help="考核年度"),
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    store: Optional[str] = typer.Option(None, "--store", help=_STORE_HELP),
) -> None:
    """把超总额原因分析中的整改意见记入记录库（同一年度、项目、机构只记一次），机构可在接口或网页中反馈。"""
    from yibao.engine.workspace import actor
    from yibao.store.db import open_store
    from yibao.store.rectification import issue_file

    new, old = issue_file(open_store(workspace, store), overrun, year, actor=actor())
    print(f"已下发整改意见 {new} 条" + (f"（另有 {old} 条此前已下发，未改动）" if old else ""))


@rectify_app.command("list")
def rectify_list(
    year: Optional[int] = typer.Option(None, "--year", help="考核年度"),
    institution: Optional[str] = typer.Option(None, "--institution", help="机构编码"),
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    store: Optional[str] = typer.Option(None, "--store", help=_STORE_HELP),
) -> None:
    """列出整改意见及其状态（已下发、机构已反馈、已跟踪办结；逾期未反馈者标注）。"""
    from yibao.store.db import open_store
    from yibao.store.rectification import list_notices

    rows = list_notices(open_store(workspace, store), year=year, institution_id=institution)
    for r in rows:
        late = "（逾期未反馈）" if r["overdue"] else ""
        print(f"{r['rect_id']}  {r['year']}  {r['pot']:<20} {r['institution_id']}  {r['institution_name']}  超支 {r['overrun']}  "
              f"{r['status_zh']}{late}  反馈期限 {r['response_due']}" + (f"  {r['result_zh']}" if r["result_zh"] else ""))
    print(f"共 {len(rows)} 条")
