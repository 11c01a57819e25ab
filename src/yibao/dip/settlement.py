"""DIP settlement (点值与结算): point values, monthly prepayment, year-end clearing; 按床日 and 按人头.

The heavy part — millions of scored cases and outpatient visits — is aggregated by two registered runner
pipelines into per institution × month rows (:data:`DIP_SETTLE_UNITS`, :data:`DIP_PER_CAPITA`); the money
is then computed exactly on those small tables by the shared machinery of :mod:`yibao.settle.units`
(the same code settles DRG), so the year of 10 M cases is a few seconds of SQL and a few thousand
``Decimal`` rows.

Per scheme (职工 / 城乡居民), for settlement year Y (cases by their settlement date, 结算日期):

- DIP: every scored inpatient case (``scored``, ``reviewed``, ``review``) that is not a bed-day case earns
  its points. The inpatient pot B (the budget's final total for the scheme, from ``yibao budget``) is
  settled by points: budget point value (预算点值) = B ÷ the weighted points of the history years,
  monthly provisional values (月度预付点值) = B_m ÷ the month's points, settlement point value (结算点值)
  = B ÷ the year's points; prepayment with the quality deposit, and the clearing with the 结余留用、超支
  分担 bands of the budget policy.
- 按床日: a case of at least ``bed_day.min_days`` days with a psychiatric or rehabilitation principal
  diagnosis leaves DIP and is paid days × the daily rate of its kind and its institution's level; when
  the scheme's sum passes the fund's ``bed_day`` figure, that figure is shared in proportion.
- 按人头: outpatient pooling (门诊统筹) of institutions of ``per_capita.kinds``: the scheme's outpatient
  pot is settled by attributed persons (units = persons each month), with the same bands against the
  outpatient fund those institutions booked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

import pyarrow as pa

from yibao.contract.vocab import KIND_FULL_ZH, MONEY, SETTING_ZH
from yibao.dip.inputs import workspace_sources
from yibao.dip.policy import DipPolicy, SettlementParams
from yibao.engine.money import ZERO, decimal_view, fmt
from yibao.engine.runner import Pipeline, Step, query_arrow, run_final
from yibao.settle.agreement import (
    NOT_EXCLUDED,
    OUTSIDE_AGREEMENT,
    WHOLLY_EXCLUDED_ZH,
    agreement_sources,
    exclusion_rows,
    months_in_force,
    wholly_excluded,
)
from yibao.settle.bands import Bands
from yibao.settle.deductions import Deduction, by_institution, reconciled
from yibao.settle.inbound import keep_cases, kept_case_ids
from yibao.settle.pots import Budgets
from yibao.settle.units import (
    SchemeSettlement,
    UnitMonth,
    UnitPolicy,
    booked_by_institution,
    last_year_weights,
    pro_rata_cap,
    settle_scheme,
)
from yibao.settle.units import split_deductions as settle_split

__all__ = ["DIP_SETTLE_UNITS", "DIP_PER_CAPITA", "OUTSIDE_AGREEMENT", "Budgets", "DipYear", "BedDayRow", "SCHEMES",
           "settle_sources", "budget_point_value", "settle_year", "history_from_units", "run_settlement",
           "split_deductions"]

UNITS = pa.decimal128(18, 4)
SCHEMES = ("employee", "resident")

SETTLE_PARAMS_SCHEMA = pa.schema([("year", pa.int32()), ("bed_min_days", pa.int32())])
BED_RULES_SCHEMA = pa.schema([("prefix", pa.string()), ("bed_kind", pa.string())])
CAPITA_KINDS_SCHEMA = pa.schema([("kind", pa.string())])


def settle_sources(year: int, sp: SettlementParams) -> dict[str, pa.Table]:
    """The small parameter tables the settlement pipelines read beside the cases."""
    rules = [(p, k) for k in sorted(sp.bed_prefixes) for p in sp.bed_prefixes[k]]
    return {
        "dip_settle_params": pa.table({"year": [year], "bed_min_days": [sp.bed_min_days]}, schema=SETTLE_PARAMS_SCHEMA),
        "dip_bed_rules": pa.table({"prefix": [p for p, _ in rules], "bed_kind": [k for _, k in rules]},
                                  schema=BED_RULES_SCHEMA),
        "dip_capita_kinds": pa.table({"kind": list(sp.capita_kinds)}, schema=CAPITA_KINDS_SCHEMA),
    }


SETTLE_UNITS = Step(
    name="dip_settle_units",
    main="dip_case_points",
    mode="partitioned",
    partition_by=("institution_id",),
    broadcast=("dip_settle_params", "dip_bed_rules", "settle_outside_agreement"),
    sql="""
