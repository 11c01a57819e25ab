"""Policy simulation pages (政策模拟, issue 16 §4): a DIP or a DRG scenario as a form, results beside the baseline.

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

DRG (``/simulate/drg``): the form is built from the DRG payment policy's parameter table
(:data:`yibao.drg.policy.PAYMENT_PARAMS`: the outlier ratios, the short- and long-stay thresholds, the weights'
trimming, the quality deposit, the level coefficients — each with its meaning, unit and source). The scenario is
the baseline policy (``$YIBAO_DRG_POLICY``, else the defaults) with the filled fields replaced, checked by the
policy's own loader (every problem named, 422). The page runs ``yibao drg settle`` twice in a temporary
directory — the baseline policy and the scenario, ``--no-statements`` — and shows per scheme the settlement rate
(结算费率 = the DRG budget ÷ the year's case weights: budget-neutral, so it follows from the parameters rather than
being one), the weights, the entitlement and the fund balance, and per institution the weights and the year's
entitlement of both. Real results are never touched, as for DIP: the workspace is only read, nothing is written
under it or into the store except the audit entry ``simulate.drg``.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal, InvalidOperation
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from yibao.contract.errors import BadPolicy
from yibao.contract.standards import find_standards
from yibao.contract.vocab import SCHEME_ZH
from yibao.dip.simulate import COMPARE_COLUMNS, TOTAL_COLUMNS
from yibao.drg.policy import LEVELS as DRG_LEVELS
from yibao.drg.policy import PAYMENT_PARAMS, load_payment_policy
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


# --- DRG -------------------------------------------------------------------------------------------------------

DRG_POLICY_ENV = "YIBAO_DRG_POLICY"
DRG_SCALARS = ("payment.high_ratio", "payment.low_ratio", "payment.short_stay_days", "payment.long_stay_days",
               "payment.deposit_rate", "weights.trim_lower", "weights.trim_upper")
DRG_LEVEL_KEY = "payment.level_coefficient"
LEVEL_ZH = {"3": "三级", "2": "二级", "1": "一级", "0": "未定级"}
add_nav("/simulate/drg", "政策模拟（DRG）", SIM_ROLES)


def drg_fields() -> list[dict]:
    """The form's fields, from the DRG parameter table: name, label (meaning, unit), its type and the default."""
    by = {p.key: p for p in PAYMENT_PARAMS.params}
    out = []
    for key in DRG_SCALARS:
        p = by[key]
        out.append({"name": key.replace(".", "__"), "key": key, "label": p.zh + (f"（{p.unit}）" if p.unit else ""),
                    "kind": p.kind.label, "default": p.default, "source": p.source, "integer": isinstance(p.default, int)})
    p = by[DRG_LEVEL_KEY]
    for lv in DRG_LEVELS:
        out.append({"name": f"level__{lv}", "key": f"{DRG_LEVEL_KEY}.{lv}", "label": f"{LEVEL_ZH[lv]}医疗机构等级系数（倍）",
                    "kind": "小数（0–10，至多 4 位）", "default": p.default[lv], "source": p.source, "integer": False})
    return out


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dump(tree: dict, prefix: str = "") -> list[str]:
    scal = [(k, v) for k, v in tree.items() if not isinstance(v, dict)]
    subs = [(k, v) for k, v in tree.items() if isinstance(v, dict)]
    lines = [f"[{prefix}]"] if prefix and scal else []
    lines += [f'"{k}" = {_toml_value(v)}' for k, v in scal]
    for k, v in subs:
        lines += _dump(v, f"{prefix}.{k}" if prefix else k)
    return lines


