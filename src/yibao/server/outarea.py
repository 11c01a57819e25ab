"""Out-of-area care pages (异地就医, issue 21): the filing register (备案登记簿: search, a person's filings, valid /
expired / not yet in force on a date), a manual claim's intake (零星报销受理: the five-document checklist, the
deadline and filing checks, the decision — 予以报销 / 不予报销 with the reason in Chinese — and the computation by
the benefit calculator) and the monthly clearing statements per insured region (月度清算单, balanced totals).

The pages compute with the out-of-area capability (:func:`yibao.outarea.analyse`) and hand it the benefit
calculator (another capability) here, in the interfaces layer, as ``yibao outarea check`` does; the policies are
the built-in ones (docs/out-of-area.md; the pooling region ``benefit.region_code``), the year ``?year=`` (default
the benefit policy's year). The claim's page shows the decision the rules give and, below it, the agency's
decisions stored in the store (:mod:`yibao.store.claim_decisions`: 予以报销 / 不予报销 with the reason, the amount
computed when it was decided, who and when; audited); the agency decides with the form on that page
(``POST /outarea/claims/{claim_id}/decision``).

Who: agency (经办), supervisor (监管), admin and auditor (审计) read; names are masked for the auditor (as on
every page); 身份证号 is never shown; only the agency decides. A hospital user gets 403.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from yibao.benefit.policy import load_policy as load_benefit_policy
from yibao.benefit.run import compute_workspace
from yibao.contract.privacy import mask_name
from yibao.contract.schema import CLAIM_DOCUMENTS
from yibao.engine.workspace import DB_FILE
from yibao.engine.wslock import connect_for_read
from yibao.outarea import analyse
from yibao.outarea import load_policy as load_outarea_policy
from yibao.outarea.policy import DOCUMENT_ZH
from yibao.server.access import MASKED_ROLES
from yibao.server.pages import PageError, PageRoute, add_nav, render, require
from yibao.server.pages.core import check_csrf, client
from yibao.store import claim_decisions as cd

READ_ROLES = frozenset({"admin", "agency", "supervisor", "auditor"})
DECIDE_ROLES = frozenset({"agency"})  # the agency (经办) decides a claim
KIND_ZH = {"one_off": "临时外出就医", "posted": "异地工作", "retiree_resident": "异地长期居住"}
REASON_ZH = {"travel": "异地出行", "emergency": "急诊抢救", "transfer": "转诊转院"}
CHANNEL_ZH = {"online": "线上", "offline": "线下（窗口）"}
STATUS_ZH = {"valid": "有效", "expired": "已过期", "pending": "未生效"}
FILING_STATUS_ZH = {"valid": "备案有效", "expired": "备案不在有效期", "missing": "未备案",
                    "emergency_exempt": "急诊抢救（视同备案）"}
SETTING_ZH = {"inpatient": "住院", "outpatient": "门诊特定项目"}

pages = APIRouter(route_class=PageRoute, include_in_schema=False)
router = APIRouter()
add_nav("/outarea", "异地就医", READ_ROLES)


def _ws(request: Request) -> Path:
    ws = Path(request.app.state.settings.workspace)
    if not (ws / DB_FILE).exists():
        raise PageError(404, "工作区尚未装载数据")
    return ws


def _today(request: Request) -> dt.date:
    t = getattr(request.app.state.settings, "today", None)
    return t() if t else dt.date.today()


def _day(text: str | None, default: dt.date) -> dt.date:
    if not text:
        return default
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise PageError(422, f"日期「{text}」不是 YYYY-MM-DD") from None


def _name(role: str, name: str | None) -> str:
    return mask_name(name) if role in MASKED_ROLES and name else (name or "")


def _filings(request: Request, role: str, as_of: dt.date, person_id: str | None = None) -> list[dict]:
    con = connect_for_read(_ws(request) / DB_FILE, getattr(request.app.state.settings, "read_wait_seconds", 30.0))
    try:
        where = "WHERE f.person_id = ?" if person_id else ""
        rows = con.execute(f"""
            SELECT f.filing_id, f.person_id, p.name, f.filing_kind, f.one_off_reason, f.destination_region,
                   f.valid_from, f.valid_to, f.channel, f.filed_on
            FROM main.filings f LEFT JOIN main.insured p ON p.person_id = f.person_id {where}
            ORDER BY f.person_id, f.valid_from, f.filing_id""", [person_id] if person_id else []).fetchall()
    finally:
        con.close()
    out = []
    for fid, pid, name, kind, reason, dest, vf, vt, channel, filed in rows:
        status = "pending" if as_of < vf else ("expired" if vt is not None and as_of > vt else "valid")
        out.append({"filing_id": fid, "person_id": pid, "name": _name(role, name), "raw_name": name or "",
                    "kind_zh": KIND_ZH.get(kind, kind) + (f"（{REASON_ZH.get(reason, reason)}）" if reason else ""),
                    "destination": dest, "valid_from": vf, "valid_to": vt or "长期",
                    "channel_zh": CHANNEL_ZH.get(channel, channel or ""),
                    "filed_on": filed or "", "status": status, "status_zh": STATUS_ZH[status]})
    return out


def _analysis(request: Request):
    bpol = load_benefit_policy(None)
    year_text = request.query_params.get("year")
    try:
        year = int(year_text) if year_text else bpol["benefit.year"]
    except ValueError:
        raise PageError(422, f"年度「{year_text}」不是数字") from None
    if not 2000 <= year <= 2100:
        raise PageError(422, f"年度 {year} 无效")

    def calculate(ws, extra_base, y):
        return compute_workspace(ws, bpol, y, None, extra_base, explain_kinds=("claim",))

    return analyse(_ws(request), load_outarea_policy(None), bpol["benefit.region_code"], year, calculate), bpol


@pages.get("/outarea", response_class=HTMLResponse)
def register(request: Request):
    """The filing register: every filing with its state on a date; search by 医保编号 or name, filter by state."""
    s = require(request, READ_ROLES)
    as_of = _day(request.query_params.get("as_of"), _today(request))
    q = (request.query_params.get("q") or "").strip()
    want = request.query_params.get("status") or ""
    if want and want not in STATUS_ZH:
        raise PageError(422, f"状态「{want}」无法识别")
    rows = _filings(request, s.role, as_of)
    if q:  # a masked role searches by 医保编号 only (a name it cannot see is no search key)
        rows = [r for r in rows if q in r["person_id"] or (s.role not in MASKED_ROLES and q in r["raw_name"])]
    if want:
        rows = [r for r in rows if r["status"] == want]
    counts = {k: sum(1 for r in rows if r["status"] == k) for k in STATUS_ZH}
    return render(request, "outarea/register.html", {
        "title": "异地就医备案登记簿", "rows": rows, "as_of": as_of.isoformat(), "q": q, "status": want,
        "status_zh": STATUS_ZH, "counts": counts})


@pages.get("/outarea/person/{person_id}", response_class=HTMLResponse)
def person(request: Request, person_id: str):
    """One person's filings (and their state on a date)."""
    s = require(request, READ_ROLES)
    as_of = _day(request.query_params.get("as_of"), _today(request))
    rows = _filings(request, s.role, as_of, person_id)
    if not rows:
        raise PageError(404, f"未找到参保人 {person_id} 的异地就医备案")
    return render(request, "outarea/person.html", {
        "title": f"参保人 {person_id} 的异地就医备案", "rows": rows, "name": rows[0]["name"], "person_id": person_id,
        "as_of": as_of.isoformat()})