WITH c AS (
    SELECT d.*,
           (SELECT arg_max(r.bed_kind, length(r.prefix)) FROM dip_bed_rules r
             WHERE starts_with(coalesce(d.principal_dx, ''), r.prefix)) AS bed_kind_match
    FROM dip_case_points d, dip_settle_params p
    WHERE d.settle_year <= p.year AND d.scheme IS NOT NULL
      AND """ + NOT_EXCLUDED.format(alias="d") + """  -- services outside the agreement are not settled
),
m AS (
    SELECT c.*,
           CASE WHEN c.bed_kind_match IS NOT NULL AND c.los_days >= p.bed_min_days THEN 'bed_day'
                WHEN c.status IN ('scored', 'reviewed', 'review') THEN 'dip'
                ELSE 'unscored' END AS method
    FROM c, dip_settle_params p
)
SELECT settle_year AS year, scheme, institution_id, settle_month AS month, method,
       CASE WHEN method = 'bed_day' THEN bed_kind_match ELSE '' END AS bed_kind,
       CAST(count(*) AS BIGINT) AS cases,
       CAST(coalesce(sum(points) FILTER (WHERE method = 'dip'), 0) AS DECIMAL(18, 4)) AS units,
       CAST(sum(CASE WHEN method = 'bed_day' THEN greatest(los_days, 1) ELSE 0 END) AS BIGINT) AS bed_days,
       CAST(sum(total_cost) AS DECIMAL(18, 2)) AS total_cost,
       CAST(sum(fund_paid) AS DECIMAL(18, 2)) AS fund_paid
FROM m
GROUP BY ALL
""",
    schema=pa.schema([("year", pa.int32()), ("scheme", pa.string()), ("institution_id", pa.string()),
                      ("month", pa.int32()), ("method", pa.string()), ("bed_kind", pa.string()),
                      ("cases", pa.int64()), ("units", UNITS), ("bed_days", pa.int64()),
                      ("total_cost", MONEY), ("fund_paid", MONEY)]),
    order_by=("year", "scheme", "institution_id", "month", "method", "bed_kind"),
    doc="结算年度及以前各年度：每机构每月的 DIP 点数、床日病例与床日数、其他（不能入组）病例，及其费用与统筹基金记账"
        "（服务协议期外的病例不计）",
)

DIP_SETTLE_UNITS = Pipeline(
    name="dip_settle_units",
    steps=(SETTLE_UNITS,),
    doc="DIP 结算输入：按机构、月份、结算方式汇总病例点数与费用",
)

CAPITA_ATTRIBUTION = Step(
    name="dip_capita_persons",
    main="cases",
    mode="partitioned",
    partition_by=("person_id",),
    broadcast=("dip_settle_params", "institutions", "dip_capita_kinds", "settle_outside_agreement"),
    sql="""
WITH v AS (
    SELECT c.person_id, c.scheme, c.institution_id, count(*) AS visits
    FROM cases c, dip_settle_params p
    WHERE c.setting = 'outpatient' AND year(c.settle_date) = p.year AND c.scheme IS NOT NULL
      AND """ + NOT_EXCLUDED.format(alias="c") + """
      AND c.institution_id IN (SELECT i.institution_id FROM institutions i
                               WHERE i.kind IN (SELECT kind FROM dip_capita_kinds))
    GROUP BY ALL
)
SELECT person_id, scheme, institution_id, CAST(visits AS BIGINT) AS visits
FROM v
QUALIFY row_number() OVER (PARTITION BY person_id, scheme ORDER BY visits DESC, institution_id) = 1
""",
    schema=pa.schema([("person_id", pa.string()), ("scheme", pa.string()), ("institution_id", pa.string()),
                      ("visits", pa.int64())]),
    order_by=("person_id", "scheme"),
    doc="按人头：每人归属其年度门诊就诊次数最多的基层机构（并列取机构编码最小者）",
)

CAPITA_PERSONS = Step(
    name="dip_capita_units",
    main="dip_capita_persons",
    mode="partitioned",
    partition_by=("institution_id",),
    sql="""
