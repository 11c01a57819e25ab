"""``yibao staff …``: payment qualification of personnel (医保支付资格管理).

``status`` is the contract interface (shared/contract/README.md); the other commands keep the
append-only ledger (一人一档) in a workspace, print one person's record, exchange status changes
with other regions, and write the procedure's letters and the institutions' lists.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Optional

import typer

from yibao.cli._common import UserError, file_argument, file_option, sub_app
from yibao.cli._outputs import outputs
from yibao.engine.outdir import atomic_file

staff_app = sub_app("staff", help="医保支付资格管理（记分、暂停、终止、修复，一人一档）")

WS = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录")
POLICY = file_option(None, "--policy", help="政策文件（TOML，[staff] 等节；缺省用内置默认值）")


def _date(text: str, what: str) -> dt.date:
    try:
        if len(text) != 10:
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UserError(f"{what}「{text}」不是有效日期（应为 YYYY-MM-DD）") from None


def _warn(line: str) -> None:
    print(line, file=sys.stderr)


@staff_app.command("status")
def staff_status(
    data: Optional[Path] = typer.Option(None, "--data", help="统筹区数据目录（读取 staff、sanctions、repairs）"),
    as_of: str = typer.Option(..., "--as-of", help="查询日期 YYYY-MM-DD"),
    out: Path = typer.Option(..., "--out", help="输出 CSV：staff_id,year_points,status,suspended_until,barred_until"),
    policy: Optional[Path] = POLICY,
    workspace: Optional[Path] = typer.Option(
        None, "--workspace", "-w", help="代替 --data：读取工作区（事件档案、已装载的表、其他地区导入的暂停终止）"),
) -> None:
    """每位人员在某日的医保支付资格状态（正常 active、暂停 suspended、终止 terminated）。"""
    from yibao.staff.policy import load_policy
    from yibao.staff.rules import status_as_of
    from yibao.staff.writers import write_status_csv

    day = _date(as_of, "--as-of")
    pol = load_policy(policy)
    if (data is None) == (workspace is None):
        raise UserError("请给出 --data（统筹区数据目录）或 --workspace（工作区）二者之一")
    if data is not None:
        from yibao.staff.sources import read_dir

        src = read_dir(data)
        events, staff_ids = src.events, src.staff_ids
        invalid = src.invalid
    else:
        events, staff_ids = _workspace_events(workspace)
        invalid = []
    for table, row, code, msg in invalid:
        _warn(f"警告：{table} 第 {row} 行 [{code}] {msg}（未计入）")
    st, d = status_as_of(events, staff_ids, pol, day)
    for r in d.rejected.to_pylist():
        _warn(f"警告：[{r['reason_code']}] {r['message']}")
    for staff, ref, when, code in d.refused:
        _warn(f"警告：[{code}] 人员 {staff} 于 {when} 的登记备案（{ref}）早于可再次登记日期")
    write_status_csv(st, out)
    counts = {s: 0 for s in ("active", "suspended", "terminated")}
    for s in st.column("status").to_pylist():
        counts[s] += 1
    print(f"{day} 人员 {st.num_rows} 名：正常 {counts['active']}，暂停 {counts['suspended']}，终止 {counts['terminated']}；"
          f"不能记分的处理决定 {d.rejected.num_rows} 条，不合格行 {len(invalid)} 行；已写入 {out}")


def _workspace_events(workspace: Path):
    import duckdb

    from yibao.engine.workspace import DB_FILE
    from yibao.staff.ledger import workspace_events

    if not (workspace / DB_FILE).is_file():
        raise UserError(f"{workspace}: 工作区不存在（先运行 yibao load）")
    con = duckdb.connect(str(workspace / DB_FILE), read_only=True)
    try:
        events = workspace_events(con)
        ids = sorted({r[0] for r in con.execute("SELECT staff_id FROM staff").fetchall()}
                     | set(events.column("staff_id").to_pylist()))
    finally:
        con.close()
    return events, ids


def _ledger(workspace: Path):
    from yibao.engine.workspace import DB_FILE
    from yibao.staff.ledger import open_ledger

    if not (workspace / DB_FILE).is_file():
        raise UserError(f"{workspace}: 工作区不存在（先运行 yibao load）")
    return open_ledger(workspace)


def _letter(text: str, out: Optional[Path], default_name: str) -> None:
    if out is None:
        print(text)
        return
    path = out / default_name if out.suffix == "" else out
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    print(f"已写入 {path}")


@staff_app.command("sync")
def staff_sync(workspace: Path = WS) -> None:
    """把工作区已装载的人员、处理决定（sanctions）、修复（repairs）追加到事件档案（已有的不重复）。"""
    from yibao.staff.ledger import sync_from_workspace

    ws = _ledger(workspace)
    try:
        n = sync_from_workspace(ws)
    finally:
        ws.close()
    print(f"追加事件 {n} 条")


@staff_app.command("record")
def staff_record(
    staff_id: str = typer.Argument(..., help="医保相关人员代码"),
    workspace: Path = WS,
    as_of: Optional[str] = typer.Option(None, "--as-of", help="截至日期（缺省为今天）"),
    policy: Optional[Path] = POLICY,
) -> None:
    """打印一个人的完整医保支付资格档案（一人一档）：全部事件、推导出的暂停终止期间、当日状态。"""
    from yibao.staff.ledger import sync_from_workspace
    from yibao.staff.policy import load_policy
    from yibao.staff.record import render_record

    day = _date(as_of, "--as-of") if as_of else dt.date.today()
    pol = load_policy(policy)
    ws = _ledger(workspace)
    try:
        sync_from_workspace(ws)
        text = render_record(ws, pol, staff_id, day)
    finally:
        ws.close()
    if not text:
        raise UserError(f"人员 {staff_id}：档案中没有任何记录")
    print(text)


@staff_app.command("notice")
def staff_notice(
    sanction_id: str = typer.Argument(..., help="处理决定编号"),
    staff_id: str = typer.Option(..., "--staff", help="医保相关人员代码"),
    institution: str = typer.Option(..., "--institution", help="机构编码"),
    date: str = typer.Option(..., "--date", help="告知日期"),
    points: int = typer.Option(..., "--points", help="拟记分（1–12）"),
    basis: str = typer.Option(..., "--basis",
                              help="处理依据：admin_penalty、agreement_termination、agreement_suspension、liquidated_damages"),
    responsibility: str = typer.Option(..., "--responsibility", help="责任程度：main、secondary"),
    fraud: bool = typer.Option(False, "--fraud", help="欺诈骗保，一次性记满 12 分"),
    facts: str = typer.Option("", "--facts", help="违规事实"),
    letter: Optional[Path] = typer.Option(None, "--letter", help="告知书输出文件或目录（缺省打印）"),
    workspace: Path = WS,
    policy: Optional[Path] = POLICY,
) -> None:
    """记分预先告知：记录拟记分（尚不计分），生成预先告知书（含复核申请期限）。"""
    from yibao.staff.policy import load_policy
    from yibao.staff.procedure import notice

    pol = load_policy(policy)
    ws = _ledger(workspace)
    try:
        text = notice(ws, pol, sanction_id, staff_id, institution, _date(date, "--date"), points, basis,
                      responsibility, fraud, facts)
    finally:
        ws.close()
    _letter(text, letter, f"预先告知书_{sanction_id}.md")


@staff_app.command("review-request")
def staff_review_request(
    sanction_id: str = typer.Argument(..., help="处理决定编号"),
    date: str = typer.Option(..., "--date", help="申请日期"),
    reason: str = typer.Option("", "--reason", help="申请理由"),
    workspace: Path = WS,
) -> None:
    """记录当事人的复核申请（须在告知期限内）。"""
    from yibao.staff.procedure import request_review

    ws = _ledger(workspace)
    try:
        request_review(ws, sanction_id, _date(date, "--date"), reason)
    finally:
        ws.close()
    print(f"已记录 {sanction_id} 的复核申请")


@staff_app.command("opinion")
def staff_opinion(
    sanction_id: str = typer.Argument(..., help="处理决定编号"),
    expert: str = typer.Option(..., "--expert", help="专家姓名"),
    text: str = typer.Option(..., "--opinion", help="评议意见"),
    date: str = typer.Option(..., "--date", help="日期"),
    workspace: Path = WS,
) -> None:
    """记录医疗专家同行评议意见。"""
    from yibao.staff.procedure import opinion

    ws = _ledger(workspace)
    try:
        opinion(ws, sanction_id, _date(date, "--date"), expert, text)
    finally:
        ws.close()
    print(f"已记录 {sanction_id} 的专家意见（{expert}）")


@staff_app.command("decide")
def staff_decide(
    sanction_id: str = typer.Argument(..., help="处理决定编号"),
    date: str = typer.Option(..., "--date", help="决定日期"),
    points: Optional[int] = typer.Option(None, "--points", help="复核后变更的记分（缺省维持告知的记分）"),
    cancel: bool = typer.Option(False, "--cancel", help="复核撤销记分"),
    reason: str = typer.Option("", "--reason", help="理由"),
    letter: Optional[Path] = typer.Option(None, "--letter", help="决定书输出文件或目录（缺省打印）"),
    workspace: Path = WS,
    policy: Optional[Path] = POLICY,
) -> None:
    """作出记分决定（或复核决定）：只有决定后的记分才计入年度记分；生成决定书。"""
    from yibao.staff.policy import load_policy
    from yibao.staff.procedure import decide

    pol = load_policy(policy)
    ws = _ledger(workspace)
    try:
        text = decide(ws, pol, sanction_id, _date(date, "--date"), points, cancel, reason)
    finally:
        ws.close()
    _letter(text, letter, f"记分决定书_{sanction_id}.md")


@staff_app.command("repair")
def staff_repair(
    repair_id: str = typer.Argument(..., help="修复决定编号"),
    staff_id: str = typer.Option(..., "--staff", help="医保相关人员代码"),
    date: str = typer.Option(..., "--date", help="决定日期"),
    points_reduced: int = typer.Option(0, "--points-reduced", min=0, max=12, help="减少本年度记分"),
    shorten_days: int = typer.Option(0, "--shorten-days", min=0, max=3660, help="缩短正在执行的暂停或终止期限（天）"),
    workspace: Path = WS,
) -> None:
    """记录修复决定（减免记分、缩短暂停或终止期限）。"""
    from yibao.staff.ledger import Entry, append

    if points_reduced == 0 and shorten_days == 0:
        raise UserError("修复决定应减少记分或缩短期限（--points-reduced、--shorten-days 至少一项大于 0）")
    ws = _ledger(workspace)
    try:
        with ws.transaction() as con:
            if con.execute("SELECT count(*) FROM staff_events WHERE kind = 'repair' AND ref_id = ?",
                           [repair_id]).fetchall()[0][0]:
                raise UserError(f"修复决定 {repair_id} 已有记录")
            append(con, [Entry(staff_id, "repair", _date(date, "--date"), repair_id, points_reduced=points_reduced,
                               shorten_days=shorten_days)])
    finally:
        ws.close()
    print(f"已记录修复决定 {repair_id}")


@staff_app.command("register")
def staff_register(
    staff_id: str = typer.Argument(..., help="医保相关人员代码"),
    institution: str = typer.Option(..., "--institution", help="机构编码"),
    date: str = typer.Option(..., "--date", help="登记备案日期"),
    workspace: Path = WS,
    policy: Optional[Path] = POLICY,
) -> None:
    """登记备案（含终止后再次登记；禁止登记期内拒绝）。"""
    from yibao.staff.policy import load_policy
    from yibao.staff.procedure import register

    day = _date(date, "--date")
    pol = load_policy(policy)
    ws = _ledger(workspace)
    try:
        register(ws, pol, staff_id, institution, day)
    finally:
        ws.close()
    print(f"已登记备案 {staff_id}（{institution}，{day}）")


@staff_app.command("export")
def staff_export(
    out: Path = typer.Option(..., "--out", help="交换文件（JSON Lines）"),
    region: Optional[str] = typer.Option(None, "--region", help="本地区代码（缺省取政策文件或机构表）"),
    workspace: Path = WS,
    policy: Optional[Path] = POLICY,
) -> None:
    """导出本地区的暂停、终止状态变化为签名交换文件（全国联网联动）。"""
    from yibao.staff.exchange import export, region_code
    from yibao.staff.ledger import sync_from_workspace
    from yibao.staff.policy import load_policy

    pol = load_policy(policy)
    ws = _ledger(workspace)
    try:
        sync_from_workspace(ws)
        r = export(ws, pol, out, region_code(ws, pol, region))
    finally:
        ws.close()
    print(f"已导出 {r.records} 条状态记录到 {r.path}（{'HMAC-SHA256 签名' if r.signed else '未签名，仅 SHA-256'}）")


@staff_app.command("import")
def staff_import(
    files: list[Path] = file_argument(..., help="其他地区的交换文件"),
    region: Optional[str] = typer.Option(None, "--region", help="本地区代码（拒绝导入本地区自己的文件）"),
    workspace: Path = WS,
    policy: Optional[Path] = POLICY,
) -> None:
    """导入其他地区的交换文件：校验签名，整文件接受或拒绝；同一文件重复导入不产生变化。"""
    from yibao.staff.exchange import import_file, read_exchange
    from yibao.staff.policy import load_policy

    pol = load_policy(policy)
    for f in files:  # verify every file before touching the workspace
        read_exchange(f, pol)
    ws = _ledger(workspace)
    try:
        own = region or pol.region_code or None
        for f in files:
            r = import_file(ws, pol, f, own)
            if r.already:
                print(f"{f}：此文件已导入过，无变化")
            else:
                print(f"{f}：来源地区 {r.origin}，记录 {r.records} 条，新增事件 {r.new_events} 条")
    finally:
        ws.close()


@staff_app.command("institutions")
def staff_institutions(
    year: int = typer.Option(..., "--year", help="年度"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    workspace: Path = WS,
    policy: Optional[Path] = POLICY,
) -> None:
    """每家机构年度内被暂停、终止人员占登记人员的比例（超过阈值预警），及通报卫健、药监部门的名单（CSV 与 Excel）。"""
    import duckdb

    from yibao.engine.workspace import DB_FILE
    from yibao.staff.institutions import notification_list, shares
    from yibao.staff.ledger import workspace_events
    from yibao.staff.policy import load_policy
    from yibao.staff.rules import year_points
    from yibao.staff.sources import qualification_periods
    from yibao.staff.writers import write_csv

    target = outputs(out_dir)
    pol = load_policy(policy)
    if not (workspace / DB_FILE).is_file():
        raise UserError(f"{workspace}: 工作区不存在（先运行 yibao load）")
    con = duckdb.connect(str(workspace / DB_FILE), read_only=True)
    try:
        events = workspace_events(con)
        periods = qualification_periods(events, pol)
        sh = shares(con, periods, year, pol)
        pts = year_points(events, pol, dt.date(year, 12, 31))
        lst = notification_list(con, periods, year, pts)
    finally:
        con.close()
    with target as tmp:
        write_csv(sh, tmp / "institution_shares.csv", bom=True)
        write_csv(lst, tmp / "notification_list.csv", bom=True)
        _workbook(tmp / "staff_institutions.xlsx", sh, lst, year, pol.flag_share)
    flagged = sum(1 for f in sh.column("flagged").to_pylist() if f)
    print(f"{year} 年：机构 {sh.num_rows} 家，超过比例 {pol.flag_share} 的 {flagged} 家；通报名单 {lst.num_rows} 人")
    print(f"已写入 {out_dir}（institution_shares.csv、notification_list.csv、staff_institutions.xlsx）")


def _workbook(path: Path, shares, lst, year: int, flag_share) -> None:
    from yibao.staff.writers import write_institutions_workbook

    write_institutions_workbook(path, shares, lst, year, flag_share)


@staff_app.command("summary")
def staff_summary(
    year: int = typer.Option(..., "--year", help="年度"),
    workspace: Path = WS,
    policy: Optional[Path] = POLICY,
) -> None:
    """年度暂停、终止人数，及因此不予支付的统筹基金金额（急诊抢救除外）。"""
    from yibao.staff import year_summary
    from yibao.staff.policy import load_policy

    s = year_summary(workspace, year, load_policy(policy))
    amount = "—" if s["withheld"] is None else f"{s['withheld']:,} 元"
    print(f"{year} 年医保支付资格：暂停 {s['suspended']} 人，终止 {s['terminated']} 人；"
          f"因此不予支付的统筹基金 {amount}")
