"""What every page shares: the templates, the session of the logged-in user, role-aware navigation, errors.

Pages are server-rendered Jinja2 templates (``server/templates``), in Chinese; htmx (vendored under
``server/static/vendor``) replaces parts of a page (the workbench's result table) without a reload.
A page answers HTML, never the API's JSON error shape: a missing session redirects to ``/login``, a
role that may not see a page gets a 403 page, and anything a hospital user may not see — another
institution's case, finding, attachment or download — a 404 page, the same as for something that
does not exist.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from yibao import __version__
from yibao.server import auth
from yibao.store.users import ROLES, User, get_user

SESSION_COOKIE = "yibao_session"
LOGIN_CSRF_COOKIE = "yibao_login_csrf"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent.parent / "static"

ROLE_ZH = {**ROLES, "hospital": "医疗机构（医保办）"}

# Role-aware navigation: (path, label, roles that see it). Other engineers' pages add theirs to NAV
# (precheck, dashboards, staff) — the base template shows every entry the user's role may open.
NAV: list[tuple[str, str, frozenset[str]]] = [
    ("/", "首页", frozenset(ROLES)),
    ("/findings", "审核疑点工作台", frozenset({"admin", "agency", "supervisor", "auditor"})),
    ("/findings", "本院审核疑点", frozenset({"hospital"})),
    ("/hospital", "本院病例与盈亏", frozenset({"hospital"})),
    ("/hospital", "机构病例与盈亏", frozenset({"admin", "agency", "supervisor", "auditor"})),
]


def add_nav(path: str, label: str, roles) -> None:
    """Add an entry to the navigation (once; the order of calls is the order shown)."""
    entry = (path, label, frozenset(roles))
    if entry not in NAV:
        NAV.append(entry)


env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "xml"]),
                  trim_blocks=True, lstrip_blocks=True)


def _money(v) -> str:
    """``12345.6`` → ``12,345.60`` (exact: Decimal), blank for None."""
    if v is None or v == "":
        return ""
    return f"{Decimal(str(v)).quantize(Decimal('0.01'), ROUND_HALF_UP):,.2f}"


def _num(v, places: int = 4) -> str:
    if v is None or v == "":
        return ""
    return f"{Decimal(str(v)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP):,.{places}f}"


def _sign(v) -> str:
    """The CSS class of a gain (pos) or a loss (neg)."""
    if v is None or v == "":
        return ""
    d = Decimal(str(v))
    return "neg" if d < 0 else "pos" if d > 0 else ""


env.filters.update(money=_money, num=_num, sign=_sign)


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str  # the session's own CSRF token (every form of the pages carries it)

    @property
    def role(self) -> str:
        return self.user.role


class PageError(Exception):
    """An error a page shows as a Chinese HTML page with its status (403, 404, 409, 422)."""

    def __init__(self, status: int, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.title = title or {403: "无权访问", 404: "未找到", 409: "无法执行", 422: "填写有误"}.get(status, "出错了")


class LoginNeeded(Exception):
    pass


class PageRoute(APIRoute):
    """Turns :class:`PageError` and :class:`LoginNeeded` of a page handler into an HTML answer."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginNeeded:
                if request.headers.get("hx-request"):
                    return Response(status_code=204, headers={"HX-Redirect": "/login"})
                return RedirectResponse("/login", status_code=303)
            except PageError as exc:
                return render(request, "error.html", {"title": exc.title, "message": exc.message},
                              status=exc.status)

        return run


def settings(request: Request):
    return request.app.state.settings


def session(request: Request) -> Session | None:
    st = settings(request).store
    data = auth.verify(st.secret, "session", request.cookies.get(SESSION_COOKIE))
    user = get_user(st, data["u"]) if data else None
    return Session(user, data["n"]) if user and user.role == data.get("r") else None


def require(request: Request, roles=None) -> Session:
    """The logged-in session (else to the login page) whose role is in ``roles`` (else a 403 page)."""
    s = session(request)
    if s is None:
        raise LoginNeeded()
    if roles is not None and s.role not in roles:
        raise PageError(403, f"角色“{ROLE_ZH[s.role]}”无权打开此页面")
    request.state.page_session = s
    return s


def check_csrf(s: Session, token: str) -> None:
    if not token or not secrets.compare_digest(s.csrf, token):
        raise PageError(403, "请求无效（CSRF 校验失败），请刷新页面后重试", "请求无效")


def client(request: Request) -> str:
    return request.client.host if request.client else ""


def nav_for(role: str | None) -> list[dict]:
    seen, out = set(), []
    for path, label, roles in NAV:
        if role in roles and (path, label) not in seen:
            seen.add((path, label))
            out.append({"path": path, "label": label})
    return out


def render(request: Request, template: str, ctx: dict[str, Any] | None = None, status: int = 200,
           s: Session | None = None) -> HTMLResponse:
    s = s or getattr(request.state, "page_session", None)
    base = {"request": request, "session": s, "user": s.user if s else None,
            "role_zh": ROLE_ZH.get(s.role, s.role) if s else "", "csrf": s.csrf if s else "",
            "nav": nav_for(s.role if s else None), "path": request.url.path, "version": __version__}
    html = env.get_template(template).render({**base, **(ctx or {})})
    return HTMLResponse(html, status_code=status)


__all__ = [
    "LOGIN_CSRF_COOKIE",
    "NAV",
    "SESSION_COOKIE",
    "PageError",
    "PageRoute",
    "Session",
    "add_nav",
    "check_csrf",
    "client",
    "env",
    "render",
    "require",
    "session",
    "settings",
]
