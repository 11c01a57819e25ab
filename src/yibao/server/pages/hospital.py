"""The hospital's own view (医保办): its cases with DIP group and points or DRG group and weight, with names,
deviation, the explanation of the points, profit or loss per case, department and doctor; its findings
and their deadlines. A hospital user sees its own institution only; the agency, supervisors, admin
and auditors choose an institution."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from yibao.server.pages import lookup
from yibao.server.pages.core import PageError, PageRoute, render, require, settings
from yibao.server.pages.payment import institution_view
from yibao.store import findings as fnd
from yibao.store.schema import findings as findings_tbl
from yibao.store.users import ROLES

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE_SIZE = 50
SCHEMES = {"dip": "DIP 按病种分值", "drg": "DRG 按病组"}


@router.get("/hospital", response_class=HTMLResponse)
def hospital(request: Request):
    s = require(request, frozenset(ROLES))
    cfg = settings(request)
    reader = request.app.state.reader
    q = request.query_params
    all_inst = lookup.institutions(reader) if s.role != "hospital" else []
    if s.role == "hospital":
        inst = s.user.institution_id or ""
    else:
        inst = (q.get("institution_id") or (all_inst[0]["institution_id"] if all_inst else "")).strip()
        if inst and inst not in {i["institution_id"] for i in all_inst}:
            raise PageError(404, f"未找到机构 {inst}")
    scheme = q.get("scheme") or "dip"
    if scheme not in SCHEMES:
        raise PageError(422, f"未知付费方式 {scheme}（dip 或 drg）")
    try:
        year = int(q["year"]) if q.get("year") else None
        page = max(1, int(q.get("page") or 1))
    except ValueError:
        raise PageError(422, "年度与页码须为数字") from None
    view = institution_view(cfg, reader, inst, scheme, year, page, PAGE_SIZE)
    staff = lookup.names(reader, "staff", "staff_id", (r["key"] for r in view["by_doctor"]))
    for r in view["by_doctor"]:
        nm = staff.get(r["key"] or "", "")
        r["name"] = lookup.mask_name(nm) if lookup.masked(s.role) else nm
    name = lookup.names(reader, "institutions", "institution_id", [inst]).get(inst, "")
    day = lookup.today(cfg)
    with cfg.store.begin() as con:
        run = fnd.latest_run(con)
        open_rows = con.execute(
            select(findings_tbl.c.status, func.count(), func.min(findings_tbl.c.deadline), func.sum(findings_tbl.c.amount_fen))
            .where(findings_tbl.c.last_run_id == run, findings_tbl.c.institution_id == inst)
            .group_by(findings_tbl.c.status)).all() if run else []
    by_status = {st: (int(n), dl, fnd.fen_to_yuan(a)) for st, n, dl, a in open_rows}
    nearest = by_status.get("open", (0, None, "0.00"))[1]
    pages = max(1, -(-view["count"] // PAGE_SIZE))
    base = {"institution_id": inst, "scheme": scheme, **({"year": view.get("year")} if view.get("year") else {})}
    return render(request, "hospital/view.html", {
        "title": "本院病例与盈亏" if s.role == "hospital" else "机构病例与盈亏", "inst": inst, "inst_name": name,
        "all_inst": all_inst, "scheme": scheme,
        "schemes": SCHEMES, "view": view, "page": page, "pages": pages, "base": base,
        "findings": [(k, fnd.STATUS_ZH[k], *by_status.get(k, (0, None, "0.00"))) for k in fnd.STATUSES],
        "nearest": lookup.deadline_text(day, nearest) if nearest else ""})


__all__ = ["router"]
