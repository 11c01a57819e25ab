"""Settlement periods of record over HTTP (and the one function the CLI calls to run a period).

:func:`run_period` computes one period of one pot from the workspace — the payment method the
period policy names for the pot (DIP today; DRG see docs/periods.md), on the scored cases settled
up to the end of the period — and records it in the store as a draft (:func:`yibao.store.periods.prepare`).
The routes (``router``, included by :mod:`yibao.server.app`) run it as a background job
(:mod:`yibao.server.jobs`) and expose check, issue, correct, the statements (JSON, Excel, PDF) and
the hospital's confirm / dispute. Who may call what: :data:`PERIOD_ENDPOINT_ROLES` (the role-matrix
test reads it); a hospital user sees only its own institution's issued statements (404 otherwise).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from yibao.budget.policy import load_policy as load_budget_policy
from yibao.budget.year import settlement_pots
from yibao.contract.errors import BadFile, BadOption, MissingData, WorkspaceBusy
from yibao.dip.policy import load_policy as load_dip_policy
from yibao.dip.scoring import CASE_POINTS
from yibao.dip.settlement import run_settlement
from yibao.engine.money import ZERO
from yibao.engine.wslock import POLL_SECONDS, writer_announced
from yibao.server.jobs import Jobs, Progress
from yibao.settle.deductions import read_deductions
from yibao.settle.period import (
    check_cutoff,
    clearing_lines,
    load_period_policy,
    month_end,
    month_lines,
    partial_year_warning,
    period_label,
)
from yibao.settle.pots import require_settle_year
from yibao.settle.report import issuer_from, read_deduction_lines
from yibao.store import audit
from yibao.store import periods as per
from yibao.store.db import Store
from yibao.store.statements import excel_bytes, pdf_bytes
from yibao.store.users import ROLES

try:  # the DRG year as a library function (issue 14 moves it out of the CLI); absent before that merge
    from yibao.drg.policy import load_payment_policy as load_drg_policy
    from yibao.drg.settlement import settle_year as drg_settle_year
    from yibao.drg.standards import load_standards
except ImportError:  # pragma: no cover - depends on the merge order of issue 14
    drg_settle_year = None

SCHEMES = ("employee", "resident")
SETTINGS = ("inpatient", "outpatient")
ALL = frozenset(ROLES)
AGENCY = frozenset({"agency"})
PERIOD_ENDPOINT_ROLES: dict[str, frozenset[str]] = {
    "periods.run": AGENCY,            # POST /api/periods
    "periods.check": AGENCY,          # POST /api/periods/{id}/check
    "periods.issue": AGENCY,          # POST /api/periods/{id}/issue
    "periods.correct": AGENCY,        # POST /api/periods/{id}/correct
    "periods.list": ALL,              # GET /api/periods (hospital: its own issued statements' periods)
    "periods.read": ALL,              # GET /api/periods/{id}
    "statements.read": ALL,           # GET /api/statements/{id}[.xlsx|.pdf] (hospital: own, issued)
    "statements.reply": frozenset({"hospital"}),  # POST /api/statements/{id}/confirm|dispute
    "disputes.list": frozenset({"admin", "agency", "supervisor", "auditor"}),  # GET /api/disputes
    "jobs.read": frozenset({"admin", "agency"}),  # GET /api/jobs/{id}
}
WRITER_WAIT_SECONDS = 120.0  # how long a run waits for a `yibao load` that is writing the workspace


# --- running a period ------------------------------------------------------------------------------

@dataclass(frozen=True)
class PeriodInputs:
    """What a run reads besides the workspace (paths on the server's machine; relative: to the workspace)."""

    scored: Path | None        # DIP: yibao dip score output (scored_cases.parquet)
    budget_policy: Path        # 总额控制政策文件 (year, pots, [clearing], [statement])
    policy: Path | None = None  # the method's policy (TOML): DIP policy, or DRG payment policy
    deductions: Path | None = None  # DEDUCTIONS CSV, applied at the clearing
    period_policy: Path | None = None  # [periods] over settle/period.toml
    standards: Path | None = None  # DRG: the CHS-DRG standards directory

    def as_dict(self) -> dict:
        return {k: (None if v is None else str(v)) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: dict, base: Path | None = None) -> "PeriodInputs":
        def path(v):
            if v is None or v == "":
                return None
            p = Path(v)
            return p if p.is_absolute() or base is None else base / p
        return cls(path(d.get("scored")), path(d["budget_policy"]), path(d.get("policy")), path(d.get("deductions")),
                   path(d.get("period_policy")), path(d.get("standards")))


def _digest(p: Path | None) -> str | None:
    if p is None:
        return None
    f = p / "scored_cases.parquet" if p.is_dir() else p
    try:
        return hashlib.sha256(f.read_bytes()).hexdigest()[:16]
    except OSError:
        raise BadFile(f"{f}: 无法读取") from None


def _wait_for_writer(workspace: Path) -> None:
    """A load announced in the workspace: wait (up to :data:`WRITER_WAIT_SECONDS`) until it is done."""
    deadline = time.monotonic() + WRITER_WAIT_SECONDS
    while writer_announced(workspace):
        if time.monotonic() > deadline:
            raise WorkspaceBusy("工作区正在装载数据，结算任务等待超时，请稍后重试")
        time.sleep(POLL_SECONDS)


def _run_dip(workspace: Path, inputs: PeriodInputs, year: int, month: int | None, budgets, cp, given, step,
             setting: str = "inpatient"):
    """The DIP year on the scored cases settled up to the end of the period; (DipYear, months of ``year`` seen).

    Outpatient (按人头) reads the workspace's outpatient cases only: without ``scored`` it runs on no
    inpatient case at all, and a month without inpatient cases is not refused."""
    pol = load_dip_policy(inputs.policy)
    if inputs.scored is None and setting == "outpatient":
        path, table = None, CASE_POINTS.schema.empty_table()
    else:
        path = inputs.scored / "scored_cases.parquet"
        if not path.exists():
            raise MissingData(f"{path}: 缺少病例赋分结果，请先运行 yibao dip score")
        table = pq.read_table(path)
        if "settle_month" not in table.column_names:
            raise BadFile(f"{path}: 赋分结果缺少结算字段（settle_year、settle_month），请用当前版本重新运行 yibao dip score")
        if setting == "inpatient":
            require_settle_year(table.column("settle_year").to_pylist(), year, path, inputs.budget_policy)
    # the cases settled up to the end of the period (month N: a later month's cases are not month N's)
    last = year * 100 + (12 if month is None else month)
    key = pc.add(pc.multiply(pc.cast(table["settle_year"], pa.int64()), 100), pc.cast(table["settle_month"], pa.int64()))
    cut = table.filter(pc.less_equal(key, last))
    months = set(pc.unique(cut.filter(pc.equal(cut["settle_year"], year))["settle_month"]).to_pylist())
    if setting == "inpatient" and month is not None and month not in months:
        raise MissingData(f"{path}: {period_label(year, month)}没有结算的住院病例，无法计算该月预付")
    if setting == "outpatient":  # per-capita units are persons, the same every month of the agreement
        months = set(range(1, 13 if month is None else month + 1))
    step(0.15, "等待工作区（如有数据装载）")
    _wait_for_writer(workspace)
    step(0.2, "汇总病例并计算（DIP）" if setting == "inpatient" else "归属人数并计算（按人头）")
    y = run_settlement(workspace, cut, year, budgets, pol, cp, cp.scores, cp.default_score, None, "duckdb", None,
                       given=given)
    return y, months


def _run_drg(workspace: Path, inputs: PeriodInputs, year: int, month: int | None, budgets, cp, given, step):
    """The DRG year (``yibao.drg.settlement.settle_year``) on the cases settled up to the end of the period."""
    pol = load_drg_policy(inputs.policy)
    std = load_standards(inputs.standards)
    step(0.15, "等待工作区（如有数据装载）")
    _wait_for_writer(workspace)
    step(0.2, "分组并计算（DRG）")
    through = month_end(year, 12 if month is None else month)
    res = drg_settle_year(workspace, std, budgets, cp, given, year, policy=pol, scores=cp.scores,
                          default_score=cp.default_score, settled_through=through)
    y = res.year
    months = {p.month for s in y.drg.values() for p in s.prepayments if p.units}
    if month is not None and month not in months:
        raise MissingData(f"{period_label(year, month)}没有按 DRG 结算的住院病例，无法计算该月预付")
    return y, months


def run_period(store: Store, workspace: Path, *, year: int, month: int | None, scheme: str, setting: str,
               inputs: PeriodInputs, actor: per.Actor, cutoff: dt.date | None = None,
               correct_of: int | None = None, reason: str | None = None,
               progress: Progress | None = None, warn: Callable[[str], None] | None = None) -> dict:
    """Compute month ``month`` (None: the year-end clearing) of pot ``scheme.setting`` and record it as a draft.

    Refused before any computation (409) when the period is issued and this is not a correction. The clearing
    needs the twelve months issued: it pays the year's entitlement less what they paid.
    """
    step = progress or (lambda f, s: None)
    if scheme not in SCHEMES or setting not in SETTINGS:
        raise BadOption(f"基金预算池 {scheme}.{setting} 无效（险种：{'、'.join(SCHEMES)}；就医类型：{'、'.join(SETTINGS)}）")
    if month is not None and not 1 <= month <= 12:
        raise BadOption(f"月份 {month} 无效（1–12；年终清算不给月份）")
    pot = f"{scheme}.{setting}"
    cutoff = cutoff or month_end(year, 12 if month is None else month)
    check_cutoff(year, month, cutoff)
    if correct_of is None:
        per.refuse_if_locked(store, pot, year, month)
    step(0.05, "读取政策文件")
    pp = load_period_policy(inputs.period_policy)
    method = pp.methods[setting]
    if method == "drg" and drg_settle_year is None:
        raise BadOption("按 DRG 结算的结算期需要 yibao.drg.settlement.settle_year（issue 14 合并后可用）："
                        "请在结算期政策 methods.inpatient 中选 dip")
    if method == "drg" and inputs.standards is None:
        raise BadOption("按 DRG 结算须给出分组标准目录（--standards / \"standards\"）")
    if method == "dip" and inputs.scored is None:
        raise BadOption("按 DIP 结算须给出病例赋分目录（--scored / \"scored\"，yibao dip score 的输出）")
    bp = load_budget_policy(inputs.budget_policy)
    if bp.year != year:
        raise BadOption(f"{inputs.budget_policy}: 政策年度为 {bp.year}，与结算期年度 {year} 不符")
    budgets = settlement_pots(bp)
    issuer = issuer_from(bp.raw, str(inputs.budget_policy))
    cp = bp.sections.clearing
    issued_paid: dict[str, Decimal] = {}
    if month is None:
        months = per.issued_months(store, pot, year)
        missing = [m for m in range(1, 13) if m not in months]
        if missing:
            raise per.PeriodRefused(409, "conflict", f"{year} 年 {'、'.join(map(str, missing))} 月尚未签发，"
                                                      "须先签发全部 12 个月的预付才能年终清算")
        issued_paid = per.issued_paid(store, pot, year)
        used = per.months_of_record(store, pot, year)
    given = read_deductions(inputs.deductions) if (month is None and inputs.deductions is not None) else None
    if method in ("dip", "per_capita"):  # per capita: computed within the DIP settlement run
        y, year_months = _run_dip(workspace, inputs, year, month, budgets, cp, given, step, setting)
        runs = y.dip if setting == "inpatient" else y.capita
        beds = y.bed_day
    else:
        y, year_months = _run_drg(workspace, inputs, year, month, budgets, cp, given, step)
        runs, beds = y.drg, []
    if month is None and warn is not None:
        w = partial_year_warning(year_months, year)
        if w:
            warn(w)
    step(0.8, "生成结算单")
    if scheme not in runs:
        raise MissingData(f"{year} 年{scheme}险种没有{'住院' if setting == 'inpatient' else '门诊'}统筹预算或病例，无法结算")
    s = runs[scheme]
    names = {i: str(r.get("name") or "") for i, r in y.institutions.items()}
    if month is not None:
        lines = month_lines(s, month)
        mv = next(v for v in s.months if v.month == month)
        summary = {"budget": str(s.budget), "month_budget": str(mv.budget), "month_units": str(mv.units),
                   "month_value": None if mv.value is None else str(mv.value), "convention": s.convention}
    else:
        bed = {}
        if setting == "inpatient":
            for b in beds:
                if b.scheme == scheme:
                    bed[b.institution_id] = bed.get(b.institution_id, ZERO) + b.payable
        lines = clearing_lines(s, issued_paid, bed)
        corrected = [f"{m} 月第 {v} 版" for m, (_, v) in sorted(used.items()) if v > 1]
        for ln in lines:  # which monthly versions the clearing paid against
            ln["items"].append(("所依据的月度预付", "1–12 月已签发的记录版本" + (f"（其中 {'、'.join(corrected)}，为更正版本）"
                                                                         if corrected else "")))
        ded_lines = read_deduction_lines(inputs.deductions, year) if inputs.deductions is not None else []
        for ln in lines:
            for d in ded_lines:
                if d["institution_id"] == ln["institution_id"] and d["setting"] == setting:
                    ln["items"].append((f"扣款明细：{d['source'] or '未注明来源'}"
                                        + (f"，{d['findings']} 条审核结果" if d["findings"] else ""),
                                        f"{d['amount']:.2f}（机构全部险种合计，按记账比例分摊）"))
        summary = {"budget": str(s.budget), "units": str(s.units), "settlement_value": str(s.value_shown),
                   "convention": s.convention, "entitled": str(sum((ln["gross"] for ln in lines), ZERO)),
                   "issued_paid": str(sum(issued_paid.values(), ZERO)),
                   "bed_day": str(sum(bed.values(), ZERO)),
                   "months_of_record": {str(m): pid for m, (pid, _) in sorted(used.items())}}
    summary["institutions"] = len(lines)
    recorded_inputs = {**inputs.as_dict(), "scored_sha256": _digest(inputs.scored),
                       "budget_policy_sha256": _digest(inputs.budget_policy),
                       "policy_sha256": _digest(inputs.policy), "deductions_sha256": _digest(inputs.deductions),
                       "period_policy_source": pp.source, "confirm_working_days": pp.confirm_working_days}
    step(0.9, "写入记录库")
    out = per.prepare(store, pot=pot, method=method, year=year, month=month, cutoff=cutoff, lines=lines,
                      names=names, agency=issuer.agency, inputs=recorded_inputs, summary=summary, actor=actor,
                      correct_of=correct_of, reason=reason)
    return out


def correct_period(store: Store, workspace: Path, period_id: int, reason: str, actor: per.Actor,
                   inputs: PeriodInputs | None = None, progress: Progress | None = None) -> dict:
    """A correction of an issued period: a new version, computed again (with the same inputs unless given)."""
    p = per.period_row(store, period_id)
    if not (reason or "").strip():
        raise per.PeriodRefused(422, "invalid_request", "更正须说明理由")
    if inputs is None:
        inputs = PeriodInputs.from_dict(json.loads(p["inputs"]))
    return run_period(store, workspace, year=p["year"], month=p["month"], scheme=p["scheme"], setting=p["setting"],
                      inputs=inputs, actor=actor, cutoff=dt.date.fromisoformat(p["cutoff"]), correct_of=period_id,
                      reason=reason.strip(), progress=progress)


def issue_period(store: Store, period_id: int, actor: per.Actor, issue_date: dt.date | None = None) -> dict:
    """签发 with the hospital's reply deadline of the period policy the run recorded."""
    p = per.period_row(store, period_id)
    days = json.loads(p["inputs"]).get("confirm_working_days") or load_period_policy().confirm_working_days
    return per.issue(store, period_id, actor, issue_date, int(days))


# --- HTTP ----------------------------------------------------------------------------------------------

router = APIRouter()
_JOBS_LOCK = threading.Lock()


class PeriodBody(BaseModel):
    year: int = Field(ge=1900, le=9999)
    kind: Literal["month", "clearing"] = "month"
    month: int | None = Field(None, ge=1, le=12)
    scheme: Literal["employee", "resident"]
    setting: Literal["inpatient", "outpatient"] = "inpatient"
    cutoff: dt.date | None = None
    scored: str | None = Field(None, max_length=1000)
    standards: str | None = Field(None, max_length=1000)
    budget_policy: str = Field(min_length=1, max_length=1000)
    policy: str | None = Field(None, max_length=1000)
    deductions: str | None = Field(None, max_length=1000)
    period_policy: str | None = Field(None, max_length=1000)


class CorrectBody(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)


class IssueBody(BaseModel):
    issue_date: dt.date | None = None


class ReplyBody(BaseModel):
    reason: str = Field("", max_length=4000)


def _refused(status: int, code: str, message: str) -> per.PeriodRefused:
    return per.PeriodRefused(status, code, message)


def _actor(request: Request, endpoint: str) -> per.Actor:
    user = request.state.user
    if user.role not in PERIOD_ENDPOINT_ROLES[endpoint]:
        raise _refused(403, "forbidden", f"角色“{ROLES[user.role]}”（{user.role}）无权访问此接口")
    return per.Actor(user.username, user.role, user.institution_id,
                     request.client.host if request.client else "")


def _ctx(request: Request):
    s = request.app.state.settings
    with _JOBS_LOCK:
        jobs = getattr(request.app.state, "jobs", None)
        if jobs is None:
            jobs = request.app.state.jobs = Jobs(s.store)
    return s.store, Path(s.workspace), jobs, (s.today() if s.today else None)


def _accepted(job) -> JSONResponse:
    return JSONResponse({"job": job.view()}, status_code=202, headers={"Location": job.view()["href"]})


@router.post("/api/periods", summary="计算结算期（第 N 月预付或年终清算），后台任务", status_code=202)
def post_period(body: PeriodBody, request: Request):
    actor = _actor(request, "periods.run")
    store, ws, jobs, _ = _ctx(request)
    month = None if body.kind == "clearing" else body.month
    if body.kind == "month" and month is None:
        raise _refused(422, "invalid_request", "请求参数不合法：month：按月结算须给出月份（1–12）")
    if body.kind == "clearing" and body.month is not None:
        raise _refused(422, "invalid_request", "请求参数不合法：month：年终清算不给月份")
    per.refuse_if_locked(store, f"{body.scheme}.{body.setting}", body.year, month)  # 409 at once, not in the job
    inputs = PeriodInputs.from_dict(body.model_dump(), ws)
    job = jobs.submit("period.run", actor.username, lambda progress: run_period(
        store, ws, year=body.year, month=month, scheme=body.scheme, setting=body.setting, inputs=inputs,
        actor=actor, cutoff=body.cutoff, progress=progress))
    return _accepted(job)


@router.get("/api/periods", summary="结算期列表（医疗机构：本机构已签发的）")
def get_periods(request: Request, year: int | None = Query(None, ge=1900, le=9999), pot: str | None = None,
                status: str | None = None):
    actor = _actor(request, "periods.list")
    store = request.app.state.settings.store
    if status is not None and status not in per.STATES:
        raise _refused(422, "invalid_request", f"未知状态 {status}（可选：{'、'.join(per.STATES)}）")
    inst = actor.institution_id if actor.role == "hospital" else None
    rows = per.list_periods(store, year=year, pot=pot, status=status, institution_id=inst or (
        "\0" if actor.role == "hospital" else None))
    for r in rows:
        r["of_record"] = r["status"] == "issued"
    return {"periods": [_for(actor, r) for r in rows]}


def _for(actor: per.Actor, p: dict) -> dict:
    """A period as a hospital user sees it: without the pot's totals over every institution."""
    if actor.role != "hospital":
        return p
    return {k: v for k, v in p.items() if k not in ("total", "summary", "statements", "inputs")}


@router.get("/api/periods/{period_id}", summary="结算期及其结算单")
def get_period(period_id: int, request: Request):
    actor = _actor(request, "periods.read")
    store = request.app.state.settings.store
    p = per.get_period(store, period_id)
    if actor.role == "hospital":
        mine = per.period_statements(store, period_id, actor.institution_id or "\0")
        if not mine or p["status"] not in ("issued", "superseded"):
            raise _refused(404, "not_found", f"未找到结算期 {period_id}")
        return {**_for(actor, p), "of_record": p["status"] == "issued", "statements": mine}
    return {**p, "of_record": p["status"] == "issued", "statements": per.period_statements(store, period_id)}


@router.post("/api/periods/{period_id}/check", summary="复核（经办，非计算人）")
def post_check(period_id: int, request: Request):
    actor = _actor(request, "periods.check")
    return per.check(request.app.state.settings.store, period_id, actor)


@router.post("/api/periods/{period_id}/issue", summary="签发（经办，非计算人）：锁定，成为记录版本")
def post_issue(period_id: int, request: Request, body: IssueBody | None = None):
    actor = _actor(request, "periods.issue")
    store, _, _, today = _ctx(request)
    return issue_period(store, period_id, actor, (body.issue_date if body else None) or today)


@router.post("/api/periods/{period_id}/correct", summary="更正已签发的结算期：新版本（附理由），后台任务",
             status_code=202)
def post_correct(period_id: int, body: CorrectBody, request: Request):
    actor = _actor(request, "periods.correct")
    store, ws, jobs, _ = _ctx(request)
    p = per.get_period(store, period_id)  # 404 now, not in the job
    if p["status"] != "issued":
        raise _refused(409, "conflict", f"{p['label']} 第 {p['version']} 版{p['status_zh']}，只能更正已签发的最新版本")
    job = jobs.submit("period.correct", actor.username, lambda progress: correct_period(
        store, ws, period_id, body.reason, actor, progress=progress))
    return _accepted(job)


@router.get("/api/statements/{ref}", summary="结算单（JSON；.xlsx 为 Excel，.pdf 为 PDF）")
def get_statement(ref: str, request: Request):
    actor = _actor(request, "statements.read")
    store = request.app.state.settings.store
    stem, _, fmt = ref.partition(".")
    if not stem.isdigit() or fmt not in ("", "xlsx", "pdf"):
        raise _refused(404, "not_found", f"未找到结算单 {ref}")
    st = per.get_statement(store, int(stem), actor)
    if not fmt:
        return st
    audit.record(store, actor=actor.username, role=actor.role, action="statement.export",
                 object=f"statement:{st['statement_id']}", client=actor.client, detail={"format": fmt})
    name = f"{st['number']}-v{st['period']['version']}.{fmt}"
    if fmt == "xlsx":
        return Response(excel_bytes(st), media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return Response(pdf_bytes(st), media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/api/statements/{statement_id}/confirm", summary="对账确认（医疗机构，期限内）")
def post_confirm(statement_id: int, request: Request, body: ReplyBody | None = None):
    actor = _actor(request, "statements.reply")
    store, _, _, today = _ctx(request)
    return per.reply(store, statement_id, "confirm", body.reason if body else "", actor, today)


@router.post("/api/statements/{statement_id}/dispute", summary="对结算单提出异议（医疗机构，附理由，期限内）")
def post_dispute(statement_id: int, body: ReplyBody, request: Request):
    actor = _actor(request, "statements.reply")
    store, _, _, today = _ctx(request)
    return per.reply(store, statement_id, "dispute", body.reason, actor, today)


@router.get("/api/disputes", summary="医疗机构对结算单的异议（经办处理）")
def get_disputes(request: Request):
    _actor(request, "disputes.list")
    return {"disputes": per.disputes(request.app.state.settings.store)}


@router.get("/api/jobs/{job_id}", summary="后台任务的进度与结果")
def get_job(job_id: str, request: Request):
    _actor(request, "jobs.read")
    _, _, jobs, _ = _ctx(request)
    job = jobs.get(job_id)
    if job is None:
        raise _refused(404, "not_found", f"未找到任务 {job_id}")
    return job.view()


__all__ = ["PERIOD_ENDPOINT_ROLES", "PeriodInputs", "correct_period", "issue_period", "router", "run_period"]
