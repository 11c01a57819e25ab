"""DRG payment (DRG 付费): relative weights from history, the base rate, outliers, by-item cases, and the year.

- **Weights (相对权重 RW)**: each DRG's average cost over the history years (trimmed and year-weighted exactly as
  the DIP catalogue, by the shared :mod:`yibao.settle.relative` steps) ÷ the all-case average.
- **A case's weight**: RW × the institution's coefficient; 高倍率 (cost > ``high_ratio`` × the DRG's average):
  RW × ((cost / average − high_ratio) + 1); 低倍率 (cost < ``low_ratio`` × average): RW × cost / average.
- **By item (按项目)**: cases that did not group, DRGs without a weight, stays of ≤ ``short_stay_days`` or
  ≥ ``long_stay_days`` days and per-diem (按床日) diagnoses leave DRG payment: the fund pays what was booked,
  out of the inpatient budget first.
- **Base rate (费率)** = (budget − by-item fund) ÷ the year's total case weight: the value of one unit in the
  shared settlement (:mod:`yibao.settle.units`) — monthly provisional rate and prepayment with the quality
  deposit, year-end clearing with the budget policy's 结余留用、超支分担 bands and deductions. The very
  machinery that settles DIP points, not a copy of it.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pyarrow as pa

from yibao.contract.policyfile import decimal_param, int_param, read_toml
from yibao.contract.reasons import FatalLoadError
from yibao.contract.schema import CASES, INSTITUTIONS
from yibao.engine.money import ZERO, decimal_view, fmt
from yibao.engine.excel import table_sheet
from yibao.engine.outdir import safe_id, safe_path
from yibao.engine.runner import Pipeline, Step
from yibao.settle.agreement import (EXCLUSION_COLUMNS, NOT_EXCLUDED, OUTSIDE_AGREEMENT, WHOLLY_EXCLUDED_ZH,
                                    exclusion_rows, exclusion_summary, wholly_excluded)
from yibao.settle.deductions import NOT_APPLIED_COLUMNS, Deduction, reconciled, summary_line
from yibao.settle.bands import Bands
from yibao.settle.report import DRG_CLEARING_COLUMNS, DRG_PREPAY_COLUMNS, deduction_sheet, kinds_of, statement_head
from yibao.settle.report import sheet as statement_sheet
from yibao.settle.relative import group_year_step, relative_step
from yibao.settle.units import SchemeSettlement, UnitMonth, UnitPolicy, last_year_weights, settle_scheme

DEFAULTS_FILE = Path(__file__).with_name("payment.toml")
MONEY = pa.decimal128(18, 2)
SCORE = pa.decimal128(18, 4)
PARAM = pa.decimal128(9, 4)
SCHEMES = ("employee", "resident")
LEVELS = ("3", "2", "1", "0")
ITEM_ZH = {"not_grouped": "未能入组", "no_weight": "该 DRG 无权重", "listed_by_item": "权重表规定按项目据实支付",
           "short_stay": "住院天数过短",
           "long_stay": "住院天数过长", "per_diem": "按床日付费病种"}
OUTLIER_ZH = {"high": "高倍率", "low": "低倍率", "normal": "正常"}


class DrgPolicyError(FatalLoadError):
    """A DRG payment policy problem: one line naming the file and the key."""


@dataclass(frozen=True)
class DrgPolicy:
    path: str
    years: tuple[int, ...]
    year_weights: tuple[Decimal, ...]
    trim_lower: Decimal
    trim_upper: Decimal
    high_ratio: Decimal
    low_ratio: Decimal
    short_stay_days: int
    long_stay_days: int
    per_diem_prefixes: tuple[str, ...]
    convention: str
    reimbursement_ratio: Decimal | None
    deposit_rate: Decimal
    prepay_cap: str
    level_coefficient: dict[str, Decimal] = field(default_factory=dict)
    institution_coefficient: dict[str, Decimal] = field(default_factory=dict)


def _dec(where: str, key: str, v: object, lo: Decimal, hi: Decimal, places: int = 4) -> Decimal:
    return decimal_param(where, key, v, lo, hi, places, DrgPolicyError)


def _int(where: str, key: str, v: object, lo: int, hi: int) -> int:
    return int_param(where, key, v, lo, hi, DrgPolicyError)


def load_payment_policy(path: Path | None = None) -> DrgPolicy:
    """Defaults, overridden section by section and key by key by ``path`` ([weights], [payment])."""
    with DEFAULTS_FILE.open("rb") as f:
        raw = tomllib.load(f)
    where = str(DEFAULTS_FILE)
    if path is not None:
        where = str(path)
        user = read_toml(path, DrgPolicyError)
        for sec in ("weights", "payment"):
            u = user.get(sec, {})
            if not isinstance(u, dict):
                raise DrgPolicyError(where, f"[{sec}] 应为表")
            for k, v in u.items():
                if k not in raw[sec]:
                    raise DrgPolicyError(where, f"{sec}.{k} 不是已知的参数（见 docs/drg.md）")
                if isinstance(v, dict):
                    raw[sec][k] = {**raw[sec][k], **v} if k == "level_coefficient" else dict(v)
                else:
                    raw[sec][k] = v
    w, p = raw["weights"], raw["payment"]
    years = w["years"]
    if not isinstance(years, list) or not all(isinstance(y, int) and not isinstance(y, bool) for y in years) \
            or years != sorted(set(years)):
        raise DrgPolicyError(where, f"weights.years 应为从早到晚、不重复的年份列表：{years!r}")
    yw = w["year_weights"]
    if not isinstance(yw, list) or not yw:
        raise DrgPolicyError(where, "weights.year_weights 应为非空列表")
    weights = tuple(_dec(where, f"weights.year_weights[{i}]", x, Decimal(0), Decimal(1000)) for i, x in enumerate(yw))
    if sum(weights) <= 0 or (years and len(years) != len(weights)):
        raise DrgPolicyError(where, "weights.year_weights 之和应大于 0，且与 weights.years 个数相同")
    high = _dec(where, "payment.high_ratio", p["high_ratio"], Decimal(1), Decimal(100))
    low = _dec(where, "payment.low_ratio", p["low_ratio"], Decimal(0), Decimal(1))
    prefixes = p["per_diem_prefixes"]
    if not isinstance(prefixes, list) or not all(isinstance(x, str) and x.strip() for x in prefixes):
        raise DrgPolicyError(where, "payment.per_diem_prefixes 应为诊断编码前缀列表")
    conv = p["convention"]
    if conv not in ("fund", "total_cost"):
        raise DrgPolicyError(where, f"payment.convention 应为 fund 或 total_cost：{conv!r}")
    cap = p["prepay_cap"]
    if cap not in ("none", "booked"):
        raise DrgPolicyError(where, f"payment.prepay_cap 应为 none 或 booked：{cap!r}")
    rr = p["reimbursement_ratio"]
    lc = p["level_coefficient"]
    if not isinstance(lc, dict) or sorted(lc) != sorted(LEVELS):
        raise DrgPolicyError(where, "payment.level_coefficient 应为机构级别 3/2/1/0 的系数")
    ic = p.get("institution_coefficient", {})
    if not isinstance(ic, dict):
        raise DrgPolicyError(where, "payment.institution_coefficient 应为表")
    return DrgPolicy(
        where, tuple(years), weights,
        _dec(where, "weights.trim_lower", w["trim_lower"], Decimal(0), Decimal("0.4999")),
        _dec(where, "weights.trim_upper", w["trim_upper"], Decimal("0.5001"), Decimal(1)),
        high, low, _int(where, "payment.short_stay_days", p["short_stay_days"], 0, 365),
        _int(where, "payment.long_stay_days", p["long_stay_days"], 1, 3650),
        tuple(sorted({x.strip().upper() for x in prefixes})), conv,
        None if rr in ("", None) else _dec(where, "payment.reimbursement_ratio", rr, Decimal("0.0001"), Decimal(1), 6),
        _dec(where, "payment.deposit_rate", p["deposit_rate"], Decimal(0), Decimal("0.05")), cap,
        {k: _dec(where, f"payment.level_coefficient.{k}", v, Decimal(0), Decimal(10)) for k, v in lc.items()},
        {str(k): _dec(where, f"payment.institution_coefficient.{k}", v, Decimal(0), Decimal(10)) for k, v in ic.items()})


PARAMS_SCHEMA = pa.schema([("year", pa.int32()), ("trim_lower", PARAM), ("trim_upper", PARAM), ("base", PARAM),
                           ("high_ratio", PARAM), ("low_ratio", PARAM), ("short_stay_days", pa.int32()),
                           ("long_stay_days", pa.int32())])
YEARS_SCHEMA = pa.schema([("year", pa.int32()), ("weight", PARAM)])
PREFIX_SCHEMA = pa.schema([("prefix", pa.string())])
COEF_SCHEMA = pa.schema([("scope", pa.string()), ("key", pa.string()), ("coefficient", PARAM)])


def param_tables(p: DrgPolicy, year: int, history: list[int]) -> dict[str, pa.Table]:
    coefs = [("level", k, v) for k, v in sorted(p.level_coefficient.items())] + \
            [("institution", k, v) for k, v in sorted(p.institution_coefficient.items())]
    ws = list(p.year_weights)[-len(history):] if history else []
    return {
        "drg_pay_params": pa.table({"year": [year], "trim_lower": [p.trim_lower], "trim_upper": [p.trim_upper],
                                    "base": [Decimal(1)], "high_ratio": [p.high_ratio], "low_ratio": [p.low_ratio],
                                    "short_stay_days": [p.short_stay_days], "long_stay_days": [p.long_stay_days]},
                                   schema=PARAMS_SCHEMA),
        "drg_years": pa.table({"year": history, "weight": ws}, schema=YEARS_SCHEMA),
        "drg_per_diem": pa.table({"prefix": list(p.per_diem_prefixes)}, schema=PREFIX_SCHEMA),
        "drg_coefficients": pa.table({"scope": [c[0] for c in coefs], "key": [c[1] for c in coefs],
                                      "coefficient": [c[2] for c in coefs]}, schema=COEF_SCHEMA),
    }


CASE_COSTS = Step(
    name="drg_pay_case_costs",
    main="drg_grouped",
    mode="global",
    broadcast=("cases", "drg_pay_params", "drg_per_diem"),
    sql="""
