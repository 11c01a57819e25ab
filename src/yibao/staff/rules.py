"""The scoring rules (记分规则) and the statuses they derive, from one table of ledger events.

Everything starts from an *events* table (Arrow, schema :data:`EVENTS`), whatever its origin — a
region directory's ``staff``/``sanctions``/``repairs`` files (:mod:`yibao.staff.sources`) or the
workspace's append-only ledger (:mod:`yibao.staff.ledger`). Nothing is ever updated: a status on
a date is *derived* from the events dated on or before it.

Event kinds (``kind``):

``registration``     登记备案 (also a re-registration after a termination bar)
``sanction``         a decided finding (记分决定) with ``points``, ``basis``, ``responsibility``, ``fraud``
``repair``           修复: ``points_reduced`` off the year's total, ``shorten_days`` off a running period
``ext_suspension``   a suspension decided in another region (全国联网联动), ``start``..``until``
``ext_termination``  a termination decided elsewhere, ``until`` = first day it may register again

The rules (every number from :class:`~yibao.staff.policy.StaffPolicy`):

1. A sanction scores only with a scoring basis (行政处罚 or a heavier agreement sanction), a
   scoring responsibility (``main``/``secondary``; ``none`` never) and points in 1–12; other
   rows are returned as *rejected* with a reason code and a Chinese message.
2. Points add up per calendar year of the decision date and reset on 1 January. Repairs take
   points off the year's total, never below zero (a running floored sum:
   ``S_k = C_k − min(0, min_{j≤k} C_j)`` over the plain cumulative sum ``C`` — set-based SQL with
   window functions).
3. A sanction that brings the year's total to ``suspend_points`` (9) or more, below
   ``terminate_points`` (12), suspends from its decision date for ``suspend_months[total]``
   calendar months; a running suspension is extended to the longer end (never shortened by a
   new finding). A total reaching 12 terminates: re-registration barred for
   ``bar_years_accumulated`` (1) year(s), or ``bar_years_at_once`` (3) when the finding is
   ``fraud`` or alone carries ``at_once_points`` (12). A termination ends a running suspension.
4. A repair with ``shorten_days`` shortens the period running on its decision date (a bar
   before a suspension), never to before the repair's decision date (not retroactive).
5. A termination lasts until a re-registration on or after the bar's end; an earlier
   registration is refused with ``STAFF_REREGISTER_BARRED``.

Dates: calendar months and years with the end of month clamped — 2025-01-31 + 1 month =
2025-02-28, 2024-02-29 + 1 year = 2025-02-28 (as DuckDB's ``+ INTERVAL``). All end dates are
exclusive: the first day with the qualification again (or with the right to register again).

Steps 1–2 run as one DuckDB query over all events; the consequences (3–5) are a short
sequential pass over only the events that matter — findings that reach 9, repairs that shorten,
registrations and imported periods of staff who have a period at all — in (staff, date) order.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from yibao.contract.vocab import sql_str
from yibao.engine.runner import query_arrow
from yibao.staff.policy import StaffPolicy
from yibao.staff.reasons import STAFF_REASONS

EVENT_KINDS = ("registration", "sanction", "repair", "ext_suspension", "ext_termination")

EVENTS = pa.schema([
    pa.field("staff_id", pa.string(), nullable=False),
    pa.field("kind", pa.string(), nullable=False),
    pa.field("day", pa.date32(), nullable=False),
    pa.field("ref_id", pa.string(), nullable=False),      # sanction_id, repair_id, ledger event id …
    pa.field("seq", pa.int64(), nullable=False),          # tie-break within a day (ledger order, row number)
    pa.field("institution_id", pa.string()),
    pa.field("basis", pa.string()),
    pa.field("responsibility", pa.string()),
    pa.field("points", pa.int64()),
    pa.field("fraud", pa.bool_()),
    pa.field("points_reduced", pa.int64()),
    pa.field("shorten_days", pa.int64()),
    pa.field("until", pa.date32()),                       # imported periods: exclusive end / bar end
    pa.field("origin", pa.string()),                      # region code of an imported period, else NULL
])

# Periods without qualification, richer than yibao.contract.derived.QUALIFICATION_PERIODS:
# ``barred_until`` is the first day a terminated person may register again.
PERIODS = pa.schema([
    pa.field("staff_id", pa.string(), nullable=False),
    pa.field("status", pa.string(), nullable=False),
    pa.field("start_date", pa.date32(), nullable=False),
    pa.field("end_date", pa.date32()),
    pa.field("barred_until", pa.date32()),
    pa.field("source_id", pa.string()),
    pa.field("at_once", pa.bool_()),
    pa.field("origin", pa.string()),
])

REJECTED = pa.schema([
    pa.field("ref_id", pa.string(), nullable=False),
    pa.field("staff_id", pa.string(), nullable=False),
    pa.field("day", pa.date32(), nullable=False),
    pa.field("reason_code", pa.string(), nullable=False),
    pa.field("message", pa.string(), nullable=False),
])

STATUS = pa.schema([
    pa.field("staff_id", pa.string(), nullable=False),
    pa.field("year_points", pa.int64(), nullable=False),
    pa.field("status", pa.string(), nullable=False),
    pa.field("suspended_until", pa.date32()),
    pa.field("barred_until", pa.date32()),
])


# --------------------------------------------------------------------------- calendar

def add_months(day: dt.date, months: int) -> dt.date:
    """Calendar months, end of month clamped: 2025-03-01 + 1 = 2025-04-01, 2025-01-31 + 1 = 2025-02-28."""
    m = day.month - 1 + months
    y, m = day.year + m // 12, m % 12 + 1
    return dt.date(y, m, min(day.day, calendar.monthrange(y, m)[1]))


def add_years(day: dt.date, years: int) -> dt.date:
    """Calendar years, 29 February clamped to 28 February."""
    return add_months(day, 12 * years)


# --------------------------------------------------------------------------- SQL steps

def _in(values) -> str:
    return "(" + ", ".join(sql_str(v) for v in values) + ")" if values else "(NULL)"


def _classified_sql(pol: StaffPolicy, src: str = "ev") -> str:
    """Sanctions with their reason code (NULL = scores)."""
    return f"""
        SELECT *, CASE
            WHEN responsibility IS NULL OR responsibility NOT IN {_in(pol.scoring_responsibilities)}
                THEN 'STAFF_NO_RESPONSIBILITY'
            WHEN basis IS NULL OR basis NOT IN {_in(pol.scoring_bases)} THEN 'STAFF_BASIS_NOT_SCORING'
            WHEN points IS NULL OR points NOT BETWEEN {pol.min_points} AND {pol.max_points}
                THEN 'STAFF_POINTS_OUT_OF_RANGE'
        END AS reason_code
        FROM {src} WHERE kind = 'sanction'"""


def _rejected_sql(pol: StaffPolicy, src: str = "ev") -> str:
    msg = {code: STAFF_REASONS[code] for code in
           ("STAFF_NO_RESPONSIBILITY", "STAFF_BASIS_NOT_SCORING", "STAFF_POINTS_OUT_OF_RANGE")}
    cases = " ".join(f"WHEN {sql_str(k)} THEN {sql_str(v)}" for k, v in msg.items())
    return f"""
        SELECT ref_id, staff_id, day, reason_code,
               '处理决定 ' || ref_id || '（人员 ' || staff_id || '，' || strftime(day, '%Y-%m-%d') || '，依据 '
               || coalesce(basis, '空') || '，责任 ' || coalesce(responsibility, '空') || '，记分 '
               || coalesce(CAST(points AS VARCHAR), '空') || '）：' || CASE reason_code {cases} END AS message
        FROM ({_classified_sql(pol, src)}) WHERE reason_code IS NOT NULL
        ORDER BY day, staff_id, ref_id"""


def _scored_sql(pol: StaffPolicy, src: str = "ev") -> str:
    """Scoring sanctions and point repairs with the year's floored running total after each."""
    return f"""
        WITH moves AS (
            SELECT staff_id, kind, day, seq, ref_id, points, fraud, points AS delta FROM ({_classified_sql(pol, src)})
            WHERE reason_code IS NULL
            UNION ALL
            SELECT staff_id, kind, day, seq, ref_id, NULL, NULL, -points_reduced FROM {src}
            WHERE kind = 'repair' AND coalesce(points_reduced, 0) > 0
        ), c AS (
            SELECT *, year(day) AS yr,
                   sum(delta) OVER w AS cum
            FROM moves
            WINDOW w AS (PARTITION BY staff_id, year(day)
                         ORDER BY day, CASE kind WHEN 'sanction' THEN 2 ELSE 3 END, seq, ref_id
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        )
        SELECT staff_id, kind, day, seq, ref_id, points, fraud, yr,
               cum - least(0, min(cum) OVER w) AS total
        FROM c
        WINDOW w AS (PARTITION BY staff_id, yr
                     ORDER BY day, CASE kind WHEN 'sanction' THEN 2 ELSE 3 END, seq, ref_id
                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"""