def _claim_rows(request: Request, role: str):
    an, bpol = _analysis(request)
    rows = an.claims.to_pylist()
    for r in rows:
        r["decision_zh"] = "予以报销" if r["decision"] == "approved" else "不予报销"
        r["filing_status_zh"] = FILING_STATUS_ZH.get(r["filing_status"], r["filing_status"] or "")
    return an, bpol, rows


@pages.get("/outarea/claims", response_class=HTMLResponse)
def claims(request: Request):
    """The manual reimbursement claims of a year with their decision."""
    require(request, READ_ROLES)
    an, bpol, rows = _claim_rows(request, "")
    c = an.result.claims
    return render(request, "outarea/claims.html", {
        "title": f"{an.result.year} 年异地就医零星报销", "rows": rows, "year": an.result.year,
        "approved": c["approved"], "refused": c["refused"],
        "reimbursed": sum((r["fund_reimbursed"] for r in rows), Decimal("0.00"))})


@pages.get("/outarea/claims/{claim_id}", response_class=HTMLResponse)
def claim(request: Request, claim_id: str):
    """A claim's intake: the five documents, the deadline and filing checks, the decision and the computation."""
    s = require(request, READ_ROLES)
    an, bpol, rows = _claim_rows(request, s.role)
    row = next((r for r in rows if r["claim_id"] == claim_id), None)
    if row is None:
        raise PageError(404, f"未找到 {an.result.year} 年的零星报销申请 {claim_id}")
    con = connect_for_read(_ws(request) / DB_FILE, getattr(request.app.state.settings, "read_wait_seconds", 30.0))
    try:
        cols = ", ".join(f"coalesce(c.{d}, false)" for d in CLAIM_DOCUMENTS)
        docs, name, setting, level = (lambda r: (r[:len(CLAIM_DOCUMENTS)], r[-3], r[-2], r[-1]))(con.execute(
            f"SELECT {cols}, p.name, c.setting, c.institution_level FROM main.claims c "
            "LEFT JOIN main.insured p ON p.person_id = c.person_id WHERE c.claim_id = ?", [claim_id]).fetchone())
    finally:
        con.close()
    pol = load_outarea_policy(None)
    required = set(pol["out_of_area.required_documents"])
    checklist = [{"name": DOCUMENT_ZH[d], "present": bool(v), "required": d in required}
                 for d, v in zip(CLAIM_DOCUMENTS, docs)]
    months = pol["out_of_area.claim_deadline_months"]
    history = cd.decisions(request.app.state.settings.store, claim_id)
    return render(request, "outarea/claim.html", {
        "title": f"零星报销受理：{claim_id}", "c": row, "name": _name(s.role, name), "checklist": checklist,
        "setting_zh": SETTING_ZH.get(setting, setting), "level": level, "months": months,
        "documents_ok": all(x["present"] for x in checklist if x["required"]), "history": history,
        "standing": history[0] if history else None, "can_decide": s.role in DECIDE_ROLES,
        "year": an.result.year}, s=s)