def drg_scenario(form: dict, baseline: Path | None) -> tuple[str, list[str]]:
    """The scenario policy (TOML): the baseline's ``[weights]`` and ``[payment]`` with the filled fields
    replaced (the level coefficients written complete), and what was changed. Checked by the policy loader."""
    tree: dict = {}
    if baseline is not None:
        raw = tomllib.loads(baseline.read_text(encoding="utf-8"))
        tree = {k: raw[k] for k in ("weights", "payment") if k in raw}
    changed = []
    base = load_payment_policy(baseline)
    for f in drg_fields():
        raw = (form.get(f["name"]) or "").strip()
        if not raw:
            continue
        if f["integer"]:
            try:
                v = int(raw)
            except ValueError:
                raise PageError(422, f"{f['label']}「{raw}」应为整数") from None
        else:
            try:
                Decimal(raw)
            except InvalidOperation:
                raise PageError(422, f"{f['label']}「{raw}」不是数字") from None
            v = raw
        sect, _, key = f["key"].partition(".")
        if key.startswith("level_coefficient."):
            lv = key.rpartition(".")[2]
            levels = tree.setdefault("payment", {}).setdefault(
                "level_coefficient", {x: f"{c.normalize():f}" for x, c in base.level_coefficient.items()})
            levels[lv] = v
        else:
            tree.setdefault(sect, {})[key] = v
        changed.append(f"{f['label']} {raw}")
    if not changed:
        raise PageError(422, "请至少填写一个参数（空着的参数与基准相同）")
    text = "# 页面情景（DRG 付费政策）\n" + "\n".join(_dump(tree)) + "\n"
    with tempfile.TemporaryDirectory(prefix="yibao-simdrg-check-") as tmp:
        path = Path(tmp) / "scenario.toml"
        path.write_text(text, encoding="utf-8")
        try:
            load_payment_policy(path)
        except BadPolicy as exc:
            raise PageError(422, str(exc).replace(str(path), "情景参数")) from None
    return text, changed


CLEARING_KEYS = {"scheme": "险种", "institution_id": "机构编码", "name": "机构名称",
                 "weight": "年度病例权重", "cases": "病例数", "booked": "统筹基金记账", "entitled": "年度应付"}


def _clearing(path: Path) -> dict[tuple[str, str], dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("结算方式") == "按 DRG"]
    return {(r["险种"], r["机构编码"]): {k: r.get(zh, "") for k, zh in CLEARING_KEYS.items()} for r in rows}


def _drg_settle(workspace: Path, standards: Path, budget: Path, policy: Path | None, out: Path) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[2])] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH")
                                                       else []))}
    args = [sys.executable, "-m", "yibao.cli", "drg", "settle", "-w", str(workspace), "--standards", str(standards),
            "--budget-policy", str(budget), "--out", str(out), "--no-statements"]
    if policy is not None:
        args += ["--policy", str(policy)]
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=1800)
    said = [ln for ln in (r.stdout + "\n" + r.stderr).splitlines() if ln.strip() and not ln.startswith("已写入")]
    return r.returncode, "\n".join(said)


def _d(v) -> Decimal | None:
    try:
        return Decimal(str(v)) if v not in (None, "", "None") else None
    except InvalidOperation:
        return None


