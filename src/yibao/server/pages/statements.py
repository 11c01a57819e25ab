"""Statements of record on the pages (结算单): the hospital's own statements with their acknowledgment, the
agency's list of periods and of the hospitals' disputes.

Reads the periods store (:mod:`yibao.store.periods`, the same functions as ``/api/periods`` and
``/api/statements``): a hospital user sees only its own institution's statements of issued (or superseded)
versions — anything else is the 404 page, as for something that does not exist. For each statement: the
version, the version it replaces, the issue date, the amounts (应付, 质量保证金, 审核扣款, 拨付), the
computation, the downloads (Excel, PDF; each an audit entry ``statement.export``) and the acknowledgment —
对账确认 or 提出异议 with a reason, by the reply deadline (:func:`yibao.store.periods.reply`, CSRF-checked form);
a dispute shows on the agency's list at once (``/statements?view=disputes``, the same rows as ``/api/disputes``).
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from yibao.server.pages import lookup
from yibao.server.pages.core import PageError, PageRoute, Session, add_nav, check_csrf, client, render, require, settings
from yibao.store import audit
from yibao.store import periods as per
from yibao.store.statements import excel_bytes, head_lines, pdf_bytes, summary_lines, title
from yibao.store.users import ROLES

router = APIRouter(route_class=PageRoute, include_in_schema=False)

READ_ROLES = frozenset(ROLES)
AGENCY_SIDE = frozenset({"admin", "agency", "supervisor", "auditor"})
add_nav("/statements", "本院结算单", {"hospital"})
add_nav("/statements", "结算单与异议", AGENCY_SIDE)


def _actor(request: Request, s: Session) -> per.Actor:
    return per.Actor(s.user.username, s.role, s.user.institution_id, client(request))


def _statement(request: Request, s: Session, statement_id: int) -> dict:
    try:
        return per.get_statement(settings(request).store, statement_id, _actor(request, s))
    except per.PeriodRefused as exc:
        raise PageError(exc.status, exc.message) from None


def _replyable(st: dict, s: Session, day) -> tuple[bool, str]:
    """(may this user confirm or dispute now, why not)."""
    p = st["period"]
    if s.role != "hospital":
        return False, "对账确认与异议由医疗机构提出"
    if p["status"] != "issued":
        return False, f"该版本{p['status_zh']}，请对最新签发版本确认"
    if st["reply"] is not None:
        return False, f"已{st['reply_zh']}（{(st['replied_at'] or '')[:10]}）"
    if st["reply_deadline"] and day.isoformat() > st["reply_deadline"]:
        return False, f"对账确认期限 {st['reply_deadline']} 已过，视为无异议"
    return True, ""


@router.get("/statements", response_class=HTMLResponse)
def statements_page(request: Request):
    s = require(request, READ_ROLES)
    store = settings(request).store
    day = lookup.today(settings(request))
    if s.role == "hospital":
        inst = s.user.institution_id or "\0"
        rows = []
        mine = per.list_periods(store, institution_id=inst)
        versions = {p["period_id"]: p["version"] for p in per.list_periods(store)}
        for p in mine:
            for st in per.period_statements(store, p["period_id"], inst):
                rows.append({**st, "period": p, "replaces_version": versions.get(p["replaces_id"]),
                             "deadline_zh": lookup.deadline_text(day, st["reply_deadline"])
                             if st["reply_deadline"] and st["reply"] is None and p["status"] == "issued" else ""})
        rows.sort(key=lambda r: (r["period"]["year"], r["period"]["month"] or 13, r["period"]["pot"],
                                 r["period"]["version"]), reverse=True)
        return render(request, "statements/list.html", {"title": "本院结算单", "rows": rows, "hospital": True})
    view = request.query_params.get("view") or "periods"
    if view not in ("periods", "disputes"):
        raise PageError(422, f"未知视图 {view}")
    periods = per.list_periods(store)
    versions = {p["period_id"]: p["version"] for p in periods}
    for p in periods:
        p["replaces_version"] = versions.get(p["replaces_id"])
    periods.sort(key=lambda p: (p["year"], p["month"] or 13, p["pot"], p["version"]), reverse=True)
    return render(request, "statements/list.html", {
        "title": "结算单与异议", "hospital": False, "view": view, "periods": periods,
        "disputes": per.disputes(store)})


@router.get("/statements/period/{period_id}", response_class=HTMLResponse)
def period_page(request: Request, period_id: int):
    s = require(request, AGENCY_SIDE)
    store = settings(request).store
    try:
        p = per.get_period(store, period_id)
    except per.PeriodRefused as exc:
        raise PageError(exc.status, exc.message) from None
    rep = per.get_period(store, p["replaces_id"]) if p["replaces_id"] else None
    return render(request, "statements/period.html", {
        "title": f"结算期 {p['label']} 第 {p['version']} 版", "p": p, "rep": rep,
        "rows": per.period_statements(store, period_id), "role": s.role})


@router.get("/statements/{statement_id}", response_class=HTMLResponse)
def statement_page(request: Request, statement_id: int):
    s = require(request, READ_ROLES)
    st = _statement(request, s, statement_id)
    day = lookup.today(settings(request))
    can, why = _replyable(st, s, day)
    return render(request, "statements/statement.html", {
        "title": f"{title(st)} {st['number']}", "st": st, "head": head_lines(st), "summary": summary_lines(st),
        "can_reply": can, "why_not": why, "done": request.query_params.get("done"),
        "deadline_zh": lookup.deadline_text(day, st["reply_deadline"]) if st["reply_deadline"] else ""})


@router.get("/statements/{statement_id}/download.{fmt}")
def statement_download(request: Request, statement_id: int, fmt: str):
    s = require(request, READ_ROLES)
    if fmt not in ("xlsx", "pdf"):
        raise PageError(404, f"未找到结算单 {statement_id}.{fmt}")
    st = _statement(request, s, statement_id)
    audit.record(settings(request).store, actor=s.user.username, role=s.role, action="statement.export",
                 object=f"statement:{st['statement_id']}", client=client(request), detail={"format": fmt, "page": True})
    name = f"{st['number']}-v{st['period']['version']}.{fmt}"
    if fmt == "xlsx":
        return Response(excel_bytes(st), media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return Response(pdf_bytes(st), media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/statements/{statement_id}/reply")
def statement_reply(request: Request, statement_id: int, action: str = Form(""), reason: str = Form(""),
                    csrf: str = Form("")):
    s = require(request, frozenset({"hospital"}))
    check_csrf(s, csrf)
    if action not in per.REPLIES:
        raise PageError(422, "请选择：确认无误，或提出异议")
    if action == "dispute" and not reason.strip():
        raise PageError(422, "提出异议须说明理由")
    try:
        per.reply(settings(request).store, statement_id, action, reason, _actor(request, s),
                  lookup.today(settings(request)))
    except per.PeriodRefused as exc:
        raise PageError(exc.status, exc.message) from None
    return RedirectResponse(f"/statements/{statement_id}?done={action}", status_code=303)


__all__ = ["router"]
