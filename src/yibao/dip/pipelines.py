"""Registered DIP pipelines (for the engine parity suite, ``tests/parity``), each with its fixture.

- ``dip_catalogue`` (目录库, :mod:`yibao.dip.catalogue`) and ``dip_scoring`` (病例入组与赋分,
  :mod:`yibao.dip.scoring`) on the small example region of :mod:`yibao.dip.examples`;
- ``dip_settle_units``, ``dip_per_capita`` and ``settle_outside_agreement`` (结算输入,
  :mod:`yibao.dip.settlement`) on the example scored cases and visits;
- ``dip_indicators`` (监管指标, :mod:`yibao.dip.indicators`) on the example stays.

Nothing else lives here: a new DIP pipeline is defined in the module named for what it computes and
registered below with its fixture (from :mod:`yibao.dip.examples`).
"""

from __future__ import annotations

from yibao.dip.catalogue import DIP_CATALOGUE
from yibao.dip.examples import (
                                catalogue_fixture,
                                example_agreement_sources,
                                example_settle_sources_outside,
                                indicators_fixture,
                                scoring_fixture,
)
from yibao.dip.indicators import DIP_INDICATORS
from yibao.dip.scoring import DIP_SCORING
from yibao.dip.settlement import DIP_PER_CAPITA, DIP_SETTLE_UNITS, OUTSIDE_AGREEMENT
from yibao.engine.registry import register

__all__ = ["DIP_CATALOGUE", "DIP_SCORING", "DIP_SETTLE_UNITS", "DIP_PER_CAPITA", "OUTSIDE_AGREEMENT",
           "DIP_INDICATORS"]

register(DIP_CATALOGUE, fixture=catalogue_fixture)
register(DIP_SCORING, fixture=scoring_fixture)
register(DIP_SETTLE_UNITS, fixture=example_settle_sources_outside)
register(DIP_PER_CAPITA, fixture=example_settle_sources_outside)
register(OUTSIDE_AGREEMENT, fixture=example_agreement_sources)
register(DIP_INDICATORS, fixture=indicators_fixture)
