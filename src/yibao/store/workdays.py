"""Working days (工作日) of mainland China: weekends off, public holidays off, make-up days (调休) on.

The calendar is data: ``holidays_cn.csv`` (shipped with the package) lists, per year, every weekday
that is a public holiday (``kind = holiday``) and every Saturday or Sunday that is a make-up working
day (``kind = workday``), each with its source, the State Council General Office's notice of that
year's holiday arrangement (国务院办公厅关于 YYYY 年部分节假日安排的通知). A holiday that falls on a
weekend changes nothing and is not listed. Years not in the file count weekends only
(:meth:`Calendar.covers` says which years are known; the CLI warns).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from yibao.contract.calendar import HOLIDAYS_FILE, load_holidays

CHINA_TZ = timezone(timedelta(hours=8))  # Beijing time: deadlines are calendar days in China


@dataclass(frozen=True)
class Calendar:
    holidays: frozenset[date]
    workdays: frozenset[date]
    years: frozenset[int]

    def is_working_day(self, d: date) -> bool:
        if d in self.workdays:
            return True
        return d.weekday() < 5 and d not in self.holidays

    def add_working_days(self, start: date, n: int) -> date:
        """The ``n``-th working day after ``start`` (``start`` itself not counted; n = 0 → ``start``)."""
        d, left = start, n
        while left > 0:
            d += timedelta(days=1)
            if self.is_working_day(d):
                left -= 1
        return d

    def covers(self, *days: date) -> bool:
        return all(d.year in self.years for d in days)


@lru_cache(maxsize=4)
def load_calendar(path: Path | str = HOLIDAYS_FILE) -> Calendar:
    h = load_holidays(path)  # the one reader of the holiday table (yibao.contract.calendar)
    return Calendar(frozenset(h.holidays), frozenset(h.workdays), frozenset(h.years))


def china_today() -> date:
    return datetime.now(CHINA_TZ).date()


def china_date(iso_utc: str) -> date:
    """The calendar date in China of a store time stamp (ISO 8601 UTC)."""
    return datetime.fromisoformat(iso_utc).astimezone(CHINA_TZ).date()
