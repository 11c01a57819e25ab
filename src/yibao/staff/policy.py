"""Payment-qualification policy (医保支付资格政策参数, TOML): read, check, name every problem by its key.

Defaults are in ``defaults.toml`` beside this module, each with its source (seed 001 speaker and
answer, or "local rule"); a region's policy file overrides keys of its ``[staff]``,
``[procedure]``, ``[institutions]`` and ``[exchange]`` sections (other sections belong to other
capabilities and are ignored). A bad value stops with one line naming the file and the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from yibao.contract.policyfile import int_param, read_toml
from yibao.contract.reasons import FatalLoadError

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")
SECTIONS = ("staff", "procedure", "institutions", "exchange")


class StaffPolicyError(FatalLoadError):
    """A staff-policy problem: one line naming the file and the key."""


@dataclass(frozen=True)
class StaffPolicy:
    path: str
    suspend_points: int
    terminate_points: int
    suspend_months: dict[int, int]          # year total reached → months of suspension
    suspend_months_min: int
    suspend_months_max: int
    bar_years_accumulated: int
    bar_years_at_once: int
    at_once_points: int
    min_points: int
    max_points: int
    scoring_bases: tuple[str, ...]
    scoring_responsibilities: tuple[str, ...]
    review_request_days: int
    flag_share: Decimal
    region_code: str
    key_env: str
    allow_unsigned: bool
    repair_not_before_decision: bool = True
    emergency_paid_statuses: tuple[str, ...] = ("suspended",)  # seed 001: 急救、抢救除外 for suspension only

    def months_for(self, total: int) -> int:
        """Months of suspension for a year total in [suspend_points, terminate_points)."""
        keys = sorted(self.suspend_months)
        best = keys[0]
        for k in keys:
            if k <= total:
                best = k
        return self.suspend_months[best]

    def as_dict(self) -> dict:
        return {
            "suspend_points": self.suspend_points, "terminate_points": self.terminate_points,
            "suspend_months": {str(k): v for k, v in sorted(self.suspend_months.items())},
            "bar_years_accumulated": self.bar_years_accumulated, "bar_years_at_once": self.bar_years_at_once,
            "at_once_points": self.at_once_points, "min_points": self.min_points, "max_points": self.max_points,
            "scoring_bases": list(self.scoring_bases),
            "scoring_responsibilities": list(self.scoring_responsibilities),
            "emergency_paid_statuses": list(self.emergency_paid_statuses),
        }


def _int(path: str, key: str, v: object, lo: int, hi: int) -> int:
    return int_param(path, key, v, lo, hi, StaffPolicyError)


def load_policy(path: Path | None = None) -> StaffPolicy:
    """Defaults, overridden by ``path`` when given; checked key by key."""
    with DEFAULTS_FILE.open("rb") as f:
        raw = tomllib.load(f)
    where = str(DEFAULTS_FILE)
    if path is not None:
        where = str(path)
        user = read_toml(path, StaffPolicyError)
        for sec in SECTIONS:
            over = user.get(sec, {})
            if not isinstance(over, dict):
                raise StaffPolicyError(where, f"[{sec}] 应为表")
            for k, v in over.items():
                if k not in raw[sec]:
                    raise StaffPolicyError(where, f"{sec}.{k} 不是已知的参数（见 docs/staff.md）")
                raw[sec][k] = v
    s, p, i, e = raw["staff"], raw["procedure"], raw["institutions"], raw["exchange"]
    mn = _int(where, "staff.suspend_months_min", s["suspend_months_min"], 1, 120)
    mx = _int(where, "staff.suspend_months_max", s["suspend_months_max"], mn, 120)
    sp = _int(where, "staff.suspend_points", s["suspend_points"], 1, 100)
    tp = _int(where, "staff.terminate_points", s["terminate_points"], sp + 1, 100)
    months_raw = s["suspend_months"]
    if not isinstance(months_raw, dict) or not months_raw:
        raise StaffPolicyError(where, "staff.suspend_months 应为表，例如 { \"9\" = 1, \"10\" = 2, \"11\" = 3 }")
    months: dict[int, int] = {}
    for k, v in months_raw.items():
        try:
            pts = int(k)
        except ValueError:
            raise StaffPolicyError(where, f"staff.suspend_months 的键应为分数：{k!r}") from None
        if not sp <= pts < tp:
            raise StaffPolicyError(where, f"staff.suspend_months.{k}：分数应在 {sp}–{tp - 1} 之间")
        months[pts] = _int(where, f"staff.suspend_months.{k}", v, mn, mx)
    if sp not in months:
        raise StaffPolicyError(where, f"staff.suspend_months 缺少 {sp} 分（达到暂停分值时）的月数")
    if [months[k] for k in sorted(months)] != sorted(months.values()):
        raise StaffPolicyError(where, "staff.suspend_months：分数越高，暂停月数不应越少")
    bases = s["scoring_bases"]
    if not isinstance(bases, list) or not all(isinstance(b, str) and b for b in bases):
        raise StaffPolicyError(where, "staff.scoring_bases 应为处理依据列表")
    resp = s["scoring_responsibilities"]
    if not isinstance(resp, list) or not set(resp) <= {"main", "secondary"} or not resp:
        raise StaffPolicyError(where, "staff.scoring_responsibilities 只能包含 main、secondary（无责任 none 从不记分）")
    try:
        share = Decimal(str(i["flag_share"]))
    except InvalidOperation:
        raise StaffPolicyError(where, f"institutions.flag_share 不是数字：{i['flag_share']!r}") from None
    if not share.is_finite() or not Decimal(0) <= share <= Decimal(1):
        raise StaffPolicyError(where, f"institutions.flag_share 应在 0 与 1 之间：{i['flag_share']!r}")
    minp = _int(where, "staff.min_points", s["min_points"], 0, 100)
    maxp = _int(where, "staff.max_points", s["max_points"], minp, 100)
    if not isinstance(e["region_code"], str) or not isinstance(e["key_env"], str) or not e["key_env"]:
        raise StaffPolicyError(where, "exchange.region_code 与 exchange.key_env 应为字符串")
    if not isinstance(e["allow_unsigned"], bool) or not isinstance(s["repair_not_before_decision"], bool):
        raise StaffPolicyError(where, "exchange.allow_unsigned 与 staff.repair_not_before_decision 应为 true 或 false")
    ep = s["emergency_paid_statuses"]
    if not isinstance(ep, list) or not set(ep) <= {"suspended", "terminated"}:
        raise StaffPolicyError(where, "staff.emergency_paid_statuses 只能包含 suspended、terminated"
                                      f"（急诊、抢救仍予结算的资格状态），实际为 {ep!r}")
    return StaffPolicy(
        path=where, suspend_points=sp, terminate_points=tp, suspend_months=months,
        suspend_months_min=mn, suspend_months_max=mx,
        bar_years_accumulated=_int(where, "staff.bar_years_accumulated", s["bar_years_accumulated"], 0, 100),
        bar_years_at_once=_int(where, "staff.bar_years_at_once", s["bar_years_at_once"], 0, 100),
        at_once_points=_int(where, "staff.at_once_points", s["at_once_points"], 1, 100),
        min_points=minp, max_points=maxp,
        scoring_bases=tuple(bases), scoring_responsibilities=tuple(resp),
        review_request_days=_int(where, "procedure.review_request_days", p["review_request_days"], 0, 365),
        flag_share=share, region_code=e["region_code"].strip(), key_env=e["key_env"],
        allow_unsigned=e["allow_unsigned"], repair_not_before_decision=s["repair_not_before_decision"],
        emergency_paid_statuses=tuple(sorted(set(ep))),
    )
