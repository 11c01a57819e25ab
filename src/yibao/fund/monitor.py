"""Fund operation monitoring and early warning (基金运行监测与风险预警), month by month per scheme.

The pooled fund's (统筹基金) month:

- revenue (收入) = contributions + fiscal subsidy + interest + other revenue − the part transferred to personal
  accounts (划入个人账户), from the ``fund_flows`` table;
- expenditure (支出) = the cases' ``fund_paid`` settled in the month (inpatient and outpatient, from the workspace)
  + the expenditure items of ``fund_flows`` that are not in the cases (out-of-area settlement, special-disease
  outpatient, …);
- current balance (当期结余) = revenue − expenditure, and its rate (当期结余率 = 当期结余 ÷ 收入);
- accumulated balance (累计结余) = the latest opening balance (``opening_balance`` item, 期初累计结余) + the current
  balances since; months of expenditure it covers (累计结余可支付月数) = accumulated balance ÷ the average monthly
  expenditure of the last ``monitor.coverage_months`` months;
- year-to-date growth of expenditure and of revenue against the same months of the year before (when that year is
  in the data), per-capita expenditure (per person insured at the month's end).

Warnings by the thresholds of :mod:`yibao.fund.params`. The aggregation is set-based (DuckDB over the workspace);
the per-month arithmetic runs over at most a few dozen aggregated rows per scheme, exactly (Decimal, ROUND_HALF_UP).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pyarrow as pa

from yibao.contract.params import Values
from yibao.contract.schema import FUND_FLOWS, FUND_ITEMS, SCHEMES
from yibao.contract.vocab import SCHEME_ZH
from yibao.engine.money import ZERO, allocate

__all__ = ["MonthRow", "Warning", "Monitor", "monitor", "warnings_of", "flows_from_budget", "REVENUE_ITEMS",
           "EXPENDITURE_ITEMS", "month_list"]

REVENUE_ITEMS = ("contributions", "fiscal_subsidy", "interest", "other_revenue")
DEDUCTED_FROM_REVENUE = ("personal_account",)
EXPENDITURE_ITEMS = tuple(i for i in FUND_ITEMS if i not in REVENUE_ITEMS + DEDUCTED_FROM_REVENUE + ("opening_balance",))
CENT = Decimal("0.01")
Q4 = Decimal("0.0001")
LEVELS = ("红色", "橙色", "黄色", "提示")


def _r2(d: Decimal) -> Decimal:
    return d.quantize(CENT, rounding=ROUND_HALF_UP)


def _r4(d: Decimal) -> Decimal:
    return d.quantize(Q4, rounding=ROUND_HALF_UP)


def month_list(year: int) -> list[str]:
    return [f"{year}-{m:02d}" for m in range(1, 13)]


def _prev_months(month: str, n: int) -> list[str]:
    y, m = int(month[:4]), int(month[5:])
    out = []
    for _ in range(n):
        out.append(f"{y}-{m:02d}")
        m -= 1
        if m == 0:
            y, m = y - 1, 12
    return out


@dataclass(frozen=True)
class MonthRow:
    scheme: str
    month: str
    revenue: Decimal
    case_inpatient: Decimal
    case_outpatient: Decimal
    other_expenditure: Decimal
    expenditure: Decimal
    current_balance: Decimal
    current_balance_rate: Decimal | None
    ytd_current_balance: Decimal
    accumulated_balance: Decimal | None
    months_covered: Decimal | None
    expenditure_growth_ytd: Decimal | None
    revenue_growth_ytd: Decimal | None
    enrolled: int
    per_capita_expenditure: Decimal | None


@dataclass(frozen=True)
class Warning:
    scheme: str
    month: str
    level: str  # 红色 / 橙色 / 黄色 / 提示
    indicator: str
    value: Decimal
    threshold: Decimal | None
    message: str
    source: str


@dataclass
class Monitor:
    year: int
    rows: list[MonthRow]
    warnings: list[Warning]
    flows_months: list[str]
    notes: list[str] = field(default_factory=list)


def _flows(con: duckdb.DuckDBPyConnection, flows: pa.Table | None, years: tuple[int, int]) -> dict:
    """{(scheme, month, item): amount} of the ledger (the given table, else the workspace's fund_flows)."""
    if flows is not None:
        con.register("_fund_flows_given", flows)
        src = "_fund_flows_given"
    else:
        has = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' "
                          "AND table_name = 'fund_flows'").fetchone()[0]
        if not has:  # a workspace made before the ledger was part of the contract: no ledger
            return {}
        src = "main.fund_flows"
    rows = con.execute(f"""SELECT scheme, month, item, SUM(amount) FROM {src}
        WHERE CAST(substr(month, 1, 4) AS INTEGER) BETWEEN ? AND ? GROUP BY ALL""", list(years)).fetchall()
    if flows is not None:
        con.unregister("_fund_flows_given")
    return {(s, m, i): Decimal(a) for s, m, i, a in rows}


