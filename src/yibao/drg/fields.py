"""Reading one case's fields as the grouper reads a file (单病例字段): trimmed text, numbers, code lists, dates.

Shared by the per-case explanation (:mod:`yibao.drg.explain`) and the per-case code mapping
(:mod:`yibao.drg.mapping`): blank is missing, lists are lists or ``|``-separated text, NaN is missing.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Mapping

__all__ = ["text", "number", "codes", "date_of", "los_of"]


def text(v: Any) -> str | None:
    if v is None:
        return None
    s = str(v).strip()
    return s or None


def number(v: Any) -> float | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if x == x else None  # NaN = missing


def codes(v: Any) -> tuple[str, ...]:
    if v is None:
        return ()
    items = v.split("|") if isinstance(v, str) else list(v)
    return tuple(x for x in (None if i is None else str(i).strip() for i in items) if x)


def date_of(v: Any):
    if v is None or isinstance(v, date):
        return v
    try:
        return date.fromisoformat(str(v).strip()[:10])
    except ValueError:
        return None


def los_of(case: Mapping[str, Any]) -> float | None:
    admit, discharge = date_of(case.get("admit_date")), date_of(case.get("discharge_date"))
    return float((discharge - admit).days) if admit and discharge else None
