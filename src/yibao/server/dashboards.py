"""Dashboards (数据看板, issue 16 §4): the region's (经办) and an institution's (医保办: its own only).

Charts are ECharts (the vendored build in ``static/vendor``), fed by JSON:

- ``GET /dash/region.json?year=Y`` (page session) and ``GET /api/dashboards/region?year=Y`` (bearer token):
  budget and use by pot (险种 × 住院/门诊) and settlement month with the balance left, the DIP point values by
  month, findings of the latest review run by rule and by institution;
- ``GET /dash/institution.json?institution_id=X&year=Y`` and ``GET /api/dashboards/institution/X?year=Y``: the
  institution's cases, total cost and fund use by month, its findings by rule and status, its DIP points by
  month. A hospital user gets its own institution only (another one: 404, as if it did not exist).

Where the numbers come from (read only, nothing is computed that a command would not give):

- **use** (已记账): ``fund_paid`` of the workspace's cases settled in the year (``settle_date``), by scheme,
  setting and month — money summed as DECIMAL in DuckDB, shown as strings with 2 places;
- **budget** (预算): the pots of the budget policy (``yibao.budget.year.settlement_pots``: inpatient = the
  scheme's final total, outpatient = its outpatient pooling) when the server finds the policy file —
  ``$YIBAO_BUDGET_POLICY``, else ``WS/budget_policy.toml``; the monthly budget line is the pot ÷ 12
  cumulated (a display line, not a settlement figure); balance = budget − use so far;
- **point values** (点值): ``WS/results/dip-settle/point_values.csv`` written by ``yibao dip settle --out``;
- **DIP points**: ``WS/results/dip/scored_cases.parquet`` written by ``yibao dip score --out``;
- **findings**: the store of record, latest review run (count and amount of each rule / institution).

A part whose source is missing says so in ``notes`` (Chinese) and stays empty. Guide: docs/precheck.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import case, func, select
from starlette.concurrency import run_in_threadpool

from yibao.budget.policy import load_policy as load_budget_policy
from yibao.budget.year import settlement_pots
from yibao.contract.errors import YibaoError
from yibao.contract.vocab import SCHEME_ZH, SETTING_ZH
from yibao.engine.workspace import DB_FILE
from yibao.engine.wslock import connect_for_read
from yibao.fund.monitor import monitor as fund_monitor
from yibao.fund.params import FUND_PARAMS
from yibao.server.pages import PageError, PageRoute, add_nav, render, require
from yibao.store import findings as fnd
from yibao.store.schema import findings as findings_tbl
from yibao.store.users import ROLES

BUDGET_POLICY_ENV = "YIBAO_BUDGET_POLICY"
REGION_ROLES = frozenset({"admin", "agency", "supervisor", "auditor"})
INSTITUTION_ROLES = frozenset(ROLES)
ZERO = Decimal("0.00")

router = APIRouter()
pages = APIRouter(route_class=PageRoute, include_in_schema=False)
add_nav("/dash", "区域看板", REGION_ROLES)
add_nav("/dash/institution", "机构看板", INSTITUTION_ROLES)


def _m(v) -> str:
    return f"{Decimal(v or 0):.2f}"


def budget_policy_path(workspace: Path) -> Path | None:
    env = os.environ.get(BUDGET_POLICY_ENV)
    for p in ([Path(env)] if env else []) + [Path(workspace) / "budget_policy.toml"]:
        if p.is_file():
            return p
    return None


def _connect(workspace: Path, wait: float):
    db = Path(workspace) / DB_FILE
    if not db.exists():
        return None
    return connect_for_read(db, wait)


def _years(con) -> list[int]:
    return [r[0] for r in con.execute("SELECT DISTINCT CAST(year(settle_date) AS INTEGER) FROM main.cases "
                                      "WHERE settle_date IS NOT NULL ORDER BY 1").fetchall()]


def _point_values(workspace: Path, year: int) -> tuple[list[dict], str | None]:
    path = Path(workspace) / "results" / "dip-settle" / "point_values.csv"
    if not path.is_file():
        return [], f"尚无 DIP 结算结果（{path} 不存在：yibao dip settle --out 该目录），不显示点值"
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    out = [{"scheme": r["险种"], "kind": r["点值类型"], "month": int(r["月份"]) if r["月份"] else None,
            "budget": r["预算（元）"] or None, "points": r["点数"] or None, "value": r["点值（元/点）"] or None}
           for r in rows]
    return out, None


def region_data(settings, year: int | None) -> dict:
    """The region dashboard's numbers (see the module docstring)."""
    notes: list[str] = []
    con = _connect(settings.workspace, getattr(settings, "read_wait_seconds", 30.0))
    if con is None:
        return {"year": year, "years": [], "pots": [], "point_values": [], "findings_by_rule": [],
                "findings_by_institution": [], "notes": ["工作区尚未装载数据"]}
    try:
        years = _years(con)
        bp_path = budget_policy_path(settings.workspace)
        bp = None
        if bp_path is not None:
            try:
                bp = load_budget_policy(bp_path)
            except YibaoError as exc:
                notes.append(f"总额控制政策文件无法读取：{exc}")
        if year is None:
            year = bp.year if bp is not None and bp.year in years else (years[-1] if years else dt.date.today().year)
        used = con.execute("""
            SELECT scheme, setting, CAST(month(settle_date) AS INTEGER) AS m, sum(fund_paid), count(*)
            FROM main.cases WHERE year(settle_date) = ? GROUP BY ALL ORDER BY 1, 2, 3""", [year]).fetchall()
        names = dict(con.execute("SELECT institution_id, name FROM main.institutions").fetchall())
        fund = _fund(con, year, notes)
    finally:
        con.close()
    budgets = {}
    if bp is not None and bp.year == year:
        pots = settlement_pots(bp)
        budgets = {**{(s, "inpatient"): a for s, a in pots.inpatient.items()},
                   **{(s, "outpatient"): a for s, a in pots.outpatient.items()}}
    elif bp is None:
        notes.append(f"未找到总额控制政策文件（${BUDGET_POLICY_ENV} 或 {Path(settings.workspace) / 'budget_policy.toml'}），"
                     "只显示已记账金额")
    else:
        notes.append(f"总额控制政策文件的年度为 {bp.year}，与所选年度 {year} 不同，只显示已记账金额")
    pots_out = []
    keys = sorted({(s, st) for s, st, *_ in used} | set(budgets))
    for scheme, setting in keys:
        by_month = {m: (Decimal(v or 0), n) for s, st, m, v, n in used if (s, st) == (scheme, setting)}
        budget = budgets.get((scheme, setting))
        cum, months = ZERO, []
        for m in range(1, 13):
            v, n = by_month.get(m, (ZERO, 0))
            cum += v
            months.append({"month": m, "used": _m(v), "cases": n, "cumulative_used": _m(cum),
                           "cumulative_budget": _m(budget * m / 12) if budget is not None else None})
        pots_out.append({"pot": f"{scheme}.{setting}",
                         "label": f"{SCHEME_ZH.get(scheme, scheme)}·{SETTING_ZH.get(setting, setting)}",
                         "budget": _m(budget) if budget is not None else None, "used": _m(cum),
                         "balance": _m(budget - cum) if budget is not None else None, "months": months})
    pv, note = _point_values(settings.workspace, year)
    if note:
        notes.append(note)
    by_rule, by_inst = _findings(settings.store, None, year)
    for r in by_inst:
        r["name"] = names.get(r["institution_id"])
    return {"year": year, "years": years, "pots": pots_out, "point_values": pv, "findings_by_rule": by_rule,
            "findings_by_institution": by_inst, "fund": fund, "notes": notes}