def _months_case(pol: StaffPolicy) -> str:
    whens = " ".join(f"WHEN total >= {k} THEN {pol.suspend_months[k]}" for k in sorted(pol.suspend_months, reverse=True))
    return f"CASE {whens} END"


def _relevant_sql(pol: StaffPolicy) -> str:
    """The events the sequential pass needs, in (staff, date, kind, seq) order, with their ends computed.

    ``end_day``: for a finding the end of the suspension it causes (decision date + months) or the
    end of the bar (+ 1 or 3 years), calendar arithmetic done here, set-based; for an imported
    period its ``until``. ``term``: the event terminates; ``at_once``: 12 at once (or fraud).
    """
    at_once = f"(coalesce(fraud, FALSE) OR points >= {pol.at_once_points})"
    return f"""
        WITH trig AS (
            SELECT staff_id, kind, day, seq, ref_id,
                   total >= {pol.terminate_points} AS term, {at_once} AS at_once,
                   CAST(CASE WHEN total >= {pol.terminate_points}
                             THEN day + to_years(CASE WHEN {at_once} THEN {pol.bar_years_at_once}
                                                      ELSE {pol.bar_years_accumulated} END)
                             ELSE day + to_months({_months_case(pol)}) END AS DATE) AS end_day,
                   NULL::BIGINT AS shorten_days, NULL::VARCHAR AS origin
            FROM scored WHERE kind = 'sanction' AND total >= {pol.suspend_points}),
        ext AS (SELECT staff_id, kind, day, seq, ref_id, kind = 'ext_termination', NULL::BOOLEAN, until, NULL::BIGINT,
                       origin
                FROM ev WHERE kind IN ('ext_suspension', 'ext_termination') AND until > day),
        who AS (SELECT DISTINCT staff_id FROM (SELECT staff_id FROM trig UNION ALL SELECT staff_id FROM ext)),
        other AS (SELECT staff_id, kind, day, seq, ref_id, FALSE, NULL::BOOLEAN, NULL::DATE, coalesce(shorten_days, 0),
                         NULL::VARCHAR
                  FROM ev SEMI JOIN who USING (staff_id)
                  WHERE (kind = 'repair' AND coalesce(shorten_days, 0) > 0) OR kind = 'registration')
        SELECT * FROM (SELECT * FROM trig UNION ALL SELECT * FROM ext UNION ALL SELECT * FROM other)
        ORDER BY staff_id, day, CASE kind WHEN 'registration' THEN 0 WHEN 'sanction' THEN 2 WHEN 'repair' THEN 3
                 ELSE 1 END, seq, ref_id"""


