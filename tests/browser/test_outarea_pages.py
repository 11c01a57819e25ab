"""The out-of-area pages (异地就医) in the browser, on a server of their own over a ``synth --out-of-area`` region
(the shared ``site`` has no filings or claims): the filing register with search and states, a person's filings,
the claims with the three refusals and the approved claim's computation, the balanced clearing statements;
names masked for the auditor; a hospital user refused. Uses the session's ``browser`` fixture and ``login``."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from decimal import Decimal as D

import httpx
import pytest

from .conftest import PASSWORD, REPO, Site, cli, login

LABELLED_JS = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter(e => e.type !== 'hidden')
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
    .map(e => e.outerHTML.slice(0, 120))"""
USERS = {"admin": "oa-admin", "agency": "oa-jingban", "auditor": "oa-shenji", "hospital": "oa-yiyuan"}


def rows(path):
    with open(path, encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def oa_site(tmp_path_factory):
    from yibao.store.db import open_store
    from yibao.store.users import add_user

    tmp = tmp_path_factory.mktemp("oa-site")
    region, ws = tmp / "region", tmp / "ws"
    cli("synth", "--out", str(region), "--seed", "7", "--cases", "3000", "--out-of-area")
    cli("load", str(region), "--workspace", str(ws))
    hospital = rows(region / "institutions.csv")[0]["institution_id"]
    with open_store(ws) as st:
        for role, name in USERS.items():
            add_user(st, name, role, PASSWORD, hospital if role == "hospital" else None, actor="browser-test")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "yibao.cli", "serve", "--workspace", str(ws), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise AssertionError(f"yibao serve did not start: {url}\n{proc.stderr.read()}")
    try:
        yield Site(url, ws, region, dict(USERS), {USERS["hospital"]: hospital})
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def oa_page(browser, oa_site):
    contexts = []

    def make(role):
        ctx = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
        contexts.append(ctx)
        page = ctx.new_page()
        login(page, oa_site, role)
        return page

    yield make
    for c in contexts:
        c.close()


def test_the_filing_register_searches_and_shows_states(oa_page, oa_site):
    filings = rows(oa_site.region / "filings.csv")
    insured = {r["person_id"]: r["name"] for r in rows(oa_site.region / "insured.csv")}
    page = oa_page("agency")
    page.goto(oa_site.url + "/outarea?as_of=2025-06-30")
    assert page.title() == "异地就医备案登记簿 · yibao 医保"
    for path in ("/outarea", "/outarea/claims", "/outarea/clearing"):  # Chinese, a label on every input
        page.goto(oa_site.url + path)
        assert page.evaluate("document.documentElement.lang") == "zh-CN" and page.evaluate(LABELLED_JS) == [], path
    assert page.get_by_role("link", name="异地就医").count() >= 1  # the navigation entry
    page.goto(oa_site.url + "/outarea?as_of=2025-06-30")
    table = page.locator("#filings-table tbody tr")
    assert table.count() == len(filings)
    # by hand: the filings valid on 2025-06-30
    valid = [f for f in filings if f["valid_from"] <= "2025-06-30" and (not f["valid_to"] or f["valid_to"] >= "2025-06-30")]
    page.get_by_label("备案状态").select_option("valid")
    page.get_by_role("button", name="查询").click()
    assert page.locator("#filings-table tbody tr").count() == len(valid)
    assert set(page.locator("#filings-table tbody td.status-valid").all_inner_texts()) == {"有效"}
    one = filings[0]
    page.goto(oa_site.url + "/outarea?as_of=2025-06-30")
    page.get_by_label("医保编号或姓名").fill(insured[one["person_id"]])
    page.get_by_role("button", name="查询").click()
    page.get_by_role("link", name=one["person_id"]).first.click()
    person = page.locator("#person-filings tbody tr")
    assert person.count() == sum(1 for f in filings if f["person_id"] == one["person_id"])
    assert insured[one["person_id"]] in page.content()


def test_claims_show_the_checklist_the_refusals_and_the_computation(oa_page, oa_site):
    claims = {r["claim_id"]: r for r in rows(oa_site.region / "claims.csv")}
    page = oa_page("agency")
    page.goto(oa_site.url + "/outarea/claims?year=2025")
    text = page.locator("#claims-table").inner_text()
    assert text.count("不予报销") >= 3 and "予以报销" in text
    assert "超过申报期限" in text and "资料不全，缺少" in text
    missing = next(c for c in claims.values() if c["doc_invoice"] == "0" or c["doc_certificate"] == "0"
                   or c["doc_card"] == "0" or c["doc_filing_form"] == "0" or c["doc_itemised_list"] == "0")
    page.get_by_role("link", name=missing["claim_id"]).click()
    docs = page.locator("#documents li")
    assert docs.count() == 5
    assert page.locator("#documents li.missing").count() == sum(
        1 for k in ("doc_card", "doc_filing_form", "doc_certificate", "doc_itemised_list", "doc_invoice") if missing[k] == "0")
    assert "不予报销" in page.locator("#decision").inner_text()
    page.goto(oa_site.url + "/outarea/claims?year=2025")
    approved = page.locator("#claims-table tbody tr", has=page.locator("td.decision-approved")).first
    approved.locator("a").click()
    assert page.locator("#decision").inner_text() == "予以报销"
    comp = page.locator("#computation").inner_text()
    assert "政策范围内费用" in comp and "起付线" in comp and "四舍五入到分" in comp
    assert page.locator("#documents li.present").count() == 5


def test_clearing_statements_balance_to_the_fen(oa_page, oa_site):
    page = oa_page("agency")
    page.goto(oa_site.url + "/outarea/clearing?year=2025")
    tables = page.locator("table.clearing")
    assert tables.count() >= 1
    for i in range(tables.count()):
        t = tables.nth(i)
        body = [[c.strip() for c in r.locator("td").all_inner_texts()] for r in t.locator("tbody tr").all()]
        *regions, total = body
        assert total[0] == "合计"
        for col in (2, 3, 5, 6):
            assert sum((D(r[col].replace(",", "")) for r in regions), D(0)) == D(total[col].replace(",", ""))
        assert D(total[3].replace(",", "")) - D(total[5].replace(",", "")) == D(total[6].replace(",", ""))
    assert page.locator("p.balanced").count() == tables.count()


def test_names_are_masked_for_the_auditor_and_a_hospital_is_refused(oa_page, oa_site):
    filings = rows(oa_site.region / "filings.csv")
    insured = {r["person_id"]: r["name"] for r in rows(oa_site.region / "insured.csv")}
    page = oa_page("auditor")
    page.goto(oa_site.url + "/outarea?as_of=2025-06-30")
    html = page.content()
    names = {insured[f["person_id"]] for f in filings}
    assert not [n for n in names if n in html]
    assert page.locator("#filings-table tbody tr").count() == len(filings)
    with httpx.Client(base_url=oa_site.url) as c:
        import re

        csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
        c.post("/login", data={"username": USERS["hospital"], "password": PASSWORD, "csrf": csrf})
        for path in ("/outarea", "/outarea/claims", "/outarea/clearing"):
            r = c.get(path)
            assert r.status_code == 403 and "无权" in r.text, path
