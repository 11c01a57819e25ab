"""``yibao period …``: settlement periods of record without a server (the same store and rules as the API)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Optional

import typer

from yibao.cli._common import sub_app
from yibao.contract.errors import BadOption

period_app = sub_app("period", help="结算期（记录库）：按月预付与年终清算的计算、复核、签发、更正")

_STORE_HELP = "记录库地址（默认：工作区内的 SQLite 文件 store.sqlite3；或 postgresql+psycopg://…）"
_USER_HELP = "操作人：记录库中的经办（agency）用户名（复核、签发须为计算人以外的另一人）"


def _open(workspace: Path, store: Optional[str]):
    from yibao.store.db import open_store

    if not Path(workspace).is_dir():
        raise BadOption(f"{workspace}：工作区目录不存在")
    return open_store(workspace, store)


def _actor(st, username: str):
    from yibao.store.periods import Actor
    from yibao.store.users import ROLES, get_user

    u = get_user(st, username)
    if u is None:
        raise BadOption(f"记录库中没有用户 {username}（先运行 yibao users add {username} --role agency）")
    if u.role != "agency":
        raise BadOption(f"用户 {username} 的角色是“{ROLES[u.role]}”：只有经办（agency）用户可以操作结算期")
    return Actor(u.username, u.role, u.institution_id, "cli")


def _show(p: dict) -> None:
    rec = ("（记录版本 of record，须重新清算）" if p.get("needs_new_version") else
           "（记录版本 of record）" if p["status"] == "issued" else "")
    rep = f"，更正第 {p['replaces_version']} 版：{p['reason']}" if p.get("replaces_version") else ""
    print(f"结算期 {p['period_id']}：{p['label']} {p['pot']} 第 {p['version']} 版{rep}，{p['status_zh']}{rec}；"
          f"机构 {p.get('statements', '?')} 家，合计 {p['total']} 元；计算 {p['prepared_by']}"
          + (f"，复核 {p['checked_by']}" if p["checked_by"] else "")
          + (f"，签发 {p['issued_by']}（{p['issue_date']}）" if p["issued_by"] else ""))
    if p.get("notice"):  # an issued clearing paid against months corrected since
        print(f"  提示：{p['notice']}")


def _with_replaced(st, p: dict) -> dict:
    from yibao.store.periods import get_period

    if p.get("replaces_id"):
        p = {**p, "replaces_version": get_period(st, p["replaces_id"])["version"]}
    return p


@period_app.command("run")
def period_run(
    year: int = typer.Option(..., "--year", help="结算年度"),
    month: Optional[int] = typer.Option(None, "--month", help="第 N 月的预付（1–12）；与 --clearing 二选一"),
    clearing: bool = typer.Option(False, "--clearing", help="年终清算（须已签发全部 12 个月）"),
    scheme: str = typer.Option(..., "--scheme", help="险种：employee（职工）或 resident（城乡居民）"),
    setting: str = typer.Option("inpatient", "--setting", help="就医类型：inpatient（住院）或 outpatient（门诊）"),
    scored: Optional[Path] = typer.Option(None, "--scored",
                                          help="病例赋分目录（yibao dip score 的输出；按 DIP、按人头结算时必填）"),
    standards: Optional[Path] = typer.Option(None, "--standards", help="CHS-DRG 分组标准目录（按 DRG 结算时必填）"),
    budget_policy: Path = typer.Option(..., "--budget-policy", help="总额控制政策文件"),
    policy: Optional[Path] = typer.Option(None, "--policy", help="支付方式政策文件（TOML）：DIP 政策或 DRG 付费政策"),
    deductions: Optional[Path] = typer.Option(None, "--deductions", help="扣款 CSV（年终清算时扣减）"),
    period_policy: Optional[Path] = typer.Option(None, "--period-policy", help="结算期政策（TOML：[periods] methods、confirm）"),
    cutoff: Optional[str] = typer.Option(None, "--cutoff", help="数据截止日 YYYY-MM-DD（缺省为该期最后一天）"),
    user: str = typer.Option(..., "--user", help=_USER_HELP),
    workspace: Path = typer.Option(..., "--workspace", "-w", help="工作区目录"),
    store: Optional[str] = typer.Option(None, "--store", help=_STORE_HELP),
) -> None:
    """计算一个结算期（草稿）：第 N 月的预付，或以已签发月度预付为已付的年终清算。已签发的结算期拒绝重算。"""
    from yibao.server.periods import PeriodInputs, run_period

    if clearing == (month is not None):
        raise BadOption("请给出 --month N（按月预付）或 --clearing（年终清算），二者选一")
    try:
        cut = dt.date.fromisoformat(cutoff) if cutoff else None
    except ValueError:
        raise BadOption(f"--cutoff {cutoff!r} 不是日期 YYYY-MM-DD") from None
    with _open(workspace, store) as st:
        p = run_period(st, workspace, year=year, month=month, scheme=scheme, setting=setting,
                       inputs=PeriodInputs(scored, budget_policy, policy, deductions, period_policy, standards),
                       actor=_actor(st, user), cutoff=cut, warn=lambda w: print(w, file=sys.stderr))
        _show(_with_replaced(st, p))


@period_app.command("check")
def period_check(
    period_id: int = typer.Argument(..., help="结算期编号"),
    user: str = typer.Option(..., "--user", help=_USER_HELP),
    workspace: Path = typer.Option(..., "--workspace", "-w", help="工作区目录"),
    store: Optional[str] = typer.Option(None, "--store", help=_STORE_HELP),
) -> None:
    """复核一个草稿结算期（复核人不能是计算人）。"""
    from yibao.store.periods import check

    with _open(workspace, store) as st:
        _show(_with_replaced(st, check(st, period_id, _actor(st, user))))


@period_app.command("issue")
def period_issue(
    period_id: int = typer.Argument(..., help="结算期编号"),
    user: str = typer.Option(..., "--user", help=_USER_HELP),
    issue_date: Optional[str] = typer.Option(None, "--issue-date", help="签发日期 YYYY-MM-DD（缺省为今天，北京时间）"),
    workspace: Path = typer.Option(..., "--workspace", "-w", help="工作区目录"),
    store: Optional[str] = typer.Option(None, "--store", help=_STORE_HELP),
) -> None:
    """签发一个已复核的结算期（签发人不能是计算人）：锁定，成为记录版本。"""
    from yibao.server.periods import issue_period

    try:
        day = dt.date.fromisoformat(issue_date) if issue_date else None
    except ValueError:
        raise BadOption(f"--issue-date {issue_date!r} 不是日期 YYYY-MM-DD") from None
    with _open(workspace, store) as st:
        _show(_with_replaced(st, issue_period(st, period_id, _actor(st, user), day)))


@period_app.command("correct")
def period_correct(
    period_id: int = typer.Argument(..., help="要更正的已签发结算期编号"),
    reason: str = typer.Option(..., "--reason", help="更正理由"),
    user: str = typer.Option(..., "--user", help=_USER_HELP),
    workspace: Path = typer.Option(..., "--workspace", "-w", help="工作区目录"),
    store: Optional[str] = typer.Option(None, "--store", help=_STORE_HELP),
) -> None:
    """更正已签发的结算期：按原输入重新计算为新版本（草稿，附理由），再复核、签发。"""
    from yibao.server.periods import correct_period

    with _open(workspace, store) as st:
        _show(_with_replaced(st, correct_period(st, workspace, period_id, reason, _actor(st, user))))


@period_app.command("list")
def period_list(
    year: Optional[int] = typer.Option(None, "--year", help="结算年度"),
    pot: Optional[str] = typer.Option(None, "--pot", help="基金预算池，如 employee.inpatient"),
    workspace: Path = typer.Option(..., "--workspace", "-w", help="工作区目录"),
    store: Optional[str] = typer.Option(None, "--store", help=_STORE_HELP),
) -> None:
    """列出结算期及各版本；已签发的最新版本标为记录版本（of record）。"""
    from yibao.store.periods import list_periods

    with _open(workspace, store) as st:
        rows = list_periods(st, year=year, pot=pot)
        for p in rows:
            _show(_with_replaced(st, p))
    if not rows:
        print("没有结算期")


@period_app.command("show")
def period_show(
    period_id: int = typer.Argument(..., help="结算期编号"),
    workspace: Path = typer.Option(..., "--workspace", "-w", help="工作区目录"),
    store: Optional[str] = typer.Option(None, "--store", help=_STORE_HELP),
) -> None:
    """显示一个结算期与各机构的结算单金额（版本、所取代的版本、对账确认状态）。"""
    from yibao.store.periods import get_period, period_statements

    with _open(workspace, store) as st:
        p = _with_replaced(st, get_period(st, period_id))
        _show(p)
        for s in period_statements(st, period_id):
            print(f"  {s['number']}  {s['institution_name']}（{s['institution_id']}）  本期拨付 {s['amount']}  "
                  f"{s['reply_zh']}" + (f"：{s['reply_reason']}" if s["reply_reason"] else ""))
