"""Staff payment qualification pages (医保支付资格, issue 16 §3): the list of suspended and terminated staff, the
通报 list, one person's lifelong record (一人一档) with the review findings on their own lines (监管到人), and
the scoring procedure 预先告知 → 复核申请 → 专家意见 → 决定 and 修复 as forms.

Reading uses the staff capability's public functions on a read-only connection (``workspace_events``,
``qualification_periods``, ``status_as_of``, ``notification_list``). Writing a step of the procedure runs the
very command of the CLI (``yibao staff notice|review-request|opinion|decide|repair --workspace WS``) in a
subprocess: the ledger is appended by the one code path that already does it, and the command announces
itself as the workspace's writer, so the server's read-only connections give way for that moment
(docs/server.md) — an in-process writer could not open the file the server holds open. The letter the command
writes (预先告知书, 记分决定书, Markdown) is shown on the page and offered as a file. Every step is an audit
entry of the store.

Letters as PDF (``/staff/letters/{sanction_id}/{notice|decision|review_decision}.pdf``): made again from the
ledger events of the sanction (:func:`yibao.staff.letters.letters_of`, the ledger only grows) and set by
:func:`yibao.staff.letters.letter_pdf`; linked from the person's record and from the procedure page after a step.
Who may: the roles that may read the person's record (a hospital: its own staff; the auditor: the name masked);
every download is an audit entry ``staff.letter`` (sanction, letter, masked).

Who: agency (经办), supervisor (监管) and admin act; the auditor reads with names masked; a hospital reads its
own institution's staff only (another's: 404).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

import pyarrow.compute as pc
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from yibao.contract.privacy import mask_name
from yibao.engine.workspace import DB_FILE
from yibao.engine.wslock import connect_for_read
from yibao.server.access import MASKED_ROLES
from yibao.server.pages import PageError, PageRoute, add_nav, render, require
from yibao.server.pages.core import check_csrf
from yibao.staff.institutions import notification_list
from yibao.staff.ledger import KIND_ZH, has_ledger, staff_events, workspace_events
from yibao.staff.letters import BASIS_ZH, LETTER_ZH, RESP_ZH, letter_pdf, letters_of
from yibao.staff.policy import load_policy
from yibao.staff.rules import status_as_of, year_points
from yibao.staff.sources import qualification_periods
from yibao.store import audit
from yibao.store import findings as fnd
from yibao.store.schema import findings as findings_tbl
from yibao.store.users import ROLES

READ_ROLES = frozenset(ROLES)
ACT_ROLES = frozenset({"admin", "agency", "supervisor"})
STATUS_ZH = {"active": "正常", "suspended": "暂停", "terminated": "终止"}
ROLE_ZH = {"physician": "医师", "nurse": "护士", "pharmacist": "药师", "technician": "技师",
           "pharmacy_principal": "药店主要负责人", "principal": "主要负责人"}
STEPS = {  # form step → (CLI words, Chinese name, audit action)
    "notice": ("notice", "记分预先告知", "staff.notice"),
    "review": ("review-request", "复核申请", "staff.review_request"),
    "opinion": ("opinion", "专家评议意见", "staff.opinion"),
    "decide": ("decide", "记分决定", "staff.decide"),
    "repair": ("repair", "修复决定", "staff.repair"),
}

pages = APIRouter(route_class=PageRoute, include_in_schema=False)
router = APIRouter()
add_nav("/staff", "医保支付资格", READ_ROLES)


def _con(request: Request):
    s = request.app.state.settings
    db = Path(s.workspace) / DB_FILE
    if not db.exists():
        raise PageError(404, "工作区尚未装载数据")
    return connect_for_read(db, getattr(s, "read_wait_seconds", 30.0))


def _day(text: str | None, default: dt.date) -> dt.date:
    if not text:
        return default
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise PageError(422, f"日期「{text}」不是 YYYY-MM-DD") from None


def _name(role: str, name: str | None) -> str:
    return mask_name(name) if role in MASKED_ROLES and name else (name or "")


def _staff(con) -> dict[str, dict]:
    rows = con.execute("SELECT s.staff_id, s.name, s.role, s.institution_id, i.name FROM main.staff s "
                       "LEFT JOIN main.institutions i ON i.institution_id = s.institution_id").fetchall()
    return {r[0]: {"name": r[1], "role": r[2], "institution_id": r[3], "institution_name": r[4]} for r in rows}


def _today(request: Request) -> dt.date:
    t = getattr(request.app.state.settings, "today", None)
    return t() if t else dt.date.today()


@pages.get("/staff", response_class=HTMLResponse)
def staff_list(request: Request):
    """The suspended and terminated staff on a date."""
    s = require(request, READ_ROLES)
    as_of = _day(request.query_params.get("as_of"), _today(request))
    pol = load_policy(None)
    con = _con(request)
    try:
        events = workspace_events(con)
        staff = _staff(con)
    finally:
        con.close()
    st, _ = status_as_of(events, None, pol, as_of)
    rows = []
    for r in st.to_pylist():
        if r["status"] == "active":
            continue
        who = staff.get(r["staff_id"], {})
        if s.role == "hospital" and who.get("institution_id") != s.user.institution_id:
            continue
        rows.append({**r, "status_zh": STATUS_ZH[r["status"]], "name": _name(s.role, who.get("name")),
                     "role_zh": ROLE_ZH.get(who.get("role"), who.get("role") or ""),
                     "institution_id": who.get("institution_id"), "institution_name": who.get("institution_name")})
    return render(request, "staff/list.html", {"title": "医保支付资格：暂停、终止人员", "rows": rows,
                                               "as_of": as_of.isoformat(), "can_act": s.role in ACT_ROLES})


@pages.get("/staff/notifications", response_class=HTMLResponse)
def notifications(request: Request):
    """The 通报 list of a year (to the health and drug regulators)."""
    s = require(request, READ_ROLES)
    year = int(request.query_params.get("year") or _today(request).year)
    pol = load_policy(None)
    con = _con(request)
    try:
        events = workspace_events(con)
        periods = qualification_periods(events, pol)
        lst = notification_list(con, periods, year, year_points(events, pol, dt.date(year, 12, 31))).to_pylist()
    finally:
        con.close()
    if s.role == "hospital":
        lst = [r for r in lst if r["institution_id"] == s.user.institution_id]
    for r in lst:
        r["name"] = _name(s.role, r["name"])
        r["role_zh"] = ROLE_ZH.get(r["role"], r["role"] or "")
    return render(request, "staff/notifications.html", {"title": f"{year} 年通报名单", "rows": lst, "year": year})


@pages.get("/staff/person/{staff_id}", response_class=HTMLResponse)
def person(request: Request, staff_id: str):
    """One person's lifelong record: events, periods, the state on a date, the findings on their lines."""
    s = require(request, READ_ROLES)
    as_of = _day(request.query_params.get("as_of"), _today(request))
    pol = load_policy(None)
    con = _con(request)
    try:
        staff = _staff(con)
        events = workspace_events(con)
        full = staff_events(con, staff_id) if has_ledger(con) else []  # every event, notices and reviews included
    finally:
        con.close()
    who = staff.get(staff_id)
    mine = events.filter(pc.equal(events.column("staff_id"), staff_id))
    if (who is None and not mine.num_rows) or (s.role == "hospital" and (who or {}).get("institution_id")
                                                != s.user.institution_id):
        raise PageError(404, f"未找到人员 {staff_id}")
    st, d = status_as_of(mine, [staff_id], pol, as_of) if mine.num_rows else (None, None)
    state = st.to_pylist()[0] if st is not None else {"status": "active", "year_points": 0}
    ev_rows = []
    shown = full or sorted(mine.to_pylist(), key=lambda e: (e["day"], e["ref_id"]))
    for e in shown:
        det = json.loads(e["detail"]) if e.get("detail") else {}
        note = "；".join(f"{label}{det[k]}" for k, label in (("deadline", "复核申请期限至 "), ("expert", "专家 "),
                                                              ("opinion", "意见："), ("outcome", "结果 "),
                                                              ("reason", "理由：")) if det.get(k))
        ev_rows.append({"day": e.get("day"), "kind_zh": KIND_ZH.get(e.get("kind"), e.get("kind")),
                        "ref_id": e.get("ref_id"), "points": e.get("points"),
                        "basis_zh": BASIS_ZH.get(e.get("basis"), e.get("basis") or ""),
                        "responsibility_zh": RESP_ZH.get(e.get("responsibility"), e.get("responsibility") or ""),
                        "institution_id": e.get("institution_id"), "note": note})
    periods = d.periods.to_pylist() if d is not None else []
    letters = []  # (sanction, letter kind, its name): what the ledger's notices and decisions produced
    for ref in dict.fromkeys(e.get("ref_id") for e in shown if e.get("kind") == "notice"):
        kinds = {e.get("kind") for e in shown if e.get("ref_id") == ref}
        letters.append((ref, "notice", LETTER_ZH["notice"]))
        if kinds & {"sanction", "withdrawn"}:
            k = "review_decision" if "review_requested" in kinds else "decision"
            letters.append((ref, k, LETTER_ZH[k]))
    with request.app.state.settings.store.begin() as sc:
        run = fnd.latest_run(sc)
        f = findings_tbl.c
        found = [dict(r._mapping) for r in sc.execute(
            select(f.finding_id, f.case_id, f.line_no, f.rule_id, f.severity, f.amount_fen, f.status, f.message,
                   f.institution_id).where(f.last_run_id == run, f.staff_id == staff_id)
            .order_by(f.case_id, f.line_no)).all()] if run is not None else []
    for r in found:
        r["amount"] = fnd.fen_to_yuan(r.pop("amount_fen"))
        r["status_zh"] = fnd.STATUS_ZH.get(r["status"], r["status"])
    who = who or {}
    return render(request, "staff/person.html", {
        "title": f"一人一档：{staff_id}", "staff_id": staff_id, "name": _name(s.role, who.get("name")),
        "role_zh": ROLE_ZH.get(who.get("role"), who.get("role") or ""), "institution_id": who.get("institution_id"),
        "institution_name": who.get("institution_name"), "as_of": as_of.isoformat(),
        "state": {**state, "status_zh": STATUS_ZH[state["status"]]}, "events": ev_rows, "periods": periods,
        "findings": found, "can_act": s.role in ACT_ROLES, "letters": letters})


