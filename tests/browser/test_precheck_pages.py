"""The pre-check page in the browser: a hospital fills the form from one of its cases, submits it and sees the
DIP group and points, the DRG group and weight with names, and the findings."""

from __future__ import annotations

LABELLED_JS = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter(e => e.type !== 'hidden')
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
    .map(e => e.outerHTML.slice(0, 120))"""


def test_a_precheck_form_shows_the_group_and_the_findings(page_as, site, shot):
    page = page_as("hospital")
    page.goto(site.url + "/precheck")
    assert page.title() == "事前预审 · yibao 医保"
    assert page.evaluate(LABELLED_JS) == []
    assert page.get_by_label("机构编码").input_value() == site.institutions[site.users["hospital"]]
    shot(page, "事前预审-表单")
    page.get_by_role("link", name="填入示例病例").click()
    assert page.get_by_label("主要诊断（ICD-10）").input_value() != ""
    page.get_by_role("button", name="预审").click()
    result = page.locator("#precheck-result")
    result.wait_for()
    assert "预审结果：病例" in result.inner_text()
    if site.has_payment:
        dip = page.locator("#dip-result").inner_text()
        assert "病种" in dip and "点数" in dip
        drg = page.locator("#drg-result").inner_text()
        assert "分组结果" in drg
    assert "审核提示" in result.inner_text()
    shot(page, "事前预审-结果")


def test_the_precheck_of_a_readmission_names_the_earlier_stay(page_as, site, shot):
    """A second stay 3 days after one of the hospital's stays, same diagnosis: the history rule C04 says so."""
    import duckdb

    inst = site.institutions[site.users["hospital"]]
    con = duckdb.connect(str(site.workspace / "yibao.duckdb"), read_only=True)
    try:
        cid, pid, dx, dis = con.execute(
            "SELECT case_id, person_id, principal_dx, discharge_date FROM main.cases WHERE institution_id = ? "
            "AND setting = 'inpatient' AND coalesce(discharge_mode, '') <> '5' ORDER BY case_id LIMIT 1",
            [inst]).fetchone()
    finally:
        con.close()
    import datetime as dt

    admit = dis + dt.timedelta(days=3)
    page = page_as("hospital")
    page.goto(site.url + "/precheck")
    page.get_by_label("参保人编号").fill(pid)
    page.get_by_label("入院（就诊）日期").fill(admit.isoformat())
    page.get_by_label("出院日期").fill((admit + dt.timedelta(days=2)).isoformat())
    page.get_by_label("主要诊断（ICD-10）").fill(dx)
    page.get_by_label("统筹基金支付（元）").fill("100.00")
    page.locator("#lines").fill(f"X1,床位费,1,50.00,{admit.isoformat()},bed,facility")
    page.get_by_role("button", name="预审").click()
    table = page.locator("#precheck-findings")
    table.wait_for()
    text = table.inner_text()
    assert "C04" in text and cid in text and "历史就诊" in text
    shot(page, "事前预审-再入院")
