"""Registered DRG pipelines (for the engine parity suite, ``tests/parity``).

``drg_group``: the set-based CHS-DRG grouping of :mod:`yibao.drg.grouper`, one rowwise step over
``cases`` with the compiled standards tables broadcast. Its fixture groups the hand-made
extended miniature standards set of :mod:`yibao.drg.mini` (always available, independent of the
real tables) over cases covering every kind of rule and every status, length-of-stay rules and
alternatives included.
"""

from __future__ import annotations

import pyarrow as pa

from yibao.drg.grouper import DRG_GROUP, conform_cases
from yibao.drg.mini import ext_cases, mini_cases, mini_ext_standards
from yibao.engine.registry import register


def drg_fixture() -> dict[str, pa.Table]:
    cases = pa.concat_tables([conform_cases(mini_cases()), conform_cases(ext_cases())])
    return {**mini_ext_standards().tables(), "cases": cases}


register(DRG_GROUP, fixture=drg_fixture)

# DRG payment (yibao.drg.payment): weights from history and the year's case weights, on the example region there
from yibao.drg.payment import DRG_PAYMENT, DRG_WEIGHTS, example_payment_sources, payment_fixture_outside  # noqa: E402

register(DRG_WEIGHTS, fixture=example_payment_sources)
register(DRG_PAYMENT, fixture=payment_fixture_outside)
