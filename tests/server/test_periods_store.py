"""Settlement periods in the store of record, on SQLite and PostgreSQL: four eyes, the lock of an issued
period (in the store functions and in the database), versions, the hospital's reply by its deadline, audit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from yibao.store import audit
from yibao.store import periods as per

PREP = per.Actor("prep", "agency")
CHK = per.Actor("chk", "agency")
H1 = per.Actor("hosp1", "hospital", "H001")
H2 = per.Actor("hosp2", "hospital", "H002")


def _line(inst: str, gross: str, deposit: str) -> dict:
    g, d = Decimal(gross), Decimal(deposit)
    return {"institution_id": inst, "units": Decimal("100.5"), "cases": 3, "gross": g, "deposit": d,
            "deductions": Decimal("0.00"), "amount": g - d, "items": [["应预付", gross], ["预留质量保证金", deposit]]}


def _prepare(st, lines=None, month=3, **kw):
    lines = lines or [_line("H001", "1000.00", "50.00"), _line("H002", "333.33", "16.67")]
    return per.prepare(st, pot="employee.inpatient", method="dip", year=2025, month=month, cutoff=dt.date(2025, 3, 31),
                       lines=lines, names={"H001": "甲医院", "H002": "乙医院"}, agency="某市医疗保障事业管理中心",
                       inputs={"scored": "s"}, summary={}, actor=kw.pop("actor", PREP), **kw)


@pytest.fixture
def st(workspace, store_url):
    from yibao.store.db import open_store

    s = open_store(workspace, store_url)
    yield s
    s.close()


def test_four_eyes_lock_and_versions(st) -> None:
    p = _prepare(st)
    assert (p["status"], p["version"], p["total"], p["statements"]) == ("draft", 1, "1266.66", 2)  # 950.00 + 316.66
    with pytest.raises(per.PeriodRefused) as e:
        per.check(st, p["period_id"], PREP)              # the preparer cannot check
    assert (e.value.status, e.value.code) == (409, "four_eyes")
    with pytest.raises(per.PeriodRefused) as e:
        per.issue(st, p["period_id"], CHK)               # not checked yet
    assert e.value.status == 409
    with pytest.raises(per.PeriodRefused) as e:
        per.check(st, p["period_id"], per.Actor("sup", "supervisor"))
    assert e.value.status == 403
    # the database refuses it too (CHECK constraint), whatever code writes
    with pytest.raises(IntegrityError):
        with st.begin() as con:
            con.execute(text("UPDATE settlement_periods SET checked_by = prepared_by WHERE period_id = :i"),
                        {"i": p["period_id"]})
    # a draft is recomputed in place (same id and version)
    again = _prepare(st, [_line("H001", "1200.00", "60.00")])
    assert (again["period_id"], again["version"], again["total"]) == (p["period_id"], 1, "1140.00")
    per.check(st, p["period_id"], CHK)
    with pytest.raises(per.PeriodRefused) as e:
        per.issue(st, p["period_id"], PREP)              # the preparer cannot issue either
    assert e.value.code == "four_eyes"
    issued = per.issue(st, p["period_id"], CHK, dt.date(2025, 4, 8), 10)
    assert (issued["status"], issued["issue_date"]) == ("issued", "2025-04-08")
    # locked: a second run is refused (409), before and at recording
    with pytest.raises(per.PeriodRefused) as e:
        per.refuse_if_locked(st, "employee.inpatient", 2025, 3)
    assert e.value.status == 409
    with pytest.raises(per.PeriodRefused) as e:
        _prepare(st)
    assert e.value.status == 409 and "已签发并锁定" in e.value.message
    # and in the database: amounts never updated, statements of an issued period never deleted
    for sql in ("UPDATE settlement_statements SET amount_fen = 1 WHERE period_id = :i",
                "DELETE FROM settlement_statements WHERE period_id = :i",
                "UPDATE settlement_periods SET total_fen = 1 WHERE period_id = :i",
                "DELETE FROM settlement_periods WHERE period_id = :i"):
        with pytest.raises(DBAPIError):
            with st.begin() as con:
                con.execute(text(sql), {"i": p["period_id"]})
    # a correction: a new version with a reason, replacing version 1
    with pytest.raises(per.PeriodRefused) as e:
        _prepare(st, correct_of=p["period_id"], reason=" ")
    assert e.value.status == 422
    v2 = _prepare(st, [_line("H001", "1100.00", "55.00")], correct_of=p["period_id"], reason="补录 3 月迟报病例")
    assert (v2["version"], v2["replaces_id"], v2["reason"], v2["status"]) == (2, p["period_id"], "补录 3 月迟报病例",
                                                                              "draft")
    assert per.of_record(st, "employee.inpatient", 2025, 3)["version"] == 1  # v1 stays of record until v2 is issued
    per.check(st, v2["period_id"], CHK)
    per.issue(st, v2["period_id"], CHK, dt.date(2025, 4, 20), 10)
    assert per.get_period(st, p["period_id"])["status"] == "superseded"
    rec = per.of_record(st, "employee.inpatient", 2025, 3)
    assert (rec["period_id"], rec["version"]) == (v2["period_id"], 2)
    assert per.issued_paid(st, "employee.inpatient", 2025) == {"H001": Decimal("1045.00")}
    sid = per.period_statements(st, v2["period_id"])[0]["statement_id"]
    s = per.get_statement(st, sid)
    assert (s["period"]["version"], s["replaces"]["version"], s["replaces"]["amount"], s["amount"]) == \
        (2, 1, "1140.00", "1045.00")
    assert s["number"] == per.get_statement(st, per.period_statements(st, p["period_id"])[0]["statement_id"])["number"]
    # every state change is in the audit log, and the chain holds
    actions = [e["action"] for e in reversed(audit.events(st, 50))]
    assert actions == ["period.prepare", "period.recompute", "period.check", "period.issue", "period.correct",
                       "period.check", "period.supersede", "period.issue"]
    assert audit.verify(st).ok


def test_hospital_confirms_or_disputes_its_own_statement_by_the_deadline(st) -> None:
    p = _prepare(st)
    per.check(st, p["period_id"], CHK)
    h1, h2 = (r["statement_id"] for r in per.period_statements(st, p["period_id"]))
    with pytest.raises(per.PeriodRefused) as e:   # not issued: a hospital does not see it
        per.get_statement(st, h1, H1)
    assert e.value.status == 404
    # issued on Friday 2025-09-26: 10 working days = Sun 28 Sep (调休 workday), 29, 30 Sep, (1–8 Oct National
    # Day holiday), 9, 10, Sat 11 Oct (调休 workday), 13, 14, 15, 16 Oct
    per.issue(st, p["period_id"], CHK, dt.date(2025, 9, 26), 10)
    assert per.get_statement(st, h1, H1)["reply_deadline"] == "2025-10-16"
    with pytest.raises(per.PeriodRefused) as e:   # another institution's statement: 404, not 403
        per.reply(st, h2, "confirm", "", H1, dt.date(2025, 10, 1))
    assert e.value.status == 404
    with pytest.raises(per.PeriodRefused) as e:
        per.reply(st, h1, "dispute", "", H1, dt.date(2025, 10, 1))
    assert e.value.status == 422
    with pytest.raises(per.PeriodRefused) as e:
        per.reply(st, h1, "confirm", "", CHK, dt.date(2025, 10, 1))
    assert e.value.status == 403
    assert per.reply(st, h1, "confirm", "", H1, dt.date(2025, 10, 16))["reply"] == "confirmed"
    with pytest.raises(per.PeriodRefused) as e:
        per.reply(st, h1, "dispute", "金额不符", H1, dt.date(2025, 10, 16))
    assert e.value.status == 409
    with pytest.raises(per.PeriodRefused) as e:   # past the deadline
        per.reply(st, h2, "dispute", "病例数不符", H2, dt.date(2025, 10, 17))
    assert e.value.code == "deadline_passed"
    assert per.reply(st, h2, "dispute", "病例数不符：少计 1 例", H2, dt.date(2025, 10, 16))["reply"] == "disputed"
    d = per.disputes(st)
    assert [(x["institution_id"], x["reply_reason"], x["version"]) for x in d] == [("H002", "病例数不符：少计 1 例", 1)]
    assert [e["action"] for e in audit.events(st, 2)] == ["statement.dispute", "statement.confirm"]


def test_statement_documents_carry_the_head_and_render_cjk(st) -> None:
    import io
    import re
    import zlib

    import openpyxl

    from yibao.store.statements import excel_bytes, pdf_bytes

    p = _prepare(st)
    per.check(st, p["period_id"], CHK)
    per.issue(st, p["period_id"], CHK, dt.date(2025, 4, 8), 10)
    s = per.get_statement(st, per.period_statements(st, p["period_id"])[0]["statement_id"])
    wb = openpyxl.load_workbook(io.BytesIO(excel_bytes(s)))
    cells = [str(c.value) for row in wb["结算单"].iter_rows() for c in row if c.value is not None]
    for want in ("结算单编号：JS-2025-03-EMP-IN-H001", "版本：第 1 版", "签发日期：2025-04-08",
                 "签发机构：某市医疗保障事业管理中心", "机构名称：甲医院", "应预付", "预留质量保证金", "950.00"):
        assert any(want in c for c in cells), want
    pdf = pdf_bytes(s)
    assert pdf.startswith(b"%PDF-")
    assert b"+NotoSansCJKSC" in pdf and b"/FontFile3" in pdf  # the Simplified Chinese face, embedded (subset)
    # the text maps back to the characters (ToUnicode CMap): 甲 U+7532, 医 U+533B, 签 U+7B7E
    cmaps = b""
    for m in re.finditer(rb"stream\r?\n", pdf):
        body = pdf[m.end():pdf.find(b"endstream", m.end())]
        try:
            body = zlib.decompress(body)
        except zlib.error:
            pass
        if b"begincmap" in body:
            cmaps += body
    for ch in "甲医签":
        assert f"<{ord(ch):04X}>".encode() in cmaps, ch


def test_migration_0003_creates_the_tables_of_store_periods(st) -> None:
    from sqlalchemy import inspect

    insp = inspect(st.engine)
    for t in (per.periods, per.statements):
        assert [c["name"] for c in insp.get_columns(t.name)] == [c.name for c in t.columns], t.name
    checks = {c["name"] for c in insp.get_check_constraints("settlement_periods")}
    assert {"ck_period_checker_not_preparer", "ck_period_issuer_not_preparer"} <= checks


def test_a_clearing_paid_against_a_month_corrected_since_needs_a_new_version(st) -> None:
    """The stale-clearing mark in the store (SQLite and PostgreSQL): by the monthly versions it recorded."""
    months = {}
    for m in range(1, 13):
        p = _prepare(st, [_line("H001", "100.00", "5.00")], month=m)
        per.check(st, p["period_id"], CHK)
        months[m] = per.issue(st, p["period_id"], CHK, dt.date(2025, m, 28), 10)["period_id"]
    assert {m: pid for m, (pid, _) in per.months_of_record(st, "employee.inpatient", 2025).items()} == months
    c = per.prepare(st, pot="employee.inpatient", method="dip", year=2025, month=None, cutoff=dt.date(2025, 12, 31),
                    lines=[_line("H001", "1250.00", "0.00")], names={"H001": "甲医院"}, agency="某中心", inputs={},
                    summary={"months_of_record": {str(m): pid for m, pid in months.items()}}, actor=PREP)
    per.check(st, c["period_id"], CHK)
    c = per.issue(st, c["period_id"], CHK, dt.date(2026, 2, 10), 10)
    assert (c["needs_new_version"], c["stale_months"], c["notice"]) == (False, [], None)
    v2 = _prepare(st, [_line("H001", "120.00", "6.00")], month=7, correct_of=months[7], reason="补录")
    assert per.get_period(st, c["period_id"])["needs_new_version"] is False  # a draft correction changes nothing yet
    per.check(st, v2["period_id"], CHK)
    per.issue(st, v2["period_id"], CHK, dt.date(2026, 3, 1), 10)
    got = per.get_period(st, c["period_id"])
    assert got["status"] == "issued" and got["needs_new_version"] is True
    assert got["stale_months"] == [{"month": 7, "was_period_id": months[7], "period_id": v2["period_id"], "version": 2}]
    assert got["notice"] == (f"须重新清算：本清算签发后，7 月（现为第 2 版，编号 {v2['period_id']}）的月度预付已更正；"
                             "本清算按更正前的月度预付计算，已不是按记录版本的清算。请更正本清算（yibao period correct "
                             f"{c['period_id']} --reason … 或 POST /api/periods/{c['period_id']}/correct）")
    rows = {p["period_id"]: p for p in per.list_periods(st, year=2025)}
    assert rows[c["period_id"]]["needs_new_version"] and not rows[v2["period_id"]]["needs_new_version"]
    sid = per.period_statements(st, c["period_id"])[0]["statement_id"]
    assert per.get_statement(st, sid)["period"]["notice"] == got["notice"]
    assert per.issued_paid(st, "employee.inpatient", 2025) == {"H001": Decimal("1159.00")}  # 11 × 95.00 + 114.00
