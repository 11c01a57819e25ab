"""The public disclosure page (信息公开, no login) in the browser: it renders the published report with its charts
and holds no personal data (the page's text scanned for the region's id numbers and names)."""

from __future__ import annotations

import csv
import re

import pytest

from .conftest import cli

ID_NUMBER = re.compile(r"\d{17}[\dXx]")


@pytest.fixture(scope="module")
def published(site, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("public")
    cli("budget", "--policy", str(site.region / "budget_policy.toml"), "-w", str(site.workspace), "--out", str(tmp / "budget"))
    cli("assess", "-w", str(site.workspace), "--year", "2025", "--out", str(tmp / "assess"))
    cli("disclose", "-w", str(site.workspace), "--year", "2025", "--budget", str(tmp / "budget"), "--assess",
        str(tmp / "assess"), "--publish", "--out", str(tmp / "pub"))
    return site


def _people(site) -> tuple[set[str], set[str]]:
    names, ids = set(), set()
    for table in ("insured", "staff"):
        with (site.region / f"{table}.csv").open(encoding="utf-8-sig", newline="") as f:
            for r in csv.DictReader(f):
                if r.get("name") and len(r["name"]) >= 2:
                    names.add(r["name"])
                if r.get("id_number"):
                    ids.add(r["id_number"])
    return names, ids


def test_public_report_renders_without_login_and_without_personal_data(browser, published, shot):
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
    try:
        page = ctx.new_page()
        r = page.goto(published.url + "/public")
        assert r.status == 200 and "2025 年度报告" in page.content()
        page.get_by_role("link", name="2025 年度报告").click()
        page.wait_for_selector("h1")
        assert page.inner_text("h1") == "2025 年医疗保险基金总额控制信息公开"
        assert page.evaluate("document.documentElement.lang") == "zh-CN"
        # the charts are drawn by the vendored ECharts (a canvas inside each chart box)
        page.wait_for_function("document.querySelectorAll('.chart canvas').length >= 2", timeout=15000)
        shot(page, "public-2025")
        text = page.inner_text("body")
        names, ids = _people(published)
        assert not ID_NUMBER.search(text)
        assert not [n for n in names if n in text]
        assert not [i for i in ids if i in text]
        assert "费用动态" in text and "考核结果" in text
        pdf = page.request.get(published.url + "/public/2025/信息公开.pdf")
        assert pdf.status == 200 and pdf.body()[:4] == b"%PDF"
    finally:
        ctx.close()