WITH c AS (
    SELECT g.case_id, g.status, g.drg, x.institution_id, x.scheme, x.total_cost, x.fund_paid,
           CAST(year(x.discharge_date) AS INTEGER) AS year,
           CAST(year(x.settle_date) AS INTEGER) AS settle_year,
           CAST(month(x.settle_date) AS INTEGER) AS settle_month,
           CAST(date_diff('day', x.admit_date, x.discharge_date) AS INTEGER) AS los_days,
           upper(trim(coalesce(x.principal_dx, ''))) AS dx
    FROM drg_grouped g JOIN cases x USING (case_id)
    WHERE x.setting = 'inpatient'
)
SELECT c.case_id, c.status, c.drg, c.institution_id, c.scheme, c.total_cost, c.fund_paid, c.year, c.settle_year,
       c.settle_month, c.los_days,
       CASE WHEN c.status <> 'ok' OR c.drg IS NULL THEN 'not_grouped'
            WHEN p.short_stay_days > 0 AND c.los_days <= p.short_stay_days THEN 'short_stay'
            WHEN c.los_days >= p.long_stay_days THEN 'long_stay'
            WHEN EXISTS (SELECT 1 FROM drg_per_diem d WHERE starts_with(c.dx, d.prefix)) THEN 'per_diem'
       END AS item_reason