SELECT scheme, institution_id, CAST(count(*) AS BIGINT) AS persons
FROM dip_capita_persons GROUP BY ALL
""",
    schema=pa.schema([("scheme", pa.string()), ("institution_id", pa.string()), ("persons", pa.int64())]),
    order_by=("scheme", "institution_id"),
    doc="按人头：每机构每险种的归属人数",
)

CAPITA_BOOKED = Step(
    name="dip_capita_booked",
    main="cases",
    mode="partitioned",
    partition_by=("institution_id",),
    broadcast=("dip_settle_params", "institutions", "dip_capita_kinds", "settle_outside_agreement"),
    sql="""
SELECT CAST(year(c.settle_date) AS INTEGER) AS year, c.scheme, c.institution_id,
       CAST(month(c.settle_date) AS INTEGER) AS month, CAST(count(*) AS BIGINT) AS visits,
       CAST(sum(c.total_cost) AS DECIMAL(18, 2)) AS total_cost, CAST(sum(c.fund_paid) AS DECIMAL(18, 2)) AS fund_paid
FROM cases c, dip_settle_params p
WHERE c.setting = 'outpatient' AND year(c.settle_date) IN (p.year, p.year - 1) AND c.scheme IS NOT NULL
  AND """ + NOT_EXCLUDED.format(alias="c") + """
  AND c.institution_id IN (SELECT i.institution_id FROM institutions i
                           WHERE i.kind IN (SELECT kind FROM dip_capita_kinds))
GROUP BY ALL
""",
    schema=pa.schema([("year", pa.int32()), ("scheme", pa.string()), ("institution_id", pa.string()),
                      ("month", pa.int32()), ("visits", pa.int64()), ("total_cost", MONEY), ("fund_paid", MONEY)]),
    order_by=("year", "scheme", "institution_id", "month"),
    doc="按人头：基层机构门诊统筹的月度记账（结算年度及上年度）",
)

DIP_PER_CAPITA = Pipeline(
    name="dip_per_capita",
    steps=(CAPITA_ATTRIBUTION, CAPITA_PERSONS, CAPITA_BOOKED),
    doc="按人头付费输入：归属人数与门诊统筹记账",
)


# --- exact money on the aggregates ----------------------------------------------------------------

@dataclass
class BedDayRow:
    scheme: str
    institution_id: str
    level: str
    bed_kind: str
    cases: int
    bed_days: int
    rate: Decimal
    standard: Decimal  # days × rate
    payable: Decimal  # after the pro-rata cap
    booked: Decimal


@dataclass
class DipYear:
    year: int
    policy: dict
    point_values: list[dict]
    dip: dict[str, SchemeSettlement]
    capita: dict[str, SchemeSettlement]
    bed_day: list[BedDayRow]
    bed_day_capped: dict[str, bool]
    unscored: list[dict]
    institutions: dict[str, dict] = field(default_factory=dict)
    excluded: list[dict] = field(default_factory=list)  # exclusions.csv rows: services outside the agreement
    deductions: dict = field(default_factory=dict)       # given, applied, not_applied (rows with the reason)


def _unit_months(rows: list[dict], year: int, scheme: str, units_key: str = "units") -> list[UnitMonth]:
    acc: dict[tuple[str, int], list] = {}
    for r in rows:
        if r["year"] != year or r["scheme"] != scheme:
            continue
        a = acc.setdefault((r["institution_id"], r["month"]), [Decimal(0), 0, ZERO, ZERO])
        a[0] += Decimal(r[units_key])
        a[1] += r["cases"]
        a[2] += r["total_cost"]
        a[3] += r["fund_paid"]
    return [UnitMonth(i, m, *acc[(i, m)]) for i, m in sorted(acc)]


def _last_year(rows: list[dict], year: int, scheme: str) -> list[int] | None:
    month_fund: dict[int, Decimal] = {}
    for r in rows:
        if r["year"] == year - 1 and r["scheme"] == scheme:
            month_fund[r["month"]] = month_fund.get(r["month"], ZERO) + r["fund_paid"]
    return last_year_weights(month_fund)


def budget_point_value(budget: Decimal, history_points: Mapping[int, Decimal], weights: Mapping[int, Decimal]) \
        -> tuple[Decimal | None, Decimal]:
    """预算点值 = B ÷ the history's points weighted by year (Σ w_y × P_y ÷ Σ w_y); None without history."""
    wsum = sum((weights[y] for y in history_points if y in weights), Decimal(0))
    if not wsum:
        return None, Decimal(0)
    expected = sum((Fraction(weights[y]) * Fraction(p) for y, p in history_points.items() if y in weights),
                   Fraction(0)) / Fraction(wsum)
    if expected <= 0:
        return None, Decimal(0)
    return decimal_view(Fraction(budget) / expected, 6), decimal_view(expected, 4)


