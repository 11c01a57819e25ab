"""Payment-qualification policy (医保支付资格政策参数, TOML): read, check, name every problem by its key.

Every parameter is declared once in :data:`yibao.staff.params.STAFF_PARAMS` (default, check, source, unit);
``defaults.toml`` beside this module and the table of ``docs/staff.md`` are generated from it. A region's
policy file overrides keys of its ``[staff]``, ``[procedure]``, ``[institutions]`` and ``[exchange]``
sections (other sections belong to other capabilities and are ignored); every problem of a file is
reported at once, in one line naming the file and each key.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from yibao.contract.params import PolicyFileError
from yibao.staff.params import STAFF_PARAMS

__all__ = ["DEFAULTS_FILE", "SECTIONS", "StaffPolicy", "StaffPolicyError", "load_policy"]

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")  # generated: STAFF_PARAMS.defaults_toml()
SECTIONS = ("staff", "procedure", "institutions", "exchange")


class StaffPolicyError(PolicyFileError):
    """A staff policy file with problems: one line naming the file and every problem (a BadPolicy)."""


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


def load_policy(path: Path | None = None) -> StaffPolicy:
    """Defaults, overridden by ``path`` when given; every problem of the file at once (:class:`StaffPolicyError`)."""
    v = STAFF_PARAMS.load(path, error=StaffPolicyError)
    return StaffPolicy(
        path=str(path) if path is not None else str(DEFAULTS_FILE),
        suspend_points=v["staff.suspend_points"], terminate_points=v["staff.terminate_points"],
        suspend_months=dict(v["staff.suspend_months"]),
        suspend_months_min=v["staff.suspend_months_min"], suspend_months_max=v["staff.suspend_months_max"],
        bar_years_accumulated=v["staff.bar_years_accumulated"], bar_years_at_once=v["staff.bar_years_at_once"],
        at_once_points=v["staff.at_once_points"], min_points=v["staff.min_points"], max_points=v["staff.max_points"],
        scoring_bases=v["staff.scoring_bases"], scoring_responsibilities=v["staff.scoring_responsibilities"],
        review_request_days=v["procedure.review_request_days"], flag_share=v["institutions.flag_share"],
        region_code=v["exchange.region_code"].strip(), key_env=v["exchange.key_env"],
        allow_unsigned=v["exchange.allow_unsigned"], repair_not_before_decision=v["staff.repair_not_before_decision"],
        emergency_paid_statuses=v["staff.emergency_paid_statuses"],
    )