FROM c, drg_pay_params p
""",
    schema=pa.schema([("case_id", pa.string()), ("status", pa.string()), ("drg", pa.string()),
                      ("institution_id", pa.string()), ("scheme", pa.string()), ("total_cost", MONEY),
                      ("fund_paid", MONEY), ("year", pa.int32()), ("settle_year", pa.int32()),
                      ("settle_month", pa.int32()), ("los_days", pa.int32()), ("item_reason", pa.string())]),
    order_by=("case_id",),
    doc="住院病例的 DRG、费用、结算月份与按项目结算的原因（未入组、住院天数、按床日病种）",
)

WEIGHT_CASES = Step(
    name="drg_weight_cases",
    main="drg_pay_case_costs",
    mode="rowwise",
    sql="""
SELECT drg AS group_id, year, case_id, total_cost FROM drg_pay_case_costs WHERE item_reason IS NULL
""",
    schema=pa.schema([("group_id", pa.string()), ("year", pa.int32()), ("case_id", pa.string()),
                      ("total_cost", MONEY)]),
    order_by=("case_id",),
    doc="计算权重的历史病例（按 DRG 付费的病例）",
)

DRG_WEIGHTS = Pipeline(
    name="drg_weights",
    steps=(CASE_COSTS, WEIGHT_CASES,
           group_year_step("drg_group_year", "drg_weight_cases", "drg_years", "drg_pay_params"),
           relative_step("drg_weights", "drg_group_year", "drg_years", "drg_pay_params",
                         doc="DRG 相对权重 RW = DRG 平均费用（年度加权、剔除离群病例）÷ 全部病例平均费用")),
    doc="DRG 相对权重：由历史病例计算",
)

CASE_PAY = Step(
    name="drg_case_pay",
    main="drg_pay_case_costs",
    mode="rowwise",
    broadcast=("drg_weights", "drg_pay_params", "institutions", "drg_coefficients", "settle_outside_agreement"),
    sql="""