@pages.get("/staff/procedure", response_class=HTMLResponse)
def procedure_form(request: Request):
    require(request, ACT_ROLES)
    return render(request, "staff/procedure.html", {"title": "记分程序：预先告知 → 复核申请 → 专家意见 → 决定",
                                                    "f": dict(request.query_params), "steps": STEPS,
                                                    "basis_zh": BASIS_ZH, "resp_zh": RESP_ZH})


def _args(step: str, f: dict) -> list[str]:
    """The command's arguments for one step of the form (the command checks them and answers in Chinese)."""
    g = lambda k: (f.get(k) or "").strip()  # noqa: E731
    if step == "notice":
        a = [g("sanction_id"), "--staff", g("staff_id"), "--institution", g("institution_id"), "--date", g("date"),
             "--points", g("points"), "--basis", g("basis"), "--responsibility", g("responsibility"),
             "--facts", g("facts")]
        return a + (["--fraud"] if f.get("fraud") == "1" else [])
    if step == "review":
        return [g("sanction_id"), "--date", g("date"), "--reason", g("reason")]
    if step == "opinion":
        return [g("sanction_id"), "--date", g("date"), "--expert", g("expert"), "--opinion", g("opinion")]
    if step == "decide":
        a = [g("sanction_id"), "--date", g("date"), "--reason", g("reason")]
        if g("points"):
            a += ["--points", g("points")]
        return a + (["--cancel"] if f.get("cancel") == "1" else [])
    if step == "repair":
        return [g("repair_id"), "--staff", g("staff_id"), "--date", g("date"),
                "--points-reduced", g("points_reduced") or "0", "--shorten-days", g("shorten_days") or "0"]
    raise PageError(422, f"未知的步骤 {step}")


