"""CHS-DRG (按疾病诊断相关分组): a table-driven grouper and DRG payment (see docs/drg.md, docs/drg-payment.md).

Grouping:

- :func:`load_standards` — read, validate and index a standards directory (version = content hash);
- :func:`group_table` — set-based grouping of a cases table (DuckDB or Spark through the runners);
- :func:`group_one` — one case with its explanation trail;
- ``yibao group drg --standards DIR CASES_CSV OUT_CSV`` — the command (``yibao.cli.drg``).

Payment:

- :func:`load_payment_policy` — the DRG payment policy (parameters declared once in :mod:`yibao.drg.policy`);
- :func:`settle_year` — the DRG year of a workspace: grouping, weights, case weights, base rates, prepayments,
  clearing (:mod:`yibao.drg.settlement`);
- :func:`write_settlement` — its files and statements (:mod:`yibao.drg.report`);
- ``yibao drg settle`` — the command (``yibao.cli.drg``).

The CLI imports these modules inside its commands, so ``yibao -h`` does not load this package (nor DuckDB).

The payment names are resolved when first used (PEP 562 module ``__getattr__``): importing the grouping
(``yibao.drg.cases`` for ``yibao group drg``, ``yibao.drg.grouper``) runs this file, and the payment modules
would bring the settlement, the Excel statements (openpyxl) and the budget pots with them — about a second of
imports in a command that only groups a file (docs/scale.md §2). ``from yibao.drg import settle_year`` works as
before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from yibao.drg.explain import group_one
from yibao.drg.grouper import group_table
from yibao.drg.standards import load_standards

if TYPE_CHECKING:  # the names below, for type checkers and the import-graph test
    from yibao.drg.policy import load_payment_policy
    from yibao.drg.report import write_settlement
    from yibao.drg.settlement import settle_year

_PAYMENT = {"load_payment_policy": "yibao.drg.policy", "write_settlement": "yibao.drg.report",
            "settle_year": "yibao.drg.settlement"}

__all__ = ["load_standards", "group_table", "group_one", "load_payment_policy", "settle_year", "write_settlement"]


def __getattr__(name: str):
    """A payment name on first use (its module imported then); anything else is an AttributeError as usual."""
    if name in _PAYMENT:
        value = getattr(importlib.import_module(_PAYMENT[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
