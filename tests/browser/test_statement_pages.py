"""Statements of record in a real browser: the hospital lists its own statements (version, the version replaced,
issue date, amounts), downloads them, disputes one with a reason in the page (CSRF-checked form) and the agency
sees the dispute; another hospital's statement is a 404 page."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from browser.test_appeal_and_isolation import LABELLED_JS

YEAR = 2025


@pytest.fixture(scope="module")
def issued(site):
    """One month of one pot run, checked, issued, then corrected (version 2 replaces 1) and issued again."""
    if not site.has_payment:
        pytest.skip("CHS-DRG standards absent: no DIP scores to settle a period with")
    from yibao.server import periods as sp
    from yibao.store import periods as per
    from yibao.store.db import open_store
    from yibao.store.users import add_user

    me, other = site.institutions[site.users["hospital"]], site.institutions[site.users["hospital2"]]
    scored = pq.read_table(site.workspace / "results" / "dip" / "scored_cases.parquet").to_pylist()
    both = sorted({(r["scheme"], r["settle_month"]) for r in scored if r["settle_year"] == YEAR
                   and r["institution_id"] == me and r["points"] is not None}
                  & {(r["scheme"], r["settle_month"]) for r in scored if r["settle_year"] == YEAR
                     and r["institution_id"] == other and r["points"] is not None})
    if not both:
        pytest.skip("no month in which both hospitals have scored cases")
    scheme, month = both[0]
    inputs = sp.PeriodInputs(site.workspace / "results" / "dip", site.region / "budget_policy.toml")
    today = dt.date.today()
    with open_store(site.workspace) as st:
        add_user(st, "jingban2", "agency", site.password, None, actor="browser-test")
        prep = per.Actor(site.users["agency"], "agency", None, "test")
        chk = per.Actor("jingban2", "agency", None, "test")
        p1 = sp.run_period(st, site.workspace, year=YEAR, month=month, scheme=scheme, setting="inpatient",
                           inputs=inputs, actor=prep)
        per.check(st, p1["period_id"], chk)
        sp.issue_period(st, p1["period_id"], chk, today)
        p2 = sp.correct_period(st, site.workspace, p1["period_id"], "核对病例后重新计算", prep)
        per.check(st, p2["period_id"], chk)
        sp.issue_period(st, p2["period_id"], chk, today)
        stm = {s["institution_id"]: s for s in per.period_statements(st, p2["period_id"])}
        old = {s["institution_id"]: s for s in per.period_statements(st, p1["period_id"])}
    return {"p1": p1, "p2": p2, "mine": stm[me], "theirs": stm[other], "old_mine": old[me]}


def test_the_hospital_lists_downloads_and_disputes_its_statement(page_as, site, issued, shot):
    mine, theirs = issued["mine"], issued["theirs"]
    page = page_as("hospital")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="本院结算单").click()
    rows = page.locator("#statements tbody tr")
    texts = [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())]
    assert len(texts) == 2  # version 2 (of record) and version 1 (superseded); nothing of the other hospital
    v2 = next(t for t in texts if t[2] == "第 2 版")
    v1 = next(t for t in texts if t[2] == "第 1 版")
    assert v2[0] == mine["number"] == v1[0]          # a correction keeps the number
    assert v2[3] == "第 1 版" and v1[3] == "—"        # the version replaced
    assert v2[4] == "已签发" and v1[4] == "已被更正版本取代"
    assert v2[5] == dt.date.today().isoformat()
    assert [Decimal(x.replace(",", "")) for x in v2[6:10]] == [Decimal(mine[k]) for k in
                                                               ("gross", "deposit", "deductions", "amount")]
    assert Decimal(mine["gross"]) - Decimal(mine["deposit"]) - Decimal(mine["deductions"]) == Decimal(mine["amount"])
    assert v2[10] == "待确认" and "剩" in v2[11]
    assert theirs["number"] not in page.content()
    shot(page, "本院结算单")
    # the statement page: head, computation, downloads
    page.locator("#statements tbody tr", has_text="第 2 版").get_by_role("link", name=mine["number"]).click()
    assert page.url.endswith(f"/statements/{mine['statement_id']}")
    facts = page.locator("dl.facts").inner_text()
    assert "第 2 版（更正，取代第 1 版；更正理由：核对病例后重新计算）" in facts
    assert mine["institution_name"] in facts
    with page.expect_download() as dl:
        page.get_by_role("link", name="下载 PDF").click()
    pdf = dl.value.path().read_bytes()
    assert pdf.startswith(b"%PDF")
    import pypdfium2 as pdfium

    text = pdfium.PdfDocument(io.BytesIO(pdf))[0].get_textpage().get_text_range()
    assert mine["number"] in text and "第 2 版" in text
    with page.expect_download() as dl:
        page.get_by_role("link", name="下载 Excel").click()
    assert dl.value.path().read_bytes()[:2] == b"PK"
    assert page.evaluate(LABELLED_JS) == []  # every input of the reply form has a label
    shot(page, "结算单-对账确认")
    # a form without the session's CSRF token changes nothing
    r = page.request.post(f"{site.url}/statements/{mine['statement_id']}/reply",
                          form={"action": "confirm", "csrf": "forged"})
    assert r.status == 403
    # a dispute without a reason is refused, with one it is recorded
    page.get_by_role("radio", name="提出异议").check()
    page.get_by_role("button", name="提交").click()
    assert "须说明理由" in page.content()
    page.go_back()
    page.get_by_role("radio", name="提出异议").check()
    page.get_by_label("理由（提出异议时必填）").fill("3 月两例病例应为高倍率，点数少算")
    page.get_by_role("button", name="提交").click()
    assert page.locator("#reply-state").inner_text() == "有异议"
    # once replied: no second reply
    assert page.get_by_role("button", name="提交").count() == 0
    # another hospital's statement, and the superseded version's of another hospital: 404 page
    for sid in (theirs["statement_id"],):
        r = page.goto(f"{site.url}/statements/{sid}")
        assert r.status == 404 and theirs["institution_name"] not in page.content()
        assert page.goto(f"{site.url}/statements/{sid}/download.pdf").status == 404
    assert page.request.post(f"{site.url}/statements/{theirs['statement_id']}/reply",
                             form={"action": "confirm", "csrf": _csrf(page)}).status == 404
    # the agency sees the dispute
    agency = page_as("agency")
    agency.get_by_role("navigation", name="主导航").get_by_role("link", name="结算单与异议").click()
    agency.get_by_role("link", name="医疗机构异议（1）").click()
    row = agency.locator("#disputes tbody tr").first.locator("td").all_inner_texts()
    assert row[0] == mine["number"] and "点数少算" in row[5] and row[6] == site.users["hospital"]
    shot(agency, "结算单-异议")
    assert site.api("agency", "/api/disputes").json()["disputes"][0]["statement_id"] == mine["statement_id"]


def _csrf(page) -> str:
    return page.locator("form[action='/logout'] input[name=csrf]").input_value()
