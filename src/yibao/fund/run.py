"""The fund capability's commands as functions (the CLI only parses options and calls one of these)."""

from __future__ import annotations

import csv
import json
import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa

from yibao.contract.errors import BadFile, MissingData
from yibao.contract.params import Values
from yibao.contract.schema import FUND_FLOWS, FUND_ITEMS, SCHEMES
from yibao.engine.csvfile import rows_csv
from yibao.engine.workspace import Workspace
from yibao.fund.monitor import Monitor, flows_from_budget, monitor
from yibao.fund.params import FUND_PARAMS
from yibao.fund.projection import Projection, backtest, project
from yibao.fund.report import write_monitor, write_projection

__all__ = ["run_monitor", "run_projection", "ledger_from_budget", "read_ledger", "fund_policy", "MonitorResult",
           "ProjectionResult"]


def fund_policy(policy: Path | None, scenario: Path | None) -> Values:
    """The fund policy file over the defaults, then a scenario file's tables over both."""
    base = FUND_PARAMS.load(policy)
    if scenario is None:
        return base
    from_file = FUND_PARAMS.load(scenario)  # checks the scenario file on its own (every problem at once)
    over: dict = {}
    for key, src in from_file.sources.items():
        if not src.startswith("默认值"):
            sec, _, name = key.rpartition(".")
            over.setdefault(sec, {})[name] = _raw(from_file[key])
    return FUND_PARAMS.load(policy, overrides=over, overrides_from=str(scenario))


def _raw(v: object) -> object:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, tuple):
        return list(v)
    return v


def read_ledger(path: Path) -> pa.Table:
    """A ``fund_flows`` CSV read strictly (UTF-8, optional BOM): every bad row is named; nothing is dropped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise BadFile(f"{path}: 不是 UTF-8 编码的 CSV") from None
    rows = list(csv.DictReader(text.splitlines()))
    need = FUND_FLOWS.column_names
    header = list(rows[0].keys()) if rows else next(csv.reader(text.splitlines()), [])
    missing = [c for c in need if c not in header]
    if missing:
        raise BadFile(f"{path}: 缺少列 {', '.join(missing)}（应有 {', '.join(need)}）")
    problems, out = [], {c: [] for c in need}
    for n, r in enumerate(rows, start=2):
        m, s, i, a = (r.get(c, "").strip() for c in need)
        bad = []
        if not (len(m) == 7 and m[4] == "-" and m[:4].isdigit() and m[5:].isdigit() and 1 <= int(m[5:]) <= 12):
            bad.append(f"月份 {m!r} 应为 YYYY-MM")
        if s not in SCHEMES:
            bad.append(f"险种 {s!r} 应为 {' / '.join(SCHEMES)}")
        if i not in FUND_ITEMS:
            bad.append(f"收支项目 {i!r} 未知")
        try:
            d = Decimal(a)
            if not d.is_finite() or d < 0 or d != d.quantize(Decimal("0.01")):
                raise InvalidOperation
        except InvalidOperation:
            bad.append(f"金额 {a!r} 应为不小于 0、至多两位小数的数")
            d = None
        if bad:
            problems.append(f"第 {n} 行：" + "，".join(bad))
            continue
        for c, v in zip(need, (m, s, i, d)):
            out[c].append(v)
    if problems:
        raise BadFile(f"{path}: {len(problems)} 行有问题：" + "；".join(problems[:5]) + ("…" if len(problems) > 5 else ""))
    table = pa.table(out).cast(FUND_FLOWS.arrow_schema())
    keys = list(zip(out["month"], out["scheme"], out["item"]))
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise BadFile(f"{path}: 同一月份、险种、项目出现多行：{'、'.join(dup)}")
    return table


@dataclass(frozen=True)
class MonitorResult:
    monitor: Monitor
    files: list[str]


def _workspace(workspace: Path) -> Workspace:
    if not (Path(workspace) / "yibao.duckdb").is_file():
        raise MissingData(f"{workspace}: 工作区不存在（先运行 yibao load）")
    return Workspace(workspace, read_only=True)


def run_monitor(workspace: Path, year: int, out_dir: Path, *, policy: Path | None = None,
                scenario: Path | None = None, flows: Path | None = None) -> MonitorResult:
    """``yibao fund monitor``: twelve months of ``year`` per scheme with the warnings, into ``out_dir``."""
    pol = fund_policy(policy, scenario)
    ledger = read_ledger(flows) if flows is not None else None
    with _workspace(workspace) as ws:
        n = ws.con.execute("SELECT COUNT(*) FROM main.cases WHERE year(settle_date) = ?", [year]).fetchone()[0]
        if not n:
            have = [r[0] for r in ws.con.execute(
                "SELECT DISTINCT CAST(year(settle_date) AS INTEGER) FROM main.cases ORDER BY 1").fetchall()]
            raise MissingData(f"{workspace}: 没有 {year} 年结算的病例，无法监测（已有的结算年度："
                              f"{'、'.join(map(str, have)) or '无'}）")
        m = monitor(ws.con, year, pol, ledger)
    return MonitorResult(m, write_monitor(out_dir, m, pol.rows()))


@dataclass(frozen=True)
class ProjectionResult:
    projection: Projection
    backtest: list[dict] | None
    files: list[str]


def _budget_totals(budget_dir: Path) -> dict[str, dict]:
    """Per scheme the budget run's formula and final totals, and its year (from the policy its manifest names)."""
    path = budget_dir / "totals.csv"
    if not path.is_file():
        raise BadFile(f"{budget_dir}: 不是 yibao budget 的输出目录（缺少 totals.csv）")
    year = None
    try:
        manifest = json.loads((budget_dir / "manifest.json").read_text(encoding="utf-8"))
        with open(manifest["inputs"]["policy"]["path"], "rb") as f:
            year = int(tomllib.load(f)["year"])
    except (OSError, KeyError, ValueError, TypeError, tomllib.TOMLDecodeError):
        year = None
    with path.open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    return {r["scheme"]: {"year": year, "formula_total": Decimal(r["formula_total"]),
                          "final_total": Decimal(r["final_total"])} for r in rows}


