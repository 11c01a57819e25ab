"""The budget year (年度总额控制): split → monthly cycle → year-end clearing, and its tables.

::

    result = run_year(workspace, policy)          # totals from the policy's fund figures
    write_year(result, out_dir)                   # CSV files with Chinese headers

``run_year`` aggregates the workspace's ``cases`` with the registered runner pipeline
:data:`yibao.budget.pipelines.BUDGET_INPUTS` (DuckDB by default, or Spark), then computes the
split, the months and the clearing as pure functions over those small tables
(:func:`compute_year`), with money in :class:`~decimal.Decimal` and every split by largest
remainder. The result is deterministic: the same workspace and policy give the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from yibao.budget.clearing import ClearingRow, clear_pot
from yibao.budget.cycle import CycleLine, run_cycle
from yibao.budget.pipelines import BUDGET_INPUTS
from yibao.budget.policy import (
    SCHEMES,
    SETTINGS,
    BudgetPolicy,
    YearPolicy,
    year_policy,
)
from yibao.budget.report import write_files
from yibao.budget.split import (
    AdjustmentRow,
    BudgetError,
    Institution,
    QuotaRow,
    history_years,
    pot_zh,
    split_pot,
)
from yibao.budget.totals import compute_totals
from yibao.contract.schema import TABLES
from yibao.contract.vocab import KIND_ZH, MONEY
from yibao.engine.csvfile import rows_csv_text
from yibao.engine.money import ZERO, fmt
from yibao.engine.runner import query_arrow
from yibao.engine.workspace import Workspace
from yibao.settle.inbound import CaseSelection, keep_cases, kept_case_ids, selection_from_policy
from yibao.settle.pots import Budgets

POTS = tuple(f"{s}.{t}" for s in SCHEMES for t in SETTINGS)
POT_SOURCE = {"inpatient": "final_total（当年付费总额，韶关 第五–七条）",
              "outpatient": "outpatient_pooling（普通门诊统筹支出）"}

__all__ = [
    "COLUMNS",
    "BudgetError",
    "YearInputs",
    "YearResult",
    "compute_year",
    "inputs_from_tables",
    "load_inputs",
    "pot_amounts",
    "run_year",
    "write_year",
]


@dataclass(frozen=True)
class YearInputs:
    """Everything the year needs, as small tables (the runner pipeline's output, or hand-made)."""

    year: int
    institutions: tuple[Institution, ...]
    history: Mapping[tuple, tuple[int, int, Decimal]]  # (inst, year, scheme, setting) → visits, persons, fund_paid
    months: Mapping[tuple, tuple[int, Decimal]]  # (inst, year, month, scheme, setting) → visits, fund_paid
    pots: Mapping[str, Decimal]  # "employee.inpatient" → amount


@dataclass
class YearResult:
    year: int
    policy: YearPolicy
    pots: Mapping[str, Decimal]
    years_used: dict[int, Decimal]
    quotas: list[QuotaRow]
    adjustments: list[AdjustmentRow]
    cycle: list[CycleLine]
    clearing: list[ClearingRow]
    excluded: list[dict]
    institutions: dict[str, Institution] = field(default_factory=dict)

    def rows(self, name: str) -> list[dict]:
        """The rows of output table ``name`` (keys of :data:`COLUMNS`)."""
        return _ROWS[name](self)

    def table(self, name: str) -> pa.Table:
        """Output table ``name`` as Arrow (money DECIMAL(18,2), shares DECIMAL(18,6))."""
        cols = COLUMNS[name]
        rows = self.rows(name)
        return pa.table({k: pa.array([r[k] for r in rows], _ARROW[t]) for k, _, t in cols},
                        schema=pa.schema([(k, _ARROW[t]) for k, _, t in cols]))


# --- inputs -----------------------------------------------------------------------------------

def settlement_pots(policy: BudgetPolicy) -> Budgets:
    """What DIP and DRG settle against: per scheme the inpatient and outpatient pots and the bed-day figure."""
    pots = pot_amounts(policy)
    schemes = sorted(policy.funds)
    return Budgets({s: pots[f"{s}.inpatient"] for s in schemes}, {s: pots[f"{s}.outpatient"] for s in schemes},
                   {s: policy.funds[s]["bed_day"] for s in schemes}, selection_from_policy(policy.raw))


def pot_amounts(policy: BudgetPolicy, totals: Sequence | None = None) -> dict[str, Decimal]:
    """Each pot's amount: inpatient = the scheme's final total, outpatient = its outpatient pooling."""
    if totals is None:
        totals = compute_totals(policy)
    out = {}
    for t in totals:
        out[f"{t.scheme}.inpatient"] = t.final_total
        out[f"{t.scheme}.outpatient"] = policy.funds[t.scheme]["outpatient_pooling"]
    return out


def inputs_from_tables(year: int, institutions: pa.Table, history: pa.Table, months: pa.Table,
                       pots: Mapping[str, Decimal]) -> YearInputs:
    insts = tuple(Institution(r["institution_id"], r["name"], r["kind"], int(r["level"]), r["category"],
                              r["agreement_start"], r["agreement_end"]) for r in institutions.to_pylist())
    hist = {(r["institution_id"], r["year"], r["scheme"], r["setting"]): (r["visits"], r["persons"], r["fund_paid"])
            for r in history.to_pylist()}
    mon = {(r["institution_id"], r["year"], r["month"], r["scheme"], r["setting"]): (r["visits"], r["fund_paid"])
           for r in months.to_pylist()}
    return YearInputs(year, insts, hist, mon, dict(pots))


def load_inputs(workspace: Path, year: int, pots: Mapping[str, Decimal], engine: str = "duckdb",
                cases: CaseSelection | None = None) -> YearInputs:
    """Aggregate a workspace's cases with the ``budget_inputs`` pipeline on ``engine`` (``cases``: only the
    locally settled ones, :mod:`yibao.settle.inbound`)."""
    ids = kept_case_ids(workspace, cases) if cases is not None and engine != "duckdb" else None
    with Workspace(workspace, read_only=True) as ws:
        institutions = _read(ws.con, "institutions")
        sources, runner = ws.sources(("cases",), engine)
        if cases is not None:
            sources["cases"] = keep_cases(sources["cases"], cases, ids)
        out = runner.run_pipeline(BUDGET_INPUTS, sources)
    return inputs_from_tables(year, institutions, out["budget_history"], out["budget_month"], pots)


def _read(con, name: str) -> pa.Table:
    schema = TABLES[name].arrow_schema()
    return query_arrow(con, f"SELECT {', '.join(schema.names)} FROM main.{name}").cast(schema)


# --- the year ---------------------------------------------------------------------------------

def compute_year(inputs: YearInputs, policy: YearPolicy) -> YearResult:
    """Split every pot, run its months, clear it (pure: small tables in, tables out)."""
    sp, year = policy.split, inputs.year
    eligible, excluded = [], []
    booked_year: dict[str, Decimal] = {}
    for (k, y, _, _, _), (_, fund) in inputs.months.items():
        if y == year:
            booked_year[k] = booked_year.get(k, ZERO) + fund
    for inst in sorted(inputs.institutions, key=lambda i: i.institution_id):
        if inst.kind not in sp.kinds:
            reason = f"机构类型 {KIND_ZH.get(inst.kind, inst.kind)} 不参与分解（split.kinds）"
        elif not inst.months_in_force(year):
            reason = f"服务协议未覆盖 {year} 年度"
        else:
            eligible.append(inst)
            continue
        excluded.append({"institution_id": inst.institution_id, "name": inst.name, "kind": inst.kind,
                         "reason": reason, "booked": booked_year.get(inst.institution_id, ZERO)})
    unknown = [a for a in sp.adjustments if a.pot not in inputs.pots]
    if unknown:
        raise BudgetError(f"{unknown[0].key}：政策文件没有 {unknown[0].pot.split('.')[0]} 险种的基金数据")
    years_present = {k[1] for k in inputs.history}
    hw = history_years(year, years_present, sp.history_weights)
    by_id = {i.institution_id: i for i in eligible}
    quotas, adjustments, lines, clearing = [], [], [], []
    for pot in (p for p in POTS if p in inputs.pots):
        rows, adj = split_pot(pot, inputs.pots[pot], eligible, year, inputs.history, hw, sp)
        scheme, setting = pot.split(".")
        active = {r.institution_id for r in rows if r.quota or r.weight} | {
            k[0] for k, v in inputs.months.items() if k[1] == year and k[3] == scheme and k[4] == setting
            and v[1] and k[0] in by_id}
        rows = [r for r in rows if r.institution_id in active]
        pot_lines = run_cycle(pot, [(by_id[r.institution_id], r.quota) for r in rows], year, policy.cycle,
                              inputs.months)
        quotas += rows
        adjustments += adj
        lines += pot_lines
        clearing += clear_pot(pot, inputs.pots[pot], pot_lines, year, policy.clearing, inputs.history)
    return YearResult(year, policy, dict(inputs.pots), hw, quotas, adjustments, lines, clearing, excluded,
                      {i.institution_id: i for i in inputs.institutions})


def run_year(workspace: Path, policy: BudgetPolicy, totals: Sequence | None = None,
             engine: str = "duckdb") -> YearResult:
    """The budget year of ``policy.year`` over the cases of ``workspace``."""
    sections = policy.sections or year_policy(policy)
    pots = pot_amounts(policy, totals)
    return compute_year(load_inputs(Path(workspace), policy.year, pots, engine, selection_from_policy(policy.raw)),
                        sections)


# --- output tables ----------------------------------------------------------------------------

# (key, 中文表头, type): money = yuan with 2 decimals; share = 6 decimals; rate = 4 decimals
COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "pots": [
        ("pot", "项目", "str"), ("pot_zh", "项目名称", "str"), ("source", "总额来源", "str"),
        ("amount", "项目总额", "money"), ("institutions", "机构数", "int"), ("quota", "指标合计", "money"),
        ("booked", "记账合计", "money"), ("paid_monthly", "按月拨付合计", "money"), ("deferred", "暂缓拨付合计", "money"),
        ("withheld", "预留保证金与清算资金合计", "money"), ("saving_kept", "结余留用合计", "money"),
        ("overrun_fund_share", "超支基金分担合计", "money"), ("compensation", "合理超支补偿合计", "money"),
        ("deposit_deducted", "保证金扣减合计", "money"), ("entitlement", "年度应付合计", "money"),
        ("month_transfers", "月度实际拨付合计", "money"), ("final_transfers", "清算拨付合计", "money"),
        ("fund_total_paid", "基金支付合计", "money"), ("balance", "项目结余（正数留存基金）", "money"),
    ],
    "quotas": [
        ("pot", "项目", "str"), ("institution_id", "机构编码", "str"), ("name", "机构名称", "str"),
        ("kind", "机构类型", "str"), ("level", "机构级别", "str"), ("category", "机构类别", "str"),
        ("group", "分组", "str"), ("group_zh", "分组名称", "str"), ("months_in_force", "协议有效月数", "int"),
        ("hist_fund_paid", "近三年加权统筹记账（元）", "money"), ("hist_visits", "近三年加权人次", "rate2"),
        ("hist_persons", "近三年加权人数", "rate2"), ("factor", "级别类别系数×协议月数/12", "rate"),
        ("base_share", "基础份额", "share"), ("floor_applied", "基层保底生效", "bool"), ("share", "分解份额", "share"),
        ("group_quota", "分组指标", "money"), ("split_quota", "分解指标", "money"),
        ("adjustment", "协商调整", "money"), ("quota", "年度指标", "money"),
    ],
    "adjustments": [
        ("index", "序号", "int"), ("pot", "项目", "str"), ("level", "调整层级", "str"), ("from", "调出", "str"),
        ("to", "调入", "str"), ("amount", "金额", "money"), ("note", "协商记录", "str"),
    ],
    "months": [
        ("pot", "项目", "str"), ("institution_id", "机构编码", "str"), ("name", "机构名称", "str"),
        ("month", "月份", "int"), ("in_force", "协议有效", "bool"), ("planned_quota", "计划月指标", "money"),
        ("adjustment", "年中调整", "money"), ("quota", "月指标", "money"), ("visits", "人次", "int"),
        ("booked", "记账金额", "money"), ("paid", "按月拨付", "money"), ("deferred", "暂缓拨付", "money"),
        ("turnover_advance", "周转金拨付", "money"), ("turnover_recovery", "周转金收回", "money"),
        ("transfer", "当月实际拨付", "money"),
    ],
    "clearing": [
        ("pot", "项目", "str"), ("institution_id", "机构编码", "str"), ("name", "机构名称", "str"),
        ("split_quota", "分解指标", "money"), ("midyear_ratio", "年中人次比", "rate"),
        ("midyear_adjustment", "年中调整", "money"), ("quota", "年度指标（调整后）", "money"),
        ("booked", "记账金额", "money"), ("paid_monthly", "按月拨付", "money"), ("deferred", "暂缓拨付", "money"),
        ("deposit_withheld", "预留质量保证金", "money"), ("reserve_withheld", "预留年终清算资金", "money"),
        ("saving", "结余", "money"), ("saving_kept", "结余留用", "money"), ("overrun", "超支", "money"),
        ("overrun_rate", "超支率", "rate"), ("overrun_fund_share", "超支基金分担", "money"),
        ("overrun_borne", "超支机构承担", "money"), ("visits_last_year", "上年人次", "int"), ("visits", "当年人次", "int"),
        ("visit_growth", "人次增长率", "rate"), ("compensation", "合理超支补偿", "money"), ("score", "考核得分", "rate2"),
        ("score_source", "得分来源", "str"), ("deposit_return_share", "保证金返还比例", "rate"),
        ("deposit_returned", "返还保证金", "money"), ("deposit_deducted", "扣减保证金", "money"),
        ("turnover_advanced", "周转金拨付", "money"), ("turnover_recovered_monthly", "周转金按月收回", "money"),
        ("turnover_outstanding", "周转金清算收回", "money"), ("entitlement", "年度应付", "money"),
        ("already_transferred", "已拨付", "money"), ("final_transfer", "清算拨付（负数为应退回）", "money"),
        ("note", "计算说明", "str"),
    ],
    "institutions": [
        ("institution_id", "机构编码", "str"), ("name", "机构名称", "str"), ("kind", "机构类型", "str"),
        ("level", "机构级别", "str"), ("quota", "年度指标", "money"), ("booked", "记账金额", "money"),
        ("paid_monthly", "按月拨付", "money"), ("deferred", "暂缓拨付", "money"),
        ("withheld", "预留保证金与清算资金", "money"), ("deposit_returned", "返还保证金", "money"),
        ("deposit_deducted", "扣减保证金", "money"), ("saving_kept", "结余留用", "money"),
        ("overrun_fund_share", "超支基金分担", "money"), ("overrun_borne", "超支机构承担", "money"),
        ("compensation", "合理超支补偿", "money"), ("entitlement", "年度应付", "money"),
        ("already_transferred", "已拨付", "money"), ("final_transfer", "清算拨付（负数为应退回）", "money"),
    ],
    "excluded": [
        ("institution_id", "机构编码", "str"), ("name", "机构名称", "str"), ("kind", "机构类型", "str"),
        ("reason", "原因", "str"), ("booked", "当年记账金额（未纳入）", "money"),
    ],
}
FILES = {name: f"{name}.csv" for name in COLUMNS}
_ARROW = {"str": pa.string(), "int": pa.int64(), "bool": pa.bool_(), "money": MONEY,
          "share": pa.decimal128(18, 6), "rate": pa.decimal128(18, 4), "rate2": pa.decimal128(18, 2)}


