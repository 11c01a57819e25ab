"""API of the overrun rectification notices (超总额整改): list, the institution's answer, the agency's follow-up.

``GET /api/rectifications?year=Y&institution_id=X`` (every role; a hospital user sees its own institution's only),
``POST /api/rectifications/{id}/response`` ``{"text"}`` (hospital of the institution; another's: 404),
``POST /api/rectifications/{id}/follow-up`` ``{"result": "rectified"|"not_rectified", "note"}`` (agency, supervisor).
Errors in the API's one shape ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from yibao.contract.errors import MissingData
from yibao.server.access import ENDPOINT_ROLES
from yibao.store import rectification as rect
from yibao.store.users import ROLES

__all__ = ["router"]

router = APIRouter()
CODES = {403: "forbidden", 404: "not_found", 409: "conflict", 422: "invalid_request"}


class ResponseBody(BaseModel):
    text: str


class FollowUpBody(BaseModel):
    result: str
    note: str


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": CODES[status], "message": message}}, status_code=status)


def _allowed(request: Request, endpoint: str):
    user = request.state.user
    if user.role not in ENDPOINT_ROLES[endpoint]:
        return user, _error(403, f"角色“{ROLES[user.role]}”（{user.role}）无权访问此接口")
    return user, None


@router.get("/api/rectifications", summary="超总额整改意见（医疗机构只见本机构）")
async def list_rectifications(request: Request, year: int | None = None, institution_id: str | None = None):
    user, refused = _allowed(request, "rectifications.list")
    if refused:
        return refused
    store = request.app.state.settings.store
    if user.role == "hospital":
        if institution_id not in (None, user.institution_id):
            return {"rectifications": []}
        institution_id = user.institution_id
    rows = await run_in_threadpool(rect.list_notices, store, year=year, institution_id=institution_id)
    return {"rectifications": rows}


async def _step(request: Request, endpoint: str, call):
    user, refused = _allowed(request, endpoint)
    if refused and user.role != "hospital":
        return refused
    try:
        return await run_in_threadpool(call, user)
    except MissingData as exc:
        return _error(404, exc.message)
    except rect.RectificationRefused as exc:
        return _error(exc.status, exc.message)


@router.post("/api/rectifications/{rect_id}/response", summary="机构反馈原因分析与整改措施（医疗机构）")
async def respond(rect_id: str, body: ResponseBody, request: Request):
    store = request.app.state.settings.store
    return await _step(request, "rectifications.respond", lambda u: rect.respond(
        store, rect_id, body.text, actor=u.username, role=u.role, institution_id=u.institution_id))


@router.post("/api/rectifications/{rect_id}/follow-up", summary="跟踪办结：整改到位或未整改到位（经办、监管）")
async def follow_up(rect_id: str, body: FollowUpBody, request: Request):
    store = request.app.state.settings.store
    return await _step(request, "rectifications.follow_up", lambda u: rect.follow_up(
        store, rect_id, body.result, body.note, actor=u.username, role=u.role, institution_id=u.institution_id))