def settle_year(year: int, units: pa.Table, capita_units: pa.Table, capita_booked: pa.Table,
                institutions: pa.Table, budgets: Budgets, policy: DipPolicy, bands: Bands,
                scores: Mapping[str, Decimal], default_score: Decimal,
                deductions: Mapping[tuple[str, str], Decimal] | None = None,
                history_points: Mapping[tuple[str, int], Decimal] | None = None,
                capita_deductions: Mapping[tuple[str, str], Decimal] | None = None) -> DipYear:
    """The DIP year over the pipelines' aggregates. ``deductions[(scheme, institution_id)]`` in fund money
    (inpatient findings, against the DIP clearing); ``capita_deductions`` likewise for outpatient findings,
    against the per-capita clearing."""
    sp = policy.settlement
    deductions = dict(deductions or {})
    inst = {r["institution_id"]: r for r in institutions.to_pylist()}
    rows = units.to_pylist()
    dip_rows = [r for r in rows if r["method"] == "dip"]
    bed_rows = [r for r in rows if r["method"] == "bed_day" and r["year"] == year]
    unscored = [r for r in rows if r["method"] == "unscored" and r["year"] == year]
    up = UnitPolicy(sp.convention, sp.reimbursement_ratio, sp.deposit_rate, sp.prepay_cap)
    dip, capita, values = {}, {}, []
    yw = dict(zip(policy.years, policy.year_weights)) if policy.years else {}
    for scheme in SCHEMES:
        if scheme not in budgets.inpatient:
            continue
        ded = {i: a for (s, i), a in deductions.items() if s == scheme}
        weights = _last_year(dip_rows, year, scheme) if sp.seasonality == "last_year" else None
        s = settle_scheme(scheme, budgets.inpatient[scheme], _unit_months(dip_rows, year, scheme), up, bands,
                          scores, default_score, ded, weights)
        dip[scheme] = s
        hist = {y: p for (sc, y), p in (history_points or {}).items() if sc == scheme and y < year}
        if not yw and hist:  # weights of the catalogue's default (oldest → newest) over the latest history years
            ys = sorted(hist)[-len(policy.year_weights):]
            yw = dict(zip(ys, policy.year_weights[-len(ys):]))
        bpv, expected = budget_point_value(budgets.inpatient[scheme], hist, yw)
        values.append({"scheme": scheme, "kind": "budget", "month": None, "budget": budgets.inpatient[scheme],
                       "points": expected, "value": bpv,
                       "note": "预算点值 = 住院统筹预算 ÷ 历史年度点数加权（" +
                               "、".join(f"{y} 年 × {yw.get(y)}" for y in sorted(hist) if y in yw) + "）"
                               if bpv is not None else "无历史年度点数，未测算预算点值"})
        for mv in s.months:
            values.append({"scheme": scheme, "kind": "provisional", "month": mv.month, "budget": mv.budget,
                           "points": mv.units, "value": mv.value,
                           "note": f"月度预付点值 = 当月预算 {fmt(mv.budget_units_money)} ÷ 当月点数 {mv.units}"
                           if mv.value is not None else "当月无点数"})
        values.append({"scheme": scheme, "kind": "settlement", "month": None, "budget": s.budget, "points": s.units,
                       "value": s.value_shown,
                       "note": f"结算点值 = 年度预算 {fmt(s.budget_units_money)} ÷ 年度点数 {s.units}"
                               + (f"（总费用口径：基金预算 ÷ 报销比例 {s.ratio_shown}，{s.ratio_source}）"
                                  if s.ratio is not None else "（基金口径）")})
        # per capita: units = attributed persons, the same every month
        cu = [r for r in capita_units.to_pylist() if r["scheme"] == scheme]
        cb = capita_booked.to_pylist()
        if scheme in budgets.outpatient and cu:
            booked: dict[tuple[str, int], list] = {}
            for r in cb:
                if r["year"] == year and r["scheme"] == scheme:
                    booked[(r["institution_id"], r["month"])] = [r["visits"], r["total_cost"], r["fund_paid"]]
            persons = {r["institution_id"]: r["persons"] for r in cu}
            months = []
            for i in sorted(set(persons) | {k[0] for k in booked}):  # booked without persons: 0 units
                # units only in the months the service agreement is in force (韶关办法第四条)
                a = inst.get(i)
                force = months_in_force(a["agreement_start"], a["agreement_end"], year) if a else set(range(1, 13))
                for m in range(1, 13):
                    v, tc, fp = booked.get((i, m), [0, ZERO, ZERO])
                    months.append(UnitMonth(i, m, Decimal(persons.get(i, 0)) if m in force else Decimal(0), v, tc, fp))
            capita[scheme] = settle_scheme(scheme, budgets.outpatient[scheme], months, UnitPolicy("fund", None,
                                           sp.deposit_rate, sp.prepay_cap), bands, scores, default_score,
                                           {i: a for (sc, i), a in (capita_deductions or {}).items() if sc == scheme},
                                           None)
    # bed days: standard = days × rate; capped pro rata by the scheme's bed_day figure
    beds, capped = [], {}
    for scheme in SCHEMES:
        acc: dict[tuple[str, str], list] = {}
        for r in bed_rows:
            if r["scheme"] == scheme:
                a = acc.setdefault((r["institution_id"], r["bed_kind"]), [0, 0, ZERO])
                a[0] += r["cases"]
                a[1] += r["bed_days"]
                a[2] += r["fund_paid"]
        keys = sorted(acc)
        std = []
        for i, k in keys:
            level = str(inst.get(i, {}).get("level", "0"))
            std.append(sp.bed_rates[k][level] * acc[(i, k)][1])
        cap = budgets.bed_day.get(scheme)
        pay, was = pro_rata_cap(std, cap) if cap is not None else (std, False)
        capped[scheme] = was
        for (i, k), s_, p_ in zip(keys, std, pay):
            level = str(inst.get(i, {}).get("level", "0"))
            beds.append(BedDayRow(scheme, i, level, k, acc[(i, k)][0], acc[(i, k)][1], sp.bed_rates[k][level], s_, p_,
                                  acc[(i, k)][2]))
    return DipYear(year, {"settlement": sp.as_dict()}, values, dip, capita, beds, capped, unscored, inst)