def _sum(rows: Sequence, key: str) -> Decimal:
    return sum((getattr(r, key) for r in rows), ZERO)


def _pots_rows(res: YearResult) -> list[dict]:
    out = []
    for pot in (p for p in POTS if p in res.pots):
        q = [r for r in res.quotas if r.pot == pot]
        c = [r for r in res.clearing if r.pot == pot]
        months = sum((m.transfer for line in res.cycle if line.pot == pot for m in line.months), ZERO)
        finals = _sum(c, "final_transfer")
        out.append({
            "pot": pot, "pot_zh": pot_zh(pot), "source": POT_SOURCE[pot.split(".")[1]], "amount": res.pots[pot],
            "institutions": len(q), "quota": _sum(c, "quota"), "booked": _sum(c, "booked"),
            "paid_monthly": _sum(c, "paid_monthly"), "deferred": _sum(c, "deferred"),
            "withheld": _sum(c, "deposit_withheld") + _sum(c, "reserve_withheld"),
            "saving_kept": _sum(c, "saving_kept"), "overrun_fund_share": _sum(c, "overrun_fund_share"),
            "compensation": _sum(c, "compensation"), "deposit_deducted": _sum(c, "deposit_deducted"),
            "entitlement": _sum(c, "entitlement"), "month_transfers": months, "final_transfers": finals,
            "fund_total_paid": months + finals, "balance": res.pots[pot] - months - finals,
        })
    return out