WITH m AS (
    SELECT c.*, w.relative AS rw, w.avg_cost, w.group_id IS NOT NULL AS listed,
           CAST(coalesce(ci.coefficient, cl.coefficient, 1) AS DECIMAL(9, 4)) AS coefficient
    FROM drg_pay_case_costs c
    LEFT JOIN drg_weights w ON w.group_id = c.drg
    LEFT JOIN institutions i ON i.institution_id = c.institution_id
    LEFT JOIN drg_coefficients ci ON ci.scope = 'institution' AND ci.key = c.institution_id
    LEFT JOIN drg_coefficients cl ON cl.scope = 'level' AND cl.key = CAST(i.level AS VARCHAR)
),
u AS (  -- exact integer units: fen for money, 1/10 000 for weights and ratios
    SELECT m.*, p.high_ratio, p.low_ratio,
           CASE WHEN m.item_reason IS NULL AND m.listed AND m.rw IS NULL THEN 'listed_by_item'
                WHEN m.item_reason IS NULL AND (m.rw IS NULL OR m.avg_cost IS NULL OR m.avg_cost <= 0) THEN 'no_weight'
                ELSE m.item_reason END AS item_why,
           CAST(m.total_cost * 100 AS BIGINT) AS cost_f,
           nullif(CAST(m.avg_cost * 100 AS BIGINT), 0) AS avg_f,
           CAST(m.rw * 10000 AS BIGINT) AS rw_u,
           CAST(p.high_ratio * 10000 AS BIGINT) AS high_u
    FROM m, drg_pay_params p
),
s AS (
    SELECT u.*,
           CASE WHEN item_why IS NOT NULL THEN NULL
                WHEN total_cost > high_ratio * avg_cost THEN 'high'
                WHEN total_cost < low_ratio * avg_cost THEN 'low'
                ELSE 'normal' END AS outlier,
           -- ROUND_HALF_UP(n / d) = (2n + d) // 2d on non-negative integers
           CASE WHEN item_why IS NOT NULL THEN NULL
                WHEN total_cost > high_ratio * avg_cost THEN CAST(
                    (2 * CAST(rw_u AS HUGEINT) * (cost_f * 10000 - (high_u - 10000) * avg_f) + avg_f * 10000)
                    // (2 * CAST(avg_f AS HUGEINT) * 10000) AS BIGINT)
                WHEN total_cost < low_ratio * avg_cost THEN CAST(
                    (2 * CAST(rw_u AS HUGEINT) * cost_f + avg_f) // (2 * CAST(avg_f AS HUGEINT)) AS BIGINT)
                ELSE rw_u END AS adj_u
    FROM u
)
SELECT case_id, institution_id, scheme, year, settle_year, settle_month, status, drg, rw, avg_cost, outlier,
       CAST(adj_u * CAST(0.0001 AS DECIMAL(5, 4)) AS DECIMAL(18, 4)) AS adjusted_weight, coefficient,
       CAST(((2 * adj_u * CAST(coefficient * 10000 AS BIGINT) + 10000) // 20000)
            * CAST(0.0001 AS DECIMAL(5, 4)) AS DECIMAL(18, 4)) AS case_weight,
       -- a service outside the institution's agreement is not settled (韶关办法第四条, yibao.settle.agreement)
       CASE WHEN """ + NOT_EXCLUDED.format(alias="s") + """ THEN CASE WHEN item_why IS NULL THEN 'drg' ELSE 'item' END
            ELSE 'excluded' END AS method,
       item_why AS item_reason, total_cost, fund_paid, los_days
FROM s
""",
    schema=pa.schema([("case_id", pa.string()), ("institution_id", pa.string()), ("scheme", pa.string()),
                      ("year", pa.int32()), ("settle_year", pa.int32()), ("settle_month", pa.int32()),
                      ("status", pa.string()), ("drg", pa.string()), ("rw", SCORE), ("avg_cost", MONEY),
                      ("outlier", pa.string()), ("adjusted_weight", SCORE), ("coefficient", PARAM),
                      ("case_weight", SCORE), ("method", pa.string()), ("item_reason", pa.string()),
                      ("total_cost", MONEY), ("fund_paid", MONEY), ("los_days", pa.int32())]),
    order_by=("case_id",),
    doc="病例权重：RW × 机构系数，高倍率与低倍率病例调整；按项目结算的病例；服务协议期外的病例（不予结算）",
)

PAY_UNITS = Step(
    name="drg_pay_units",
    main="drg_case_pay",
    mode="partitioned",
    partition_by=("institution_id",),
    broadcast=("drg_pay_params",),
    sql="""
SELECT c.settle_year AS year, c.scheme, c.institution_id, c.settle_month AS month, c.method,
       CAST(count(*) AS BIGINT) AS cases,
       CAST(coalesce(sum(c.case_weight), 0) AS DECIMAL(18, 4)) AS units,
       CAST(sum(c.total_cost) AS DECIMAL(18, 2)) AS total_cost,
       CAST(sum(c.fund_paid) AS DECIMAL(18, 2)) AS fund_paid
FROM drg_case_pay c, drg_pay_params p
WHERE c.settle_year <= p.year AND c.scheme IS NOT NULL
GROUP BY ALL
""",
    schema=pa.schema([("year", pa.int32()), ("scheme", pa.string()), ("institution_id", pa.string()),
                      ("month", pa.int32()), ("method", pa.string()), ("cases", pa.int64()), ("units", SCORE),
                      ("total_cost", MONEY), ("fund_paid", MONEY)]),
    order_by=("year", "scheme", "institution_id", "month", "method"),
    doc="每机构每月：DRG 病例权重合计与按项目结算病例，及其费用与统筹基金记账",
)

DRG_PAYMENT = Pipeline(
    name="drg_payment",
    steps=(CASE_COSTS, CASE_PAY, PAY_UNITS),
    doc="DRG 付费：病例权重与按项目结算，按机构、月份汇总",
)


# --- exact money on the aggregates -----------------------------------------------------------------

@dataclass
class DrgYear:
    year: int
    policy: DrgPolicy
    weights_version: str
    rates: list[dict]
    drg: dict[str, SchemeSettlement]
    item: list[dict]
    institutions: dict[str, dict]
    excluded: list[dict] = field(default_factory=list)  # exclusions.csv rows: services outside the agreement
    deductions: dict = field(default_factory=dict)       # given, applied, not_applied (rows with the reason)


def history_years(available: list[int], year: int, p: DrgPolicy) -> list[int]:
    if p.years:
        return [y for y in p.years if y < year]
    before = sorted(y for y in set(available) if y < year)
    return before[-len(p.year_weights):]


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
                      "note": f"费率 = (住院统筹预算 {fmt(budgets[scheme])} − 按项目结算 {fmt(item_fund)}) ÷ 年度病例权重 {s.units}"})
        for mv in s.months:
            rates.append({"scheme": scheme, "kind": "provisional", "month": mv.month, "budget": mv.budget,
                          "points": mv.units, "value": mv.value,
                          "note": f"月度预付费率 = 当月预算 {fmt(mv.budget_units_money)} ÷ 当月权重 {mv.units}"
                          if mv.value is not None else "当月无 DRG 病例"})
    return DrgYear(year, policy, weights_version, rates, drg, items, inst)


def example_payment_sources() -> dict[str, pa.Table]:
    """A small grouped region (history 2023–2024, settlement 2025) for the parity suite."""
    d = dt.date
    spec = [  # case, inst, drg, discharge year, cost, fund, los, dx, status
        ("A1", "H3", "GB19", 2023, "10000.00", "7000.00", 8, "K35.800", "ok"),
        ("A2", "H3", "GB19", 2024, "12000.00", "8000.00", 7, "K35.800", "ok"),
        ("A3", "H2", "GB19", 2024, "8000.00", "6000.00", 6, "K35.800", "ok"),
        ("A4", "H2", "ES33", 2024, "4000.00", "3000.00", 5, "J18.900", "ok"),
        ("A5", "H3", "ES33", 2023, "6000.00", "4500.00", 5, "J18.900", "ok"),
        ("B1", "H3", "GB19", 2025, "40000.00", "30000.00", 12, "K35.800", "ok"),
        ("B2", "H2", "ES33", 2025, "1000.00", "800.00", 3, "J18.900", "ok"),
        ("B3", "H2", "ES33", 2025, "5000.00", "3500.00", 90, "F20.000", "ok"),
        ("B4", "H3", None, 2025, "3000.00", "2000.00", 4, "R69.x00", "ungroupable"),
        ("B5", "H3", "XX99", 2025, "3000.00", "2000.00", 4, "A00.000", "ok"),
    ]
    grouped = pa.table({"case_id": [s[0] for s in spec], "status": [s[8] for s in spec],
                        "drg": [s[2] for s in spec]},
                       schema=pa.schema([("case_id", pa.string()), ("status", pa.string()), ("drg", pa.string())]))
    schema = CASES.arrow_schema()
    recs = []
    for cid, i, _, y, cost, fund, los, dx, _ in spec:
        out = d(y, 6, 20)
        recs.append({"case_id": cid, "person_id": "P" + cid, "institution_id": i, "scheme": "employee",
                     "setting": "inpatient", "admit_date": out - dt.timedelta(days=los), "discharge_date": out,
                     "settle_date": out, "principal_dx": dx, "total_cost": Decimal(cost), "fund_paid": Decimal(fund),
                     "self_pay": Decimal(cost) - Decimal(fund), "out_of_pocket_excluded": Decimal("0.00")})
    cases = pa.table({f.name: pa.array([r.get(f.name) for r in recs], f.type) for f in schema}, schema=schema)
    inst = pa.table({"institution_id": ["H3", "H2"], "name": ["三级医院", "二级医院"], "kind": ["hospital"] * 2,
                     "level": [3, 2], "category": ["general"] * 2, "region_code": ["440200"] * 2,
                     "agreement_start": [d(2015, 1, 1)] * 2, "agreement_end": [None] * 2},
                    schema=INSTITUTIONS.arrow_schema())
    pol = load_payment_policy()
    ex_schema = OUTSIDE_AGREEMENT.steps[-1].schema
    src = {"drg_grouped": grouped, "cases": cases, "institutions": inst, **param_tables(pol, 2025, [2023, 2024]),
           "settle_outside_agreement": ex_schema.empty_table()}
    src["drg_coefficients"] = pa.table({"scope": ["level"], "key": ["3"], "coefficient": [Decimal("1.1000")]},
                                       schema=COEF_SCHEMA)
    return src


def example_weights() -> pa.Table:
    from yibao.engine.runner import LocalRunner

    return LocalRunner().run_pipeline(DRG_WEIGHTS, example_payment_sources())["drg_weights"]


def payment_fixture(outside_agreement: bool = False) -> dict[str, pa.Table]:
    """``outside_agreement``: B2 (H2, 2025) outside H2's agreement, for the parity suite."""
    src = {**example_payment_sources(), "drg_weights": example_weights()}
    if outside_agreement:
        ex_schema = OUTSIDE_AGREEMENT.steps[-1].schema
        row = {"case_id": "B2", "institution_id": "H2", "scheme": "employee", "setting": "inpatient",
               "service_date": dt.date(2025, 6, 20), "settle_date": dt.date(2025, 6, 20), "settle_year": 2025,
               "total_cost": Decimal("1000.00"), "fund_paid": Decimal("800.00"), "agreement_start": dt.date(2015, 1, 1),
               "agreement_end": dt.date(2024, 12, 31), "reason": "after_end"}
        src["settle_outside_agreement"] = pa.Table.from_pylist([row], schema=ex_schema)
    return src


def payment_fixture_outside() -> dict[str, pa.Table]:
    return payment_fixture(outside_agreement=True)


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


# --- writing the year --------------------------------------------------------------------------------

RATE_COLUMNS = (("scheme", "险种"), ("kind", "费率类型"), ("month", "月份"), ("budget", "预算（元）"),
                ("points", "病例权重"), ("value", "费率（元/权重）"), ("note", "说明"))
WEIGHT_COLUMNS = (("group_id", "DRG"), ("name", "DRG 名称"), ("cases", "历史病例数"), ("cases_kept", "剔除离群后病例数"),
                  ("avg_cost", "平均费用（年度加权）"), ("relative", "相对权重 RW"), ("reference_cost", "全部病例平均费用"))
CASE_COLUMNS = (("case_id", "病例号"), ("institution_id", "机构编码"), ("scheme", "险种"), ("settle_year", "结算年度"),
                ("settle_month", "结算月份"), ("status", "分组状态"), ("drg", "DRG"), ("drg_name", "DRG 名称"),
                ("rw", "相对权重 RW"),
                ("avg_cost", "DRG 平均费用"), ("total_cost", "医疗总费用"), ("outlier", "倍率"),
                ("adjusted_weight", "调整后权重"), ("coefficient", "机构系数"), ("case_weight", "病例权重"),
                ("method", "结算方式"), ("item_reason", "按项目结算原因"), ("fund_paid", "统筹基金记账"),
                ("los_days", "住院天数"))
ITEM_COLUMNS = (("scheme", "险种"), ("institution_id", "机构编码"), ("name", "机构名称"), ("cases", "按项目结算病例数"),
                ("total_cost", "医疗总费用"), ("paid", "按项目支付（统筹基金记账）"))


WEIGHTS_REPORT_COLUMNS = (("kind", "问题"), ("drg", "DRG"), ("cases", "本年病例数"), ("message", "说明"))
WEIGHTS_REPORT_ZH = {"unknown_drg": "权重表中的 DRG 不在分组标准中", "missing_weight": "有病例的 DRG 没有权重",
                     "name_differs": "名称与分组标准不同"}


def write_drg_year(y: DrgYear, weights: pa.Table, case_pay: pa.Table, out_dir: Path,
                   statements: bool = True, names: Mapping[str, str] | None = None, issuer=None,
                   deduction_lines=(), weights_report: list[dict] | None = None) -> list[Path]:
    """The year's files; ``names``: DRG → name (the standards'), written beside every DRG code;
    ``weights_report``: what an official weight table and the cases disagree on
    (:func:`yibao.drg.weights.check_weights`), written as weights_report.csv when given."""
    import json

    import pyarrow.compute as pc

    from yibao.engine.columns import relabel
    from yibao.engine.csvfile import csv_bytes
    from yibao.engine.excel import write_workbook
    from yibao.settle.report import DRG_CLEARING_COLUMNS as CLEARING_COLUMNS
    from yibao.settle.report import DRG_PREPAY_COLUMNS as PREPAY_COLUMNS
    from yibao.settle.report import SCHEME_ZH, scheme_rows, write_csv

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = dict(names or {})
    files = [write_csv(out_dir / "weights.csv", WEIGHT_COLUMNS, with_drg_names(weights.to_pylist(), names, "group_id"))]
    if weights_report is not None:
        files.append(write_csv(out_dir / "weights_report.csv", WEIGHTS_REPORT_COLUMNS,
                               [{**p, "kind": WEIGHTS_REPORT_ZH[p["kind"]]} for p in weights_report]))
    # every case of the year, one CSV row each: written over whole columns (yibao.engine.csvfile)
    cases = case_pay.filter(pc.equal(case_pay.column("settle_year"), y.year))
    cases = cases.append_column("drg_name", pc.take(pa.array(list(names.values()), pa.string()),
                                                    pc.index_in(cases.column("drg"),
                                                                value_set=pa.array(list(names), pa.string()))))
    labels = {"outlier": OUTLIER_ZH, "item_reason": ITEM_ZH,
              "method": {"drg": "按 DRG", "item": "按项目", "excluded": "协议期外不予结算"},
              "scheme": SCHEME_ZH}
    cases = pa.table({k: relabel(cases.column(k), labels[k]) if k in labels else cases.column(k)
                      for k, _ in CASE_COLUMNS})
    (out_dir / "cases.csv").write_bytes(csv_bytes(cases.rename_columns([zh for _, zh in CASE_COLUMNS])))
    files.append(out_dir / "cases.csv")
    rates = [{**r, "scheme": SCHEME_ZH[r["scheme"]],
              "kind": {"budget": "预算费率", "provisional": "月度预付费率", "settlement": "结算费率"}[r["kind"]]}
             for r in y.rates]
    files.append(write_csv(out_dir / "base_rates.csv", RATE_COLUMNS, rates))
    pre, clr = [], []
    for s in y.drg.values():
        p, c = scheme_rows(s, "按 DRG", y.institutions)
        pre += p
        clr += c
    items = [{**i, "scheme": SCHEME_ZH[i["scheme"]], "name": y.institutions.get(i["institution_id"], {}).get("name", "")}
             for i in y.item]
    files += [write_csv(out_dir / "prepayments.csv", PREPAY_COLUMNS, pre),
              write_csv(out_dir / "clearing.csv", CLEARING_COLUMNS, clr),
              write_csv(out_dir / "item.csv", ITEM_COLUMNS, items),
              write_csv(out_dir / "exclusions.csv", EXCLUSION_COLUMNS, y.excluded)]
    if y.deductions:
        files.append(write_csv(out_dir / "deductions_not_applied.csv", NOT_APPLIED_COLUMNS,
                               y.deductions["not_applied"]))
    summary = {"year": y.year, "weights_version": y.weights_version, "schemes": {
        s: {"budget_after_item": str(x.budget), "weight": str(x.units), "base_rate": str(x.value_shown),
            "entitled": str(x.entitled), "balance": str(x.balance),
            "item_paid": str(sum((i["paid"] for i in y.item if i["scheme"] == s), ZERO))} for s, x in y.drg.items()},
        "outside_agreement": exclusion_summary(y.excluded)}
    if y.deductions:
        d = y.deductions
        summary["deductions"] = {"given": str(d["given"]), "applied": str(d["applied"]),
                                 "not_applied": str(sum((r["amount"] for r in d["not_applied"]), ZERO)),
                                 "line": summary_line(d["given"], d["applied"], d["not_applied"])}
    (out_dir / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                                          encoding="utf-8")
    files.append(out_dir / "summary.json")
    if statements:
        sdir = out_dir / "statements"
        sdir.mkdir(exist_ok=True)
        for i in sorted({r["institution_id"] for r in clr} | {r["institution_id"] for r in items}):
            mine = with_drg_names(cases.filter(pc.equal(cases.column("institution_id"), i)).to_pylist(), names, "drg")
            sheets = drg_statement_sheets(y, i, clr, pre, items, mine, issuer, deduction_lines)
            path = safe_path(sdir, safe_id(i), suffix=".xlsx")  # (an institution code from data: never a path)
            write_workbook(path, sheets)
            files.append(path)
    return files


# --- the institution's statement (结算单) ---------------------------------------------------------------

CASE_KINDS = {"case_id": "code", "settle_year": "int", "settle_month": "int", "drg": "code", "rw": "weight",
              "avg_cost": "money", "total_cost": "money", "adjusted_weight": "weight", "coefficient": "weight",
              "case_weight": "weight", "fund_paid": "money", "los_days": "int", "adrg": "code"}
NAMED_CASE_COLUMNS = tuple(c for k in CASE_COLUMNS if k[0] != "drg_name" for c in
                           ((k,) if k[0] != "drg" else (k, ("drg_name", "DRG 名称"), ("adrg", "ADRG"),
                                                        ("adrg_name", "ADRG 名称"))))
_CC_SUFFIX = re.compile(r"，(伴严重并发症或合并症|伴并发症或合并症|不伴并发症或合并症|伴重要并发症或合并症)$")


def adrg_name(drg_name: str) -> str:
    """An ADRG's name from one of its DRGs' names (the standards have no ADRG name table): the DRG name
    without its complication suffix (``脊髓手术，伴严重并发症或合并症`` → ``脊髓手术``)."""
    return _CC_SUFFIX.sub("", drg_name)


def with_drg_names(rows: list[dict], names: Mapping[str, str] | None, key: str) -> list[dict]:
    """Rows with the DRG name, its ADRG (the first three characters) and the ADRG name beside ``key``."""
    names = names or {}
    out = []
    for r in rows:
        code = r.get(key) or ""
        nm = names.get(code, "")
        out.append({**r, "drg_name": nm, "name": nm if key == "group_id" else r.get("name"),
                    "adrg": code[:3] or None, "adrg_name": adrg_name(nm) if nm else ""})
    return out


def drg_statement_sheets(y: DrgYear, i: str, clr: list[dict], pre: list[dict], items: list[dict],
                         cases: list[dict], issuer=None, deduction_lines=()) -> list:
    """One institution's DRG statement: clearing (with the statement head), months, by-item cases, cases,
    the deductions behind the clearing's 审核扣款."""
    nm = y.institutions.get(i, {}).get("name", "")
    mine = [r for r in clr if r["institution_id"] == i]
    notes = statement_head("DRG 付费结算单", "DRG", y.year, i, nm, issuer) + [
        "金额单位：元；费率为精确值的显示（6 位小数）；DRG 金额 = 病例权重 × 费率（元/权重）"]
    return [statement_sheet("年终清算", DRG_CLEARING_COLUMNS, mine, notes, skip=("name", "level"), filter=False),
            statement_sheet("按月预付", DRG_PREPAY_COLUMNS, [r for r in pre if r["institution_id"] == i],
                            [f"{nm}（{i}）{y.year} 年按月预付"], skip=("name",)),
            statement_sheet("按项目结算", ITEM_COLUMNS, [r for r in items if r["institution_id"] == i],
                            [f"{nm}（{i}）{y.year} 年按项目结算"], skip=("name",)),
            table_sheet("病例", kinds_of(NAMED_CASE_COLUMNS), cases, [f"{nm}（{i}）{y.year} 年结算病例"],
                        kinds=CASE_KINDS, skip=("institution_id",), total=True,
                        totals={"avg_cost": False, "case_weight": True}),
            deduction_sheet(deduction_lines, i, sum((r["deductions"] for r in mine), ZERO))]
