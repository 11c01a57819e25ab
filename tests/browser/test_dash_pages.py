"""Dashboards, staff qualification pages and the simulation page in the browser: every page opens for the roles
that may see it (Chinese, a label on every input, screenshots), the charts are drawn from their JSON, a hospital
cannot open another institution's dashboard, the simulation shows baseline and scenario."""

from __future__ import annotations

import shutil

import pytest

from .conftest import cli

LABELLED_JS = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter(e => e.type !== 'hidden')
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
    .map(e => e.outerHTML.slice(0, 120))"""


@pytest.fixture(scope="module")
def settled(site):
    """The budget policy beside the workspace and a DIP settlement under WS/results (what the dashboards read)."""
    shutil.copyfile(site.region / "budget_policy.toml", site.workspace / "budget_policy.toml")
    if site.has_payment and not (site.workspace / "results" / "dip-settle").exists():
        cli("dip", "settle", "-w", str(site.workspace), "--scored", str(site.workspace / "results" / "dip"),
            "--budget-policy", str(site.workspace / "budget_policy.toml"),
            "--out", str(site.workspace / "results" / "dip-settle"), "--no-statements")
    return site


def _check(page, site, path: str) -> None:
    r = page.goto(site.url + path)
    assert r.status == 200, path
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.title().endswith(" · yibao 医保")
    assert page.evaluate(LABELLED_JS) == [], path


@pytest.mark.parametrize("role", ["admin", "agency", "supervisor", "auditor"])
def test_region_dashboard_draws_its_charts(page_as, settled, shot, role):
    page = page_as(role)
    _check(page, settled, "/dash")
    page.wait_for_selector("body[data-dash-ready='1']")
    for chart in ("chart-use", "chart-cum", "chart-rules", "chart-inst"):
        assert page.locator(f"#{chart} canvas").count() == 1, chart
    rows = page.locator("#pots-table tbody tr").count()
    assert rows >= 2
    if settled.has_payment:
        assert page.locator("#pv-table tbody tr").count() > 0
    shot(page, f"区域看板-{role}")


def test_institution_dashboard_is_the_hospitals_own(page_as, settled, shot):
    page = page_as("hospital")
    _check(page, settled, "/dash/institution")
    page.wait_for_selector("body[data-dash-ready='1']")
    assert page.locator("#chart-months canvas").count() == 1
    assert settled.institutions[settled.users["hospital"]] in page.locator("#inst-name").inner_text()
    shot(page, "机构看板-hospital")
    other = settled.institutions[settled.users["hospital2"]]
    assert page.goto(settled.url + f"/dash/institution?institution_id={other}").status == 404
    assert page.goto(settled.url + "/dash").status == 403


@pytest.mark.parametrize("role", ["admin", "agency", "supervisor", "hospital", "auditor"])
def test_staff_pages_open(page_as, settled, shot, role):
    page = page_as(role)
    for name, path in (("名单", "/staff"), ("通报", "/staff/notifications?year=2024")):
        _check(page, settled, path)
        shot(page, f"医保支付资格-{name}-{role}")
    link = page.locator("#notify-table a, #staff-table a").first
    page.goto(settled.url + "/staff")
    if page.locator("#staff-table a").count():
        page.locator("#staff-table a").first.click()
        assert "一人一档" in page.title()
        assert page.evaluate(LABELLED_JS) == []
        shot(page, f"一人一档-{role}")
    del link
    if role in ("admin", "agency", "supervisor"):
        _check(page, settled, "/staff/procedure")
        shot(page, f"记分程序-{role}")


def test_the_simulation_shows_baseline_and_scenario(page_as, settled, shot):
    if not settled.has_payment:
        pytest.skip("no DIP catalogue (CHS-DRG standards absent)")
    page = page_as("agency")
    _check(page, settled, "/simulate")
    shot(page, "政策模拟-表单")
    page.get_by_label("情景名称").fill("预算增加一成")
    page.get_by_label("住院统筹预算调整系数", exact=False).fill("1.1")
    page.get_by_role("button", name="模拟").click()
    page.locator("#sim-totals").wait_for(timeout=300_000)
    text = page.locator("#sim-totals").inner_text()
    assert "基准" in text and "情景" in text
    shot(page, "政策模拟-结果")


def test_the_drg_simulation_shows_baseline_and_scenario_per_institution(page_as, settled, shot):
    if not settled.has_payment:
        pytest.skip("CHS-DRG standards absent")
    before = {p.name: p.stat().st_mtime_ns for p in (settled.workspace / "results" / "drg").iterdir()}
    page = page_as("agency")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="政策模拟（DRG）").click()
    assert page.evaluate(LABELLED_JS) == []
    shot(page, "政策模拟-DRG-表单")
    page.get_by_label("高倍率病例", exact=False).fill("2")
    page.get_by_label("三级医疗机构等级系数（倍）").fill("1.1")
    page.get_by_label("三级医疗机构等级系数（倍）").focus()
    page.keyboard.press("Enter")  # the keyboard submits the form
    page.locator("#simdrg-rows").wait_for(timeout=600_000)
    totals = page.locator("#simdrg-totals").inner_text()
    assert "基准" in totals and "情景" in totals and "结算费率" in totals
    rows = page.locator("#simdrg-rows tbody tr")
    assert rows.count() >= 2
    page.evaluate("document.getElementById('sim-result').scrollIntoView()")  # the manual shows the results
    shot(page, "政策模拟-DRG-结果")
    # the real DRG results are untouched
    assert {p.name: p.stat().st_mtime_ns for p in (settled.workspace / "results" / "drg").iterdir()} == before