FUND_POLICY_ENV = "YIBAO_FUND_POLICY"


def _fund(con, year: int, notes: list[str]) -> dict:
    """基金运行监测与预警 of the year (yibao.fund: the workspace's cases and its fund_flows ledger), thresholds from
    ``$YIBAO_FUND_POLICY`` or the defaults."""
    path = os.environ.get(FUND_POLICY_ENV)
    try:
        pol = FUND_PARAMS.load(Path(path) if path else None)
        m = fund_monitor(con, year, pol)
    except YibaoError as exc:
        notes.append(f"基金运行监测无法计算：{exc}")
        return {"months": [], "warnings": []}
    notes.extend(m.notes)
    months = [{"scheme": r.scheme, "scheme_zh": SCHEME_ZH.get(r.scheme, r.scheme), "month": r.month,
               "revenue": _m(r.revenue), "expenditure": _m(r.expenditure),
               "accumulated_balance": None if r.accumulated_balance is None else _m(r.accumulated_balance),
               "months_covered": None if r.months_covered is None else str(r.months_covered)} for r in m.rows]
    warnings = [{"scheme_zh": SCHEME_ZH.get(w.scheme, w.scheme), "month": w.month, "level": w.level,
                 "message": w.message} for w in m.warnings]
    return {"months": months, "warnings": warnings}


