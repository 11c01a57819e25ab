"""The web pages of yibao (页面): login, role-aware navigation, the supervisor's workbench, case and finding
pages with the appeal workflow, the hospital's own view. One :data:`router`, included by
:func:`yibao.server.app.create_app`. Shared pieces (base template, session, errors): :mod:`.core`.
Guide: docs/pages.md; users' manual: docs/zh/操作手册.md."""

from __future__ import annotations

from yibao.server.pages.core import NAV, PageError, PageRoute, add_nav, render, require
from yibao.server.pages.routes import router

__all__ = ["NAV", "PageError", "PageRoute", "add_nav", "render", "require", "router"]
