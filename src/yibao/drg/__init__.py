"""CHS-DRG (按疾病诊断相关分组): a table-driven grouper (see docs/drg.md).

- :func:`load_standards` — read, validate and index a standards directory (version = content hash);
- :func:`group_table` — set-based grouping of a cases table (DuckDB or Spark through the runners);
- :func:`group_one` — one case with its explanation trail;
- ``yibao group drg --standards DIR CASES_CSV OUT_CSV`` — the command (``yibao.cli.drg``).

DRG payment (issue 5, part 6) lives in :mod:`yibao.drg.payment`.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:  # light package import: the grouper loads DuckDB/Arrow on first use
    if name == "load_standards":
        from yibao.drg.standards import load_standards

        return load_standards
    if name == "group_table":
        from yibao.drg.grouper import group_table

        return group_table
    if name == "group_one":
        from yibao.drg.explain import group_one

        return group_one
    raise AttributeError(name)


__all__ = ["load_standards", "group_table", "group_one"]
