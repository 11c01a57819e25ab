"""DIP policy files (按病种分值付费政策文件, TOML): every parameter declared once in :data:`TABLE`.

One :class:`~yibao.contract.params.ParamTable` holds each parameter with its default, check (kind), source,
meaning and unit. From it come the checks of a policy file (every problem at once, each naming its key), the
defaults file ``defaults.toml`` beside this module (generated: ``TABLE.defaults_toml()``, a test keeps it equal),
the parameter table of the SQL (``dip_params``: every number of ``[catalogue]`` and ``[scoring]``,
:func:`yibao.dip.tables.param_tables`), the indicators' table (every ``[indicators]`` value) and the table in
``docs/dip.md`` (``TABLE.markdown()``, a test keeps it there).

Sections: ``[catalogue]`` (years, year weights, the core threshold, trimming, the score base, primary-care
groups), ``[scoring]`` (deviation ratios, the special-case review share, coefficients), ``[indicators]``
(supervision thresholds), ``[settlement]``, ``[bed_day]``, ``[per_capita]``. Numbers are exact decimals
(strings such as ``"0.85"``, integers, or TOML floats taken as written). Other sections of the file belong to
other capabilities and are left alone.

A new parameter is one more :class:`Param` below; the code reads it as ``policy["section.key"]`` (and a number
of ``[catalogue]`` or ``[scoring]`` reaches the SQL as a column of ``dip_params`` without more code).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from yibao.contract.params import Param, ParamTable, Values
from yibao.contract.params import kinds as K
from yibao.dip.errors import DipPolicyError

__all__ = ["TABLE", "DEFAULTS_FILE", "DEFAULTS_HEADER", "DipPolicy", "SettlementParams", "load_policy", "canonical_json",
           "LEVELS",
           "KINDS"]

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")
LEVELS = ("3", "2", "1", "0")
KINDS = ("hospital", "primary", "pharmacy")
LOCAL = "本地规则（示例值）"
# the header of the generated defaults file (TABLE.defaults_toml(header=DEFAULTS_HEADER))
DEFAULTS_HEADER = "每个参数的含义、单位与来源见注释与 docs/dip.md §4；地区的政策文件（--policy）覆盖其中任意一项。"


def _indicator(key: str, default: Any, hi: int, places: int, zh: str, unit: str, source: str = LOCAL) -> Param:
    return Param(f"indicators.{key}", default, K.decimal(lo=0, hi=hi, places=places), source, zh, unit)


def _check_weights(v: Values) -> str | None:
    if sum(v["catalogue.year_weights"]) <= 0:
        return "catalogue.year_weights 之和应大于 0"
    years, w = v["catalogue.years"], v["catalogue.year_weights"]
    if years and len(years) != len(w):
        return f"catalogue.years 有 {len(years)} 年，catalogue.year_weights 有 {len(w)} 个权重"
    return None


def _check_extreme(v: Values) -> str | None:
    extreme, high = v["scoring.extreme_ratio"], v["scoring.high_ratio"]
    if extreme < high:
        return f"scoring.extreme_ratio（{extreme}）不应小于 scoring.high_ratio（{high}）"
    return None


TABLE = ParamTable(
    name="dip",
    title="DIP（按病种分值付费）",
    doc="docs/dip.md",
    checks=(_check_weights, _check_extreme),
    params=(
        # [catalogue]: the catalogue built from history (病种目录库)
        Param("catalogue.years", [], K.integer_list(lo=1901, hi=2999, ascending=True),
              "医保办发〔2020〕50号 DIP 技术规范：以近三年历史病例为基础",
              "目录库的历史年度，从早到晚；空 = 结算年度之前的（至多 year_weights 个）出院年度", "年"),
        Param("catalogue.year_weights", ["1", "2", "7"], K.decimal_list(lo=0, places=4, min_len=1),
              "近三年数据按 1:2:7 加权（DIP 技术规范的常用做法）；本地规则", "历史年度的权重，从早到晚"),
        Param("catalogue.core_share", "0.85", K.decimal(lo=0, hi=1),
              "医保办发〔2020〕50号 DIP 技术规范：核心病种覆盖 85% 以上的病例",
              "核心病种的病例数临界值使核心病种覆盖的病例比例", "比例"),
        Param("catalogue.core_min_cases", 0, K.integer(lo=0),
              "本地规则（许多地区用 15）", "核心病种病例数临界值；0 = 按 core_share 确定", "例"),
        Param("catalogue.trim_lower", "0.05", K.decimal(lo=0, hi="0.4999"), LOCAL,
              "病种内费用排位低于此比例的病例不计入病种平均费用（离群病例剔除）", "比例"),
        Param("catalogue.trim_upper", "0.95", K.decimal(lo="0.5001", hi=1), LOCAL,
              "病种内费用排位高于此比例的病例不计入病种平均费用", "比例"),
        Param("catalogue.score_base", "1000", K.decimal(lo=1, hi=1_000_000, places=0),
              "issue 4：病种分值 = 病种平均费用 ÷ 全部病例平均费用 × 1000；基数为本地规则",
              "病种分值的基数", "分"),
        Param("catalogue.primary_care_groups", [], K.text_list(unique=False),
              "医保发〔2021〕48号：基层病种不设医疗机构等级系数；名单为本地规则",
              "基层病种的病种编码，例如 \"K80.1|-\""),
        # [scoring]: grouping and scoring of cases (病例入组与赋分)
        Param("scoring.high_ratio", "2", K.decimal(lo=1, hi=100),
              "偏差病例（二手资料，见 DOMAIN.md）", "高倍率病例界限：病种平均费用的倍数；病例分值 × ((费用比 − 界限) + 1)", "倍"),
        Param("scoring.low_ratio", "0.5", K.decimal(lo=0, hi=1),
              "偏差病例（二手资料）", "低倍率病例界限：病种平均费用的倍数；病例分值 × 费用比", "倍"),
        Param("scoring.extreme_ratio", "5", K.decimal(lo=1, hi=1000),
              "二手资料：超过病种平均费用 500% 的病例进入特例单议", "极高倍率（特例单议）界限：病种平均费用的倍数", "倍"),
        Param("scoring.review_share", "0.05", K.decimal(lo=0, hi=1),
              "DRG/DIP 2.0 版通知（2024-07-23）：特例单议不超过出院病例的 5%（此处按机构）",
              "每家机构特例单议名额占其入组病例的比例", "比例"),
        Param("scoring.level_coefficient", {"3": "1", "2": "1", "1": "1", "0": "1"},
              K.decimal_map(lo=0, hi=10), "医保发〔2021〕48号 医疗机构等级系数；默认 1（由地区自定，本地规则）",
              "医疗机构等级系数：机构级别 3/2/1/0 → 系数"),
        Param("scoring.institution_coefficient", {}, K.decimal_map(lo=0, hi=10), "本地规则",
              "机构系数：机构编码 → 系数，优先于等级系数"),
        # [indicators]: supervision indicators (违规行为监管辅助目录, issue 4 part 4)
        _indicator("high_score_min", "2000", 1_000_000, 4,
                   "高套病种：高分值病种的病种分值下限（分值 1000 时全部病例平均的 2 倍）", "分"),
        _indicator("upcoding_multiple", "1.5", 100, 4, "高套病种：高分值病例占比或 CMI 高于同级中位数 × 此倍数时预警", "倍"),
        _indicator("readmit_days", 15, 365, 0, "分解住院：出院后此天数内同一机构、同一诊断类目再入院", "天",
                   "issue 4：15 天内同一诊断类目再入院"),
        _indicator("readmit_multiple", "2", 100, 4, "分解住院：再入院率高于同级中位数 × 此倍数时预警", "倍"),
        _indicator("low_score_max", "300", 1_000_000, 4, "低标入院：低分值病种的病种分值上限", "分"),
        _indicator("short_stay_days", 2, 365, 0, "低标入院：短住院的天数上限（出院 − 入院）", "天"),
        _indicator("low_admission_multiple", "2", 100, 4, "低标入院：低分值短住院病例占比高于同级中位数 × 此倍数时预警", "倍"),
        _indicator("shift_days", 7, 365, 0, "转嫁费用：入院前、出院后此天数内同一机构的门诊统筹支付", "天",
                   "issue 4：入院前、出院后 7 天门诊统筹支付"),
        _indicator("shift_multiple", "2", 100, 4, "转嫁费用：每住院人次门诊统筹支付高于同级中位数 × 此倍数时预警", "倍"),
        _indicator("refuse_drop", "0.05", 1, 4, "推诿病人：高分值病例占比较上年的变化低于同级中位数 − 此值时预警", "比例"),
        _indicator("min_peers", 3, 1000, 0, "同级机构（含本机构）少于此数时不预警", "家", "本地规则"),
        # [settlement], [bed_day], [per_capita]: point values and the year's settlement (issue 4 part 3)
        Param("settlement.convention", "fund", K.choice("fund", "total_cost"), "issue 4 第 3 部分（政策开关）",
              "点值口径：fund = 只计基金；total_cost = 基金预算按报销比例折算为总费用，并减去病例自付"),
        Param("settlement.reimbursement_ratio", "", K.decimal(lo="0.0001", hi=1, places=6, empty_ok=True), "本地规则",
              "总费用口径的统筹基金支付比例；空 = 由结算年度 DIP 病例的 Σ 基金支付 ÷ Σ 医疗总费用", "比例"),
        Param("settlement.deposit_rate", "0.05", K.decimal(lo=0, hi="0.05"), "issue 4：质量保证金不超过 5%",
              "质量保证金：每月预付中预留的比例，年终按考核得分返还", "比例"),
        Param("settlement.seasonality", "last_year", K.choice("flat", "last_year"), "本地规则",
              "月度预算：flat = 12 等分；last_year = 按上年各结算月 DIP 基金支付的比例"),
        Param("settlement.prepay_cap", "none", K.choice("none", "booked"), "issue 4 / 本地规则",
              "按月预付上限：none = 当月点数 × 月度预付点值；booked = 不超过机构当月记账的基金"),
        Param("bed_day.min_days", 60, K.integer(lo=1, hi=3650), LOCAL,
              "按床日付费（DOMAIN.md §2）：住院至少此天数、主要诊断属下列前缀的病例退出 DIP，按床日付费", "天"),
        Param("bed_day.psychiatric", ["F20", "F21", "F22", "F23", "F24", "F25", "F28", "F29", "F31", "F32", "F33"],
              K.text_list(unique=False), "本地规则（ICD-10 F20–F29 精神分裂症及妄想性障碍、F31–F33 心境障碍）",
              "长期住院精神类的主要诊断前缀"),
        Param("bed_day.rehabilitation", ["Z50", "I69", "G81", "G82", "T91.3"], K.text_list(unique=False),
              "本地规则（Z50 康复治疗、I69 脑卒中后遗症、脊髓损伤）", "医疗康复的主要诊断前缀"),
        Param("bed_day.psychiatric_rate", {"3": "260.00", "2": "220.00", "1": "180.00", "0": "180.00"},
              K.decimal_map(keys=LEVELS, lo=0, hi=100000, places=2, complete=True), LOCAL,
              "精神类床日标准：机构级别 3/2/1/0 → 每床日基金支付", "元/床日"),
        Param("bed_day.rehabilitation_rate", {"3": "400.00", "2": "320.00", "1": "260.00", "0": "260.00"},
              K.decimal_map(keys=LEVELS, lo=0, hi=100000, places=2, complete=True), LOCAL,
              "医疗康复床日标准：机构级别 3/2/1/0 → 每床日基金支付", "元/床日"),
        Param("per_capita.kinds", ["hospital", "primary"], K.text_list(options=KINDS, unique=False, nonempty=True),
              "本地规则（代替签约名单；药店不参加）",
              "按人头付费（门诊统筹，DOMAIN.md §2）的机构类别：参保人归属于其年度门诊就诊次数最多的此类机构"),
    ),
)


@dataclass(frozen=True)
class DipPolicy:
    path: str
    years: tuple[int, ...]
    year_weights: tuple[Decimal, ...]
    core_share: Decimal
    core_min_cases: int
    trim_lower: Decimal
    trim_upper: Decimal
    score_base: Decimal
    primary_care_groups: tuple[str, ...]
    high_ratio: Decimal
    low_ratio: Decimal
    extreme_ratio: Decimal
    review_share: Decimal
    level_coefficient: dict[str, Decimal] = field(default_factory=dict)
    institution_coefficient: dict[str, Decimal] = field(default_factory=dict)
    indicators: dict[str, Decimal] = field(default_factory=dict)  # [indicators]: supervision thresholds
    settlement: "SettlementParams | None" = None  # [settlement], [bed_day], [per_capita]
    values: Values | None = field(default=None, compare=False, repr=False)  # every parameter, typed (TABLE)

    def __getitem__(self, key: str) -> Any:
        """Any parameter of :data:`TABLE` by its dotted key (``policy["scoring.high_ratio"]``)."""
        return (self.values or TABLE.defaults())[key]

    def catalogue_params(self) -> dict:
        """The parameters that make a catalogue (part of its version)."""
        return {
            "years": list(self.years), "year_weights": [str(w) for w in self.year_weights],
            "core_share": str(self.core_share), "core_min_cases": self.core_min_cases,
            "trim_lower": str(self.trim_lower), "trim_upper": str(self.trim_upper),
            "score_base": str(self.score_base), "primary_care_groups": list(self.primary_care_groups),
        }

    def scoring_params(self) -> dict:
        return {
            "high_ratio": str(self.high_ratio), "low_ratio": str(self.low_ratio),
            "extreme_ratio": str(self.extreme_ratio), "review_share": str(self.review_share),
            "level_coefficient": {k: str(v) for k, v in sorted(self.level_coefficient.items())},
            "institution_coefficient": {k: str(v) for k, v in sorted(self.institution_coefficient.items())},
        }


def load_policy(path: Path | None = None, overrides: dict | None = None, overrides_from: str = "") -> DipPolicy:
    """The defaults of :data:`TABLE`, overridden by ``path`` when given, then by ``overrides`` (a scenario's
    sections); every problem of the file at once (:class:`~yibao.dip.errors.DipPolicyError`)."""
    v = TABLE.load(path, overrides=overrides, overrides_from=overrides_from, error=DipPolicyError)
    where = str(path) if path is not None else str(DEFAULTS_FILE)  # (the file a value last came from)
    if overrides:
        where = overrides_from or where
    return DipPolicy(
        path=where, years=tuple(v["catalogue.years"]), year_weights=tuple(v["catalogue.year_weights"]),
        core_share=v["catalogue.core_share"], core_min_cases=v["catalogue.core_min_cases"],
        trim_lower=v["catalogue.trim_lower"], trim_upper=v["catalogue.trim_upper"],
        score_base=v["catalogue.score_base"],
        primary_care_groups=tuple(sorted({g.strip() for g in v["catalogue.primary_care_groups"]})),
        high_ratio=v["scoring.high_ratio"], low_ratio=v["scoring.low_ratio"],
        extreme_ratio=v["scoring.extreme_ratio"], review_share=v["scoring.review_share"],
        level_coefficient=dict(v["scoring.level_coefficient"]),
        institution_coefficient=dict(v["scoring.institution_coefficient"]),
        indicators=v.section("indicators"), settlement=_settlement(v), values=v,
    )


@dataclass(frozen=True)
class SettlementParams:
    convention: str
    reimbursement_ratio: Decimal | None
    deposit_rate: Decimal
    seasonality: str
    prepay_cap: str
    bed_min_days: int
    bed_prefixes: dict[str, tuple[str, ...]]  # psychiatric / rehabilitation → principal-diagnosis prefixes
    bed_rates: dict[str, dict[str, Decimal]]  # kind → level → fund money per day
    capita_kinds: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"convention": self.convention,
                "reimbursement_ratio": None if self.reimbursement_ratio is None else str(self.reimbursement_ratio),
                "deposit_rate": str(self.deposit_rate), "seasonality": self.seasonality,
                "prepay_cap": self.prepay_cap,
                "bed_day": {"min_days": self.bed_min_days, "prefixes": {k: list(v) for k, v in self.bed_prefixes.items()},
                            "rates": {k: {lv: str(r) for lv, r in v.items()} for k, v in self.bed_rates.items()}},
                "per_capita": {"kinds": list(self.capita_kinds)}}


def _settlement(v: Values) -> SettlementParams:
    prefixes = {k: tuple(sorted({x.strip().upper() for x in v[f"bed_day.{k}"]})) for k in ("psychiatric", "rehabilitation")}
    rates = {k: {lv: v[f"bed_day.{k}_rate"][lv] for lv in LEVELS} for k in ("psychiatric", "rehabilitation")}
    return SettlementParams(v["settlement.convention"], v["settlement.reimbursement_ratio"],
                            v["settlement.deposit_rate"], v["settlement.seasonality"], v["settlement.prepay_cap"],
                            v["bed_day.min_days"], prefixes, rates, tuple(sorted(set(v["per_capita.kinds"]))))


def canonical_json(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