def monitor(con: duckdb.DuckDBPyConnection, year: int, policy: Values, flows: pa.Table | None = None) -> Monitor:
    """Month by month fund indicators and warnings of ``year`` from the workspace behind ``con`` (tables ``cases``,
    ``insured``, ``fund_flows``) or a given ledger ``flows`` (the ``fund_flows`` contract columns)."""
    con = con.cursor()  # a cursor of its own: the caller's connection may hold an unfinished result
    if flows is not None:
        flows = flows.select(FUND_FLOWS.column_names).cast(FUND_FLOWS.arrow_schema())
    ledger = _flows(con, flows, (year - 2, year))
    cases = {(s, m, st): Decimal(a) for s, m, st, a in con.execute("""
        SELECT scheme, strftime(settle_date, '%Y-%m'), setting, SUM(fund_paid) FROM main.cases
        WHERE year(settle_date) BETWEEN ? AND ? GROUP BY ALL""", [year - 2, year]).fetchall()}
    enrolled = {(s, m): int(n) for s, m, n in con.execute("""
        WITH m AS (SELECT strftime(d, '%Y-%m') AS month, CAST(d + INTERVAL 1 MONTH - INTERVAL 1 DAY AS DATE) AS month_end
                   FROM range(make_date(?, 1, 1), make_date(? + 1, 1, 1), INTERVAL 1 MONTH) t(d))
        SELECT i.scheme, m.month, COUNT(*) FROM main.insured i, m
        WHERE i.birth_date <= m.month_end AND (i.death_date IS NULL OR i.death_date > m.month_end)
        GROUP BY ALL""", [year, year]).fetchall()}
    flow_months = sorted({m for (_, m, _) in ledger})
    first_flow = flow_months[0] if flow_months else None
    sc_from = policy["scenario.from_month"] or f"{year}-01"
    ef, rf = policy["scenario.expenditure_factor"], policy["scenario.revenue_factor"]

    def factor(month: str, f: Decimal) -> Decimal:  # a scenario changes the months from its first one on
        return f if month >= sc_from else Decimal(1)

    def month_figures(s: str, m: str) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        rev = sum((ledger.get((s, m, i), ZERO) for i in REVENUE_ITEMS), ZERO) \
            - sum((ledger.get((s, m, i), ZERO) for i in DEDUCTED_FROM_REVENUE), ZERO)
        inp, outp = cases.get((s, m, "inpatient"), ZERO), cases.get((s, m, "outpatient"), ZERO)
        other = sum((ledger.get((s, m, i), ZERO) for i in EXPENDITURE_ITEMS), ZERO)
        fe, fr = factor(m, ef), factor(m, rf)
        return _r2(rev * fr), _r2(inp * fe), _r2(outp * fe), _r2(other * fe)

    rows: list[MonthRow] = []
    notes: list[str] = []
    schemes = [s for s in SCHEMES if any(k[0] == s for k in cases) or any(k[0] == s for k in ledger)]
    if not flow_months:
        notes.append("没有基金收支流水（fund_flows）：收入为 0，支出只含病例的统筹基金支付，累计结余无法计算")
    for s in schemes:
        acc: Decimal | None = None
        ytd_cur = ZERO
        ytd_exp = ytd_rev = ZERO
        prev_ytd_exp = prev_ytd_rev = ZERO
        prev_flows = any(k[0] == s and k[1].startswith(str(year - 1)) for k in ledger)
        prev_cases = any(k[0] == s and k[1].startswith(str(year - 1)) for k in cases)
        expenditure_of: dict[str, Decimal] = {}
        for m in _prev_months(f"{year}-12", 36)[::-1]:
            rev, inp, outp, other = month_figures(s, m)
            expenditure_of[m] = inp + outp + other
        for m in month_list(year):
            rev, inp, outp, other = month_figures(s, m)
            exp = inp + outp + other
            cur = rev - exp
            if (s, m, "opening_balance") in ledger:
                acc = ledger[(s, m, "opening_balance")] + cur
            elif acc is not None:
                acc = acc + cur
            else:
                # an opening balance of an earlier month in the data carries forward
                earlier = sorted(k[1] for k in ledger if k[0] == s and k[2] == "opening_balance" and k[1] < m)
                if earlier:
                    m0 = earlier[-1]
                    acc = ledger[(s, m0, "opening_balance")] + sum(
                        (month_figures(s, k)[0] - sum(month_figures(s, k)[1:], ZERO))
                        for k in sorted(expenditure_of) if m0 <= k <= m)
            window = [k for k in _prev_months(m, policy["monitor.coverage_months"])
                      if k in expenditure_of and (first_flow is None or k >= first_flow)]
            avg = sum((expenditure_of[k] for k in window), ZERO) / len(window) if window else ZERO
            covered = _r2(acc / avg) if acc is not None and avg > 0 else None
            ytd_cur += cur
            ytd_exp += exp
            ytd_rev += rev
            pm = f"{year - 1}{m[4:]}"
            p_rev, p_inp, p_outp, p_other = month_figures(s, pm)
            prev_ytd_exp += p_inp + p_outp + p_other
            prev_ytd_rev += p_rev
            eg = _r4(ytd_exp / prev_ytd_exp - 1) if prev_cases and prev_ytd_exp > 0 else None
            rg = _r4(ytd_rev / prev_ytd_rev - 1) if prev_flows and prev_ytd_rev > 0 else None
            n = enrolled.get((s, m), 0)
            rows.append(MonthRow(
                scheme=s, month=m, revenue=rev, case_inpatient=inp, case_outpatient=outp, other_expenditure=other,
                expenditure=exp, current_balance=cur, current_balance_rate=_r4(cur / rev) if rev > 0 else None,
                ytd_current_balance=ytd_cur, accumulated_balance=acc, months_covered=covered,
                expenditure_growth_ytd=eg, revenue_growth_ytd=rg, enrolled=n,
                per_capita_expenditure=_r2(exp / n) if n else None))
    return Monitor(year, rows, warnings_of(rows, policy), flow_months, notes)