def run_projection(workspace: Path, fit_years: tuple[int, ...], out_dir: Path, *, policy: Path | None = None,
                   scenario: Path | None = None, backtest_year: int | None = None,
                   budget_dir: Path | None = None) -> ProjectionResult:
    """``yibao fund project``: the projection after the last fit year, the backtest of ``backtest_year`` (fitted on
    the fit years before it) and the comparison with a budget run's totals, into ``out_dir``."""
    pol = fund_policy(policy, scenario)
    with _workspace(workspace) as ws:
        have = {r[0] for r in ws.con.execute(
            "SELECT DISTINCT CAST(year(settle_date) AS INTEGER) FROM main.cases").fetchall()}
        missing = [y for y in fit_years if y not in have]
        if missing:
            raise MissingData(f"{workspace}: 拟合年度 {'、'.join(map(str, missing))} 没有结算病例（已有："
                              f"{'、'.join(map(str, sorted(have)))}）")
        p = project(ws.con, fit_years, pol)
        test = None
        if backtest_year is not None:
            before = tuple(y for y in fit_years if y < backtest_year)
            if not before or backtest_year not in have:
                raise MissingData(f"--backtest {backtest_year}：需要早于它的拟合年度和该年度的病例")
            test = backtest(ws.con, before, backtest_year, pol)
    budget = _budget_totals(budget_dir) if budget_dir is not None else None
    return ProjectionResult(p, test, write_projection(out_dir, p, test, budget, pol.rows()))


def ledger_from_budget(funds: dict, year: int, out_file: Path) -> int:
    """``yibao fund ledger``: a monthly ``fund_flows`` estimated from a budget policy's annual figures (the
    ``[fund.SCHEME]`` amounts), written as CSV; returns the number of rows."""
    t = flows_from_budget(funds, year)
    rows = [[m, s, i, a] for m, s, i, a in zip(*(t.column(c).to_pylist() for c in FUND_FLOWS.column_names))]
    out_file.write_bytes(rows_csv(FUND_FLOWS.column_names, rows))
    return len(rows)
