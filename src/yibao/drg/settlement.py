"""The DRG year (DRG 年度结算): the whole settlement of a year from a workspace, and its exact money.

:func:`settle_year` is the one function the command (``yibao drg settle``) and any other caller (the monthly
settlement periods, the server) calls: it groups the workspace's inpatient cases (:mod:`yibao.drg.grouper`),
computes the relative weights from the history years or takes an official table (:mod:`yibao.drg.weights`), the
case weights (:mod:`yibao.drg.payment`'s SQL), then the money exactly (:func:`settle_drg_year`, the shared
settlement of :mod:`yibao.settle.units`): the base rates, monthly prepayments, the year-end clearing with the
budget policy's bands and deductions, services outside the agreement (:mod:`yibao.settle.agreement`). The files
are :func:`yibao.drg.report.write_settlement`'s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from yibao.contract.reasons import FatalLoadError
from yibao.contract.vocab import SCHEME_ZH, sql_str
from yibao.drg.grouper import group_table
from yibao.drg.payment import DRG_PAYMENT, DRG_WEIGHTS
from yibao.drg.policy import DrgPolicy, history_years, load_payment_policy, param_tables
from yibao.drg.standards import Standards
from yibao.drg.weights import Weights, check_weights, official_weights
from yibao.engine.money import ZERO, decimal_view, fmt
from yibao.engine.runner import query_arrow
from yibao.engine.workspace import Workspace
from yibao.settle.agreement import OUTSIDE_AGREEMENT, WHOLLY_EXCLUDED_ZH, agreement_sources, exclusion_rows, wholly_excluded
from yibao.settle.bands import Bands
from yibao.settle.deductions import Deduction, by_institution, reconciled
from yibao.settle.inbound import keep_cases, kept_case_ids
from yibao.settle.pots import Budgets, require_settle_year
from yibao.settle.units import (
    SchemeSettlement,
    UnitMonth,
    UnitPolicy,
    booked_by_institution,
    last_year_weights,
    settle_scheme,
    split_deductions,
)

__all__ = ["settle_year", "DrgSettlement", "DrgYear", "settle_drg_year", "finish_drg_year", "budget_rate_of",
           "drg_wholly_excluded", "SCHEMES"]

SCHEMES = tuple(SCHEME_ZH)  # employee, resident: the order of the year's rows


@dataclass
class DrgYear:
    """The year's amounts, exact: rates, per scheme the DRG settlement (prepayments, clearing), the by-item cases."""

    year: int
    policy: DrgPolicy
    weights_version: str
    rates: list[dict]
    drg: dict[str, SchemeSettlement]
    item: list[dict]
    institutions: dict[str, dict]
    excluded: list[dict] = field(default_factory=list)  # exclusions.csv rows: services outside the agreement
    deductions: dict = field(default_factory=dict)       # given, applied, not_applied (rows with the reason)


