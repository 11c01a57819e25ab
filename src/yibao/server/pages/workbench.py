"""The supervisor's workbench (审核疑点工作台), the finding and case pages, the appeal workflow in pages.

- ``GET /findings``: filters (institution, department, doctor, rule, amount, status), 50 a page; htmx
  replaces the result table only; a supervisor ticks findings and decides them with one reason.
  A hospital user sees its own institution's findings only (its filter is fixed).
- ``GET /findings/export.xlsx``: the filtered findings as an Excel workbook (``yibao.engine.excel``),
  the insured person's name and 身份证号 masked unless a role that may see them asks for them in clear.
- ``GET /findings/{id}``: the finding, its evidence sentence, the rule's basis (依据), its history, its
  deadlines in working days, its attachments; the forms of the actions the user's role may take.
- ``GET /cases/{id}``: the case, its fee lines, the findings on it; personal data masked per role.

Everything a hospital user may not see answers the 404 page. Every change goes through
:func:`yibao.store.findings.transition` (the one state machine; audited there).
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from yibao.contract.privacy import mask_id_number, mask_name
from yibao.contract.vocab import SETTING_ZH
from yibao.engine.excel import Col, Sheet, write_workbook
from yibao.server.access import ENDPOINT_ROLES
from yibao.server.cases import read_case
from yibao.server.pages import lookup
from yibao.server.pages.core import (
    PageError,
    PageRoute,
    Session,
    check_csrf,
    client,
    render,
    require,
    settings,
)
from yibao.server.pages.payment import case_payment, drg_trail
from yibao.store import audit
from yibao.store import findings as fnd
from yibao.store.db import now_iso
from yibao.store.schema import finding_transitions
from yibao.store.schema import findings as findings_tbl

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE_SIZE = 50
EXPORT_MAX = 100_000
ATTACH_DIR = "attachments"       # WS/attachments/<finding_id>/
ATTACH_MAX_BYTES = 10 * 1024 * 1024
ATTACH_MAX_FILES = 5
ATTACH_TYPES = {".pdf": "application/pdf", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
                ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".txt": "text/plain"}
FILTERS = ("institution_id", "dept_code", "staff_id", "rule_id", "status", "min_amount", "max_amount")
CLEAR_EXPORT_ROLES = frozenset({"admin", "supervisor"})  # may ask for the names and 身份证号 in clear


def _filters(request: Request, s: Session) -> dict[str, str]:
    q = request.query_params
    f = {k: (q.get(k) or "").strip() for k in FILTERS}
    if s.role == "hospital":
        f["institution_id"] = s.user.institution_id or ""
    if f["status"] and f["status"] not in fnd.STATUSES:
        raise PageError(422, f"未知状态 {f['status']}")
    for k in ("min_amount", "max_amount"):
        try:
            fnd.yuan_to_fen(f[k])
        except ValueError as exc:
            raise PageError(422, f"金额筛选：{exc}") from None
    return f


def _search(request: Request, f: dict[str, str], limit: int | None, offset: int) -> dict:
    cfg = settings(request)
    fnd.finalize_due(cfg.store, lookup.today(cfg), client=client(request))
    return fnd.search(cfg.store, fnd.Filters(**{k: (v or None) for k, v in f.items()}), limit, offset)


def _decorate(request: Request, rows: list[dict], role: str) -> list[dict]:
    reader = request.app.state.reader
    inst = lookup.names(reader, "institutions", "institution_id", (r["institution_id"] for r in rows))
    staff = lookup.names(reader, "staff", "staff_id", (r["staff_id"] for r in rows))
    rules = lookup.rules()
    day = lookup.today(settings(request))
    out = []
    for r in rows:
        doctor = staff.get(r["staff_id"] or "", "")
        out.append({**r, "institution_name": inst.get(r["institution_id"] or "", ""),
                    "staff_name": mask_name(doctor) if lookup.masked(role) else doctor,
                    "rule_name": rules.get(r["rule_id"], {}).get("name", ""),
                    "status_zh": fnd.STATUS_ZH.get(r["status"], r["status"]),
                    "severity_zh": lookup.SEVERITY_ZH.get(r["severity"], r["severity"]),
                    "setting_zh": SETTING_ZH.get(r["setting"] or "", r["setting"] or ""),
                    "deadline_zh": lookup.deadline_text(day, r["deadline"]) if r["status"] == "open" else "",
                    "investigation_zh": lookup.deadline_text(day, r["investigation_deadline"])
                    if r["status"] == "investigation" else ""})
    return out


@router.get("/findings", response_class=HTMLResponse)
def workbench(request: Request):
    s = require(request, ENDPOINT_ROLES["findings.list"])
    f = _filters(request, s)
    try:
        page = max(1, int(request.query_params.get("page") or 1))
    except ValueError:
        page = 1
    res = _search(request, f, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    pages = max(1, -(-res["total"] // PAGE_SIZE))
    rows = _decorate(request, res["findings"], s.role)
    query = {k: v for k, v in f.items() if v and not (s.role == "hospital" and k == "institution_id")}
    ctx = {"title": "本院审核疑点" if s.role == "hospital" else "审核疑点工作台", "f": f, "rows": rows,
           "total": res["total"], "page": page, "pages": pages, "query": urlencode(query),
           "qs": lambda **kw: urlencode({**query, **kw}),
           "statuses": [(k, fnd.STATUS_ZH[k]) for k in fnd.STATUSES],
           "rules": sorted(lookup.rules().items()),
           "institutions": [] if s.role == "hospital" else lookup.institutions(request.app.state.reader),
           "can_decide": s.role in ENDPOINT_ROLES["findings.decisions"],
           "can_clear": s.role in CLEAR_EXPORT_ROLES,
           "done": request.query_params.get("done"), "refused": request.query_params.get("refused")}
    template = "findings/results.html" if request.headers.get("hx-request") and \
        request.headers.get("hx-target") == "results" else "findings/workbench.html"
    return render(request, template, ctx)


@router.post("/findings/decisions")
def bulk_decide(request: Request, finding_ids: list[str] = Form(default=[]), decision: str = Form(""),
                reason: str = Form(""), csrf: str = Form(""), back: str = Form("")):
    s = require(request, ENDPOINT_ROLES["findings.decisions"])
    check_csrf(s, csrf)
    if decision not in ("upheld", "overturned"):
        raise PageError(422, "请选择复审决定：维持或撤销")
    if not reason.strip():
        raise PageError(422, "请填写复审理由（同一理由适用于所选全部疑点）")
    if not finding_ids:
        raise PageError(422, "请至少勾选一条疑点")
    if len(finding_ids) > fnd.MAX_BULK:
        raise PageError(422, f"一次最多决定 {fnd.MAX_BULK} 条疑点")
    cfg = settings(request)
    out = fnd.decide_many(cfg.store, finding_ids, decision, actor=s.user.username, role=s.role,
                          reason=reason.strip(), client=client(request), today=lookup.today(cfg))
    back = back if back.startswith("/findings") else "/findings"
    sep = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{sep}done={out['applied']}&refused={len(out['refused'])}", status_code=303)


@router.get("/findings/export.xlsx")
def export(request: Request):
    s = require(request, ENDPOINT_ROLES["findings.list"])
    f = _filters(request, s)
    clear = request.query_params.get("clear") == "1"
    if clear and s.role not in CLEAR_EXPORT_ROLES:
        raise PageError(403, "本角色只能导出脱敏后的个人信息")
    res = _search(request, f, EXPORT_MAX, 0)
    rows = _decorate(request, res["findings"], s.role)
    people = _people(request, [r["case_id"] for r in rows])
    sheet_rows = []
    for r in rows:
        name, idn = people.get(r["case_id"], ("", ""))
        if not clear:
            name, idn = mask_name(name), mask_id_number(idn)
        sheet_rows.append([r["finding_id"], r["institution_id"], r["institution_name"], r["case_id"], name, idn,
                           r["setting_zh"], r["dept_code"], r["staff_id"], r["staff_name"], r["rule_id"],
                           r["rule_name"], r["severity_zh"], r["line_no"], Decimal(r["amount"]), r["status_zh"],
                           r["deadline"], r["message"]])
    headers = [Col("疑点编号", "code"), Col("机构编码", "code"), Col("机构名称"), Col("病例号", "code"), Col("参保人姓名"),
               Col("身份证号", "code"), Col("就诊类型"), Col("科室", "code"), Col("医师编码", "code"), Col("医师姓名"),
               Col("规则编号", "code"), Col("规则名称"), Col("性质"), Col("明细序号", "int"), Col("金额（元）", "money"),
               Col("状态"), Col("申诉期限"), Col("疑点说明（证据）")]
    shown = {k: v for k, v in f.items() if v}
    notes = ["审核疑点（最新一次审核）", "筛选：" + ("；".join(f"{k}={v}" for k, v in shown.items()) or "全部"),
             "个人信息：" + ("明文（经授权导出，已记入审计日志）" if clear
                        else "已脱敏（姓名保留首字，身份证号保留前 6 后 4 位）")]
    if res["total"] > EXPORT_MAX:
        notes.append(f"共 {res['total']} 条，仅导出前 {EXPORT_MAX} 条，请缩小筛选范围")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "findings.xlsx"
        write_workbook(path, [Sheet("审核疑点", headers, sheet_rows, notes, total=True)])
        data = path.read_bytes()
    audit.record(settings(request).store, actor=s.user.username, role=s.role, action="findings.export",
                 object="findings:export", client=client(request),
                 detail={"rows": len(sheet_rows), "masked": not clear, "filters": shown})
    return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": "attachment; filename*=UTF-8''%E5%AE%A1%E6%A0%B8%E7%96%91%E7%82%B9.xlsx"})


def _people(request: Request, case_ids: list[str]) -> dict[str, tuple[str, str]]:
    ids = sorted(set(case_ids))
    if not ids:
        return {}
    out = {}
    for i in range(0, len(ids), 5000):
        chunk = ids[i:i + 5000]
        marks = ", ".join("?" for _ in chunk)
        for r in lookup.query(request.app.state.reader,
                              "SELECT c.case_id, i.name, i.id_number FROM cases c LEFT JOIN insured i "
                              f"ON i.person_id = c.person_id WHERE c.case_id IN ({marks})", chunk):
            out[r["case_id"]] = (r["name"] or "", r["id_number"] or "")
    return out


# --- one finding ---------------------------------------------------------------------------------------------

def _finding(request: Request, s: Session, finding_id: str) -> dict:
    cfg = settings(request)
    fnd.finalize_due(cfg.store, lookup.today(cfg), client=client(request))
    f = fnd.get(cfg.store, finding_id)
    if f is None or (s.role == "hospital" and f["institution_id"] != s.user.institution_id):
        raise PageError(404, f"未找到审核疑点 {finding_id}")
    return f


def _history(request: Request, finding_id: str) -> list[dict]:
    t = finding_transitions
    with settings(request).store.begin() as con:
        rows = con.execute(select(t.c.at, t.c.actor, t.c.role, t.c.from_status, t.c.to_status, t.c.reason)
                           .where(t.c.finding_id == finding_id).order_by(t.c.at, t.c.transition_id)).mappings().all()
    return [{**r, "from_zh": fnd.STATUS_ZH.get(r["from_status"], r["from_status"]),
             "to_zh": fnd.STATUS_ZH.get(r["to_status"], r["to_status"]), "at": r["at"][:19].replace("T", " ")}
            for r in rows]


def _attach_dir(request: Request, finding_id: str) -> Path:
    if not re.fullmatch(r"F[0-9a-f]{16}(-\d+)?", finding_id):
        raise PageError(404, f"未找到审核疑点 {finding_id}")
    return Path(settings(request).workspace) / ATTACH_DIR / finding_id


def attachments(request: Request, finding_id: str) -> list[dict]:
    idx = _attach_dir(request, finding_id) / "index.json"
    return json.loads(idx.read_text(encoding="utf-8")) if idx.exists() else []


def _actions(s: Session, f: dict) -> dict[str, bool]:
    own = s.role != "hospital" or f["institution_id"] == s.user.institution_id
    return {a: s.role in t.roles and f["status"] in t.from_statuses and (own or not t.own_institution)
            for a, t in fnd.BY_ACTION.items()}


@router.get("/findings/{finding_id}", response_class=HTMLResponse)
def finding_page(request: Request, finding_id: str):
    s = require(request, ENDPOINT_ROLES["findings.list"])
    f = _finding(request, s, finding_id)
    row = _decorate(request, [f], s.role)[0]
    rule = lookup.rules().get(f["rule_id"], {})
    return render(request, "findings/finding.html", {
        "title": f"审核疑点 {finding_id}", "f": row, "rule": rule, "history": _history(request, finding_id),
        "attachments": attachments(request, finding_id), "can": _actions(s, f),
        "appeal_days": fnd.WORKFLOW_POLICY.appeal_working_days,
        "investigation_days": fnd.WORKFLOW_POLICY.investigation_working_days,
        "types": "、".join(sorted(ATTACH_TYPES)), "max_mb": ATTACH_MAX_BYTES // (1024 * 1024),
        "max_files": ATTACH_MAX_FILES, "done": request.query_params.get("done")})


async def _read_uploads(files: list[UploadFile]) -> list[tuple[str, bytes]]:
    out = []
    for up in files:
        if not up or not up.filename:
            continue
        name = Path(up.filename).name.strip()
        ext = Path(name).suffix.lower()
        if ext not in ATTACH_TYPES:
            raise PageError(422, f"附件 {name}：不支持的文件类型（可上传 {'、'.join(sorted(ATTACH_TYPES))}）")
        data = await up.read(ATTACH_MAX_BYTES + 1)
        if len(data) > ATTACH_MAX_BYTES:
            raise PageError(422, f"附件 {name}：超过 {ATTACH_MAX_BYTES // (1024 * 1024)} MB")
        if not data:
            raise PageError(422, f"附件 {name}：文件为空")
        out.append((name, data))
    if len(out) > ATTACH_MAX_FILES:
        raise PageError(422, f"一次最多上传 {ATTACH_MAX_FILES} 个附件")
    return out


def _save_attachments(request: Request, s: Session, finding_id: str, files: list[tuple[str, bytes]]) -> None:
    if not files:
        return
    d = _attach_dir(request, finding_id)
    d.mkdir(parents=True, exist_ok=True)
    index = attachments(request, finding_id)
    for name, data in files:
        digest = hashlib.sha256(data).hexdigest()
        stored = f"{len(index) + 1:03d}{Path(name).suffix.lower()}"
        (d / stored).write_bytes(data)
        index.append({"no": len(index) + 1, "name": name, "stored": stored, "bytes": len(data), "sha256": digest,
                      "by": s.user.username, "at": now_iso()})
        audit.record(settings(request).store, actor=s.user.username, role=s.role, action="finding.attachment",
                     object=f"finding:{finding_id}", client=client(request),
                     detail={"no": len(index), "bytes": len(data), "sha256": digest, "type": Path(name).suffix.lower()})
    tmp = d / "index.json.tmp"
    tmp.write_text(json.dumps(index, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(d / "index.json")


def _act(request: Request, s: Session, finding_id: str, action: str, reason: str, **kw) -> None:
    if not reason.strip():
        raise PageError(422, "请填写理由")
    cfg = settings(request)
    try:
        fnd.transition(cfg.store, finding_id, action, actor=s.user.username, role=s.role,
                       institution_id=s.user.institution_id, reason=reason.strip(), client=client(request),
                       today=lookup.today(cfg), **kw)
    except fnd.TransitionRefused as exc:
        raise PageError(exc.status, exc.message) from None


@router.post("/findings/{finding_id}/appeal")
async def appeal(request: Request, finding_id: str, reason: str = Form(""), csrf: str = Form(""),
                 files: list[UploadFile] = File(default=[])):
    s = require(request, ENDPOINT_ROLES["findings.appeal"])
    check_csrf(s, csrf)
    _finding(request, s, finding_id)  # 404 for another institution's, before reading the files
    uploads = await _read_uploads(files)
    _act(request, s, finding_id, "appeal", reason)
    _save_attachments(request, s, finding_id, uploads)
    return RedirectResponse(f"/findings/{finding_id}?done=appeal", status_code=303)


@router.post("/findings/{finding_id}/decision")
def decision(request: Request, finding_id: str, decision: str = Form(""), reason: str = Form(""),
             csrf: str = Form("")):
    s = require(request, ENDPOINT_ROLES["findings.decision"])
    check_csrf(s, csrf)
    if decision not in ("upheld", "overturned"):
        raise PageError(422, "请选择复审决定：维持或撤销")
    _act(request, s, finding_id, "uphold" if decision == "upheld" else "overturn", reason)
    return RedirectResponse(f"/findings/{finding_id}?done={decision}", status_code=303)


@router.post("/findings/{finding_id}/investigation")
def investigation(request: Request, finding_id: str, reason: str = Form(""), deadline: str = Form(""),
                  csrf: str = Form("")):
    s = require(request, ENDPOINT_ROLES["findings.investigate"])
    check_csrf(s, csrf)
    due = None
    if deadline.strip():
        try:
            due = date.fromisoformat(deadline.strip())
        except ValueError:
            raise PageError(422, f"调查核实期限 {deadline} 不是日期（YYYY-MM-DD）") from None
    _act(request, s, finding_id, "investigate", reason, deadline=due)
    return RedirectResponse(f"/findings/{finding_id}?done=investigation", status_code=303)


@router.post("/findings/{finding_id}/finalize")
def finalize(request: Request, finding_id: str, reason: str = Form(""), csrf: str = Form("")):
    s = require(request, ENDPOINT_ROLES["findings.finalize"])
    check_csrf(s, csrf)
    _act(request, s, finding_id, "finalize", reason)
    return RedirectResponse(f"/findings/{finding_id}?done=final", status_code=303)


@router.get("/findings/{finding_id}/attachments/{no}")
def attachment(request: Request, finding_id: str, no: int):
    s = require(request, ENDPOINT_ROLES["findings.list"])
    _finding(request, s, finding_id)
    item = next((a for a in attachments(request, finding_id) if a["no"] == no), None)
    if item is None:
        raise PageError(404, "未找到该附件")
    audit.record(settings(request).store, actor=s.user.username, role=s.role, action="finding.attachment.read",
                 object=f"finding:{finding_id}", client=client(request), detail={"no": no})
    return FileResponse(_attach_dir(request, finding_id) / item["stored"],
                        media_type=ATTACH_TYPES.get(Path(item["stored"]).suffix, "application/octet-stream"),
                        filename=item["name"])


# --- one case --------------------------------------------------------------------------------------------------

LINE_SQL = """SELECT l.line_no, l.item_code, l.item_name, l.item_kind, l.fee_category, l.service_date, l.quantity,
                     l.unit_price, l.amount, l.staff_id, s.name AS staff_name, c.class AS item_class
              FROM fee_items l LEFT JOIN staff s ON s.staff_id = l.staff_id
              LEFT JOIN catalog c ON c.item_code = l.item_code
              WHERE l.case_id = ? ORDER BY l.line_no"""


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: str):
    s = require(request, ENDPOINT_ROLES["cases.read"])
    cfg = settings(request)
    reader = request.app.state.reader
    case = read_case(reader, case_id)
    visible = case is not None and (s.role != "hospital" or case["institution_id"] == s.user.institution_id)
    mask = lookup.masked(s.role)
    audit.record(cfg.store, actor=s.user.username, role=s.role,
                 action="case.read" if visible else "case.read.not_found", object=f"case:{case_id}",
                 client=client(request), detail={"masked": mask, "page": True} if visible else {"page": True})
    if not visible:
        raise PageError(404, f"未找到病例 {case_id}")
    trail = drg_trail(case)  # before masking (the grouper reads no personal data, but the case as loaded)
    case["person_name"], case["person_id_number"] = lookup.person(s.role, case["person_name"],
                                                                  case["person_id_number"])
    lines = lookup.query(reader, LINE_SQL, [case_id])
    with cfg.store.begin() as con:
        run = fnd.latest_run(con)
        rows = [fnd.as_json(r) for r in con.execute(
            select(findings_tbl).where(findings_tbl.c.case_id == case_id, findings_tbl.c.last_run_id == run)
            .order_by(findings_tbl.c.line_no, findings_tbl.c.finding_id)).mappings()] if run else []
    found = _decorate(request, rows, s.role)
    rules = lookup.rules()
    for f in found:
        f["basis"] = rules.get(f["rule_id"], {}).get("basis", "")
    flagged = {f["line_no"] for f in found if f["line_no"] is not None}
    for ln in lines:
        ln["fee_zh"] = lookup.FEE_CATEGORY_ZH.get(ln["fee_category"], ln["fee_category"])
        ln["kind_zh"] = lookup.ITEM_KIND_ZH.get(ln["item_kind"], ln["item_kind"])
        ln["flagged"] = ln["line_no"] in flagged
        if mask and ln["staff_name"]:
            ln["staff_name"] = mask_name(ln["staff_name"])
    inst = lookup.names(reader, "institutions", "institution_id", [case["institution_id"]])
    doctor = lookup.names(reader, "staff", "staff_id", [case["attending_staff_id"]]).get(case["attending_staff_id"] or "", "")
    return render(request, "cases/case.html", {
        "title": f"病例 {case_id}", "case": case, "lines": lines, "findings": found, "mask": mask,
        "institution_name": inst.get(case["institution_id"], ""), "doctor": mask_name(doctor) if mask else doctor,
        "setting_zh": SETTING_ZH.get(case["setting"] or "", case["setting"]),
        "pay": case_payment(cfg, case_id), "trail": trail})


__all__ = ["router"]
