"""The budget policy's parameters (总额控制政策参数), declared once (:data:`BUDGET_PARAMS`).

From this one table come the checks of ``[split]``, ``[cycle]``, ``[clearing]`` and the default rates of
``[fund.*]``, the generated ``defaults.toml`` beside this module (a test keeps it equal to
``BUDGET_PARAMS.defaults_toml()``) and the generated table of ``docs/budget-policy.md``.

Budget values are taken *as written* (a rate ``"0.05"`` stays ``0.05``, no fixed number of places: the
explanations and statements print them as the policy wrote them), so the decimal kinds here are budget's
own small additions to :mod:`yibao.contract.params` (:func:`rate`, :func:`rate_map`, :func:`weights`,
:func:`table_array`), with the budget's wording of each problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from yibao.contract.params import Kind, Param, ParamTable, Values
from yibao.contract.params import kinds as K
from yibao.contract.params import parse_decimal as contract_parse_decimal
from yibao.contract.params import toml_value as contract_toml_value

__all__ = [
    "BUDGET_PARAMS", "DEFAULTS_HEADER", "KINDS", "LEVELS", "CATEGORIES", "SETTINGS", "GROUP_COLUMNS", "FUND_RATES", "rate",
    "rate_map", "weights", "table_array", "parse_decimal", "parse_rate", "toml_value",
]

KINDS = ("hospital", "primary", "pharmacy")
LEVELS = ("3", "2", "1", "0")
CATEGORIES = ("general", "tcm", "specialist", "maternal_child", "other")
SETTINGS = ("inpatient", "outpatient")
GROUP_COLUMNS = ("kind", "level", "category")

SEVENTY = "人社部发〔2012〕70号"


# --- budget's kinds (values as written) -----------------------------------------------------------

def parse_decimal(key: str, value: object) -> tuple[Decimal | None, list[str]]:
    """An exact decimal as written (string, integer, or a TOML float taken as written)."""
    return contract_parse_decimal(key, value, example='"1000.00"')


def parse_rate(key: str, value: object, upper: Decimal) -> tuple[Decimal | None, list[str]]:
    """A decimal in 0..upper, as written."""
    d, probs = parse_decimal(key, value)
    if probs:
        return None, probs
    if d < 0 or d > upper:
        return None, [f"{key} 超出允许范围 0–{upper}：{value}"]
    return d, []


def toml_value(v: Any) -> str:
    """A default as TOML text: strings quoted, lists and tables inline."""
    return contract_toml_value(v)


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        if not v:
            return "（无）"
        return "；".join(_show(x) for x in v) if all(isinstance(x, Mapping) for x in v) else \
            "[" + ", ".join(_show(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "，".join(f"{k} = {_show(x)}" for k, x in v.items()) if v else "（无）"
    return str(v)


def rate(upper: str = "1") -> Kind:
    """A rate or factor in 0..upper, kept as written."""
    hi = Decimal(upper)
    return Kind(f"小数（0–{upper}）", lambda key, v: parse_rate(key, v, hi), toml_value, _show)


def rate_map(keys: tuple[str, ...] | None, upper: str = "1") -> Kind:
    """A sub-table of rates (``keys=None``: any key, e.g. institution codes), merged over the default key by key."""
    hi = Decimal(upper)

    def parse(key: str, v: Any):
        if not isinstance(v, Mapping):
            if keys is None and key == "clearing.scores":
                return None, [f"{key} 应为表（[{key}]，机构编码 = 得分）"]
            return None, [f"{key} 应为表（[{key}]）"]
        probs: list[str] = []
        extra = sorted(str(k) for k in v if keys is not None and str(k) not in keys)
        if extra:
            probs.append(f"[{key}] 未知的键：{', '.join(extra)}（可选：{', '.join(keys or ())}）")
        out = {}
        for k in (keys if keys is not None else tuple(v)):
            if k in v:
                d, p = parse_rate(f"{key}.{k}", v[k], hi)
                out[str(k)] = d
                probs += p
        return (out if not probs else None), probs

    label = f"表：键 → 小数（0–{upper}）" + (f"，键 {' / '.join(keys)}" if keys else "，键为机构编码")
    return Kind(label, parse, toml_value, _show, True)


def weights(n: int, upper: str) -> Kind:
    """``n`` weights in 0..upper, not all 0 (numbered from 1 in messages)."""
    hi = Decimal(upper)

    def parse(key: str, v: Any):
        if not isinstance(v, list) or len(v) != n:
            return None, [f"{key} 应为三个权重（预算年前第3、2、1年），实际为 {v!r}"]
        out, probs = [], []
        for i, w in enumerate(v):
            d, p = parse_rate(f"{key}[{i + 1}]", w, hi)
            out.append(d)
            probs += p
        if not probs and not any(out):
            probs.append(f"{key} 不能全为 0")
        return (tuple(out) if not probs else None), probs

    return Kind(f"{n} 个小数（0–{upper}）", parse, toml_value, _show)


def table_array() -> Kind:
    """An array of tables (``[[key]]``): the policy's replaces the default's as a whole; its entries are checked
    by :mod:`yibao.budget.policy` (each entry's keys and order)."""
    def parse(key: str, v: Any):
        if not isinstance(v, list) or any(not isinstance(x, Mapping) for x in v):
            return None, [f"{key} 应写成 [[{key}]] 表数组"]
        return [dict(x) for x in v], []

    return Kind("表数组（[[…]]）", parse, toml_value, _show)


def integer(lo: int, hi: int) -> Kind:
    def parse(key: str, v: Any):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            return None, [f"{key} 应为 {lo}–{hi} 的整数，实际为 {v!r}"]
        return v, []

    return Kind(f"整数（{lo}–{hi}）", parse, toml_value, _show)


# --- the table -----------------------------------------------------------------------------------

def _basis_sums_to_one(v: Values) -> str | None:
    s = v["split.basis_fund_paid"] + v["split.basis_visits"] + v["split.basis_persons"]
    return None if s == 1 else f"split.basis_fund_paid + basis_visits + basis_persons 之和应为 1，实际为 {s}"


def _withheld_at_most_all(v: Values) -> str | None:
    s = v["cycle.deposit_rate"] + v["cycle.clearing_rate"]
    return None if s <= 1 else f"cycle.deposit_rate + cycle.clearing_rate 超过 1：{s}"


def _p(key: str, default: Any, kind: Kind, source: str, zh: str, unit: str = "") -> Param:
    return Param(key=key, default=default, kind=kind, source=source, zh=zh, unit=unit)


_FUND_UPPER = {"risk_reserve_rate": "1", "floor_rate": "10", "ceiling_rate": "10"}
_LEVEL_SRC = f"{SEVENTY} 三（三）按不同级别; neutral 1 (local rule, example value)"
_CAT_SRC = f"{SEVENTY} 三（三）按不同类别; neutral 1 (local rule, example value)"

BUDGET_PARAMS = ParamTable(
    name="budget",
    title="总额控制（付费总额、分解、月度拨付与年终清算）",
    doc="docs/budget-policy.md",
    checks=(_basis_sums_to_one, _withheld_at_most_all),
    params=(
        # the default rates of every [fund.<scheme>] (a scheme's table may set its own)
        _p("fund.risk_reserve_rate", "0.03", rate(_FUND_UPPER["risk_reserve_rate"]),
           "韶关市基本医疗保险按病种分值结算办法 第五、六条: 当年基金征收总额 3% 为风险调剂金", "风险调剂金比例", "比例"),
        _p("fund.floor_rate", "1.05", rate(_FUND_UPPER["floor_rate"]),
           "同上 第七条: 全市当年付费总额应不低于上年度付费总额的 105%", "保底比例（占上年度付费总额）", "倍"),
        _p("fund.ceiling_rate", "1.05", rate(_FUND_UPPER["ceiling_rate"]),
           "同上 第七条: 不得超过当年医疗机构统筹基金记账总额的 105%，超出部分作为当期结余", "封顶比例（占当年记账总额）", "倍"),
        # [split]
        _p("split.kinds", ["hospital", "primary"], K.text_list(KINDS, nonempty=True),
           f"{SEVENTY} 三（三）: 定点医疗机构（药店支出已在总额目标中扣除，见 三（二））", "参与分解的机构类型"),
        _p("split.history_weights", ["1", "2", "7"], weights(3, "1000"),
           f"{SEVENTY} 三（三）以近三年服务提供和实际费用为基础; weights oldest → newest (预算年前第3、2、1年); "
           "local rule, example value 1:2:7", "近三年权重（预算年前第3、2、1年）"),
        _p("split.basis_fund_paid", "0.6", rate("1"),
           f"{SEVENTY} 三（三）实际医疗费用: share of the weighted score from 统筹基金记账 (fund_paid); local rule, "
           "example value", "统筹基金记账额所占权重", "比例"),
        _p("split.basis_visits", "0.3", rate("1"), f"{SEVENTY} 三（三）有效服务量（人次）; local rule, example value",
           "服务人次所占权重", "比例"),
        _p("split.basis_persons", "0.1", rate("1"), f"{SEVENTY} 三（三）有效服务量（人数）; local rule, example value",
           "服务人数所占权重", "比例"),
        _p("split.groups", False, K.boolean(),
           f"{SEVENTY} 三（四）有条件的地区可按级别、类别分组，组间和组内协商; off unless the policy turns it on",
           "是否分组协商"),
        _p("split.group_by", ["kind", "level"], K.text_list(GROUP_COLUMNS, nonempty=True),
           f"{SEVENTY} 三（四）按级别、类别分组: group key columns (kind / level / category)", "分组依据的列"),
        _p("split.primary_floor", {"inpatient": "0", "outpatient": "0.30"}, rate_map(SETTINGS, "1"),
           f"{SEVENTY} 三（三）注重向基层倾斜，使基层医疗卫生机构的指标占有合理比重: base share of the pot for 基层 "
           "(kind = primary); local rule, example value (no floor in the inpatient pot)", "基层机构保底份额（按就诊类型）",
           "比例"),
        _p("split.level_factor", {k: "1" for k in LEVELS}, rate_map(LEVELS, "100"), _LEVEL_SRC, "按机构等级的调整系数", "倍"),
        _p("split.category_factor", {k: "1" for k in CATEGORIES}, rate_map(CATEGORIES, "100"), _CAT_SRC,
           "按机构类别的调整系数", "倍"),
        _p("split.adjustments", [], table_array(),
           f"{SEVENTY} 三（四）组间和组内协商: negotiated transfers inside one pot (pot, amount, note and "
           "from_group/to_group or from_institution/to_institution); none unless the policy records them",
           "协商调整（[[split.adjustments]]）"),
        # [cycle]
        _p("cycle.deposit_rate", "0.05", rate("1"),
           f"{SEVENTY} 三（七）合理预留一定比例的质量保证金; local rule, example value 5 %",
           "质量保证金预留比例", "比例"),
        _p("cycle.clearing_rate", "0.05", rate("1"), f"{SEVENTY} 三（七）预留年终清算资金; local rule, example value 5 %",
           "年终清算预留比例", "比例"),
        _p("cycle.seasonality", "flat", K.choice("flat", "last_year"),
           f"{SEVENTY} 三（七）分解到各结算周期（原则上以月为周期）: flat = 12 equal months, last_year = by last "
           "year's booked months", "月度指标的分配方式"),
        _p("cycle.monthly_cap", "monthly", K.choice("monthly", "cumulative"),
           f"{SEVENTY} 三（七）未超过指标的按时足额拨付，超过部分暂缓拨付: monthly = min(booked, month quota); "
           "cumulative = year-to-date", "月度拨付上限口径"),
        _p("cycle.turnover_rate", "0", rate("1"),
           f"{SEVENTY} 三（七）可以按总额控制指标一定比例设立周转金; 0 = none (local rule)",
           "周转金比例", "比例"),
        _p("cycle.turnover_recovery_month", 0, integer(0, 12),
           f"{SEVENTY} 三（七）周转金按协议约定拨付; 收回月份: 0 = at the year-end clearing, 1–12 = deducted in that "
           "month (local rule)", "周转金收回月份", "月"),
        _p("cycle.midyear_month", 6, integer(0, 11),
           f"{SEVENTY} 三（七）有效工作量发生较大变动的，可在年度中期调整: month after which the rest is re-split; "
           "0 = no adjustment (local rule, example value)", "年度中期调整的月份", "月"),
        _p("cycle.midyear_threshold", "0.20", rate("10"),
           f"{SEVENTY} 三（七）年度中期调整: workload (人次) change against the same months of last year that triggers "
           "the adjustment; local rule, example value 20 %", "触发中期调整的人次变动幅度", "比例"),
        # [clearing]
        _p("clearing.saving_keep_rate", "0.50", rate("1"),
           f"{SEVENTY} 三（五）结余留用: share of the saving (quota − booked) kept by the institution; local rule, "
           "example value 50 %", "结余留用比例", "比例"),
        _p("clearing.saving_keep_cap", "0.10", rate("1"),
           f"{SEVENTY} 三（五）结余留用: kept saving at most this share of the quota; local rule, example value 10 %",
           "结余留用上限（占指标）", "比例"),
        _p("clearing.saving_by_score", "deposit_share", K.choice("deposit_share", "none"),
           f"{SEVENTY} 三（五）结余留用 and 三（八）对医疗服务数量或质量不符合要求的…扣减: savings are kept only where "
           "quantity and quality hold — deposit_share = the kept saving × the share of the deposit the assessment "
           "score returns (score 100: all of it); none = the score does not change the kept saving (local rule)",
           "结余留用是否按考核得分折算"),
        _p("clearing.band_mode", "marginal", K.choice("marginal", "whole"),
           f"{SEVENTY} 三（五）超支分担: marginal = each band's share applies to the part of the overrun inside it; "
           "whole = the band of the overrun rate applies to all of it", "超支分担的计算方式"),
        _p("clearing.compensation_growth_threshold", "0.10", rate("10"),
           f"{SEVENTY} 三（五）因参保人员就医数量大幅增加等形成的合理超支给予补偿: 人次 growth over last year above "
           "which an overrun counts as reasonable; local rule, example value 10 %", "合理超支的人次增长界限", "比例"),
        _p("clearing.compensation_rate", "0.50", rate("1"),
           f"{SEVENTY} 三（五）合理超支给予补偿: share of the reasonable overrun the fund pays back; local rule, "
           "example value 50 %", "合理超支补偿比例", "比例"),
        _p("clearing.compensation_cap", "pot_balance", K.choice("pot_balance", "none"),
           f"{SEVENTY} 三（五）可根据基金预算执行情况: pot_balance = compensation only out of what the pot has left; "
           "none = no cap", "补偿的上限口径"),
        _p("clearing.default_score", "100", rate("100"),
           f"{SEVENTY} 三（八）质量保证金: assessment score (0–100) of an institution not listed in "
           "[clearing.scores]; local rule", "未列明机构的考核得分", "分"),
        _p("clearing.over_bands",
           [{"upto": "0.05", "fund_share": "0.60"}, {"upto": "0.10", "fund_share": "0.50"}, {"fund_share": "0"}],
           table_array(),
           f"{SEVENTY} 三（五）超支分担 bands, by overrun as a share of quota (upto), fund's share of the overrun in "
           "the band; local rule, example values (issue 3: ≤5 % 60 %, 5–10 % 50 %, above 0 %)", "超支分担档次"),
        _p("clearing.deposit_return",
           [{"min_score": "90", "share": "1"}, {"min_score": "80", "share": "0.9"}, {"min_score": "70", "share": "0.7"},
            {"min_score": "60", "share": "0.5"}, {"min_score": "0", "share": "0"}],
           table_array(),
           f"{SEVENTY} 三（八）对医疗服务数量或质量不符合要求的，按照协议约定适当扣减质量保证金: score ≥ min_score → "
           "share of the deposit returned; local rule, example values", "质量保证金返还档次"),
        _p("clearing.scores", {}, rate_map(None, "100"),
           f"{SEVENTY} 三（六）（八）协议考核: institution_id = score (0–100) of the year's assessment; none unless "
           "the policy (or yibao budget --scores) gives them", "各机构考核得分", "分"),
    ),
)

FUND_RATES: dict[str, tuple[str, Decimal]] = {  # key: (Chinese, upper bound)
    k: (BUDGET_PARAMS.by_key[f"fund.{k}"].zh, Decimal(hi)) for k, hi in _FUND_UPPER.items()}

DEFAULTS_HEADER = ("Global budget control (总额控制). A region's policy file overrides any of these; every value names\n"
                   "its source. Amounts and rates are strings (exact decimals). Reference: docs/budget-policy.md.")