# --------------------------------------------------------------------------- derivation

@dataclass
class Derived:
    periods: pa.Table          # PERIODS
    rejected: pa.Table         # REJECTED: sanctions that cannot score
    refused: list[tuple[str, str, dt.date, str]]  # (staff_id, ref_id, day, reason code): refused registrations


def _connect() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def derive(events: pa.Table, pol: StaffPolicy, as_of: dt.date | None = None,
           con: duckdb.DuckDBPyConnection | None = None, _points: list | None = None) -> Derived:
    """Periods without qualification derived from ``events`` dated on or before ``as_of`` (all when None)."""
    own = con is None
    con = con or _connect()
    try:
        con.register("ev_all", events)
        where = f"WHERE day <= DATE '{as_of.isoformat()}'" if as_of else ""
        con.execute(f"CREATE OR REPLACE TEMP VIEW ev AS SELECT * FROM ev_all {where}")
        rejected = query_arrow(con, _rejected_sql(pol)).cast(REJECTED)
        con.execute(f"CREATE OR REPLACE TEMP TABLE scored AS {_scored_sql(pol)}")
        rel = query_arrow(con, _relevant_sql(pol))
        if _points is not None and as_of is not None:  # the as-of year's totals, from the same scored rows
            _points.append(query_arrow(con, _POINTS_SQL.format(year=as_of.year)))
        periods, refused = _sequential(rel, pol)
        return Derived(periods, rejected, refused)
    finally:
        con.execute("DROP TABLE IF EXISTS scored")
        con.execute("DROP VIEW IF EXISTS ev")
        con.unregister("ev_all")
        if own:
            con.close()


