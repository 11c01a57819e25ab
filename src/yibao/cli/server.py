"""``yibao serve``, ``yibao users add``, ``yibao audit verify`` (the server and the store of record)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from yibao.cli._common import app
from yibao.contract.errors import BadOption, ProblemReported

users_app = typer.Typer(no_args_is_help=True, help="用户与角色（记录库）")
audit_app = typer.Typer(no_args_is_help=True, help="审计日志（记录库）")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")

_STORE_HELP = "记录库地址（默认：工作区内的 SQLite 文件 store.sqlite3；或 postgresql+psycopg://…）"


@app.command("serve")
def serve_cmd(
    workspace: Path = typer.Option(..., "--workspace", "-w", help="工作区目录"),
    store: Optional[str] = typer.Option(None, "--store", help=_STORE_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="监听地址"),
    port: int = typer.Option(8000, "--port", help="监听端口（0 = 任选空闲端口）"),
) -> None:
    """启动网页与接口服务（记录库自动迁移到最新版本），可接受连接后打印网址。"""
    from yibao.server.run import serve

    serve(workspace, store, host, port)


@users_app.command("add")
def users_add_cmd(
    username: str = typer.Argument(..., help="用户名"),
    role: str = typer.Option(..., "--role",
                             help="角色：admin、agency（经办）、supervisor（监管）、hospital（医疗机构）、auditor（审计）"),
    institution: Optional[str] = typer.Option(None, "--institution", help="机构编码（hospital 角色必填）"),
    workspace: Path = typer.Option(..., "--workspace", "-w", help="工作区目录"),
    store: Optional[str] = typer.Option(None, "--store", help=_STORE_HELP),
) -> None:
    """新增用户；密码从标准输入的第一行读取。"""
    from yibao.engine.workspace import actor
    from yibao.store.db import open_store
    from yibao.store.users import ROLES, add_user

    if role not in ROLES:
        raise BadOption(f"未知角色 {role}（可选：{'、'.join(ROLES)}）")
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if len(password) < 8 and password:
        print("注意：密码少于 8 个字符，建议使用更长的密码", file=sys.stderr)
    with open_store(workspace, store) as st:
        u = add_user(st, username, role, password, institution, actor=actor())
    inst = f"，机构 {u.institution_id}" if u.institution_id else ""
    print(f"已新增用户 {u.username}（{ROLES[u.role]}{inst}）")


@audit_app.command("verify")
def audit_verify_cmd(
    workspace: Path = typer.Option(..., "--workspace", "-w", help="工作区目录"),
    store: Optional[str] = typer.Option(None, "--store", help=_STORE_HELP),
) -> None:
    """校验审计日志的哈希链：通过退出 0；发现被改动或删除的记录退出 3 并指出第一条。"""
    from yibao.store.audit import verify
    from yibao.store.db import open_store

    if store is None and not (Path(workspace) / "store.sqlite3").exists():
        raise BadOption(f"{workspace}：没有记录库（store.sqlite3），请先运行 yibao users add 或 yibao serve")
    with open_store(workspace, store) as st:
        v = verify(st)
    if not v.ok:
        raise ProblemReported(f"审计日志校验失败：第 {v.broken_seq} 条，{v.reason}")
    print(f"审计日志校验通过：共 {v.entries} 条，哈希链完整")


def started_now() -> str:
    from yibao.store.db import now_iso

    return now_iso()


def record_review(workspace: Path, store: Optional[str], res, rs, started_at: str) -> None:
    """Record a review run on ``workspace`` in its store of record (called by ``yibao review --workspace``)."""
    import hashlib
    import json

    from yibao.engine.workspace import actor
    from yibao.store.db import open_store
    from yibao.store.findings import WORKFLOW_POLICY, appeal_deadline, record_run
    from yibao.store.workdays import china_today, load_calendar

    digest = hashlib.sha256(json.dumps([repr(r) for r in rs.rules], ensure_ascii=False).encode()).hexdigest()
    with open_store(workspace, store) as st:
        run_id = record_run(st, res.findings, res.cases, workspace=str(Path(workspace).resolve()),
                            rules_digest=digest, started_at=started_at, actor=actor(),
                            cases=int(res.counts.get("cases", 0)), lines_tbl=getattr(res, "lines", None))
    today = china_today()
    due = appeal_deadline(today)
    print(f"已记入记录库：审核批次 {run_id}，疑点 {res.findings.num_rows:,} 条（状态 open）；"
          f"新疑点申诉期限 {due}（{WORKFLOW_POLICY.appeal_working_days} 个工作日）")
    if not load_calendar().covers(today, due):
        print(f"注意：节假日表未收录 {today.year}–{due.year} 年的全部安排，期限仅按周末推算", file=sys.stderr)
