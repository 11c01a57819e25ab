"""Expenditure projection (基金支出预测) for 3–5 years, and its backtest.

人社部发〔2012〕70号 三(一) asks for the expenditure budget from recent payments together with enrolment, age
structure, disease spectrum and policy changes. The method (docs/fund.md):

1. **Enrolment by age** (参保人数与年龄结构): the persons insured at mid-year of the last fit year, aged forward one
   year per projected year, thinned by each age band's observed death rate, plus the observed yearly births
   entering at age 0.
2. **Use and cost per person by age band** (人均基金支出): the fund paid on the cases of the last fit year ÷ the
   persons of the band, per scheme, setting (inpatient, outpatient) and age band.
3. **Trend** (趋势): the age-standardised per-person fund expenditure of each scheme × setting (every fit year's
   band figures weighted by the last fit year's age structure, so the ageing is not counted twice), grown at its
   compound annual rate between the first and last fit year (``projection.trend = "cagr"``) or not at all.
4. **Scenario**: ``scenario.expenditure_factor`` multiplies the projected expenditure (policy change).

Projected fund = Σ bands persons(t, band) × per-person(band) × (1 + g)^(t − last) × factor. The aggregation is SQL
(DuckDB); the arithmetic over the few dozen (scheme, setting, band) cells is exact Decimal, money rounded
ROUND_HALF_UP to the fen at the end. The backtest fits on years before a year that is in the data and compares.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

import duckdb

from yibao.contract.params import Values
from yibao.engine.money import ZERO

__all__ = ["Projection", "ProjectedRow", "project", "backtest", "actual_expenditure"]

CENT = Decimal("0.01")
Q4 = Decimal("0.0001")
SETTINGS = ("inpatient", "outpatient")


@dataclass(frozen=True)
class ProjectedRow:
    year: int
    scheme: str
    setting: str
    enrolled: int
    per_capita: Decimal  # 人均基金支出 (yuan, 2 places)
    expenditure: Decimal  # 预测基金支出


@dataclass(frozen=True)
class Projection:
    fit_years: tuple[int, ...]
    rows: list[ProjectedRow]
    growth: dict[tuple[str, str], Decimal]  # (scheme, setting) → yearly growth of the standardised per-person cost
    bands: tuple[int, ...]


def _band_sql(bands: tuple[int, ...], age: str) -> str:
    parts = " ".join(f"WHEN {age} >= {b} THEN {b}" for b in sorted(bands, reverse=True))
    return f"CASE {parts} ELSE 0 END"


def _age(at: str) -> str:
    return (f"(date_diff('year', i.birth_date, {at}) - "
            f"CASE WHEN strftime(i.birth_date, '%m-%d') > strftime({at}, '%m-%d') THEN 1 ELSE 0 END)")


def project(con: duckdb.DuckDBPyConnection, fit_years: tuple[int, ...], policy: Values,
            horizon: int | None = None) -> Projection:
    """Project ``horizon`` years (default ``projection.years``) after the last of ``fit_years``."""
    con = con.cursor()
    fit = tuple(sorted(fit_years))
    last = fit[-1]
    horizon = horizon or policy["projection.years"]
    bands = tuple(policy["projection.age_bands"])
    factor = policy["scenario.expenditure_factor"]
    mid = "make_date(y.year, 7, 1)"
    band = _band_sql(bands, _age(mid))
    years_sql = ", ".join(f"({y})" for y in fit)
    # persons at mid-year and the fund of their cases, per fit year × scheme × band (× setting)
    persons = {(int(y), s, int(b)): int(n) for y, s, b, n in con.execute(f"""
        WITH y(year) AS (VALUES {years_sql})
        SELECT y.year, i.scheme, {band} AS band, COUNT(*) FROM main.insured i, y
        WHERE i.birth_date <= {mid} AND (i.death_date IS NULL OR i.death_date > {mid}) GROUP BY ALL""").fetchall()}
    fund = {(int(y), s, st, int(b)): Decimal(a) for y, s, st, b, a in con.execute(f"""
        WITH y(year) AS (VALUES {years_sql})
        SELECT y.year, c.scheme, c.setting, {band} AS band, SUM(c.fund_paid)
        FROM main.cases c JOIN main.insured i USING (person_id) JOIN y ON year(c.settle_date) = y.year
        GROUP BY ALL""").fetchall()}
    deaths = {(s, int(b)): (int(d), int(n)) for s, b, d, n in con.execute(f"""
        WITH y(year) AS (VALUES {years_sql})
        SELECT i.scheme, {band} AS band, COUNT(*) FILTER (WHERE year(i.death_date) = y.year), COUNT(*)
        FROM main.insured i, y
        WHERE i.birth_date <= {mid} AND (i.death_date IS NULL OR i.death_date > {mid}) GROUP BY ALL""").fetchall()}
    births = {s: int(n) for s, n in con.execute(f"""
        SELECT scheme, COUNT(*) FROM main.insured WHERE year(birth_date) IN ({', '.join(map(str, fit))})
        GROUP BY ALL""").fetchall()}
    # persons alive at the last fit year's mid-year, aged forward: count by (scheme, future year, band)
    future = {(s, int(t), int(b)): int(n) for s, t, b, n in con.execute(f"""
        WITH y(year) AS (VALUES ({last})), f(k) AS (SELECT * FROM range(1, {horizon + 1}))
        SELECT i.scheme, {last} + f.k AS t, {_band_sql(bands, _age(mid) + ' + f.k')} AS band, COUNT(*)
        FROM main.insured i, y, f
        WHERE i.birth_date <= {mid} AND (i.death_date IS NULL OR i.death_date > {mid}) GROUP BY ALL""").fetchall()}
    schemes = sorted({k[1] for k in persons})
    growth: dict[tuple[str, str], Decimal] = {}
    rows: list[ProjectedRow] = []
    with localcontext() as ctx:
        ctx.prec = 34
        for s in schemes:
            weights = {b: persons.get((last, s, b), 0) for b in bands}
            total_w = sum(weights.values())
            yearly_births = Decimal(births.get(s, 0)) / len(fit)
            survival = {b: (Decimal(1) - Decimal(d) / n) if n else Decimal(1)
                        for b in bands for d, n in [deaths.get((s, b), (0, 0))]}
            for st in SETTINGS:
                def per_capita(y: int, b: int) -> Decimal:
                    n = persons.get((y, s, b), 0)
                    return fund.get((y, s, st, b), ZERO) / n if n else ZERO

                std = {y: (sum((per_capita(y, b) * weights[b] for b in bands), ZERO) / total_w if total_w else ZERO)
                       for y in fit}
                g = ZERO
                if policy["projection.trend"] == "cagr" and len(fit) > 1 and std[fit[0]] > 0 and std[last] > 0:
                    g = ((std[last] / std[fit[0]]).ln() / (last - fit[0])).exp() - 1
                growth[(s, st)] = g.quantize(Q4, rounding=ROUND_HALF_UP)
                for k in range(1, horizon + 1):
                    t = last + k
                    total = ZERO
                    enrolled = ZERO
                    for b in bands:
                        n = Decimal(future.get((s, t, b), 0)) * survival[b] ** k
                        if b == bands[0]:  # newborns of the years since, still under the first band's upper bound
                            upper = bands[1] if len(bands) > 1 else 200
                            n += yearly_births * min(k, upper)
                        enrolled += n
                        total += n * per_capita(last, b)
                    exp = total * (1 + g) ** k * factor
                    e_int = int(enrolled.to_integral_value(rounding=ROUND_HALF_UP))
                    rows.append(ProjectedRow(t, s, st, e_int,
                                             (exp / enrolled).quantize(CENT, rounding=ROUND_HALF_UP) if enrolled else ZERO,
                                             exp.quantize(CENT, rounding=ROUND_HALF_UP)))
    return Projection(fit, sorted(rows, key=lambda r: (r.year, r.scheme, r.setting)), growth, bands)


def actual_expenditure(con: duckdb.DuckDBPyConnection, year: int) -> dict[tuple[str, str], Decimal]:
    """The cases' fund payment of ``year`` per (scheme, setting)."""
    return {(s, st): Decimal(a) for s, st, a in con.execute(
        "SELECT scheme, setting, SUM(fund_paid) FROM main.cases WHERE year(settle_date) = ? GROUP BY ALL",
        [year]).fetchall()}