_POINTS_SQL = """
    SELECT staff_id, CAST(arg_max(total, (day, CASE kind WHEN 'sanction' THEN 2 ELSE 3 END, seq, ref_id)) AS BIGINT)
           AS year_points
    FROM scored WHERE yr = {year} GROUP BY staff_id ORDER BY staff_id"""


def _ints(col: pa.ChunkedArray) -> list:
    return col.cast(pa.int32()).to_pylist()


_EPOCH = dt.date(1970, 1, 1)


def _sequential(rel: pa.Table, pol: StaffPolicy) -> tuple[pa.Table, list]:
    """Steps 3-5 over the relevant events: dates as day numbers, ends already computed in SQL."""
    staff_col = rel.column("staff_id").to_pylist()
    kind_col = rel.column("kind").to_pylist()
    day_col = _ints(rel.column("day"))
    end_col = _ints(rel.column("end_day"))
    term_col = rel.column("term").to_pylist()
    once_col = rel.column("at_once").to_pylist()
    short_col = rel.column("shorten_days").to_pylist()
    ref_col = rel.column("ref_id").to_pylist()
    origin_col = rel.column("origin").to_pylist()
    floor_at_repair = pol.repair_not_before_decision
    o_staff, o_status, o_start, o_end, o_bar, o_src, o_once, o_origin = [], [], [], [], [], [], [], []
    refused: list = []

    def emit(staff, status, start, end, bar, source, once, origin):
        if end is not None and end <= start:
            return  # a suspension ended by a same-day termination: no day without qualification
        o_staff.append(staff)
        o_status.append(status)
        o_start.append(start)
        o_end.append(end)
        o_bar.append(bar)
        o_src.append(source)
        o_once.append(once)
        o_origin.append(origin)

    n = rel.num_rows
    i = 0
    while i < n:
        staff = staff_col[i]
        susp = None   # [start, end, source, origin]
        term = None   # [start, bar, source, at_once, origin]
        while i < n and staff_col[i] == staff:
            kind, day = kind_col[i], day_col[i]
            if susp is not None and susp[1] <= day:
                emit(staff, "suspended", susp[0], susp[1], None, susp[2], None, susp[3])
                susp = None
            if kind == "repair":
                k = short_col[i] or 0
                if term is not None and day < term[1]:
                    term[1] = max(term[1] - k, day if floor_at_repair else term[0])
                elif susp is not None:
                    susp[1] = max(susp[1] - k, day if floor_at_repair else susp[0])
                    if susp[1] <= day:
                        emit(staff, "suspended", susp[0], susp[1], None, susp[2], None, susp[3])
                        susp = None
            elif kind == "registration":
                if term is not None:
                    if day >= term[1]:
                        emit(staff, "terminated", term[0], day, term[1], term[2], term[3], term[4])
                        term = None
                    else:
                        refused.append((staff, ref_col[i], _EPOCH + dt.timedelta(days=day), "STAFF_REREGISTER_BARRED"))
            else:  # a finding reaching the threshold, or an imported period
                end, src, once = end_col[i], ref_col[i], once_col[i]
                if term_col[i]:
                    if term is not None:
                        # already terminated: only a new 12-at-once finding (or an imported bar) may lengthen the bar
                        if (kind != "sanction" or once) and end > term[1]:
                            term[1], term[2] = end, src
                            term[3] = term[3] or once
                    else:
                        if susp is not None:
                            emit(staff, "suspended", susp[0], day, None, susp[2], None, susp[3])
                            susp = None
                        term = [day, end, src, once, origin_col[i]]
                elif term is None:
                    if susp is not None:
                        if end > susp[1]:
                            susp[1], susp[2] = end, src
                    else:
                        susp = [day, end, src, origin_col[i]]
            i += 1
        if susp is not None:
            emit(staff, "suspended", susp[0], susp[1], None, susp[2], None, susp[3])
        if term is not None:
            emit(staff, "terminated", term[0], None, term[1], term[2], term[3], term[4])

    def days(v: list) -> pa.Array:
        return pa.array(v, pa.int32()).cast(pa.date32())

    periods = pa.table([pa.array(o_staff, pa.string()), pa.array(o_status, pa.string()), days(o_start), days(o_end),
                        days(o_bar), pa.array(o_src, pa.string()), pa.array(o_once, pa.bool_()),
                        pa.array(o_origin, pa.string())], schema=PERIODS)
    return periods.sort_by([("staff_id", "ascending"), ("start_date", "ascending"), ("status", "ascending")]), refused


