"""The year's qualification summary (年度医保支付资格概况): suspended and terminated staff, and the fund amount
withheld because of them (``yibao staff summary``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb

from yibao.engine.workspace import DB_FILE
from yibao.staff.ledger import workspace_events
from yibao.staff.policy import StaffPolicy, load_policy
from yibao.staff.settlement import withheld
from yibao.staff.sources import qualification_periods, read_dir


def _counts(periods, year: int) -> tuple[int, int]:
    y0, y1 = dt.date(year, 1, 1), dt.date(year + 1, 1, 1)
    status: dict[str, str] = {}
    for p in periods.to_pylist():
        if p["start_date"] < y1 and (p["end_date"] is None or p["end_date"] > y0):
            if status.get(p["staff_id"]) != "terminated":
                status[p["staff_id"]] = p["status"]
    vals = list(status.values())
    return vals.count("suspended"), vals.count("terminated")


def year_summary(path: Path, year: int, pol: StaffPolicy | None = None) -> dict:
    """``{"year", "suspended", "terminated", "withheld"}`` for a workspace or a region directory.

    A person is counted once: as terminated if terminated at any time in the year, else as
    suspended if suspended at any time in it. ``withheld`` (a Decimal, yuan) is the fund amount not
    paid for the year's settled lines because of them (their own lines; emergencies exempt during a
    suspension only, yibao.contract.derived) — computed
    from a workspace's cases and fee lines; None for a region directory.
    """
    pol = pol or load_policy()
    path = Path(path)
    if (path / DB_FILE).is_file():
        con = duckdb.connect(str(path / DB_FILE), read_only=True)
        try:
            periods = qualification_periods(workspace_events(con), pol)
            _, summary = withheld(con, periods)
            amount = sum((r["amount"] for r in summary.to_pylist() if r["year"] == year), start=0)
        finally:
            con.close()
    else:
        periods = qualification_periods(read_dir(path).events, pol)
        amount = None
    s, t = _counts(periods, year)
    return {"year": year, "suspended": s, "terminated": t,
            "withheld": None if amount is None else Decimal(amount).quantize(Decimal("0.01"))}