def settle_drg_year(year: int, units: pa.Table, institutions: pa.Table, budgets: Mapping[str, Decimal],
                    policy: DrgPolicy, bands: Bands, scores: Mapping[str, Decimal], default_score: Decimal,
                    deductions: Mapping[tuple[str, str], Decimal] | None = None, weights_version: str = "",
                    seasonality: str = "last_year") -> DrgYear:
    """``budgets[scheme]`` = the inpatient budget (fund money); by-item cases are paid as booked out of it first."""
    inst = {r["institution_id"]: r for r in institutions.to_pylist()}
    rows = units.to_pylist()
    up = UnitPolicy(policy.convention, policy.reimbursement_ratio, policy.deposit_rate, policy.prepay_cap)
    drg, rates, items = {}, [], []
    for scheme in SCHEMES:
        if scheme not in budgets:
            continue
        mine = [r for r in rows if r["scheme"] == scheme]
        item = [r for r in mine if r["year"] == year and r["method"] == "item"]
        item_fund = sum((r["fund_paid"] for r in item), ZERO)
        by_inst: dict[str, list] = {}
        for r in item:
            a = by_inst.setdefault(r["institution_id"], [0, ZERO, ZERO])
            a[0] += r["cases"]
            a[1] += r["total_cost"]
            a[2] += r["fund_paid"]
        items += [{"scheme": scheme, "institution_id": i, "cases": a[0], "total_cost": a[1], "paid": a[2]}
                  for i, a in sorted(by_inst.items())]
        budget = max(budgets[scheme] - item_fund, ZERO)
        acc: dict[tuple[str, int], list] = {}
        month_fund: dict[int, Decimal] = {}
        for r in mine:
            if r["method"] != "drg":
                continue
            if r["year"] == year:
                a = acc.setdefault((r["institution_id"], r["month"]), [Decimal(0), 0, ZERO, ZERO])
                a[0] += r["units"]
                a[1] += r["cases"]
                a[2] += r["total_cost"]
                a[3] += r["fund_paid"]
            elif r["year"] == year - 1:
                month_fund[r["month"]] = month_fund.get(r["month"], ZERO) + r["fund_paid"]
        months = [UnitMonth(i, m, *acc[(i, m)]) for i, m in sorted(acc)]
        ded = {i: a for (s, i), a in (deductions or {}).items() if s == scheme}
        s = settle_scheme(scheme, budget, months, up, bands, scores, default_score, ded,
                          last_year_weights(month_fund) if seasonality == "last_year" else None)
        drg[scheme] = s
        rates.append({"scheme": scheme, "kind": "settlement", "month": None, "budget": budget, "points": s.units,
                      "value": s.value_shown,
                      "note": f"费率 = (住院统筹预算 {fmt(budgets[scheme])} − 按项目结算 {fmt(item_fund)}) ÷ 年度病例权重 "
                      f"{s.units}"})
        for mv in s.months:
            rates.append({"scheme": scheme, "kind": "provisional", "month": mv.month, "budget": mv.budget,
                          "points": mv.units, "value": mv.value,
                          "note": f"月度预付费率 = 当月预算 {fmt(mv.budget_units_money)} ÷ 当月权重 {mv.units}"
                          if mv.value is not None else "当月无 DRG 病例"})
    return DrgYear(year, policy, weights_version, rates, drg, items, inst)


def budget_rate_of(budget: Decimal, history_units: Mapping[int, Decimal], policy: DrgPolicy,
                   years: list[int]) -> Decimal | None:
    """The base rate published at the start of the year: budget ÷ the history's year-weighted total weight."""
    ws = dict(zip(years, list(policy.year_weights)[-len(years):])) if years else {}
    wsum = sum((ws[y] for y in history_units if y in ws), Decimal(0))
    if not wsum:
        return None
    expected = sum((Fraction(ws[y]) * Fraction(u) for y, u in history_units.items() if y in ws), Fraction(0)) / \
        Fraction(wsum)
    return decimal_view(Fraction(budget) / expected, 6) if expected > 0 else None


def drg_wholly_excluded(units: pa.Table, excluded: pa.Table, year: int) -> set[tuple[str, str]]:
    """Institutions none of whose inpatient services of ``year`` DRG payment settles (all outside the agreement)."""
    return wholly_excluded(excluded, year, {"inpatient": {r["institution_id"] for r in units.to_pylist()
                                                          if r["year"] == year and r["method"] != "excluded"}})