# --- running over a workspace and writing the year ------------------------------------------------

def history_from_units(units: pa.Table) -> dict[tuple[str, int], Decimal]:
    out: dict[tuple[str, int], Decimal] = {}
    for r in units.to_pylist():
        if r["method"] == "dip":
            k = (r["scheme"], r["year"])
            out[k] = out.get(k, Decimal(0)) + r["units"]
    return out


def run_settlement(workspace, scored: pa.Table, year: int, budgets: Budgets, policy: DipPolicy, bands: Bands,
                   scores: Mapping[str, Decimal], default_score: Decimal,
                   deductions: Mapping[str, Decimal] | None = None, engine: str = "duckdb",
                   outpatient_deductions: Mapping[str, Decimal] | None = None,
                   given: list[Deduction] | None = None) -> DipYear:
    """Aggregate ``scored`` cases and the workspace's outpatient cases on ``engine``, then settle exactly.

    ``deductions`` / ``outpatient_deductions``: per institution (DEDUCTIONS of the year, inpatient and
    outpatient settings), split over schemes by the fund each institution booked in each. ``given``: the rows of
    a DEDUCTIONS file instead — the year's amounts are taken from it, and every row the settlement does not
    apply is listed with its reason (``DipYear.deductions``). Cases whose service date lies outside their
    institution's service agreement are left out (:mod:`yibao.settle.agreement`) and listed.
    """
    if given is not None:
        deductions = by_institution(given, year, "inpatient")
        outpatient_deductions = by_institution(given, year, "outpatient")
    ids = kept_case_ids(workspace, budgets.cases) if budgets.cases is not None else None
    if ids is not None:  # out-of-area: only the locally settled cases (yibao.settle.inbound)
        scored = keep_cases(scored, budgets.cases, ids)
    with workspace_sources(workspace, ("cases", "institutions"), engine) as (sources, runner):
        if ids is not None:
            sources["cases"] = keep_cases(sources["cases"], budgets.cases, ids)
        src = {**sources, "dip_case_points": scored, **settle_sources(year, policy.settlement),
               **agreement_sources(year)}
        excluded = run_final(runner, OUTSIDE_AGREEMENT, src)
        src["settle_outside_agreement"] = excluded
        units = run_final(runner, DIP_SETTLE_UNITS, src)
        cap = runner.run_pipeline(DIP_PER_CAPITA, src)
        institutions = sources["institutions"]
        if isinstance(institutions, str):
            institutions = query_arrow(runner.con, f"SELECT * FROM {institutions} ORDER BY institution_id")
    booked = booked_by_institution(cap["dip_capita_booked"].to_pylist(), year)
    # an institution none of whose services of a setting this year the agreement covers was not settled for
    # them: the deductions found on those services are not applied either (the services are not paid at all)
    gone = wholly_excluded(excluded, year, {"inpatient": {r["institution_id"] for r in units.to_pylist()
                                                          if r["year"] == year},
                                            "outpatient": set(booked)})
    ded = split_deductions({i: a for i, a in (deductions or {}).items() if ("inpatient", i) not in gone}, units, year)
    kinds = {r["institution_id"]: r["kind"] for r in institutions.to_pylist()}
    eligible = {i: a for i, a in (outpatient_deductions or {}).items()  # pharmacies etc. are not in this pot
                if kinds.get(i) in policy.settlement.capita_kinds and ("outpatient", i) not in gone}
    out_ded = settle_split(eligible, booked, SCHEMES)
    y = settle_year(year, units, cap["dip_capita_units"], cap["dip_capita_booked"], institutions, budgets, policy,
                    bands, scores, default_score, ded, history_from_units(units), out_ded)
    capita_kinds = set(policy.settlement.capita_kinds)
    y.excluded = exclusion_rows(excluded, year, y.institutions, "按病种分值（DIP）、按床日与按人头",
                                lambda r: r["setting"] == "inpatient" or kinds.get(r["institution_id"]) in capita_kinds)
    if given is not None:
        y.deductions = _reconcile_dip(y, given, kinds, policy, gone)
    return y