def backtest(con: duckdb.DuckDBPyConnection, fit_years: tuple[int, ...], target: int, policy: Values) -> list[dict]:
    """Fit on ``fit_years``, project ``target`` (after the last fit year), compare with what the cases say:
    per (scheme, setting) and per scheme, the error (预测 − 实际) and its share of the actual."""
    fit = tuple(sorted(fit_years))
    p = project(con, fit, policy, horizon=target - fit[-1])
    actual = actual_expenditure(con, target)
    out = []
    by_scheme: dict[str, list[Decimal]] = {}
    for r in p.rows:
        if r.year != target:
            continue
        a = actual.get((r.scheme, r.setting), ZERO)
        by_scheme.setdefault(r.scheme, [ZERO, ZERO])
        by_scheme[r.scheme][0] += r.expenditure
        by_scheme[r.scheme][1] += a
        out.append(_err(target, r.scheme, r.setting, r.expenditure, a, fit))
    for s, (pred, a) in sorted(by_scheme.items()):
        out.append(_err(target, s, "all", pred, a, fit))
    return out


def _err(year: int, scheme: str, setting: str, pred: Decimal, actual: Decimal, fit: tuple[int, ...]) -> dict:
    e = pred - actual
    return {"target_year": year, "fit_years": "、".join(map(str, fit)), "scheme": scheme, "setting": setting,
            "projected": pred, "actual": actual, "error": e,
            "error_share": (e / actual).quantize(Q4, rounding=ROUND_HALF_UP) if actual else None}
