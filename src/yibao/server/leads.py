"""Fraud leads for supervisors (飞行检查线索, issue 17 §2): the ranked list of a run imported from
``yibao leads --out`` (institution and doctor levels), each lead's evidence (features, peer medians, robust z,
the cases behind it with links to the case pages) and its outcome (待核查 / 已检查 / 查实 / 未查实, with date,
actor and note; audited), with the hit rate (查实率 = confirmed ÷ inspected).

Who: supervisor (监管) and agency (经办). A hospital user never sees leads: every page and endpoint answers 404;
the admin and the auditor get 403.

API (the one error shape ``{"error": {"code", "message"}}``):
``GET /api/leads?year=&run_id=&level=``, ``GET /api/leads/{lead_id}``,
``POST /api/leads/{lead_id}/outcome`` ``{"status", "on_date", "note"}``,
``POST /api/leads/import`` ``{"dir", "year"}`` (a ``yibao leads --out`` directory on the server).
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel

from yibao.contract.errors import BadFile, MissingData
from yibao.server.pages import PageError, PageRoute, add_nav, render, require
from yibao.server.pages.core import check_csrf, client
from yibao.store import leads as st
from yibao.store.users import ROLES

__all__ = ["router"]

LEAD_ROLES = frozenset({"supervisor", "agency"})
CODES = {403: "forbidden", 404: "not_found", 409: "conflict", 422: "invalid_request"}
OUTCOMES = ("inspected", "confirmed", "not_confirmed")

router = APIRouter()
pages = APIRouter(route_class=PageRoute, include_in_schema=False)
add_nav("/leads", "飞行检查线索", LEAD_ROLES)


class OutcomeBody(BaseModel):
    status: str
    on_date: str
    note: str


class ImportBody(BaseModel):
    dir: str
    year: int


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": CODES[status], "message": message}}, status_code=status)


def _api_user(request: Request):
    user = request.state.user
    if user.role == "hospital":
        return user, _error(404, "未找到")
    if user.role not in LEAD_ROLES:
        return user, _error(403, f"角色“{ROLES[user.role]}”（{user.role}）无权访问此接口")
    return user, None


def _page(request: Request):
    s = require(request)
    if s.role == "hospital":
        raise PageError(404, "未找到此页面")
    if s.role not in LEAD_ROLES:
        raise PageError(403, f"角色“{ROLES[s.role]}”无权打开此页面")
    return s


@router.get("/api/leads", summary="飞行检查线索：一次导入的排序名单与查实率（监管、经办）")
async def api_list(request: Request, year: int | None = None, run_id: str | None = None, level: str | None = None):
    _, refused = _api_user(request)
    if refused:
        return refused
    store = request.app.state.settings.store
    rid, rows = await run_in_threadpool(st.list_leads, store, year=year, run_id=run_id, level=level)
    return {"run_id": rid, "hit_rate": await run_in_threadpool(st.hit_rate, store, rid), "leads": rows}


@router.get("/api/leads/{lead_id}", summary="一条线索：特征、同类中位数、稳健Z值、病例与核查记录")
async def api_get(lead_id: str, request: Request):
    _, refused = _api_user(request)
    if refused:
        return refused
    try:
        return await run_in_threadpool(st.get_lead, request.app.state.settings.store, lead_id)
    except MissingData as exc:
        return _error(404, exc.message)


@router.post("/api/leads/{lead_id}/outcome", summary="记录核查结果：已检查、查实、未查实")
async def api_outcome(lead_id: str, body: OutcomeBody, request: Request):
    user, refused = _api_user(request)
    if refused:
        return refused
    try:
        return await run_in_threadpool(st.record_outcome, request.app.state.settings.store, lead_id, body.status,
                                       body.on_date, body.note, actor=user.username, role=user.role,
                                       client=client(request))
    except MissingData as exc:
        return _error(404, exc.message)
    except st.LeadRefused as exc:
        return _error(exc.status, exc.message)


@router.post("/api/leads/import", summary="导入 yibao leads --out 的输出目录（服务器上的路径）")
async def api_import(body: ImportBody, request: Request):
    user, refused = _api_user(request)
    if refused:
        return refused
    try:
        rid, n, new = await run_in_threadpool(st.import_run, request.app.state.settings.store, body.dir, body.year,
                                              actor=user.username, role=user.role)
    except BadFile as exc:
        return _error(422, exc.message)
    return {"run_id": rid, "leads": n, "new": new}


@pages.get("/leads", response_class=HTMLResponse)
async def page_list(request: Request, year: str = "", run: str = ""):
    s = _page(request)
    store = request.app.state.settings.store
    y = int(year) if year.strip().isdigit() else None
    rid, rows = await run_in_threadpool(st.list_leads, store, year=y, run_id=run or None)
    rate = await run_in_threadpool(st.hit_rate, store, rid)
    all_runs = await run_in_threadpool(st.runs, store)
    ctx = {"title": "飞行检查线索", "run_id": rid, "runs": all_runs, "year": year, "rate": rate,
           "inst": [r for r in rows if r["level"] == "institution"], "docs": [r for r in rows if r["level"] == "doctor"]}
    return render(request, "leads/list.html", ctx, s=s)


@pages.get("/leads/{lead_id}", response_class=HTMLResponse)
async def page_detail(request: Request, lead_id: str):
    s = _page(request)
    try:
        lead = await run_in_threadpool(st.get_lead, request.app.state.settings.store, lead_id)
    except MissingData as exc:
        raise PageError(404, exc.message) from None
    return render(request, "leads/detail.html", {"title": f"线索 {lead_id}", "lead": lead, "outcomes": OUTCOMES,
                                                 "status_zh": st.STATUS_ZH, "today": date.today().isoformat(),
                                                 "next": st.NEXT.get(lead["status"], ())}, s=s)


@pages.post("/leads/{lead_id}/outcome", response_class=HTMLResponse)
async def page_outcome(request: Request, lead_id: str):
    s = _page(request)
    form = {k: str(v) for k, v in (await request.form()).items()}
    check_csrf(s, form.get("csrf", ""))
    try:
        await run_in_threadpool(st.record_outcome, request.app.state.settings.store, lead_id, form.get("status", ""),
                                form.get("on_date", ""), form.get("note", ""), actor=s.user.username, role=s.role,
                                client=client(request))
    except MissingData as exc:
        raise PageError(404, exc.message) from None
    except st.LeadRefused as exc:
        raise PageError(exc.status, exc.message) from None
    return RedirectResponse(f"/leads/{lead_id}", status_code=303)


router.include_router(pages)
