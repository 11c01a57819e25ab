"""Issue 13 §4: the money effect of a period without payment qualification, defined once
(yibao.contract.derived) and computed alike by the staff settlement effect and by the review (L11).

Seed 001 (医保发〔2024〕23号, 顾荣 answer 1): "暂停期内提供服务发生的医保费用不予结算（急救、抢救除外）…终止期内所
提供服务发生的医保费用将不予结算" — the emergency exception is for suspension only, and what is not settled is
the person's own services (their lines), not the whole case they attended.

The hand-made region, March 2025: S1 suspended 03-01..04-01 (9 points), S2 terminated from 03-01 (12 points).

    case A  not emergency, attended by X1   line by S1  CEF 1 × 5.20 =  5.20   → withheld (suspended)
    case E  emergency,     attended by X1   line by S1  CEF 1 × 5.20 =  5.20   → paid (急救、抢救除外)
                                            line by S2  CEF 2 × 5.20 = 10.40   → withheld (terminated: no exception)
    case T  not emergency, attended by S2   line by X1  REG 1 × 20.00 = 20.00  → paid (not S2's service); C08 warns
                                                                      withheld: 5.20 + 10.40 = 15.60
"""

from __future__ import annotations

from decimal import Decimal

import duckdb
from review.builder import Region, review

from staff.helpers import sanction, write_staff_region
from yibao.staff.policy import load_policy
from yibao.staff.settlement import withheld
from yibao.staff.sources import periods_from_dir

STAFF = [["S1", "甲医生", "440203197001010010", "physician", "H001", "2020-01-01"],
         ["S2", "乙医生", "440203197001010029", "physician", "H001", "2020-01-01"],
         ["X1", "丙医生", "440203197001010037", "physician", "H001", "2020-01-01"]]


def _periods(tmp_path, policy=None):
    region = write_staff_region(tmp_path / "staff", [sanction("A", "2025-03-01", 9, staff="S1"),
                                                     sanction("B", "2025-03-01", 12, staff="S2")], staff=STAFF)
    return periods_from_dir(region, policy)


def _region(periods) -> Region:
    r = Region()
    r.periods = periods.to_pylist()
    r.case("A", admit="2025-03-10", staff="X1", daily=False)
    r.line("A", "CEF", "2025-03-11", "1", "5.20", staff="S1")
    r.case("E", person="F30", admit="2025-03-10", staff="X1", daily=False, emergency=True)
    r.line("E", "CEF", "2025-03-11", "1", "5.20", staff="S1")
    r.line("E", "CEF", "2025-03-11", "2", "5.20", staff="S2")
    r.case("T", person="K05", setting="outpatient", admit="2025-03-12", staff="S2", inst="H1")
    r.lines[-1]["staff_id"] = "X1"  # the visit's REG line is X1's
    return r


def _staff_effect(r: Region):
    t = r.tables()
    detail, summary = withheld(duckdb.connect(), t["qualification_periods"], cases=t["cases"],
                               fee_items=t["fee_items"])
    return ([(x["case_id"], x["line_no"], x["staff_id"], x["amount"]) for x in detail.to_pylist()],
            sum((x["amount"] for x in summary.to_pylist()), Decimal("0.00")))


def test_periods_carry_the_seed_rule(tmp_path):
    p = {(x["staff_id"], x["status"]): x["emergency_paid"] for x in _periods(tmp_path).to_pylist()}
    assert p == {("S1", "suspended"): True, ("S2", "terminated"): False}


def test_terminated_staff_emergency_lines_are_not_settled_by_staff_and_review_alike(tmp_path):
    r = _region(_periods(tmp_path))
    lines, total = _staff_effect(r)
    assert lines == [("A", 1, "S1", Decimal("5.20")), ("E", 2, "S2", Decimal("10.40"))]
    assert total == Decimal("15.60")
    f = review(r, "L11")
    assert [(x["case_id"], x["line_no"], x["severity"], x["amount"]) for x in f] == [
        ("A", 1, "reject", Decimal("5.20")), ("E", 2, "reject", Decimal("10.40"))]
    assert "终止" in f[1]["message"]
    assert sum((x["amount"] for x in f), Decimal("0.00")) == total  # one definition, one amount


def test_the_attending_physician_case_is_a_warning_without_money(tmp_path):
    r = _region(_periods(tmp_path))
    f = review(r, "C08")
    assert [(x["case_id"], x["severity"], x["amount"]) for x in f] == [("T", "warn", Decimal("0.00"))]
    assert "L11" in f[0]["message"]
    lines, _ = _staff_effect(r)
    assert "T" not in {c for c, *_ in lines}  # X1's 20.00 on S2's case is paid


def test_a_policy_key_can_extend_the_exception_to_terminations(tmp_path):
    pol_file = tmp_path / "p.toml"
    pol_file.write_text('[staff]\nemergency_paid_statuses = ["suspended", "terminated"]\n', encoding="utf-8")
    r = _region(_periods(tmp_path, load_policy(pol_file)))
    lines, total = _staff_effect(r)
    assert lines == [("A", 1, "S1", Decimal("5.20"))] and total == Decimal("5.20")
    assert [(x["case_id"], x["amount"]) for x in review(r, "L11")] == [("A", Decimal("5.20"))]