@pages.post("/outarea/claims/{claim_id}/decision", response_class=HTMLResponse)
async def decide(request: Request, claim_id: str):
    """The agency's decision on a claim (予以报销 / 不予报销 with the reason), stored with the amount computed now."""
    s = require(request, DECIDE_ROLES)
    form = {k: str(v) for k, v in (await request.form()).items()}
    check_csrf(s, form.get("csrf", ""))
    an, _, rows = await run_in_threadpool(_claim_rows, request, s.role)
    row = next((r for r in rows if r["claim_id"] == claim_id), None)
    if row is None:
        raise PageError(404, f"未找到 {an.result.year} 年的零星报销申请 {claim_id}")
    try:
        await run_in_threadpool(
            lambda: cd.record_decision(request.app.state.settings.store, claim_id, an.result.year,
                                       form.get("decision", ""), form.get("reason", ""), computed=row,
                                       actor=s.user.username, role=s.role, client=client(request)))
    except cd.DecisionRefused as exc:
        raise PageError(exc.status, exc.message) from None
    return RedirectResponse(f"/outarea/claims/{claim_id}?year={an.result.year}", status_code=303)


@pages.get("/outarea/clearing", response_class=HTMLResponse)
def clearing(request: Request):
    """The monthly clearing statements per insured region of a year (one table per month, with its balance)."""
    require(request, READ_ROLES)
    an, bpol = _analysis(request)
    month = request.query_params.get("month") or ""
    months = list(an.statements)
    if month and month not in an.statements:
        raise PageError(404, f"{an.result.year} 年没有 {month} 的清算单")
    shown = {m: an.statements[m] for m in ([month] if month else months)}
    return render(request, "outarea/clearing.html", {
        "title": f"{an.result.year} 年异地就医月度清算单（统筹区 {an.result.region}）", "statements": shown,
        "months": months, "month": month, "year": an.result.year, "inbound_in_local": an.result.inbound_in_local})


router.include_router(pages)

__all__ = ["READ_ROLES", "router"]
