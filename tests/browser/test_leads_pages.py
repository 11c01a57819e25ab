"""The supervisors' lead page in the browser: a run of ``yibao leads`` imported with ``yibao leads-import``, the
ranked list with the hit rate, one lead's evidence with links to its cases, an outcome recorded through the form;
a hospital user gets 404 and no menu entry."""

from __future__ import annotations

import pytest

from .conftest import cli


@pytest.fixture(scope="module")
def imported(site, tmp_path_factory):
    out = tmp_path_factory.mktemp("leads-run") / "leads"
    cli("leads", "--workspace", str(site.workspace), "--year", "2024", "--out", str(out))
    r = cli("leads-import", str(out), "--workspace", str(site.workspace), "--year", "2024")
    assert "已导入线索批次" in r.stdout
    return out


def test_the_lead_list_evidence_and_an_outcome(imported, page_as, site, shot):
    page = page_as("supervisor")
    page.goto(site.url + "/")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="飞行检查线索").click()
    assert page.title() == "飞行检查线索 · yibao 医保"
    rate = page.locator("#hit-rate").inner_text()
    assert "条线索，已检查 0 条" in rate and "查实率 —" in rate
    rows = page.locator("#inst-table tbody tr")
    assert rows.count() >= 5 and page.locator("#doctor-table tbody tr").count() >= 5
    shot(page, "飞行检查线索-名单")
    rows.first.locator("a").click()
    assert page.locator("#features-table tbody tr").count() >= 5
    case_link = page.locator("#cases-table tbody tr a").first
    case_id = case_link.inner_text()
    page.get_by_label("结果").select_option("confirmed")
    page.get_by_label("说明").fill("飞行检查查实：挂床住院")
    page.get_by_role("button", name="记录核查结果").click()
    assert "查实" in page.locator("#lead-status").inner_text()
    assert "飞行检查查实：挂床住院" in page.locator("#history-table").inner_text()
    shot(page, "飞行检查线索-详情")
    page.locator("#cases-table tbody tr a").first.click()
    assert page.url.endswith("/cases/" + case_id)
    page.goto(site.url + "/leads")
    assert "已检查 1 条，查实 1 条" in page.locator("#hit-rate").inner_text()
    assert "查实率 100.0%" in page.locator("#hit-rate").inner_text()


def test_a_hospital_user_never_sees_leads(imported, page_as, site):
    page = page_as("hospital")
    page.goto(site.url + "/")
    assert page.locator("a[href=\"/leads\"]").count() == 0
    r = page.goto(site.url + "/leads")
    assert r.status == 404
