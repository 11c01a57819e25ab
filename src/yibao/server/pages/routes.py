"""The page routes: login, logout, the index, the vendored static files; the workbench and hospital pages are
included from their modules."""

from __future__ import annotations

import mimetypes
import secrets

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from sqlalchemy import func, select

from yibao.server import auth
from yibao.server.pages import hospital, statements, workbench
from yibao.server.pages.core import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    STATIC,
    PageError,
    PageRoute,
    check_csrf,
    client,
    render,
    require,
    session,
    settings,
)
from yibao.store import audit
from yibao.store import findings as fnd
from yibao.store.schema import findings as findings_tbl
from yibao.store.users import LoginRefused, authenticate

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def index(request: Request):
    s = require(request)
    st = settings(request).store
    counts = []
    with st.begin() as con:
        run = fnd.latest_run(con)
        if run is not None:
            q = select(findings_tbl.c.status, func.count()).where(findings_tbl.c.last_run_id == run)
            if s.role == "hospital":
                q = q.where(findings_tbl.c.institution_id == s.user.institution_id)
            by = dict(con.execute(q.group_by(findings_tbl.c.status)).all())
            counts = [(k, fnd.STATUS_ZH[k], int(by.get(k, 0))) for k in fnd.STATUSES]
    return render(request, "index.html", {"title": "首页", "counts": counts})


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request):
    nonce = secrets.token_urlsafe(24)
    resp = render(request, "login.html", {"title": "登录", "nonce": nonce, "form": True})
    resp.set_cookie(LOGIN_CSRF_COOKIE, nonce, httponly=True, samesite="strict", max_age=3600)
    return resp


@router.post("/login", response_class=HTMLResponse)
def login_form(request: Request, username: str = Form(""), password: str = Form(""), csrf: str = Form("")):
    cfg = settings(request)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie, csrf):
        return render(request, "login.html", {"title": "登录", "error": "页面已过期，请重新打开登录页", "form": False},
                      status=403)
    try:
        user = authenticate(cfg.store, username, password, client=client(request), policy=cfg.policy)
    except LoginRefused as exc:
        return render(request, "login.html", {"title": "登录", "error": exc.message, "nonce": cookie, "form": True},
                      status=401)
    resp = RedirectResponse("/", status_code=303)
    resp.set_cookie(SESSION_COOKIE, auth.sign(cfg.store.secret, "session", user.username, user.role,
                                              cfg.policy.session_hours),
                    httponly=True, samesite="lax", max_age=int(cfg.policy.session_hours * 3600))
    resp.delete_cookie(LOGIN_CSRF_COOKIE)
    return resp


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")):
    s = session(request)
    if s is None:
        return RedirectResponse("/login", status_code=303)
    check_csrf(s, csrf)
    audit.record(settings(request).store, actor=s.user.username, role=s.role, action="logout",
                 object=f"user:{s.user.username}", client=client(request))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


@router.get("/static/{path:path}")
def static(path: str):
    """The vendored scripts and the style sheet (no directory listing, nothing outside ``static/``)."""
    target = (STATIC / path).resolve()
    if STATIC.resolve() not in target.parents or not target.is_file() or target.suffix not in (".js", ".css"):
        raise PageError(404, "未找到该文件")
    media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return FileResponse(target, media_type=media, headers={"Cache-Control": "public, max-age=3600"})


router.include_router(workbench.router)
router.include_router(hospital.router)
router.include_router(statements.router)