def _reconcile_dip(y: DipYear, given: list[Deduction], kinds: Mapping[str, str], policy: DipPolicy,
                   gone: set[tuple[str, str]]) -> dict:
    applied: dict[tuple[str, str], Decimal] = {}
    for setting, runs in (("inpatient", y.dip), ("outpatient", y.capita)):
        for s in runs.values():
            for c in s.clearing:
                if c.deductions:
                    k = (setting, c.institution_id)
                    applied[k] = applied.get(k, ZERO) + c.deductions
    pots = "、".join(KIND_FULL_ZH.get(k, k) for k in policy.settlement.capita_kinds)

    def why_not(d: Deduction) -> str:
        kind = kinds.get(d.institution_id)
        if (d.setting, d.institution_id) in gone:
            return WHOLLY_EXCLUDED_ZH.format(setting=SETTING_ZH.get(d.setting, d.setting))
        if d.setting == "outpatient":
            if kind not in policy.settlement.capita_kinds:
                return (f"门诊扣款：{KIND_FULL_ZH.get(kind, kind or '未知机构')}不参加按人头结算（只有{pots}），"
                        "本次结算没有可扣减的清算款，请另行追回")
            return "门诊扣款：该机构本年度无按人头结算（无归属人数或无门诊统筹预算），本次未扣减"
        if d.setting == "inpatient":
            return "住院扣款：本次结算中该机构没有住院清算（该险种无住院统筹预算），未扣减"
        return f"就诊类型 {d.setting!r} 不是 inpatient 或 outpatient，无法对应结算"

    return reconciled(given, y.year, applied, why_not, y.institutions)


def split_deductions(by_institution: Mapping[str, Decimal], units: pa.Table, year: int) \
        -> dict[tuple[str, str], Decimal]:
    """Institution deductions (DEDUCTIONS) split over its schemes by its DIP booked fund in each (largest remainder)."""
    return settle_split(by_institution, booked_by_institution(units.to_pylist(), year, "dip"), SCHEMES)
