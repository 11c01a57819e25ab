"""The parameters of fund monitoring, early warning and projection (基金运行监测、风险预警、收支预测), declared once.

The warning thresholds are the common national practice for the pooled fund's accumulated balance, expressed in
months of expenditure it can pay (累计结余可支付月数): 6–9 months is the range usually called reasonable, below 6
low, below 3 a high risk; the exact bands are set locally (every value below is a parameter; defaults named as
such). ``docs/fund.md`` holds the generated table.
"""

from __future__ import annotations

from decimal import Decimal

from yibao.contract.params import Param, ParamTable, Values
from yibao.contract.params import kinds as K

__all__ = ["FUND_PARAMS", "load_fund_policy"]

PRACTICE = "全国常用口径（统筹基金累计结余可支付月数 6–9 个月为合理区间），具体阈值为本地规则"
LOCAL = "本地规则（示例值）"


def _bands_ordered(v: Values) -> str | None:
    red, yellow, high = v["warning.months_red"], v["warning.months_yellow"], v["warning.months_high"]
    if not red < yellow < high:
        return f"warning.months_red（{red}）< warning.months_yellow（{yellow}）< warning.months_high（{high}）应依次增大"
    return None


FUND_PARAMS = ParamTable(
    name="fund", title="基金运行监测与预警", doc="docs/fund.md",
    params=(
        Param("warning.months_red", "3", K.decimal("0", "120", 2), PRACTICE,
              "累计结余可支付月数低于此值：红色预警（基金运行高风险）", "月"),
        Param("warning.months_yellow", "6", K.decimal("0", "120", 2), PRACTICE,
              "累计结余可支付月数低于此值：黄色预警（结余偏低）", "月"),
        Param("warning.months_high", "12", K.decimal("0", "240", 2), PRACTICE,
              "累计结余可支付月数高于此值：提示结余偏多（保障不足的信号）", "月"),
        Param("warning.growth_gap", "0.05", K.decimal("0", "10", 4), LOCAL,
              "当年累计支出同比增速高于收入同比增速超过此值：橙色预警", "比例"),
        Param("warning.ytd_deficit", True, K.boolean(), LOCAL,
              "当年累计收不抵支（当年累计当期结余为负）时：橙色预警"),
        Param("monitor.coverage_months", 12, K.integer(1, 36),
              "累计结余可支付月数 = 期末累计结余 ÷ 月均基金支出（本地规则：近 12 个月）",
              "计算月均支出所用的月数（含当月，向前取）", "月"),
        Param("projection.years", 5, K.integer(1, 10),
              "人社部发〔2012〕70号 三(一)：结合参保人数、年龄结构、疾病谱与政策变化预测支出（本地规则：3–5 年）",
              "预测年数", "年"),
        Param("projection.age_bands", [0, 18, 45, 60, 70, 80], K.integer_list(0, 150, ascending=True), LOCAL,
              "年龄段下限（岁），第一个应为 0", "岁"),
        Param("projection.trend", "cagr", K.choice("cagr", "flat"), LOCAL,
              "人均基金支出的趋势：cagr = 拟合年度间的年均增长率；flat = 不增长"),
        Param("scenario.expenditure_factor", "1", K.decimal("0", "10", 4), LOCAL,
              "情景：全部基金支出乘以此系数（1 = 基线）", "倍"),
        Param("scenario.revenue_factor", "1", K.decimal("0", "10", 4), LOCAL,
              "情景：全部基金收入乘以此系数（1 = 基线）", "倍"),
        Param("scenario.from_month", "", K.text(), LOCAL,
              "情景自此月份（YYYY-MM）起生效；空 = 全年"),
    ),
    checks=(_bands_ordered, lambda v: None if v["projection.age_bands"] and v["projection.age_bands"][0] == 0
            else "projection.age_bands 的第一个年龄段应从 0 岁开始"),
)

ONE = Decimal(1)


def load_fund_policy(path=None, overrides=None, overrides_from: str = "") -> Values:
    """The fund policy: the defaults, overridden by the file (its ``[warning]``, ``[monitor]``, ``[projection]``,
    ``[scenario]`` tables; other tables belong to other capabilities), then by a scenario's tables."""
    return FUND_PARAMS.load(path, overrides=overrides, overrides_from=overrides_from)
