"""The regional payment total (全市当年付费总额) per scheme, step by step (韶关 第五–七条).

1. formula total = contributions − the listed deductions − risk_reserve_rate × contributions
2. floor = floor_rate × prior-year total. When the formula total is below the target
   (the floor, but never above the ceiling), the gap is drawn first from this year's surplus,
   then from the accumulated surplus, only as far as they go; what is still missing is the
   shortfall (reported).
3. ceiling = ceiling_rate × booked total. The ceiling wins over the floor ("但……不得超过"):
   what the formula total has above the ceiling returns to surplus (超出部分作为当期结余).

Every product is rounded half up (四舍五入) to the fen, explicitly. Each step is kept with its
inputs so that the explanation can show how every figure was reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from yibao.budget.policy import AMOUNTS, DEDUCTIONS, RATES, BudgetPolicy, FundFigures
from yibao.contract.vocab import SCHEME_ZH
from yibao.engine.money import fmt, round_money

TOTALS_COLUMNS = ("scheme", "formula_total", "floor", "ceiling", "final_total",
                  "drawn_from_current_surplus", "drawn_from_accumulated_surplus", "returned_to_surplus")


@dataclass(frozen=True)
class CalculationStep:
    """One line of the worked regional total (测算步骤), shown in totals_explained.md."""

    label: str  # Chinese description
    formula: str  # how it was computed, with the numbers
    amount: Decimal


@dataclass(frozen=True)
class SchemeTotal:
    scheme: str
    formula_total: Decimal
    floor: Decimal
    ceiling: Decimal
    final_total: Decimal
    drawn_from_current_surplus: Decimal
    drawn_from_accumulated_surplus: Decimal
    returned_to_surplus: Decimal
    shortfall: Decimal  # floor target not reached for lack of surplus
    binding: str  # formula / floor / floor_short / ceiling
    steps: tuple[CalculationStep, ...]

    def row(self) -> list[str]:
        return [self.scheme] + [fmt(getattr(self, c)) for c in TOTALS_COLUMNS[1:]]


def scheme_total(f: FundFigures) -> SchemeTotal:
    steps: list[CalculationStep] = []
    c = f["contributions"]
    deductions = [(key, zh, f[key]) for key, zh in DEDUCTIONS]
    risk = round_money(c * f["risk_reserve_rate"])
    formula = c - sum(d for _, _, d in deductions) - risk
    steps.append(CalculationStep(AMOUNTS["contributions"], "", c))
    for key, zh, d in deductions:
        steps.append(CalculationStep(f"减：{zh}", key, d))
    steps.append(CalculationStep(f"减：{RATES['risk_reserve_rate'][0]} {f['risk_reserve_rate']} × 征收总额",
                      f"{fmt(c)} × {f['risk_reserve_rate']} = {fmt(risk)}（四舍五入到分）", risk))
    steps.append(CalculationStep("公式总额", "征收总额 − 各项扣除 − 风险调剂金", formula))

    floor = round_money(f["prior_year_total"] * f["floor_rate"])
    ceiling = round_money(f["booked_total"] * f["ceiling_rate"])
    steps.append(CalculationStep("保底额", f"上年度付费总额 {fmt(f['prior_year_total'])} × {f['floor_rate']} = {fmt(floor)}",
                                 floor))
    steps.append(CalculationStep("封顶额", f"当年记账总额 {fmt(f['booked_total'])} × {f['ceiling_rate']} = {fmt(ceiling)}",
                                 ceiling))

    target = min(max(formula, floor), ceiling)
    gap = max(target - formula, Decimal(0))
    drawn_current = min(gap, f["current_surplus"])
    drawn_accumulated = min(gap - drawn_current, f["accumulated_surplus"])
    shortfall = gap - drawn_current - drawn_accumulated
    returned = max(formula - ceiling, Decimal(0))
    final = formula + drawn_current + drawn_accumulated - returned

    if returned > 0:
        binding = "ceiling"
        steps.append(CalculationStep("封顶：超出部分作为当期结余",
                          f"公式总额 {fmt(formula)} − 封顶额 {fmt(ceiling)} = {fmt(returned)}", returned))
    elif gap > 0:
        binding = "floor_short" if shortfall > 0 else "floor"
        capped = "（保底额高于封顶额，以封顶额为准）" if floor > ceiling else ""
        steps.append(CalculationStep(f"保底：缺口{capped}", f"{fmt(target)} − 公式总额 {fmt(formula)} = {fmt(gap)}", gap))
        steps.append(CalculationStep("从当年结余列支", f"min(缺口 {fmt(gap)}, 当年结余 {fmt(f['current_surplus'])})",
                                     drawn_current))
        steps.append(CalculationStep("从历年结余列支",
                          f"min(余下缺口 {fmt(gap - drawn_current)}, 历年结余 {fmt(f['accumulated_surplus'])})",
                          drawn_accumulated))
        if shortfall > 0:
            steps.append(CalculationStep("结余不足，保底仍缺", f"{fmt(gap)} − {fmt(drawn_current)} − {fmt(drawn_accumulated)}",
                                         shortfall))
    else:
        binding = "formula"
    steps.append(CalculationStep("当年付费总额", "公式总额 + 结余列支 − 返回结余", final))
    return SchemeTotal(f.scheme, formula, floor, ceiling, final, drawn_current, drawn_accumulated, returned,
                       shortfall, binding, tuple(steps))


def compute_totals(policy: BudgetPolicy) -> list[SchemeTotal]:
    return [scheme_total(policy.funds[s]) for s in ("employee", "resident") if s in policy.funds]


BINDING_ZH = {
    "formula": "按公式总额（未触及保底与封顶）",
    "floor": "保底生效，缺口已由结余列支",
    "floor_short": "保底生效，但结余不足，仍有缺口",
    "ceiling": "封顶生效，超出部分作为当期结余",
}


def explain(policy: BudgetPolicy, totals: list[SchemeTotal]) -> str:
    """A Chinese, human-readable account of every step (Markdown)."""
    lines = [f"# {policy.year} 年度医保基金付费总额测算说明", "",
             f"政策文件：`{policy.path.name}`。依据：韶关市按病种分值结算办法第五至七条；金额单位：元；"
             "乘积一律四舍五入到分。", ""]
    for t in totals:
        f = policy.funds[t.scheme]
        lines += [f"## {SCHEME_ZH[t.scheme]}（{t.scheme}）", "",
                  f"结论：{BINDING_ZH[t.binding]}。当年付费总额 **{fmt(t.final_total)}** 元。", "",
                  "| 步骤 | 计算 | 金额（元） |", "|---|---|---:|"]
        lines += [f"| {s.label} | {s.formula} | {fmt(s.amount)} |" for s in t.steps]
        lines += ["", "参数来源：", ""]
        lines += [f"- `{k}` = {v}：{f.sources[k]}" for k, v in f.rates.items()]
        lines.append("")
    return "\n".join(lines)