def warnings_of(rows: list[MonthRow], policy: Values) -> list[Warning]:
    """The warnings the thresholds raise, worst first within a month."""
    red, yellow, high = policy["warning.months_red"], policy["warning.months_yellow"], policy["warning.months_high"]
    gap = policy["warning.growth_gap"]
    out: list[Warning] = []
    for r in rows:
        who = f"{SCHEME_ZH[r.scheme]} {r.month}"
        src = policy.source
        if r.months_covered is not None:
            if r.months_covered < red:
                out.append(Warning(r.scheme, r.month, "红色", "months_covered", r.months_covered, red,
                                   f"{who}：累计结余可支付 {r.months_covered} 个月，低于 {red} 个月（高风险）",
                                   src("warning.months_red")))
            elif r.months_covered < yellow:
                out.append(Warning(r.scheme, r.month, "黄色", "months_covered", r.months_covered, yellow,
                                   f"{who}：累计结余可支付 {r.months_covered} 个月，低于 {yellow} 个月（偏低）",
                                   src("warning.months_yellow")))
            elif r.months_covered > high:
                out.append(Warning(r.scheme, r.month, "提示", "months_covered", r.months_covered, high,
                                   f"{who}：累计结余可支付 {r.months_covered} 个月，高于 {high} 个月（结余偏多）",
                                   src("warning.months_high")))
        if policy["warning.ytd_deficit"] and r.ytd_current_balance < 0:
            out.append(Warning(r.scheme, r.month, "橙色", "ytd_current_balance", r.ytd_current_balance, ZERO,
                               f"{who}：当年累计收不抵支 {-r.ytd_current_balance} 元", src("warning.ytd_deficit")))
        if r.expenditure_growth_ytd is not None and r.revenue_growth_ytd is not None \
                and r.expenditure_growth_ytd - r.revenue_growth_ytd > gap:
            d = r.expenditure_growth_ytd - r.revenue_growth_ytd
            out.append(Warning(r.scheme, r.month, "橙色", "growth_gap", d, gap,
                               f"{who}：累计支出同比增长 {r.expenditure_growth_ytd:.2%}，收入增长 "
                               f"{r.revenue_growth_ytd:.2%}，支出增速高出 {d:.2%}（阈值 {gap:.2%}）",
                               src("warning.growth_gap")))
    rank = {lv: i for i, lv in enumerate(LEVELS)}
    return sorted(out, key=lambda w: (w.scheme, w.month, rank[w.level], w.indicator))


def flows_from_budget(funds: Mapping[str, Mapping[str, Decimal]], year: int) -> pa.Table:
    """A monthly ledger estimated from a budget policy's annual figures when no monthly ledger exists: the opening
    balance of January = the accumulated surplus (历年结余), every annual item spread over the twelve months in
    whole fen by largest remainder (equal weights: the remainder fen go to the earliest months), so the months add
    up to the year exactly. ``funds``: scheme → the budget policy's ``[fund.SCHEME]`` amounts."""
    annual = {"contributions": "contributions", "personal_account": "personal_account",
              "out_of_area_realtime": "out_of_area_realtime", "out_of_area_manual": "out_of_area_manual",
              "special_outpatient": "special_outpatient", "marriage_checkup": "marriage_checkup",
              "outpatient_special_items": "outpatient_special_items", "other_policy": "other_policy"}
    out = {"month": [], "scheme": [], "item": [], "amount": []}

    def add(m: str, s: str, i: str, a: Decimal) -> None:
        out["month"].append(m)
        out["scheme"].append(s)
        out["item"].append(i)
        out["amount"].append(a)

    for s in sorted(funds):
        f = funds[s]
        add(f"{year}-01", s, "opening_balance", Decimal(f.get("accumulated_surplus", ZERO)))
        for item, key in annual.items():
            for m, a in zip(month_list(year), allocate(Decimal(f.get(key, ZERO)), [1] * 12)):
                add(m, s, item, a)
    return pa.table(out).cast(FUND_FLOWS.arrow_schema())
