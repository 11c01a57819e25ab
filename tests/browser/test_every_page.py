"""Every page for every role: it opens (200), is Chinese, has a label on every input, and is screenshot."""

from __future__ import annotations

import pytest

LABELLED_JS = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter(e => e.type !== 'hidden')
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
    .map(e => e.outerHTML.slice(0, 120))"""


@pytest.mark.parametrize("role", ["admin", "agency", "supervisor", "hospital", "auditor"])
def test_every_page_opens_with_labels_on_every_input(page_as, site, shot, role):
    inst = site.institutions.get(site.users[role])
    params = {"institution_id": inst} if inst else {}
    f = site.api(role, "/api/findings", **params).json()["findings"][0]
    pages = {"首页": "/", "审核疑点": "/findings", "疑点详情": f"/findings/{f['finding_id']}",
             "病例": f"/cases/{f['case_id']}", "本院病例-DIP": "/hospital", "本院病例-DRG": "/hospital?scheme=drg",
             "结算单": "/statements"}
    if role in ("admin", "agency", "supervisor"):
        pages["政策模拟-DRG"] = "/simulate/drg"
    page = page_as(role)
    for name, path in pages.items():
        r = page.goto(site.url + path)
        assert r.status == 200, (role, path)
        assert page.evaluate("document.documentElement.lang") == "zh-CN"
        assert page.title().endswith(" · yibao 医保")
        assert page.evaluate(LABELLED_JS) == [], (role, path)
        assert page.locator("a.skip").count() == 1
        shot(page, f"页面-{role}-{name}")


def test_the_login_page_has_labels(browser, site, shot):
    ctx = browser.new_context(locale="zh-CN")
    page = ctx.new_page()
    page.goto(site.url + "/login")
    assert page.evaluate(LABELLED_JS) == []
    shot(page, "登录")
    ctx.close()
