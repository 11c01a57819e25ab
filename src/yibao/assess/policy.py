"""The assessment policy (考核政策): ``defaults.toml`` beside this module, overridden key by key by a
region's file. Every value is checked here; a wrong one stops with one line naming the file and key."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from yibao.contract.policyfile import decimal_param, int_param, read_toml
from yibao.contract.reasons import FatalLoadError

DEFAULTS = Path(__file__).with_name("defaults.toml")

# The contract's indicators, in the contract's table order (shared/contract/README.md "Institution indicators").
CONTRACT_INDICATORS = (
    "inpatient_cases", "outpatient_visits", "cost_per_inpatient_case", "cost_per_outpatient_visit", "avg_los",
    "inpatient_per_person", "outpatient_per_person", "admission_rate", "readmission_15d_rate", "referral_out_rate",
    "burden_share", "out_of_catalogue_share", "drug_share", "surgery_rate",
)
# Indicators defined by this policy (defaults.toml [indicators.*]), after the contract's.
POLICY_INDICATORS = ("revisit_rate", "elective_surgery_rate", "severe_case_share", "stocking_rate",
                     "staff_sanction_share")
ALL_INDICATORS = CONTRACT_INDICATORS + POLICY_INDICATORS
READMIT_DAYS = 15  # fixed by the contract (readmission_15d_rate: 0–15 days inclusive)

ZH = {  # Chinese names for users (Excel, messages)
    "inpatient_cases": "住院人次", "outpatient_visits": "门诊人次", "cost_per_inpatient_case": "次均住院费用",
    "cost_per_outpatient_visit": "次均门诊费用", "avg_los": "平均住院日", "inpatient_per_person": "住院人次人头比",
    "outpatient_per_person": "门诊人次人头比", "admission_rate": "住院率", "readmission_15d_rate": "15日内再住院率",
    "referral_out_rate": "转诊转院率", "burden_share": "参保人员负担水平", "out_of_catalogue_share": "目录外费用占比",
    "drug_share": "药品费用占比", "surgery_rate": "手术率", "revisit_rate": "复诊率",
    "elective_surgery_rate": "择期手术率", "severe_case_share": "重症病人比例", "stocking_rate": "目录内药品备药率",
    "staff_sanction_share": "相关人员暂停或终止支付资格比例",
}
KIND = {  # how a value is shown: count, money (yuan), days, ratio (×), rate (share)
    "inpatient_cases": "count", "outpatient_visits": "count", "cost_per_inpatient_case": "money",
    "cost_per_outpatient_visit": "money", "avg_los": "days", "inpatient_per_person": "ratio",
    "outpatient_per_person": "ratio", "admission_rate": "rate",
}
SIX = ("stocking_rate", "out_of_catalogue_share", "burden_share", "drug_share", "avg_los", "cost_per_inpatient_case")


class PolicyError(FatalLoadError):
    """An assessment policy problem: one line naming the file and the key."""


@dataclass(frozen=True)
class ScoreRule:
    indicator: str
    weight: Decimal
    direction: str            # 'lower' or 'higher' is better
    target: str | Decimal     # a number, or 'peer_median'
    tolerance: Decimal | None
    zero_at: Decimal | None


@dataclass(frozen=True)
class StagedTarget:
    region_code: str          # '*' = every county
    year: int
    stage: int | None
    source: str
    targets: dict[str, Decimal]


@dataclass(frozen=True)
class AssessPolicy:
    source: str
    revisit_window_days: int
    revisit_min_gap_days: int
    revisit_same_dx: bool
    death_discharge_mode: str
    icu_dept_prefixes: tuple[str, ...]
    severe_use_cc: bool
    iqr_multiple: Decimal
    min_peers: int
    total_places: int
    rules: tuple[ScoreRule, ...]
    staged: tuple[StagedTarget, ...] = ()
    indicator_docs: dict[str, dict] = field(default_factory=dict)  # zh, source, definition per policy indicator


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_policy(path: Path | str | None = None) -> AssessPolicy:
    """The shipped defaults, with ``path``'s keys over them."""
    raw = read_toml(DEFAULTS, PolicyError)
    where = DEFAULTS.name
    if path is not None:
        user = read_toml(path, PolicyError)
        for name, r in user.get("score", {}).get("indicators", {}).items():  # a user's zero_at replaces the
            base = raw.get("score", {}).get("indicators", {}).get(name)      # default tolerance, and vice versa
            if isinstance(r, dict) and isinstance(base, dict) and ("zero_at" in r) != ("tolerance" in r):
                base.pop("tolerance" if "zero_at" in r else "zero_at", None)
        raw = _merge(raw, user)
        where = str(path)
    ind = raw.get("indicators", {})
    unknown = sorted(set(ind) - set(POLICY_INDICATORS))
    if unknown:
        raise PolicyError(where, f"indicators 中有未知指标 {', '.join(unknown)}（可用：{', '.join(POLICY_INDICATORS)}）")
    rv, sv = ind.get("revisit_rate", {}), ind.get("severe_case_share", {})
    window = int_param(where, "indicators.revisit_rate.window_days", rv.get("window_days"), 1, 366, PolicyError)
    gap = int_param(where, "indicators.revisit_rate.min_gap_days", rv.get("min_gap_days"), 0, window, PolicyError)
    same = rv.get("same_dx_category")
    use_cc = sv.get("use_cc")
    for key, v in (("indicators.revisit_rate.same_dx_category", same), ("indicators.severe_case_share.use_cc", use_cc)):
        if not isinstance(v, bool):
            raise PolicyError(where, f"{key} 应为 true 或 false，实际为 {v!r}")
    prefixes = sv.get("icu_dept_prefixes", [])
    if not isinstance(prefixes, list) or not all(isinstance(p, str) and p.strip() for p in prefixes):
        raise PolicyError(where, "indicators.severe_case_share.icu_dept_prefixes 应为科室代码前缀的列表，例如 [\"28\"]")
    death = str(sv.get("death_discharge_mode", "5"))
    bands = raw.get("bands", {})
    iqr = decimal_param(where, "bands.iqr_multiple", bands.get("iqr_multiple"), Decimal(0), Decimal(10), 4, PolicyError)
    min_peers = int_param(where, "bands.min_peers", bands.get("min_peers"), 1, 1000, PolicyError)
    score = raw.get("score", {})
    places = int_param(where, "score.total_places", score.get("total_places", 2), 0, 4, PolicyError)
    rules = []
    scored = score.get("indicators", {})
    for name in sorted(scored, key=lambda n: ALL_INDICATORS.index(n) if n in ALL_INDICATORS else -1):
        if name not in ALL_INDICATORS:
            raise PolicyError(where, f"score.indicators.{name}：未知指标（可用：{', '.join(ALL_INDICATORS)}）")
        r, key = scored[name], f"score.indicators.{name}"
        weight = decimal_param(where, f"{key}.weight", r.get("weight"), Decimal(0), Decimal(100), 4, PolicyError)
        direction = r.get("direction")
        if direction not in ("lower", "higher"):
            raise PolicyError(where, f"{key}.direction 应为 \"lower\"（越低越好）或 \"higher\"（越高越好），实际为 {direction!r}")
        tgt = r.get("target")
        target: str | Decimal = "peer_median" if tgt == "peer_median" else decimal_param(
            where, f"{key}.target", tgt, Decimal(0), None, 4, PolicyError)
        tol = r.get("tolerance")
        zero = r.get("zero_at")
        if (tol is None) == (zero is None):
            raise PolicyError(where, f"{key}：tolerance 与 zero_at 须且只须给出一个")
        tolerance = None if tol is None else decimal_param(where, f"{key}.tolerance", tol, Decimal("0.0001"), Decimal(100), 4,
                                                           PolicyError)
        zero_at = None if zero is None else decimal_param(where, f"{key}.zero_at", zero, Decimal(0), None, 4, PolicyError)
        if zero_at is not None and isinstance(target, Decimal) and (
                zero_at <= target if direction == "lower" else zero_at >= target):
            raise PolicyError(where, f"{key}.zero_at 应在目标值{'之上' if direction == 'lower' else '之下'}")
        if weight > 0:
            rules.append(ScoreRule(name, weight, direction, target, tolerance, zero_at))
    staged = []
    for i, s in enumerate(score.get("staged_targets", [])):
        key = f"score.staged_targets[{i}]"
        rc = str(s.get("region_code", "")).strip()
        if not (rc == "*" or (len(rc) == 6 and rc.isdigit())):
            raise PolicyError(where, f"{key}.region_code 应为 6 位行政区划代码或 \"*\"，实际为 {rc!r}")
        year = int_param(where, f"{key}.year", s.get("year"), 1900, 2200, PolicyError)
        stage = s.get("stage")
        if stage is not None:
            stage = int_param(where, f"{key}.stage", stage, 1, 9, PolicyError)
        targets = {}
        for k, v in s.items():
            if k in ("region_code", "year", "stage", "source"):
                continue
            if k not in ALL_INDICATORS:
                raise PolicyError(where, f"{key}.{k}：未知指标")
            targets[k] = decimal_param(where, f"{key}.{k}", v, Decimal(0), None, 4, PolicyError)
        if any(t.region_code == rc and t.year == year for t in staged):
            raise PolicyError(where, f"{key}：{rc} {year} 年的分阶段目标重复")
        staged.append(StagedTarget(rc, year, stage, str(s.get("source", where)), targets))
    docs = {n: {k: str(ind.get(n, {}).get(k, "")) for k in ("zh", "source", "definition")} for n in POLICY_INDICATORS}
    return AssessPolicy(where, window, gap, same, death, tuple(p.strip() for p in prefixes), use_cc, iqr, min_peers,
                        places, tuple(rules), tuple(staged), docs)
