"""DIP policy files (按病种分值付费政策文件, TOML): read, check, name every problem by its key.

Two sections, both optional, over ``defaults.toml`` beside this module (each default with its
source; every key in ``docs/dip.md``):

``[catalogue]``  years, year weights, the core threshold (85 % rule or a fixed count), trimming
                 bounds, the score base, primary-care groups (基层病种).
``[scoring]``    deviation ratios (偏差病例), the special-case review share (特例单议), and the
                 coefficients by institution level and per institution.

Numbers are exact decimals (strings such as ``"0.85"``, integers, or TOML floats taken as
written). A bad value stops with one line naming the file and the key.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from yibao.contract.policyfile import decimal_param, read_toml
from yibao.dip.errors import DipPolicyError

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")
SECTIONS = ("catalogue", "scoring", "indicators", "settlement", "bed_day", "per_capita")
LEVELS = ("3", "2", "1", "0")
KINDS = ("hospital", "primary", "pharmacy")
Q4 = Decimal("0.0001")
# [indicators] keys: (upper bound, decimal places); all ≥ 0
INDICATOR_LIMITS = {
    "high_score_min": (Decimal(1_000_000), 4), "upcoding_multiple": (Decimal(100), 4), "readmit_days": (Decimal(365), 0),
    "readmit_multiple": (Decimal(100), 4), "low_score_max": (Decimal(1_000_000), 4), "short_stay_days": (Decimal(365), 0),
    "low_admission_multiple": (Decimal(100), 4), "shift_days": (Decimal(365), 0), "shift_multiple": (Decimal(100), 4),
    "refuse_drop": (Decimal(1), 4), "min_peers": (Decimal(1000), 0),
}


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


def _dec(path: str, key: str, value: object, lo: Decimal | None = None, hi: Decimal | None = None,
         places: int = 4) -> Decimal:
    return decimal_param(path, key, value, lo, hi, places, DipPolicyError)


def _merge(base: dict, over: dict, path: str, prefix: str = "") -> dict:
    out = dict(base)
    for k, v in over.items():
        full = f"{prefix}{k}"
        if k not in base and not prefix.endswith(("coefficient.", "_rate.")):
            raise DipPolicyError(path, f"{full} 不是已知的参数（见 docs/dip.md）")
        if isinstance(v, dict):
            if not isinstance(base.get(k, {}), dict):
                raise DipPolicyError(path, f"{full} 应为单个值，不是表")
            out[k] = _merge(base.get(k, {}), v, path, full + ".")
        else:
            out[k] = v
    return out


def load_policy(path: Path | None = None, overrides: dict | None = None, overrides_from: str = "") -> DipPolicy:
    """Defaults, overridden by ``path`` when given, then by ``overrides`` (a scenario's sections); checked key by key."""
    with DEFAULTS_FILE.open("rb") as f:
        raw = tomllib.load(f)
    where = str(DEFAULTS_FILE)
    if path is not None:
        where = str(path)
        user = read_toml(path, DipPolicyError)
        user = {k: v for k, v in user.items() if k in SECTIONS}  # other sections belong to others
        raw = _merge(raw, user, where)
    if overrides:
        where = overrides_from or where
        raw = _merge(raw, {k: v for k, v in overrides.items() if k in SECTIONS}, where)
    c, s = raw["catalogue"], raw["scoring"]
    years = c["years"]
    if not isinstance(years, list) or not all(isinstance(y, int) and not isinstance(y, bool) and 1900 < y < 3000
                                              for y in years):
        raise DipPolicyError(where, f"catalogue.years 应为年份列表，例如 [2023, 2024, 2025]：{years!r}")
    if years != sorted(set(years)):
        raise DipPolicyError(where, f"catalogue.years 应从早到晚、不重复：{years!r}")
    weights = c["year_weights"]
    if not isinstance(weights, list) or not weights:
        raise DipPolicyError(where, "catalogue.year_weights 应为非空列表，例如 [\"1\", \"2\", \"7\"]")
    w = tuple(_dec(where, f"catalogue.year_weights[{i}]", x, Decimal(0)) for i, x in enumerate(weights))
    if sum(w) <= 0:
        raise DipPolicyError(where, "catalogue.year_weights 之和应大于 0")
    if years and len(years) != len(w):
        raise DipPolicyError(where, f"catalogue.years 有 {len(years)} 年，catalogue.year_weights 有 {len(w)} 个权重")
    cmc = c["core_min_cases"]
    if isinstance(cmc, bool) or not isinstance(cmc, int) or cmc < 0:
        raise DipPolicyError(where, f"catalogue.core_min_cases 应为 ≥ 0 的整数（0 = 按 core_share 确定）：{cmc!r}")
    lo = _dec(where, "catalogue.trim_lower", c["trim_lower"], Decimal(0), Decimal("0.4999"))
    hi = _dec(where, "catalogue.trim_upper", c["trim_upper"], Decimal("0.5001"), Decimal(1))
    prim = c["primary_care_groups"]
    if not isinstance(prim, list) or not all(isinstance(g, str) and g.strip() for g in prim):
        raise DipPolicyError(where, "catalogue.primary_care_groups 应为病种编码列表，例如 [\"K80.1|-\"]")
    high = _dec(where, "scoring.high_ratio", s["high_ratio"], Decimal(1), Decimal(100))
    low = _dec(where, "scoring.low_ratio", s["low_ratio"], Decimal(0), Decimal(1))
    extreme = _dec(where, "scoring.extreme_ratio", s["extreme_ratio"], Decimal(1), Decimal(1000))
    if extreme < high:
        raise DipPolicyError(where, f"scoring.extreme_ratio（{extreme}）不应小于 scoring.high_ratio（{high}）")

    def coefs(section: str) -> dict[str, Decimal]:
        table = s.get(section, {})
        if not isinstance(table, dict):
            raise DipPolicyError(where, f"scoring.{section} 应为表")
        return {str(k): _dec(where, f"scoring.{section}.{k}", v, Decimal(0), Decimal(10)) for k, v in table.items()}

    ind = {k: _dec(where, f"indicators.{k}", v, Decimal(0), INDICATOR_LIMITS[k][0], places=INDICATOR_LIMITS[k][1])
           for k, v in raw.get("indicators", {}).items()}
    return DipPolicy(
        path=where, years=tuple(years), year_weights=w,
        core_share=_dec(where, "catalogue.core_share", c["core_share"], Decimal(0), Decimal(1)),
        core_min_cases=cmc, trim_lower=lo, trim_upper=hi,
        score_base=_dec(where, "catalogue.score_base", c["score_base"], Decimal(1), Decimal(1_000_000), places=0),
        primary_care_groups=tuple(sorted({g.strip() for g in prim})),
        high_ratio=high, low_ratio=low, extreme_ratio=extreme,
        review_share=_dec(where, "scoring.review_share", s["review_share"], Decimal(0), Decimal(1)),
        level_coefficient=coefs("level_coefficient"), institution_coefficient=coefs("institution_coefficient"),
        indicators=ind, settlement=_settlement(where, raw),
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


def _choice(where: str, key: str, v: object, options: tuple[str, ...]) -> str:
    if v not in options:
        raise DipPolicyError(where, f"{key} 应为 {' / '.join(options)} 之一，实际为 {v!r}")
    return str(v)


def _settlement(where: str, raw: dict) -> SettlementParams:
    st, bd, pc = raw["settlement"], raw["bed_day"], raw["per_capita"]
    conv = _choice(where, "settlement.convention", st["convention"], ("fund", "total_cost"))
    rr = st["reimbursement_ratio"]
    ratio = None if rr in ("", None) else _dec(where, "settlement.reimbursement_ratio", rr, Decimal("0.0001"), Decimal(1), 6)
    dep = _dec(where, "settlement.deposit_rate", st["deposit_rate"], Decimal(0), Decimal("0.05"))
    season = _choice(where, "settlement.seasonality", st["seasonality"], ("flat", "last_year"))
    cap = _choice(where, "settlement.prepay_cap", st["prepay_cap"], ("none", "booked"))
    md = bd["min_days"]
    if isinstance(md, bool) or not isinstance(md, int) or not 1 <= md <= 3650:
        raise DipPolicyError(where, f"bed_day.min_days 应为 1–3650 的整数：{md!r}")
    prefixes, rates = {}, {}
    for kind in ("psychiatric", "rehabilitation"):
        v = bd[kind]
        if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
            raise DipPolicyError(where, f"bed_day.{kind} 应为诊断编码前缀列表，例如 [\"F20\"]")
        prefixes[kind] = tuple(sorted({x.strip().upper() for x in v}))
        table = bd[f"{kind}_rate"]
        if not isinstance(table, dict) or sorted(table) != sorted(LEVELS):
            raise DipPolicyError(where, f"bed_day.{kind}_rate 应为按机构级别 3/2/1/0 的床日标准")
        rates[kind] = {lv: _dec(where, f"bed_day.{kind}_rate.{lv}", table[lv], Decimal(0), Decimal(100000), 2)
                       for lv in LEVELS}
    kinds = pc["kinds"]
    if not isinstance(kinds, list) or not kinds or any(k not in KINDS for k in kinds):
        raise DipPolicyError(where, f"per_capita.kinds 应为 {list(KINDS)} 中的若干项：{kinds!r}")
    return SettlementParams(conv, ratio, dep, season, cap, md, prefixes, rates, tuple(sorted(set(kinds))))


def canonical_json(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
