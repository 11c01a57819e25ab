"""The ASGI application: the contract's API (``/api/…``), a Chinese login page and index, one error shape.

Every answer that is an error has the body ``{"error": {"code": "...", "message": "..."}}`` (message
in Chinese) and the proper status: 400 a body that is not JSON, 401 no or bad credentials, 403 a role
that may not, 404 not found (also another institution's case or finding for a hospital user), 405 a
method the path does not have, 409 a state that does not allow the change, 422 a request that does not
validate, 503 the workspace is being written (``yibao load``) for longer than the server waits.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from yibao import __version__
from yibao.contract.errors import WorkspaceBusy
from yibao.contract.privacy import mask_id_number, mask_name
from yibao.server import auth, dashboards, pages, precheck, simulate, staffpages
from yibao.server.access import ENDPOINT_ROLES, MASKED_ROLES
from yibao.server.cases import WorkspaceReader, read_case
from yibao.server.leads import router as leads_router
from yibao.server.outarea import router as outarea_router
from yibao.server.periods import router as periods_router
from yibao.server.public import router as public_router
from yibao.server.rectification import router as rectification_router
from yibao.store import audit
from yibao.store import findings as fnd
from yibao.store.db import Store
from yibao.store.users import LOGIN_POLICY, ROLES, LoginPolicy, LoginRefused, User, authenticate, get_user

PUBLIC_API = {"/api/health", "/api/login"}
READ_WAIT_SECONDS = 30.0  # how long a request waits for a running `yibao load` before 503

_STATUS_CODES = {400: ("bad_request", "请求格式错误"), 401: ("unauthorized", "需要登录：请提供有效的令牌"),
                 403: ("forbidden", "无权访问"), 404: ("not_found", "未找到所请求的资源"),
                 405: ("method_not_allowed", "不支持该请求方法"), 409: ("conflict", "当前状态不允许此操作"),
                 422: ("invalid_request", "请求参数不合法"), 503: ("workspace_busy", "服务暂时不可用，请稍后再试")}


@dataclass
class Settings:
    store: Store
    workspace: Path
    policy: LoginPolicy = LOGIN_POLICY
    read_wait_seconds: float = READ_WAIT_SECONDS
    today: Callable[[], date] | None = None  # the day deadlines are judged by (default: today in China)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


class LoginBody(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class AppealBody(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)


class DecisionBody(BaseModel):
    decision: Literal["upheld", "overturned"]
    reason: str = Field(min_length=1, max_length=4000)


class FinalizeBody(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)


class InvestigationBody(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)
    deadline: date | None = None  # 调查核实期限; default: the policy's working days from today


class BulkDecisionBody(BaseModel):
    finding_ids: list[str] = Field(min_length=1, max_length=fnd.MAX_BULK)
    decision: Literal["upheld", "overturned"]
    reason: str = Field(min_length=1, max_length=4000)


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def _user(request: Request, endpoint: str) -> User:
    user: User = request.state.user
    if user.role not in ENDPOINT_ROLES[endpoint]:
        raise ApiError(403, "forbidden", f"角色“{ROLES[user.role]}”（{user.role}）无权访问此接口")
    return user


def create_app(settings: Settings) -> FastAPI:
    reader = WorkspaceReader(settings.workspace, settings.read_wait_seconds)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        reader.close()

    app = FastAPI(lifespan=lifespan, title="yibao 医保 API", version=__version__, docs_url=None, redoc_url=None,
                  description="医保基金经办与监管：病例、审核疑点、申诉与复审、扣款、审计日志。错误统一为 "
                              '{"error": {"code", "message"}}。')
    app.state.settings = settings
    app.state.reader = reader  # the pages read the workspace through it too
    store = settings.store
    app.include_router(periods_router)  # 结算期与结算单 (yibao.server.periods)
    app.include_router(public_router)  # 信息公开: no login (yibao.server.public)
    app.include_router(rectification_router)  # 超总额整改 (yibao.server.rectification)
    app.include_router(leads_router)  # 飞行检查线索 (yibao.server.leads)

    # --- authentication of /api/ (before routing, so that unknown /api/ paths answer 401 too) -----------------
    @app.middleware("http")
    async def bearer(request: Request, call_next):
        path = request.url.path
        if path.startswith("/api/") and path.rstrip("/") not in PUBLIC_API:
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            data = auth.verify(store.secret, "api", token.strip()) if scheme.lower() == "bearer" else None
            user = await run_in_threadpool(get_user, store, data["u"]) if data else None
            if user is None or user.role != data.get("r"):
                code, msg = _STATUS_CODES[401]
                return error_response(401, code, msg if not header else "令牌无效或已过期，请重新登录",
                                      {"WWW-Authenticate": "Bearer"})
            request.state.user = user
        return await call_next(request)

    # --- errors: one shape ---------------------------------------------------------------------------------
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError):
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(fnd.TransitionRefused)
    async def _refused(_request: Request, exc: fnd.TransitionRefused):
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(WorkspaceBusy)
    async def _busy(_request: Request, exc: WorkspaceBusy):
        return error_response(503, "workspace_busy", exc.message, {"Retry-After": "5"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException):
        code, msg = _STATUS_CODES.get(exc.status_code, ("error", "请求失败"))
        if exc.status_code == 404:
            msg = "未找到该地址"
        return error_response(exc.status_code, code, msg, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError):
        errs = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errs):
            return error_response(400, "bad_request", "请求体不是有效的 JSON")
        parts = []
        for e in errs[:5]:
            where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path"))
            parts.append(f"{where or '请求体'}：{_zh(e)}")
        return error_response(422, "invalid_request", "请求参数不合法：" + "；".join(parts))

    @app.exception_handler(Exception)
    async def _bug(_request: Request, _exc: Exception):
        return error_response(500, "internal_error", "服务器内部错误，已记录，请联系管理员")

    # --- API ------------------------------------------------------------------------------------------------
    @app.get("/api/health", summary="健康检查")
    def health():
        return {"status": "ok"}

    @app.post("/api/login", summary="登录，取得令牌")
    def login(body: LoginBody, request: Request):
        try:
            user = authenticate(store, body.username, body.password, client=_client(request),
                                policy=settings.policy)
        except LoginRefused as exc:
            raise ApiError(401, exc.code, exc.message) from None
        return {"token": auth.sign(store.secret, "api", user.username, user.role, settings.policy.token_hours),
                "username": user.username, "role": user.role, "institution_id": user.institution_id,
                "expires_in": settings.policy.token_hours * 3600}

    @app.get("/api/cases/{case_id}", summary="病例（结算清单）及参保人姓名、身份证号")
    def get_case(case_id: str, request: Request):
        user = _user(request, "cases.read")
        case = read_case(reader, case_id)
        visible = case is not None and (user.role != "hospital" or case["institution_id"] == user.institution_id)
        masked = user.role in MASKED_ROLES
        audit.record(store, actor=user.username, role=user.role,
                     action="case.read" if visible else "case.read.not_found", object=f"case:{case_id}",
                     client=_client(request), detail={"masked": masked} if visible else {})
        if not visible:
            raise ApiError(404, "not_found", f"未找到病例 {case_id}")
        if masked:
            case["person_name"] = mask_name(case["person_name"])
            case["person_id_number"] = mask_id_number(case["person_id_number"])
        return case

    @app.get("/api/audit", summary="审计日志（最新在前）")
    def get_audit(request: Request, limit: int = Query(100, ge=1, le=1000)):
        _user(request, "audit.read")
        return {"events": [{"at": e["at"], "actor": e["actor"], "action": e["action"], "object": e["object"],
                            "role": e["role"], "client": e["client"], "seq": e["seq"]}
                           for e in audit.events(store, limit)]}

    def _today() -> date | None:
        return settings.today() if settings.today else None

    @app.get("/api/findings", summary="最新一次审核的疑点（可筛选、分页）")
    def list_findings(request: Request, institution_id: str | None = None, status: str | None = None,
                      dept_code: str | None = None, staff_id: str | None = None, rule_id: str | None = None,
                      min_amount: str | None = None, max_amount: str | None = None,
                      limit: int | None = Query(None, ge=1, le=10_000), offset: int = Query(0, ge=0)):
        user = _user(request, "findings.list")
        if status is not None and status not in fnd.STATUSES:
            raise ApiError(422, "invalid_request", f"未知状态 {status}（可选：{'、'.join(fnd.STATUSES)}）")
        for name, v in (("min_amount", min_amount), ("max_amount", max_amount)):
            try:
                fnd.yuan_to_fen(v)
            except ValueError as exc:
                raise ApiError(422, "invalid_request", f"请求参数不合法：{name}：{exc}") from None
        if user.role == "hospital":
            if institution_id not in (None, user.institution_id):
                return {"findings": []}
            institution_id = user.institution_id
        fnd.finalize_due(store, _today(), client=_client(request))  # deadlines passed: final as they are
        out = fnd.search(store, fnd.Filters(institution_id=institution_id, dept_code=dept_code, staff_id=staff_id,
                                            rule_id=rule_id, status=status, min_amount=min_amount,
                                            max_amount=max_amount), limit, offset)
        # a plain JSONResponse: the rows are JSON already (FastAPI's encoder would walk each one again)
        return JSONResponse({"findings": out["findings"], "total": out["total"], "limit": limit, "offset": offset})

    @app.post("/api/findings/decisions", summary="批量复审决定：同一理由维持或撤销多条疑点（监管）")
    def bulk_decisions(body: BulkDecisionBody, request: Request):
        user = _user(request, "findings.decisions")
        return fnd.decide_many(store, body.finding_ids, body.decision, actor=user.username, role=user.role,
                               reason=body.reason, client=_client(request), today=_today())

    @app.post("/api/findings/{finding_id}/investigation", summary="转调查核实（监管），附期限")
    def investigation(finding_id: str, body: InvestigationBody, request: Request):
        user = request.state.user
        return fnd.transition(store, finding_id, "investigate", actor=user.username, role=user.role,
                              institution_id=user.institution_id, reason=body.reason, client=_client(request),
                              today=_today(), deadline=body.deadline)

    @app.post("/api/findings/{finding_id}/appeal", summary="申诉（医疗机构）")
    def appeal(finding_id: str, body: AppealBody, request: Request):
        user = request.state.user
        return _transition(finding_id, "appeal", user, body.reason, request)

    @app.post("/api/findings/{finding_id}/decision", summary="复审决定：维持或撤销（监管）")
    def decision(finding_id: str, body: DecisionBody, request: Request):
        user = request.state.user
        return _transition(finding_id, "uphold" if body.decision == "upheld" else "overturn", user, body.reason,
                           request)

    @app.post("/api/findings/{finding_id}/finalize", summary="终结（经办、监管）")
    def finalize(finding_id: str, body: FinalizeBody, request: Request):
        return _transition(finding_id, "finalize", request.state.user, body.reason, request)

    def _transition(finding_id: str, action: str, user: User, reason: str, request: Request) -> dict:
        return fnd.transition(store, finding_id, action, actor=user.username, role=user.role,
                              institution_id=user.institution_id, reason=reason, client=_client(request),
                              today=_today())

    @app.get("/api/deductions", summary="扣款金额（拒付疑点：total 未被撤销者，deducted 已维持或终结者）")
    def get_deductions(request: Request, institution_id: str = Query(..., min_length=1),
                       year: int = Query(..., ge=1900, le=9999)):
        user = _user(request, "deductions.read")
        if user.role == "hospital" and institution_id != user.institution_id:
            raise ApiError(404, "not_found", f"未找到机构 {institution_id} 的扣款")
        fnd.finalize_due(store, _today(), client=_client(request))
        return fnd.deductions(store, institution_id, year)

    app.include_router(pages.router)  # the Chinese web pages (yibao.server.pages)

    app.include_router(precheck.router)
    app.include_router(dashboards.router)
    app.include_router(staffpages.router)
    app.include_router(simulate.router)
    app.include_router(outarea_router)  # 异地就医 pages (yibao.server.outarea)
    return app


def _zh(e: dict) -> str:
    t = e.get("type", "")
    if t == "missing":
        return "缺少此项"
    if t in ("literal_error", "enum"):
        return "取值不在允许范围内"
    if t.startswith("int") or t.startswith("float"):
        return "须为数字"
    if "too_short" in t or "min_length" in t:
        return "不能为空"
    if "too_long" in t:
        return "过长"
    if t.startswith("greater") or t.startswith("less"):
        return "超出允许范围"
    return "格式不正确"


__all__ = ["ApiError", "Settings", "create_app"]
