"""Synthetic region generator (``yibao synth``): a complete region in the contract layout plus labelled anomalies.

>>> from yibao.synth import generate
>>> summary = generate(Path("out"), seed=1, cases=10_000)          # doctest: +SKIP
"""

from yibao.synth.generator import generate
from yibao.synth.refdata import MINOR_DX_PREFIXES, SERIOUS_DX_PREFIXES, SUPPORT_TAGS, item_tags

__all__ = ["generate", "item_tags", "MINOR_DX_PREFIXES", "SERIOUS_DX_PREFIXES", "SUPPORT_TAGS"]