def _findings(store, institution_id: str | None, year: int | None) -> tuple[list[dict], list[dict]]:
    """Findings of the latest run (cases settled in ``year``): by rule (count, reject amount, by status) and by
    institution."""
    with store.begin() as con:
        run = fnd.latest_run(con)
        if run is None:
            return [], []
        f = findings_tbl.c
        where = [f.last_run_id == run]
        if institution_id is not None:
            where.append(f.institution_id == institution_id)
        if year is not None:
            where.append(f.settle_year == year)
        rej = func.sum(case((f.severity == "reject", f.amount_fen), else_=0))
        rule_rows = con.execute(select(f.rule_id, f.status, func.count(), rej).where(*where)
                                .group_by(f.rule_id, f.status).order_by(f.rule_id, f.status)).all()
        inst_rows = con.execute(select(f.institution_id, func.count(), rej).where(*where)
                                .group_by(f.institution_id).order_by(func.count().desc(), f.institution_id)).all()
    by_rule: dict[str, dict] = {}
    for rule, status, n, fen in rule_rows:
        r = by_rule.setdefault(rule, {"rule_id": rule, "findings": 0, "reject_fen": 0, "by_status": {}})
        r["findings"] += n
        r["reject_fen"] += int(fen or 0)
        r["by_status"][status] = n
    rules = sorted(by_rule.values(), key=lambda r: (-r["findings"], r["rule_id"]))
    for r in rules:
        r["reject_amount"] = fnd.fen_to_yuan(r.pop("reject_fen"))
    insts = [{"institution_id": i, "findings": n, "reject_amount": fnd.fen_to_yuan(fen)} for i, n, fen in inst_rows]
    return rules, insts


def institution_data(settings, institution_id: str, year: int | None) -> dict | None:
    """One institution's dashboard (None: no such institution)."""
    con = _connect(settings.workspace, getattr(settings, "read_wait_seconds", 30.0))
    if con is None:
        return None
    try:
        row = con.execute("SELECT name, kind, level FROM main.institutions WHERE institution_id = ?",
                          [institution_id]).fetchone()
        if row is None:
            return None
        years = _years(con)
        if year is None:
            year = years[-1] if years else dt.date.today().year
        rows = con.execute("""
            SELECT CAST(month(settle_date) AS INTEGER) AS m, setting, count(*), sum(total_cost), sum(fund_paid)
            FROM main.cases WHERE institution_id = ? AND year(settle_date) = ? GROUP BY ALL ORDER BY 1, 2""",
                           [institution_id, year]).fetchall()
    finally:
        con.close()
    months = []
    for m in range(1, 13):
        r = {"month": m, "cases": 0, "total_cost": ZERO, "fund_paid": ZERO, "inpatient_cases": 0}
        for mm, setting, n, cost, fund in rows:
            if mm == m:
                r["cases"] += n
                r["total_cost"] += Decimal(cost or 0)
                r["fund_paid"] += Decimal(fund or 0)
                r["inpatient_cases"] += n if setting == "inpatient" else 0
        months.append({**r, "total_cost": _m(r["total_cost"]), "fund_paid": _m(r["fund_paid"])})
    notes = []
    points = _dip_points(settings.workspace, institution_id, year, notes)
    by_rule, _ = _findings(settings.store, institution_id, year)
    return {"institution_id": institution_id, "name": row[0], "kind": row[1], "level": row[2], "year": year,
            "years": years, "months": months, "dip_points": points, "findings_by_rule": by_rule, "notes": notes}


