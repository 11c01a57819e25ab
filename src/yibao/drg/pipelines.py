"""Registered DRG pipelines (for the engine parity suite, ``tests/parity``).

``drg_group``: the set-based CHS-DRG grouping of :mod:`yibao.drg.grouper`, one rowwise step over
``cases`` with the compiled standards tables broadcast. Its fixture groups the hand-made
miniature standards set of :mod:`yibao.drg.mini` (always available, independent of the real
tables) over cases covering every kind of rule and every status.
"""

from __future__ import annotations

import pyarrow as pa

from yibao.drg.grouper import DRG_GROUP
from yibao.drg.mini import mini_cases, mini_standards
from yibao.engine.registry import register


def drg_fixture() -> dict[str, pa.Table]:
    return {**mini_standards().tables(), "cases": mini_cases()}


register(DRG_GROUP, fixture=drg_fixture)