def run_step(workspace: Path, step: str, form: dict) -> tuple[int, str, str | None]:
    """Run one procedure step as the CLI command; (exit code, its Chinese output, the letter text or None)."""
    words, _, _ = STEPS[step]
    with tempfile.TemporaryDirectory(prefix="yibao-staff-") as tmp:
        letter = Path(tmp) / "letter.md"
        args = _args(step, form)
        if step in ("notice", "decide"):
            args += ["--letter", str(letter)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).resolve().parents[2])] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH")
                                                           else []))}
        r = subprocess.run([sys.executable, "-m", "yibao.cli", "staff", words, *args, "--workspace", str(workspace)],
                           capture_output=True, text=True, env=env, timeout=300)
        text = letter.read_text(encoding="utf-8") if letter.exists() else None
    said = [ln for ln in (r.stdout + "\n" + r.stderr).splitlines() if ln.strip() and not ln.startswith("已写入 ")]
    out = "\n".join(said) or ("已完成" if r.returncode == 0 else "未完成")
    return r.returncode, out, text


@pages.post("/staff/procedure", response_class=HTMLResponse)
async def procedure_submit(request: Request):
    s = require(request, ACT_ROLES)
    form = {k: str(v) for k, v in (await request.form()).items()}
    check_csrf(s, form.get("csrf", ""))
    step = form.get("step", "")
    if step not in STEPS:
        raise PageError(422, f"未知的步骤 {step}")
    settings = request.app.state.settings
    code, out, letter = await run_in_threadpool(run_step, settings.workspace, step, form)
    ref = form.get("sanction_id") or form.get("repair_id") or ""
    if code == 0:
        audit.record(settings.store, actor=s.user.username, role=s.role, action=STEPS[step][2],
                     object=f"staff:{form.get('staff_id') or ref}", client=request.client.host if request.client else "",
                     detail={"ref": ref})
    pdf = None
    if code == 0 and letter and step in ("notice", "decide"):
        kind = "notice" if step == "notice" else ("review_decision" if "你已申请复核" in letter else "decision")
        pdf = f"/staff/letters/{quote(ref, safe='')}/{kind}.pdf"
    ctx = {"title": "记分程序：预先告知 → 复核申请 → 专家意见 → 决定", "f": form, "steps": STEPS, "basis_zh": BASIS_ZH,
           "resp_zh": RESP_ZH, "result": {"ok": code == 0, "step_zh": STEPS[step][1], "output": out,
                                          "letter": letter, "ref": ref, "pdf": pdf}}
    return render(request, "staff/procedure.html", ctx, status=200 if code == 0 else 422)


