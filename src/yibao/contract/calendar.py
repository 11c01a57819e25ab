"""Statutory holidays of mainland China as data (法定节假日), for capabilities that may not import the store.

The table is the store's shipped ``holidays_cn.csv`` (``date,kind,name,source``: ``kind = holiday`` a weekday
off, ``kind = workday`` a Saturday or Sunday worked, 调休; one source per year, the State Council General
Office's notice of that year's arrangement). A year not in the file is not covered: a caller counts weekends
only there and says so.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

HOLIDAYS_FILE = Path(__file__).resolve().parent.parent / "store" / "holidays_cn.csv"


@dataclass(frozen=True)
class Holidays:
    holidays: tuple[date, ...]  # weekdays off
    workdays: tuple[date, ...]  # weekend days worked
    years: tuple[int, ...]  # years the file covers


@lru_cache(maxsize=4)
def load_holidays(path: Path | str = HOLIDAYS_FILE) -> Holidays:
    hol, work, years = set(), set(), set()
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for r in csv.DictReader(fh):
            d = date.fromisoformat(r["date"].strip())
            (hol if r["kind"].strip() == "holiday" else work).add(d)
            years.add(d.year)
    return Holidays(tuple(sorted(hol)), tuple(sorted(work)), tuple(sorted(years)))
