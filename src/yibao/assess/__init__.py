"""Institution assessment (定点医药机构考核): the contract's indicators, the policy's further indicators,
peer bands and the assessment score (issue 18 §1; guide: docs/assess.md).

Public entry points:

- :func:`assess` — compute and write every output of ``yibao assess`` (returns an :class:`AssessResult`)
- :func:`load_policy` — the assessment policy (``defaults.toml`` with a region's file over it)
"""

from yibao.assess.policy import load_policy  # noqa: F401
from yibao.assess.run import AssessResult, assess  # noqa: F401

__all__ = ["assess", "AssessResult", "load_policy"]
