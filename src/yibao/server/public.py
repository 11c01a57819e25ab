"""The public disclosure pages (信息公开, no login): the reports an agency published with ``yibao disclose --publish``.

``GET /public`` lists the published years; ``GET /public/{year}`` shows one year's report (tables, and charts drawn
with the vendored ECharts build when the app serves it); ``GET /public/{year}/信息公开.pdf`` and ``…/信息公开.xlsx``
download the documents. Reports live in ``WORKSPACE/public/YEAR/`` (``disclosure.json`` and the two documents);
they hold institutions and aggregates only (``yibao.disclose``), so nothing here needs a role or masking.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

__all__ = ["router", "published_years", "PUBLIC_DIR"]

PUBLIC_DIR = "public"
TEMPLATES = Path(__file__).with_name("templates") / "public"
DOCS = {"信息公开.pdf": "application/pdf",
        "信息公开.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
_env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))
_env.filters["money"] = lambda v: "" if v in (None, "") else _money(v)
_env.filters["share"] = lambda v: "" if v in (None, "") else f"{Decimal(v) * 100:.2f}%"

router = APIRouter(include_in_schema=False)


def _money(v: str) -> str:
    whole, _, frac = str(v).partition(".")
    sign = "-" if whole.startswith("-") else ""
    whole = whole.lstrip("-")
    return f"{sign}{int(whole):,}" + (f".{frac}" if frac else "")


def _root(request: Request) -> Path:
    return Path(request.app.state.settings.workspace) / PUBLIC_DIR


def published_years(root: Path) -> list[int]:
    if not root.is_dir():
        return []
    return sorted((int(p.name) for p in root.iterdir() if re.fullmatch(r"\d{4}", p.name)
                   and (p / "disclosure.json").is_file()), reverse=True)


def _echarts(request: Request) -> str | None:
    """The URL of the vendored ECharts build when the app serves one (static/…/echarts*.min.js)."""
    static = Path(__file__).with_name("static")
    hits = sorted(static.rglob("echarts*.min.js")) if static.is_dir() else []
    return "/static/" + hits[0].relative_to(static).as_posix() if hits else None


@router.get("/public", response_class=HTMLResponse)
def public_index(request: Request):
    years = published_years(_root(request))
    return HTMLResponse(_env.get_template("index.html").render(years=years))


@router.get("/public/{year}", response_class=HTMLResponse)
def public_year(year: int, request: Request):
    path = _root(request) / str(year) / "disclosure.json"
    if not path.is_file():
        raise HTTPException(404, f"{year} 年的信息公开报告尚未发布")
    d = json.loads(path.read_text(encoding="utf-8"))
    charts = {"split": {}, "assessment": None}
    for s in d["split"]:
        charts["split"].setdefault(s["pot"], []).append([s["name"], s["quota"]])
    for pot in charts["split"]:
        charts["split"][pot] = sorted(charts["split"][pot], key=lambda x: -float(x[1] or 0))[:10]
    if d.get("assessment"):
        charts["assessment"] = [[a["name"], a["score"]] for a in d["assessment"][:15]]
    pot_names = {p["pot"]: p["pot_zh"] for p in d["pots"]}
    docs = [name for name in DOCS if (path.parent / name).is_file()]
    return HTMLResponse(_env.get_template("year.html").render(
        d=d, charts=json.dumps(charts, ensure_ascii=False), pot_names=pot_names, docs=docs, echarts=_echarts(request)))


@router.get("/public/{year}/{name}")
def public_document(year: int, name: str, request: Request):
    path = _root(request) / str(year) / name
    if name not in DOCS or not path.is_file():
        raise HTTPException(404, "没有这个文件")
    return FileResponse(path, media_type=DOCS[name], filename=name)