def _dip_points(workspace: Path, institution_id: str, year: int, notes: list[str]) -> list[dict]:
    path = Path(workspace) / "results" / "dip" / "scored_cases.parquet"
    if not path.is_file():
        notes.append(f"尚无 DIP 赋分结果（{path} 不存在：yibao dip score --out 该目录），不显示点数")
        return []
    con = duckdb.connect()
    try:
        con.register("s", pq.read_table(path, columns=["institution_id", "settle_year", "settle_month", "points",
                                                        "status"]))
        rows = con.execute("""SELECT settle_month, count(*), sum(points) FROM s
                              WHERE institution_id = ? AND settle_year = ? AND status <> 'ungroupable'
                              GROUP BY 1 ORDER BY 1""", [institution_id, year]).fetchall()
    finally:
        con.close()
    return [{"month": m, "cases": n, "points": f"{Decimal(p or 0):.4f}"} for m, n, p in rows]


# --- routes ---------------------------------------------------------------------------------------------------

def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _own(user, institution_id: str | None) -> str | None:
    """The institution a user may see (a hospital: its own; another one → None, answered as 404)."""
    if user.role == "hospital":
        return user.institution_id if institution_id in (None, "", user.institution_id) else None
    return institution_id


@router.get("/api/dashboards/region", summary="区域看板数据：预算与使用（按险种、月份）、点值、疑点（按规则、机构）")
async def region_api(request: Request, year: int | None = Query(None, ge=1900, le=9999)):
    user = request.state.user
    if user.role not in REGION_ROLES:
        return _error(403, "forbidden", f"角色“{ROLES[user.role]}”（{user.role}）无权查看区域看板")
    return JSONResponse(await run_in_threadpool(region_data, request.app.state.settings, year))


@router.get("/api/dashboards/institution/{institution_id}", summary="机构看板数据（医疗机构：仅本机构）")
async def institution_api(request: Request, institution_id: str, year: int | None = Query(None, ge=1900, le=9999)):
    inst = _own(request.state.user, institution_id)
    out = await run_in_threadpool(institution_data, request.app.state.settings, inst, year) if inst else None
    if out is None:
        return _error(404, "not_found", f"未找到机构 {institution_id}")
    return JSONResponse(out)


@pages.get("/dash", response_class=HTMLResponse)
def region_page(request: Request):
    require(request, REGION_ROLES)
    return render(request, "dash/region.html", {"title": "区域看板", "year": request.query_params.get("year", ""),
                                                "status_zh": fnd.STATUS_ZH})


@pages.get("/dash/region.json")
async def region_json(request: Request, year: int | None = Query(None, ge=1900, le=9999)):
    require(request, REGION_ROLES)
    return JSONResponse(await run_in_threadpool(region_data, request.app.state.settings, year))


@pages.get("/dash/institution", response_class=HTMLResponse)
def institution_page(request: Request):
    s = require(request, INSTITUTION_ROLES)
    given = request.query_params.get("institution_id") or None
    inst = _own(s.user, given)
    if inst is None and given:
        raise PageError(404, f"未找到机构 {given}")
    return render(request, "dash/institution.html", {"title": "机构看板", "institution_id": inst or "",
                                                      "fixed": s.role == "hospital", "status_zh": fnd.STATUS_ZH,
                                                      "year": request.query_params.get("year", "")})


@pages.get("/dash/institution.json")
async def institution_json(request: Request, institution_id: str | None = None,
                           year: int | None = Query(None, ge=1900, le=9999)):
    s = require(request, INSTITUTION_ROLES)
    inst = _own(s.user, institution_id)
    out = await run_in_threadpool(institution_data, request.app.state.settings, inst, year) if inst else None
    if out is None:
        return _error(404, "not_found", f"未找到机构 {institution_id or ''}")
    return JSONResponse(out)


router.include_router(pages)

__all__ = ["BUDGET_POLICY_ENV", "budget_policy_path", "institution_data", "region_data", "router"]