def run_drg_simulation(workspace: Path, standards: Path, budget: Path, baseline: Path | None, toml_text: str) -> dict:
    """``yibao drg settle`` with the baseline policy and with the scenario, in a temporary directory; per scheme
    and per institution side by side, or the command's message."""
    with tempfile.TemporaryDirectory(prefix="yibao-simdrg-") as tmp:
        sc = Path(tmp) / "scenario.toml"
        sc.write_text(toml_text, encoding="utf-8")
        with ThreadPoolExecutor(2) as pool:
            fb = pool.submit(_drg_settle, workspace, standards, budget, baseline, Path(tmp) / "base")
            fs = pool.submit(_drg_settle, workspace, standards, budget, sc, Path(tmp) / "scen")
            (cb, ob), (cs, os_) = fb.result(), fs.result()
        if cb or cs:
            return {"ok": False, "output": ("基准：" + ob if cb else "") + ("\n情景：" + os_ if cs else "")}
        sums = [json.loads((Path(tmp) / d / "summary.json").read_text(encoding="utf-8"))["schemes"] for d in ("base", "scen")]
        base, scen = _clearing(Path(tmp) / "base" / "clearing.csv"), _clearing(Path(tmp) / "scen" / "clearing.csv")
    totals = []
    for scheme in sorted(set(sums[0]) | set(sums[1])):
        b, c = sums[0].get(scheme, {}), sums[1].get(scheme, {})
        totals.append({"scheme": SCHEME_ZH.get(scheme, scheme), **{f"{w}_{k}": x.get(k, "") for w, x in (("base", b), ("scen", c))
                                                                  for k in ("budget_after_item", "weight", "base_rate",
                                                                            "entitled", "balance")}})
    rows = []
    for key in sorted(set(base) | set(scen)):
        b, c = base.get(key, {}), scen.get(key, {})
        be, ce = _d(b.get("entitled")), _d(c.get("entitled"))
        diff = None if be is None or ce is None else ce - be
        rows.append({"scheme": key[0], "institution_id": key[1], "name": b.get("name") or c.get("name", ""),
                     "cases": b.get("cases") or c.get("cases", ""), "base_weight": b.get("weight", ""),
                     "scen_weight": c.get("weight", ""), "base_entitled": b.get("entitled", ""),
                     "scen_entitled": c.get("entitled", ""), "diff": "" if diff is None else f"{diff:.2f}",
                     "diff_rate": "" if diff is None or not be else f"{(diff / be * 100).quantize(Decimal('0.01'))}%"})
    return {"ok": True, "output": "", "totals": totals, "rows": rows}


def _drg_inputs(workspace: Path) -> tuple[Path | None, Path | None, Path | None, list[str]]:
    bp, std = budget_policy_path(workspace), find_standards()
    env = os.environ.get(DRG_POLICY_ENV)
    baseline = Path(env) if env else None
    missing = []
    if std is None:
        missing.append("未找到 CHS-DRG 分组标准目录（YIBAO_STANDARDS）")
    if bp is None:
        missing.append(f"未找到总额控制政策文件（$YIBAO_BUDGET_POLICY 或 {Path(workspace) / 'budget_policy.toml'}）")
    if baseline is not None and not baseline.is_file():
        missing.append(f"基准 DRG 付费政策文件 {baseline}（${DRG_POLICY_ENV}）不存在")
    return std, bp, baseline, missing


def _drg_ctx(form: dict, missing: list[str], baseline: Path | None) -> dict:
    return {"title": "政策模拟（DRG）", "f": form, "fields": drg_fields(), "missing": missing,
            "baseline": str(baseline) if baseline else "默认参数（yibao/drg/payment.toml）"}


@pages.get("/simulate/drg", response_class=HTMLResponse)
def simulate_drg_page(request: Request):
    require(request, SIM_ROLES)
    _, _, baseline, missing = _drg_inputs(request.app.state.settings.workspace)
    return render(request, "sim/drg.html", _drg_ctx({}, missing, baseline))


@pages.post("/simulate/drg", response_class=HTMLResponse)
async def simulate_drg_submit(request: Request):
    s = require(request, SIM_ROLES)
    form = {k: str(v) for k, v in (await request.form()).items()}
    check_csrf(s, form.get("csrf", ""))
    settings = request.app.state.settings
    std, bp, baseline, missing = _drg_inputs(settings.workspace)
    ctx = _drg_ctx(form, missing, baseline)
    if missing:
        return render(request, "sim/drg.html", ctx, status=422)
    toml_text, changed = drg_scenario(form, baseline)
    res = await run_in_threadpool(run_drg_simulation, Path(settings.workspace), std, bp, baseline, toml_text)
    audit.record(settings.store, actor=s.user.username, role=s.role, action="simulate.drg", object="scenario",
                 client=request.client.host if request.client else "", detail={"changed": changed, "ok": res["ok"]})
    return render(request, "sim/drg.html", {**ctx, "res": res, "changed": changed, "scenario": toml_text},
                  status=200 if res["ok"] else 422)


router.include_router(pages)

__all__ = ["FIELDS", "drg_fields", "drg_scenario", "router", "run_drg_simulation", "run_simulation", "scenario_toml"]