def _quota_rows(res: YearResult) -> list[dict]:
    return [{
        "pot": r.pot, "institution_id": r.institution_id, "name": r.name, "kind": r.kind, "level": str(r.level),
        "category": r.category, "group": r.group, "group_zh": r.group_zh, "months_in_force": r.months_in_force,
        "hist_fund_paid": r.hist_fund_paid, "hist_visits": r.hist_visits, "hist_persons": r.hist_persons,
        "factor": r.factor, "base_share": r.base_share, "floor_applied": r.floor_applied, "share": r.share,
        "group_quota": r.group_quota, "split_quota": r.split_quota, "adjustment": r.adjustment, "quota": r.quota,
    } for r in res.quotas]


def _adjustment_rows(res: YearResult) -> list[dict]:
    return [{"index": a.index, "pot": a.pot, "level": {"group": "组间", "institution": "机构间"}[a.level],
             "from": a.from_, "to": a.to, "amount": a.amount, "note": a.note} for a in res.adjustments]


def _month_rows(res: YearResult) -> list[dict]:
    return [{
        "pot": m.pot, "institution_id": m.institution_id, "name": res.institutions[m.institution_id].name,
        "month": m.month, "in_force": m.in_force, "planned_quota": m.planned_quota, "adjustment": m.adjustment,
        "quota": m.quota, "visits": m.visits, "booked": m.booked, "paid": m.paid, "deferred": m.deferred,
        "turnover_advance": m.turnover_advance, "turnover_recovery": m.turnover_recovery, "transfer": m.transfer,
    } for line in res.cycle for m in line.months]