@pages.post("/staff/letter", response_class=Response)
async def letter_download(request: Request):
    """The letter just shown, as a file (the text comes back from the page; nothing is stored)."""
    s = require(request, ACT_ROLES)
    form = {k: str(v) for k, v in (await request.form()).items()}
    check_csrf(s, form.get("csrf", ""))
    name = "".join(ch for ch in form.get("name", "letter") if ch.isalnum() or ch in "_-") or "letter"
    return Response(form.get("text", ""), media_type="text/markdown; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}.md"})


def _ref_events(con, ref: str) -> list[dict]:
    if not has_ledger(con):
        return []
    cur = con.execute("SELECT * FROM staff_events WHERE ref_id = ? ORDER BY event_id", [ref])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _letters(request: Request, s, ref: str) -> tuple[dict[str, str], dict]:
    """(the letters of sanction ``ref`` with the name as the role may see it, the person); 404 if none or not
    the hospital's own."""
    con = _con(request)
    try:
        events = _ref_events(con, ref)
        staff = _staff(con)
        insts = dict(con.execute("SELECT institution_id, name FROM main.institutions").fetchall())
    finally:
        con.close()
    if not events:
        raise PageError(404, f"未找到处理决定 {ref} 的文书")
    sid = events[0]["staff_id"]
    who = staff.get(sid, {})
    if s.role == "hospital" and who.get("institution_id") != s.user.institution_id:
        raise PageError(404, f"未找到处理决定 {ref} 的文书")
    note = next((e for e in events if e["kind"] == "notice"), events[0])
    inst = insts.get(note.get("institution_id")) or note.get("institution_id") or ""
    return letters_of(events, _name(s.role, who.get("name") or sid), inst), {"staff_id": sid, **who}


@pages.get("/staff/letters/{ref}/{kind}.pdf")
def letter_pdf_download(request: Request, ref: str, kind: str):
    """One letter of a sanction as PDF (role-checked, names as the role may see them, audited)."""
    s = require(request, READ_ROLES)
    if kind not in LETTER_ZH:
        raise PageError(404, f"未知文书 {kind}")
    letters, who = _letters(request, s, ref)
    if kind not in letters:
        raise PageError(404, f"处理决定 {ref} 尚无{LETTER_ZH[kind]}")
    data = letter_pdf(letters[kind])
    settings = request.app.state.settings
    audit.record(settings.store, actor=s.user.username, role=s.role, action="staff.letter", object=f"staff:{who['staff_id']}",
                 client=request.client.host if request.client else "",
                 detail={"ref": ref, "letter": kind, "masked": s.role in MASKED_ROLES})
    name = quote(f"{LETTER_ZH[kind]}_{ref}.pdf")
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"})


router.include_router(pages)

__all__ = ["ACT_ROLES", "READ_ROLES", "STEPS", "router", "run_step"]
