"""The benefit policy (待遇政策) as data: one :class:`~yibao.contract.params.ParamTable`, section ``[benefit]``.

A rule is keyed by scheme (险种), benefit setting (待遇类别: ``inpatient`` 住院, ``outpatient`` 普通门诊,
``special_outpatient`` 门诊慢特病/特殊病种门诊) and institution level (医疗机构等级 3/2/1/0). Map parameters hold
one value per ``{scheme}_{setting}`` (outer key) and level (inner key), so a policy file overrides one cell
at a time (``[benefit.deductible.employee_inpatient] "3" = "900.00"``).

The national texts set the frame, not the numbers: 国发〔1998〕44号 (起付标准 about 10 % of the local average
wage, 最高支付限额 about 4 times it, the fund's share between them by cost band), 国办发〔2021〕14号 (普通门诊统筹,
an annual deductible and cap of its own), 医保发〔2023〕? style yearly notices for residents. Every number below
is therefore an example of a local rule (本地规则（示例值）), marked as such in its source; a region puts its own
in its policy file.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from yibao.contract.params import Param, ParamTable, Values
from yibao.contract.params import kinds as K

SCHEMES = ("employee", "resident")
SETTINGS = ("inpatient", "outpatient", "special_outpatient")
SETTING_ZH = {"inpatient": "住院", "outpatient": "普通门诊", "special_outpatient": "门诊慢特病"}
LEVELS = ("3", "2", "1", "0")
RULE_KEYS = tuple(f"{s}_{t}" for s in SCHEMES for t in SETTINGS)
# The pot (基金支付限额口径) a setting's payments count against: 住院 and 门诊慢特病 share the pooling fund's annual
# cap (统筹基金年度最高支付限额, 国发〔1998〕44号), 普通门诊统筹 has an annual cap of its own (国办发〔2021〕14号).
POTS = ("pooling", "outpatient")
POT_OF = {"inpatient": "pooling", "special_outpatient": "pooling", "outpatient": "outpatient"}
MAX_BANDS = 3

LOCAL = "本地规则（示例值）"


def _by_level(values: dict[str, tuple[str, str, str, str]]) -> dict[str, dict[str, str]]:
    return {k: dict(zip(LEVELS, v)) for k, v in values.items()}


_DEDUCTIBLE = _by_level({
    "employee_inpatient": ("800.00", "500.00", "300.00", "300.00"),
    "employee_outpatient": ("200.00", "200.00", "200.00", "200.00"),
    "employee_special_outpatient": ("0.00", "0.00", "0.00", "0.00"),
    "resident_inpatient": ("1000.00", "600.00", "300.00", "300.00"),
    "resident_outpatient": ("0.00", "0.00", "0.00", "0.00"),
    "resident_special_outpatient": ("300.00", "300.00", "300.00", "300.00"),
})
_RATE1 = _by_level({
    "employee_inpatient": ("0.8500", "0.8800", "0.9000", "0.9000"),
    "employee_outpatient": ("0.5000", "0.5500", "0.6000", "0.6000"),
    "employee_special_outpatient": ("0.8000", "0.8000", "0.8500", "0.8500"),
    "resident_inpatient": ("0.6000", "0.7000", "0.8000", "0.8000"),
    "resident_outpatient": ("0.5000", "0.5000", "0.5000", "0.5000"),
    "resident_special_outpatient": ("0.6000", "0.6000", "0.6500", "0.6500"),
})


def _plus(rates: dict[str, dict[str, str]], step: str) -> dict[str, dict[str, str]]:
    return {k: {lv: str(min(Decimal(r) + Decimal(step), Decimal("1")).quantize(Decimal("0.0001")))
                for lv, r in v.items()} for k, v in rates.items()}


_BAND1_TOP = {"employee_inpatient": "30000.00", "resident_inpatient": "30000.00"}
_BAND2_TOP = {"employee_inpatient": "100000.00", "resident_inpatient": "100000.00"}
for _k in RULE_KEYS:
    _BAND1_TOP.setdefault(_k, "0.00")
    _BAND2_TOP.setdefault(_k, "0.00")

PARAMS = ParamTable(
    name="benefit", title="待遇政策（待遇计算）", doc="docs/benefit.md",
    params=(
        Param("benefit.year", 2025, K.integer(2000, 2100), LOCAL, "政策年度（按结算日期所在年度计算）"),
        Param("benefit.region_code", "440200", K.text(nonempty=True),
              "GB/T 2260 行政区划代码（本统筹区；区县代码按前缀归入市、省级统筹区）", "统筹区代码"),
        Param("benefit.tolerance", "0.01", K.decimal("0", "100000", 2), LOCAL,
              "记账与计算差额的容忍度（超过即为审核结果）", "元"),
        Param("benefit.unlisted_class", "A", K.choice("A", "C"), LOCAL,
              "医疗费用总额中无明细部分（总额 − 明细合计）按甲类（A）或自费（C）计"),
        Param("benefit.special_dx", ["E10", "E11", "E13", "E14", "I10", "I11", "I12", "I13", "I15", "N18", "C"],
              K.text_list(nonempty=True), LOCAL + "；病种范围参照各地门诊慢特病目录（国办发〔2021〕14号 门诊共济）",
              "门诊慢特病病种（主要诊断 ICD-10 前缀）：门诊病例的主要诊断以其开头即按门诊慢特病计算"),
        Param("benefit.deductible", _DEDUCTIBLE, K.decimal_map_map(RULE_KEYS, LEVELS, "0", "1000000", 2),
              LOCAL + "；国发〔1998〕44号：起付标准原则上控制在当地职工年平均工资的 10% 左右",
              "起付标准（险种_待遇类别 → 机构等级）", "元"),
        Param("benefit.deductible_per_year",
              ["employee_outpatient", "resident_outpatient", "employee_special_outpatient",
               "resident_special_outpatient"], K.text_list(RULE_KEYS),
              LOCAL + "；国办发〔2021〕14号：普通门诊统筹设年度起付标准",
              "按年度累计的起付标准（其余按次：每次住院一个起付线）"),
        Param("benefit.band1_top", _BAND1_TOP, K.decimal_map(RULE_KEYS, "0", "100000000", 2, complete=True),
              LOCAL + "；国发〔1998〕44号：起付标准以上、最高支付限额以下按费用段确定支付比例",
              "第一费用段上限（按一次就医的政策范围内费用；0 = 不分段）", "元"),
        Param("benefit.band2_top", _BAND2_TOP, K.decimal_map(RULE_KEYS, "0", "100000000", 2, complete=True),
              LOCAL, "第二费用段上限（0 = 只有两段）", "元"),
        Param("benefit.rate1", _RATE1, K.decimal_map_map(RULE_KEYS, LEVELS, "0", "1", 4), LOCAL,
              "第一费用段统筹基金支付比例", "比例"),
        Param("benefit.rate2", _plus(_RATE1, "0.03"), K.decimal_map_map(RULE_KEYS, LEVELS, "0", "1", 4), LOCAL,
              "第二费用段统筹基金支付比例", "比例"),
        Param("benefit.rate3", _plus(_RATE1, "0.05"), K.decimal_map_map(RULE_KEYS, LEVELS, "0", "1", 4), LOCAL,
              "第三费用段统筹基金支付比例", "比例"),
        Param("benefit.cap", {"employee": {"pooling": "400000.00", "outpatient": "3000.00"},
                              "resident": {"pooling": "250000.00", "outpatient": "800.00"}},
              K.decimal_map_map(SCHEMES, POTS, "0", "100000000", 2),
              LOCAL + "；国发〔1998〕44号：最高支付限额原则上控制在当地职工年平均工资的 4 倍左右；"
              "国办发〔2021〕14号：普通门诊统筹设年度最高支付限额",
              "年度最高支付限额（险种 → pooling 住院与门诊慢特病共用 / outpatient 普通门诊）", "元"),
    ),
    checks=(
        lambda v: None if len(v["benefit.region_code"]) == 6 and v["benefit.region_code"].isdigit()
        else f"benefit.region_code 应为 6 位行政区划代码，实际为 {v['benefit.region_code']!r}",
        lambda v: next((f"benefit.band2_top.{k} 应大于 band1_top.{k}（或为 0）" for k in RULE_KEYS
                        if v["benefit.band2_top"][k] and v["benefit.band2_top"][k] <= v["benefit.band1_top"][k]), None),
        lambda v: next((f"benefit.band2_top.{k} 需要 band1_top.{k}" for k in RULE_KEYS
                        if v["benefit.band2_top"][k] and not v["benefit.band1_top"][k]), None),
        lambda v: next((f"benefit.deductible.{k} 缺少机构等级 {lv}" for p in ("benefit.deductible", "benefit.rate1",
                        "benefit.rate2", "benefit.rate3") for k in RULE_KEYS for lv in LEVELS
                        if lv not in v[p].get(k, {})), None),
    ),
)

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")


def load_policy(path: Path | str | None = None) -> Values:
    """The benefit policy of ``path`` over the defaults (every problem of the file at once, as BadPolicy)."""
    return PARAMS.load(path)


def rule_rows(v: Values) -> list[tuple]:
    """One row per scheme × setting × level: (scheme, setting, level, deductible, per_year, pot, band1_top,
    band2_top, rate1, rate2, rate3, source) — the rule table the calculator joins."""
    per_year = set(v["benefit.deductible_per_year"])
    rows = []
    for s in SCHEMES:
        for t in SETTINGS:
            k = f"{s}_{t}"
            for lv in LEVELS:
                rows.append((s, t, int(lv), v["benefit.deductible"][k][lv], k in per_year, POT_OF[t],
                             v["benefit.band1_top"][k], v["benefit.band2_top"][k], v["benefit.rate1"][k][lv],
                             v["benefit.rate2"][k][lv], v["benefit.rate3"][k][lv]))
    return rows


def cap_rows(v: Values) -> list[tuple]:
    return [(s, pot, v["benefit.cap"][s][pot]) for s in SCHEMES for pot in POTS]
