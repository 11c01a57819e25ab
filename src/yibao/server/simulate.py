"""Policy simulation page (政策模拟, issue 16 §4): a DIP scenario as a form, results beside the baseline.

The form is the scenario file of ``yibao dip simulate`` (docs/dip.md): ``[budget] inpatient_factor``, the
scoring ratios (``[dip.scoring] high_ratio``, ``low_ratio``, ``extreme_ratio``), the level coefficients
(``[dip.scoring.level_coefficient]``) and the catalogue's core share (``[dip.catalogue] core_share``: the
catalogue is rebuilt, slower). The page writes the scenario to a temporary directory and runs that very command
(the contract's interface, ``--out`` in the same temporary directory), then shows ``comparison_totals.csv``
and ``comparison.csv`` side by side — baseline and scenario per scheme and per institution — and deletes the
directory. **Real results are never touched**: the workspace is only read (the command opens it read-only),
nothing is written under it or into the store except the audit entry of the run.

Inputs the server finds: the baseline DIP catalogue (``$YIBAO_DIP_CATALOGUE``, else ``WS/results/dip-catalogue``,
written by ``yibao dip build``) and the budget policy (``$YIBAO_BUDGET_POLICY``, else ``WS/budget_policy.toml``);
the page says which is missing.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from yibao.dip.simulate import COMPARE_COLUMNS, TOTAL_COLUMNS
from yibao.server.dashboards import budget_policy_path
from yibao.server.pages import PageError, PageRoute, add_nav, render, require
from yibao.server.pages.core import check_csrf
from yibao.server.precheck import DIP_CATALOGUE_ENV, catalogue_dir
from yibao.store import audit

SIM_ROLES = frozenset({"admin", "agency", "supervisor"})
LEVELS = ("3", "2", "1", "0")
# form field → (scenario section, key, decimal places, lowest allowed)
FIELDS = {
    "inpatient_factor": ("budget", "inpatient_factor", 6, Decimal("0")),
    "high_ratio": ("dip.scoring", "high_ratio", 4, Decimal("1")),
    "low_ratio": ("dip.scoring", "low_ratio", 4, Decimal("0")),
    "extreme_ratio": ("dip.scoring", "extreme_ratio", 4, Decimal("1")),
    "core_share": ("dip.catalogue", "core_share", 4, Decimal("0")),
    **{f"level_{lv}": ("dip.scoring.level_coefficient", lv, 4, Decimal("0")) for lv in LEVELS},
}
LABELS = {"inpatient_factor": "住院统筹预算调整系数（如 1.05 表示增加 5%）", "high_ratio": "高倍率界值（费用比）",
          "low_ratio": "低倍率界值（费用比）", "extreme_ratio": "极高倍率界值（特例单议）",
          "core_share": "核心病种覆盖病例比例（改动则重建目录库）",
          **{f"level_{lv}": f"{'三二一'[int(lv) - 1] + '级' if lv != '0' else '未定级'}医疗机构等级系数" for lv in LEVELS}}

pages = APIRouter(route_class=PageRoute, include_in_schema=False)
router = APIRouter()
add_nav("/simulate", "政策模拟", SIM_ROLES)


def scenario_toml(form: dict) -> tuple[str, list[str]]:
    """The scenario file of the form's filled fields (exact decimals as TOML strings) and what was changed."""
    name = (form.get("name") or "").strip() or "页面情景"
    sections: dict[str, dict[str, str]] = {}
    changed = []
    for field, (section, key, places, lo) in FIELDS.items():
        raw = (form.get(field) or "").strip()
        if not raw:
            continue
        try:
            d = Decimal(raw)
        except InvalidOperation:
            raise PageError(422, f"{LABELS[field]}「{raw}」不是数字") from None
        if not d.is_finite() or d < lo or d != d.quantize(Decimal(1).scaleb(-places)):
            raise PageError(422, f"{LABELS[field]}「{raw}」应为 ≥ {lo}、至多 {places} 位小数的数")
        sections.setdefault(section, {})[key] = str(d)
        changed.append(f"{LABELS[field]} {d}")
    if not changed:
        raise PageError(422, "请至少填写一个参数（空着的参数与基准相同）")
    lines = [f'name = "{name.replace(chr(34), "")}"']
    for section in sorted(sections):
        lines.append(f"\n[{section}]")
        lines += [f'"{k}" = "{v}"' for k, v in sections[section].items()]
    return "\n".join(lines) + "\n", changed