def _clearing_rows(res: YearResult) -> list[dict]:
    lines = {(c.pot, c.institution_id): c for c in res.cycle}
    out = []
    for r in res.clearing:
        line = lines[(r.pot, r.institution_id)]
        d = {k: getattr(r, k) for k, _, _ in COLUMNS["clearing"] if hasattr(r, k)}
        d.update(name=res.institutions[r.institution_id].name, split_quota=line.quota,
                 midyear_ratio=line.midyear_ratio, midyear_adjustment=line.adjustment)
        out.append(d)
    return out


_INST_SUMS = ("quota", "booked", "paid_monthly", "deferred", "deposit_returned", "deposit_deducted", "saving_kept",
              "overrun_fund_share", "overrun_borne", "compensation", "entitlement", "already_transferred",
              "final_transfer")


def _institution_rows(res: YearResult) -> list[dict]:
    acc: dict[str, dict] = {}
    for r in res.clearing:
        inst = res.institutions[r.institution_id]
        a = acc.setdefault(r.institution_id, {"institution_id": inst.institution_id, "name": inst.name,
                                              "kind": inst.kind, "level": str(inst.level), "withheld": ZERO,
                                              **{k: ZERO for k in _INST_SUMS}})
        for k in _INST_SUMS:
            a[k] += getattr(r, k)
        a["withheld"] += r.deposit_withheld + r.reserve_withheld
    return [acc[k] for k in sorted(acc)]