def finish_drg_year(y: DrgYear, excluded: pa.Table, given: list[Deduction] | None,
                    gone: set[tuple[str, str]] | None = None) -> DrgYear:
    """The year's exclusions (inpatient services outside the agreement) and, for a DEDUCTIONS file's rows, every
    deduction DRG payment does not apply with its reason (outpatient ones: DRG clears the inpatient pot only)."""
    y.excluded = exclusion_rows(excluded, y.year, y.institutions, "按 DRG 付费与按项目结算",
                                lambda r: r["setting"] == "inpatient")
    if given is None:
        return y
    gone = gone or set()
    applied: dict[tuple[str, str], Decimal] = {}
    for s in y.drg.values():
        for c in s.clearing:
            if c.deductions:
                k = ("inpatient", c.institution_id)
                applied[k] = applied.get(k, ZERO) + c.deductions

    def why_not(d: Deduction) -> str:
        if (d.setting, d.institution_id) in gone:
            return WHOLLY_EXCLUDED_ZH.format(setting="住院")
        if d.setting == "outpatient":
            return "门诊扣款：DRG 付费只清算住院统筹，门诊扣款应在按人头或门诊统筹结算中扣减，本次未扣减"
        if d.setting == "inpatient":
            return "住院扣款：本次结算中该机构没有住院清算（该险种无住院统筹预算），未扣减"
        return f"就诊类型 {d.setting!r} 不是 inpatient 或 outpatient，无法对应结算"

    y.deductions = reconciled(given, y.year, applied, why_not, y.institutions)
    return y


@dataclass
class DrgSettlement:
    """What :func:`settle_year` returns: the year's amounts and what its files are written from."""

    year: DrgYear
    weights: pa.Table        # drg_weights: from the history, or the official table's (with the history's costs)
    case_pay: pa.Table       # drg_case_pay: every inpatient case up to the year, its weight and method
    history: list[int]       # the history years of the weights
    standards_version: str
    names: dict[str, str]    # ADRG and DRG code → name (the standards'), written beside every code
    official: Weights | None = None
    weights_report: list[dict] = field(default_factory=list)  # check_weights: official table vs standards, cases

    @property
    def weights_problems(self) -> list[dict]:
        """The official table's serious problems: DRGs not in the standards, DRGs with cases and no weight."""
        return [p for p in self.weights_report if p["kind"] in ("unknown_drg", "missing_weight")]