def _read(path: Path, cols) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: r.get(zh, "") for k, zh in cols} for r in rows]


def run_simulation(workspace: Path, catalogue: Path, policy: Path, toml_text: str) -> dict:
    """``yibao dip simulate`` in a temporary directory; the comparison read back, or the command's message."""
    with tempfile.TemporaryDirectory(prefix="yibao-sim-") as tmp:
        sc = Path(tmp) / "scenario.toml"
        sc.write_text(toml_text, encoding="utf-8")
        out = Path(tmp) / "out"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).resolve().parents[2])] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH")
                                                           else []))}
        r = subprocess.run([sys.executable, "-m", "yibao.cli", "dip", "simulate", "-w", str(workspace), "--catalogue",
                            str(catalogue), "--budget-policy", str(policy), "--scenario", str(sc), "--out", str(out)],
                           capture_output=True, text=True, env=env, timeout=900)
        said = [ln for ln in (r.stdout + "\n" + r.stderr).splitlines() if ln.strip() and not ln.startswith("已写入")]
        if r.returncode != 0:
            return {"ok": False, "output": "\n".join(said)}
        return {"ok": True, "output": "\n".join(said), "totals": _read(out / "comparison_totals.csv", TOTAL_COLUMNS),
                "rows": _read(out / "comparison.csv", COMPARE_COLUMNS)}


def _inputs(workspace: Path) -> tuple[Path | None, Path | None, list[str]]:
    cat, bp = catalogue_dir(workspace), budget_policy_path(workspace)
    missing = []
    if cat is None:
        missing.append(f"未找到基准病种目录库（${DIP_CATALOGUE_ENV} 或 {Path(workspace) / 'results' / 'dip-catalogue'}，"
                       "由 yibao dip build 生成）")
    if bp is None:
        missing.append(f"未找到总额控制政策文件（$YIBAO_BUDGET_POLICY 或 {Path(workspace) / 'budget_policy.toml'}）")
    return cat, bp, missing


@pages.get("/simulate", response_class=HTMLResponse)
def simulate_page(request: Request):
    require(request, SIM_ROLES)
    _, _, missing = _inputs(request.app.state.settings.workspace)
    return render(request, "sim/form.html", {"title": "政策模拟（DIP）", "f": {}, "labels": LABELS, "missing": missing})


@pages.post("/simulate", response_class=HTMLResponse)
async def simulate_submit(request: Request):
    s = require(request, SIM_ROLES)
    form = {k: str(v) for k, v in (await request.form()).items()}
    check_csrf(s, form.get("csrf", ""))
    settings = request.app.state.settings
    cat, bp, missing = _inputs(settings.workspace)
    ctx = {"title": "政策模拟（DIP）", "f": form, "labels": LABELS, "missing": missing}
    if missing:
        return render(request, "sim/form.html", ctx, status=422)
    toml_text, changed = scenario_toml(form)
    res = await run_in_threadpool(run_simulation, Path(settings.workspace), cat, bp, toml_text)
    audit.record(settings.store, actor=s.user.username, role=s.role, action="simulate.dip", object="scenario",
                 client=request.client.host if request.client else "", detail={"changed": changed, "ok": res["ok"]})
    return render(request, "sim/form.html", {**ctx, "res": res, "changed": changed, "scenario": toml_text},
                  status=200 if res["ok"] else 422)


router.include_router(pages)

__all__ = ["FIELDS", "router", "run_simulation", "scenario_toml"]
