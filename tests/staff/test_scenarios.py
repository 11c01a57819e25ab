"""Table-driven scenarios of the points rules (issue 6, "Tests that must exist"), with dates.

Each scenario: the findings and repairs of staff member S1, then checks ``(as_of, year_points,
status, suspended_until, barred_until)`` as ``yibao staff status`` reports them.
"""

from __future__ import annotations

import datetime as dt

import pytest

from staff.helpers import repair, sanction, write_staff_region
from yibao.staff.policy import load_policy
from yibao.staff.rules import add_months, add_years, status_as_of
from yibao.staff.sources import read_dir

D = dt.date.fromisoformat

SCENARIOS = {
    "9 points in one finding: 1 month from the decision date": (
        [sanction("A", "2025-03-01", 9)], [],
        [("2025-02-28", 0, "active", None, None),
         ("2025-03-01", 9, "suspended", "2025-04-01", None),
         ("2025-03-31", 9, "suspended", "2025-04-01", None),
         ("2025-04-01", 9, "active", None, None)]),
    "5 + 4 across two months: suspended from the second decision": (
        [sanction("A", "2025-01-10", 5), sanction("B", "2025-02-15", 4, basis="liquidated_damages", resp="secondary")], [],
        [("2025-02-14", 5, "active", None, None),
         ("2025-02-15", 9, "suspended", "2025-03-15", None),
         ("2025-03-15", 9, "active", None, None)]),
    "8 in December + 4 in January: reset on 1 January, no suspension": (
        [sanction("A", "2024-12-10", 8), sanction("B", "2025-01-05", 4)], [],
        [("2024-12-31", 8, "active", None, None),
         ("2025-01-01", 0, "active", None, None),
         ("2025-01-05", 4, "active", None, None)]),
    "12 accumulated: terminated, 1-year bar": (
        [sanction("A", "2025-01-10", 6), sanction("B", "2025-05-20", 6)], [],
        [("2025-05-19", 6, "active", None, None),
         ("2025-05-20", 12, "terminated", None, "2026-05-20"),
         ("2026-05-19", 0, "terminated", None, "2026-05-20")]),
    "10 + 2 accumulated: the suspension is ended by the termination": (
        [sanction("A", "2025-01-10", 10), sanction("B", "2025-02-01", 2)], [],
        [("2025-01-31", 10, "suspended", "2025-03-10", None),
         ("2025-02-01", 12, "terminated", None, "2026-02-01")]),
    "12 at once: terminated, 3-year bar": (
        [sanction("A", "2025-01-10", 12)], [],
        [("2025-01-10", 12, "terminated", None, "2028-01-10"),
         ("2027-06-01", 0, "terminated", None, "2028-01-10")]),
    "fraud flag after earlier points: 3-year bar": (
        [sanction("A", "2025-01-10", 3), sanction("B", "2025-06-30", 12, fraud="1")], [],
        [("2025-06-30", 15, "terminated", None, "2028-06-30")]),
    "a suspension extended by a later finding, to the longer end": (
        [sanction("A", "2025-03-01", 9), sanction("B", "2025-03-20", 2)], [],
        [("2025-03-19", 9, "suspended", "2025-04-01", None),
         ("2025-03-20", 11, "suspended", "2025-06-20", None),
         ("2025-06-19", 11, "suspended", "2025-06-20", None),
         ("2025-06-20", 11, "active", None, None)]),
    "a repair that shortens a suspension": (
        [sanction("A", "2025-03-01", 11)], [repair("R", "2025-04-01", shorten=20)],
        [("2025-03-31", 11, "suspended", "2025-06-01", None),
         ("2025-04-01", 11, "suspended", "2025-05-12", None),
         ("2025-05-12", 11, "active", None, None)]),
    "a repair never ends a suspension before its own decision date": (
        [sanction("A", "2025-03-01", 11)], [repair("R", "2025-04-01", shorten=365)],
        [("2025-03-31", 11, "suspended", "2025-06-01", None),
         ("2025-04-01", 11, "active", None, None)]),
    "a repair that shortens a termination bar": (
        [sanction("A", "2025-01-10", 12)], [repair("R", "2025-06-01", reduced=0, shorten=100)],
        [("2025-06-01", 12, "terminated", None, "2027-10-02")]),
    "repaired points never go below zero": (
        [sanction("A", "2025-01-10", 2), sanction("B", "2025-03-01", 9)], [repair("R", "2025-02-01", reduced=5)],
        [("2025-02-01", 0, "active", None, None),
         ("2025-03-01", 9, "suspended", "2025-04-01", None)]),
    "a repair of points keeps 5 + 4 under the threshold": (
        [sanction("A", "2025-01-10", 5), sanction("B", "2025-03-01", 4)], [repair("R", "2025-02-01", reduced=1)],
        [("2025-03-01", 8, "active", None, None)]),
    "a sanction with responsibility none never scores": (
        [sanction("A", "2025-03-01", 9, resp="none")], [],
        [("2025-03-01", 0, "active", None, None)]),
    "a basis that is not a heavier sanction, and points outside 1-12, never score": (
        [sanction("A", "2025-03-01", 9, basis="warning"), sanction("B", "2025-03-02", 13)], [],
        [("2025-03-02", 0, "active", None, None)]),
    "end of month: 31 January + 1 month = 28 February": (
        [sanction("A", "2025-01-31", 9)], [],
        [("2025-02-27", 9, "suspended", "2025-02-28", None),
         ("2025-02-28", 9, "active", None, None)]),
    "a running suspension continues over 1 January while the points reset": (
        [sanction("A", "2024-12-15", 11)], [],
        [("2025-01-02", 0, "suspended", "2025-03-15", None),
         ("2025-03-15", 0, "active", None, None)]),
    "29 February + 3 years = 28 February": (
        [sanction("A", "2024-02-29", 12, fraud="1")], [],
        [("2024-02-29", 12, "terminated", None, "2027-02-28")]),
    "a finding raising the total after a suspension ended starts a new one": (
        [sanction("A", "2025-03-01", 9), sanction("B", "2025-06-01", 1)], [],
        [("2025-05-31", 9, "active", None, None),
         ("2025-06-01", 10, "suspended", "2025-08-01", None)]),
    "a repair of points does not lift a running suspension": (
        [sanction("A", "2025-03-01", 10)], [repair("R", "2025-03-10", reduced=5)],
        [("2025-03-10", 5, "suspended", "2025-05-01", None)]),
    "two findings on one day add up before the consequence": (
        [sanction("A", "2025-05-05", 5), sanction("B", "2025-05-05", 5)], [],
        [("2025-05-05", 10, "suspended", "2025-07-05", None)]),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(tmp_path, name: str) -> None:
    sanctions, repairs, checks = SCENARIOS[name]
    src = read_dir(write_staff_region(tmp_path, sanctions, repairs))
    pol = load_policy()
    for as_of, points, status, susp, bar in checks:
        st, _ = status_as_of(src.events, src.staff_ids, pol, D(as_of))
        row = {r["staff_id"]: r for r in st.to_pylist()}["S1"]
        got = (row["year_points"], row["status"], row["suspended_until"], row["barred_until"])
        want = (points, status, susp and D(susp), bar and D(bar))
        assert got == want, f"{name} as of {as_of}"


def test_rejected_sanctions_carry_reason_codes(tmp_path) -> None:
    src = read_dir(write_staff_region(tmp_path, [
        sanction("A", "2025-03-01", 9, resp="none"), sanction("B", "2025-03-02", 9, basis="warning"),
        sanction("C", "2025-03-03", 0), sanction("D", "2025-03-04", 3)]))
    _, d = status_as_of(src.events, src.staff_ids, load_policy(), D("2025-12-31"))
    assert [(r["ref_id"], r["reason_code"]) for r in d.rejected.to_pylist()] == [
        ("A", "STAFF_NO_RESPONSIBILITY"), ("B", "STAFF_BASIS_NOT_SCORING"), ("C", "STAFF_POINTS_OUT_OF_RANGE")]
    assert "无责任" in d.rejected.column("message")[0].as_py()


def test_calendar_helpers() -> None:
    assert add_months(D("2025-03-01"), 1) == D("2025-04-01")
    assert add_months(D("2025-01-31"), 1) == D("2025-02-28")
    assert add_months(D("2024-01-31"), 1) == D("2024-02-29")
    assert add_months(D("2025-11-30"), 3) == D("2026-02-28")
    assert add_years(D("2024-02-29"), 1) == D("2025-02-28")


def test_policy_months_are_data(tmp_path) -> None:
    pol_file = tmp_path / "p.toml"
    pol_file.write_text('[staff]\nsuspend_months = { "9" = 2, "10" = 4, "11" = 6 }\n', encoding="utf-8")
    src = read_dir(write_staff_region(tmp_path / "r", [sanction("A", "2025-03-01", 10)]))
    st, _ = status_as_of(src.events, src.staff_ids, load_policy(pol_file), D("2025-03-01"))
    assert st.to_pylist()[0]["suspended_until"] == D("2025-07-01")


@pytest.mark.parametrize("text, key", [
    ('[staff]\nsuspend_months = { "9" = 7 }\n', "suspend_months.9"),
    ('[staff]\nbar_years_at_once = "3"\n', "bar_years_at_once"),
    ('[staff]\nno_such_key = 1\n', "no_such_key"),
    ('[institutions]\nflag_share = "2"\n', "flag_share"),
])
def test_bad_policy_names_the_key(tmp_path, text: str, key: str) -> None:
    from yibao.staff.policy import StaffPolicyError

    p = tmp_path / "p.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(StaffPolicyError, match=key.replace(".", r"\.")):
        load_policy(p)


def test_sql_calendar_arithmetic_is_the_python_one() -> None:
    """The ends computed in SQL (``day + to_months``) equal :func:`add_months` for every day of 2023–2025."""
    import duckdb

    rows = duckdb.sql("""
        SELECT d::DATE AS d, m, CAST(d::DATE + to_months(m) AS DATE) AS e
        FROM range(DATE '2023-01-01', DATE '2026-01-01', INTERVAL 1 DAY) AS t(d), range(1, 37) AS k(m)""").fetchall()
    assert len(rows) == 1096 * 36  # 2024 is a leap year
    assert all(add_months(d, m) == e for d, m, e in rows)


def test_as_of_status_agrees_with_the_periods_of_the_whole_ledger(tmp_path) -> None:
    """Later events never change an earlier day: the state on D from the events up to D is the
    membership of D in the periods derived from all events (random ledgers, fixed seed)."""
    import random

    from yibao.staff.sources import qualification_periods

    rnd = random.Random(7)
    pol = load_policy()
    for trial in range(5):
        sanctions, repairs = [], []
        for k in range(rnd.randint(3, 9)):
            day = D("2024-10-01") + dt.timedelta(days=rnd.randint(0, 500))
            sanctions.append(sanction(f"A{k}", day.isoformat(), rnd.choice([2, 3, 4, 5, 6, 9, 12]),
                                      staff=rnd.choice(["S1", "S2"]), fraud=rnd.choice(["0", "0", "0", "1"])))
        for k in range(rnd.randint(0, 3)):
            day = D("2024-10-01") + dt.timedelta(days=rnd.randint(0, 500))
            repairs.append(repair(f"R{k}", day.isoformat(), rnd.randint(0, 3), rnd.choice([0, 10, 40]),
                                  staff=rnd.choice(["S1", "S2"])))
        src = read_dir(write_staff_region(tmp_path / str(trial), sanctions, repairs))
        periods = qualification_periods(src.events, pol).to_pylist()
        for step in range(0, 900, 41):
            day = D("2024-09-15") + dt.timedelta(days=step)
            st, _ = status_as_of(src.events, src.staff_ids, pol, day)
            for row in st.to_pylist():
                inside = [p["status"] for p in periods if p["staff_id"] == row["staff_id"] and p["start_date"] <= day
                          and (p["end_date"] is None or day < p["end_date"])]
                want = "terminated" if "terminated" in inside else "suspended" if inside else "active"
                assert row["status"] == want, (trial, row, day, sanctions, repairs)
