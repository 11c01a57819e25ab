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

# DRG payment (yibao.drg.payment): weights from history and the year's case weights, on the example region there
from yibao.drg.payment import DRG_PAYMENT, DRG_WEIGHTS, example_payment_sources, payment_fixture_outside  # noqa: E402

register(DRG_WEIGHTS, fixture=example_payment_sources)
register(DRG_PAYMENT, fixture=payment_fixture_outside)