def settle_year(workspace: Path | str, standards: Standards, budgets: Budgets, clearing: Bands,
                deductions: list[Deduction] | None, year: int, engine: str = "duckdb", *,
                policy: DrgPolicy | None = None, scores: Mapping[str, Decimal] | None = None,
                default_score: Decimal | None = None, official: Weights | None = None,
                settled_through: dt.date | None = None, year_from: object = "year") -> DrgSettlement:
    """Settle the DRG year ``year`` of the workspace (read only) on ``engine``.

    ``budgets``: the budget year's pots (:func:`yibao.budget.year.settlement_pots`; DRG takes the inpatient pot of
    each scheme); ``clearing``: the budget policy's clearing bands (its ``scores`` and ``default_score`` are the
    assessment scores unless ``scores`` / ``default_score`` are given); ``deductions``: the rows of a DEDUCTIONS file
    (None: none given; the year's inpatient rows are split over schemes by each institution's booked DRG-year fund,
    every row not applied is listed with its reason); ``policy``: the DRG payment policy (default: the defaults);
    ``official``: an official weight table instead of the weights from history; ``settled_through``: leave out the
    cases settled after this date (a period's cut-off; None: every case). ``year_from``: where ``year`` came from,
    named when the workspace has no case settled in it (refused, exit 2)."""
    policy = policy or load_payment_policy()
    scores = getattr(clearing, "scores", {}) if scores is None else scores
    default_score = getattr(clearing, "default_score", Decimal(100)) if default_score is None else default_score
    workspace = Path(workspace)
    if not (workspace / "yibao.duckdb").exists():
        raise FatalLoadError(str(workspace), "不是 yibao 工作区（缺少 yibao.duckdb），请先运行 yibao load")
    ids = kept_case_ids(workspace, budgets.cases) if budgets.cases is not None else None
    ws = Workspace(workspace, read_only=True)
    try:
        src, runner = ws.sources(("cases", "institutions"), engine)
        if ids is not None:  # out-of-area: only the locally settled cases (yibao.settle.inbound)
            src["cases"] = keep_cases(src["cases"], budgets.cases, ids)
        cases = src["cases"]
        if isinstance(cases, str):  # DuckDB: the workspace's table, read in place
            if settled_through is not None:
                cases = f"(SELECT * FROM {cases} WHERE settle_date <= DATE {sql_str(settled_through.isoformat())})"
                src["cases"] = cases
            inpatient = f"(SELECT * FROM {cases} WHERE setting = 'inpatient')"
            years = [r[0] for r in runner.con.execute(
                f"SELECT DISTINCT CAST(year(discharge_date) AS INTEGER) FROM {cases} WHERE setting = 'inpatient' "
                "ORDER BY 1").fetchall()]
            institutions = query_arrow(runner.con, f"SELECT * FROM {src['institutions']} ORDER BY institution_id")
        else:  # another engine: the tables as Arrow
            if settled_through is not None:
                cases = cases.filter(pc.fill_null(pc.less_equal(cases.column("settle_date"),
                                                                pa.scalar(settled_through, pa.date32())), False))
                src["cases"] = cases
            inpatient = cases.filter(pc.fill_null(pc.equal(cases.column("setting"), "inpatient"), False))
            years = sorted({d.year for d in inpatient.column("discharge_date").to_pylist() if d is not None})
            institutions = src["institutions"].sort_by("institution_id")
        grouped = group_table(inpatient, standards, runner)
        hist = history_years(years, year, policy)
        src = {"drg_grouped": grouped, **src, **param_tables(policy, year, hist), **agreement_sources(year)}
        excluded = runner.run_pipeline(OUTSIDE_AGREEMENT, src)["settle_outside_agreement"]
        src["settle_outside_agreement"] = excluded
        weights = runner.run_pipeline(DRG_WEIGHTS, src)["drg_weights"]
        if official is not None:  # the city's published weights; the history only lends costs where it has them
            weights = official_weights(official, weights)
        out = runner.run_pipeline(DRG_PAYMENT, {**src, "drg_weights": weights})
    finally:
        ws.close()
    units = out["drg_pay_units"]
    require_settle_year(units.column("year").to_pylist(), year, workspace, year_from)
    gone = drg_wholly_excluded(units, excluded, year)
    ded = {}
    if deductions is not None:  # split over schemes by the institution's DRG-year booked fund, as for DIP
        ded = split_deductions({i: a for i, a in by_institution(deductions, year, "inpatient").items()
                                if ("inpatient", i) not in gone},
                               booked_by_institution([r for r in units.to_pylist() if r["method"] != "excluded"],
                                                     year))
    y = settle_drg_year(year, units, institutions, budgets.inpatient, policy, clearing, scores, default_score, ded,
                        weights_version=official.version if official else str(getattr(standards, "version", "")))
    finish_drg_year(y, excluded, deductions, gone)
    report = []
    if official is not None:
        year_drgs: dict[str, int] = {}
        for r in out["drg_case_pay"].to_pylist():
            if r["settle_year"] == year and r["status"] == "ok" and r["drg"] and r["method"] != "excluded":
                year_drgs[r["drg"]] = year_drgs.get(r["drg"], 0) + 1
        report = check_weights(official, standards, year_drgs)
    hist_units: dict[str, dict[int, Decimal]] = {}
    for r in units.to_pylist():
        if r["method"] == "drg" and r["year"] in hist:
            hist_units.setdefault(r["scheme"], {}).setdefault(r["year"], 0)
            hist_units[r["scheme"]][r["year"]] += r["units"]
    for scheme in list(y.drg):
        rate = budget_rate_of(y.drg[scheme].budget, hist_units.get(scheme, {}), policy, hist)
        y.rates.insert(0, {"scheme": scheme, "kind": "budget", "month": None, "budget": y.drg[scheme].budget,
                           "points": None, "value": rate,
                           "note": "预算费率 = 预算 ÷ 历史年度病例权重加权" if rate is not None else "无历史年度权重"})
    return DrgSettlement(y, weights, out["drg_case_pay"], hist, str(getattr(standards, "version", "")),
                         {**standards.adrg_names, **standards.drg_names}, official, report)