def year_points(events: pa.Table, pol: StaffPolicy, as_of: dt.date,
                con: duckdb.DuckDBPyConnection | None = None) -> pa.Table:
    """``staff_id, year_points``: the as-of date's calendar-year total after repairs (staff with any move)."""
    own = con is None
    con = con or _connect()
    try:
        con.register("ev_all", events)
        con.execute(f"""CREATE OR REPLACE TEMP VIEW ev AS SELECT * FROM ev_all
                        WHERE day <= DATE '{as_of.isoformat()}' AND year(day) = {as_of.year}""")
        return query_arrow(con, f"""
            SELECT staff_id, CAST(arg_max(total, (day, CASE kind WHEN 'sanction' THEN 2 ELSE 3 END, seq, ref_id))
                                  AS BIGINT) AS year_points
            FROM ({_scored_sql(pol)}) GROUP BY staff_id ORDER BY staff_id""")
    finally:
        con.execute("DROP VIEW IF EXISTS ev")
        con.unregister("ev_all")
        if own:
            con.close()


def status_as_of(events: pa.Table, staff_ids: list[str] | None, pol: StaffPolicy, as_of: dt.date,
                 con: duckdb.DuckDBPyConnection | None = None) -> tuple[pa.Table, Derived]:
    """Each staff member's state on ``as_of`` (schema :data:`STATUS`), sorted by staff_id.

    ``staff_ids`` None = every staff member with an event. Terminated covers the bar and lasts
    until a re-registration; ``barred_until`` stays shown while terminated.
    """
    own = con is None
    con = con or _connect()
    try:
        got: list = []
        d = derive(events, pol, as_of, con, _points=got)
        pts = got[0]
        ids = staff_ids if staff_ids is not None else events.column("staff_id").to_pylist()
        con.register("ids", pa.table({"staff_id": pa.array(sorted(set(ids)), pa.string())}))
        con.register("pts", pts)
        con.register("per", d.periods)
        day = f"DATE '{as_of.isoformat()}'"
        st = query_arrow(con, f"""
            WITH cur AS (
                SELECT staff_id, status, end_date, barred_until FROM per
                WHERE start_date <= {day} AND (end_date IS NULL OR end_date > {day})
            ), t AS (SELECT staff_id, max(barred_until) AS barred_until FROM cur WHERE status = 'terminated' GROUP BY 1),
               s AS (SELECT staff_id, max(end_date) AS suspended_until FROM cur WHERE status = 'suspended' GROUP BY 1)
            SELECT i.staff_id, coalesce(p.year_points, 0) AS year_points,
                   CASE WHEN t.staff_id IS NOT NULL THEN 'terminated'
                        WHEN s.staff_id IS NOT NULL THEN 'suspended' ELSE 'active' END AS status,
                   CASE WHEN t.staff_id IS NULL THEN s.suspended_until END AS suspended_until,
                   t.barred_until
            FROM ids AS i LEFT JOIN pts AS p USING (staff_id) LEFT JOIN t USING (staff_id) LEFT JOIN s USING (staff_id)
            ORDER BY i.staff_id""").cast(STATUS)
        for n in ("ids", "pts", "per"):
            con.unregister(n)
        return st, d
    finally:
        if own:
            con.close()


def registration_barred_until(events: pa.Table, staff_id: str, pol: StaffPolicy, day: dt.date) -> dt.date | None:
    """The first day ``staff_id`` may register again (登记备案) when a termination bar runs on ``day``, else None
    (seed 001, 顾荣 answer 1: 终止之日起 1 年 / 3 年内不得再次登记备案)."""
    st, _ = status_as_of(events, [staff_id], pol, day)
    row = st.to_pylist()[0]
    if row["status"] == "terminated" and row["barred_until"] is not None and row["barred_until"] > day:
        return row["barred_until"]
    return None