_ROWS = {
    "pots": _pots_rows, "quotas": _quota_rows, "adjustments": _adjustment_rows, "months": _month_rows,
    "clearing": _clearing_rows, "institutions": _institution_rows, "excluded": lambda res: list(res.excluded),
}


def _cell(value: object, kind: str) -> str:
    if value is None:
        return ""
    if kind == "money":
        return fmt(value)
    if kind == "bool":
        return "是" if value else "否"
    if kind == "str" and isinstance(value, str):
        return value
    return str(value)


def csv_text(result: YearResult, name: str) -> str:
    """One output table as CSV: UTF-8 with BOM (opens in Excel), one header row in Chinese."""
    cols = COLUMNS[name]
    return rows_csv_text([zh for _, zh, _ in cols], ([_cell(r[k], t) for k, _, t in cols] for r in result.rows(name)))


def columns_csv() -> str:
    """The mapping of every output file's Chinese headers to the English column keys."""
    return rows_csv_text(["文件", "表头", "列名（key）", "类型"],
                         ([FILES[name], zh, k, t] for name, cols in COLUMNS.items() for k, zh, t in cols))


def write_year(result: YearResult, out_dir: Path) -> list[Path]:
    """Write every table (``pots.csv``, ``quotas.csv``, ``adjustments.csv``, ``months.csv``,
    ``clearing.csv``, ``institutions.csv``, ``excluded.csv``) and ``columns.csv``, all or none."""
    files = {FILES[n]: csv_text(result, n) for n in COLUMNS}
    files["columns.csv"] = columns_csv()
    write_files(Path(out_dir), files)
    return [Path(out_dir) / f for f in files]
