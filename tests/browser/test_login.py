"""Logging in as each role shows that role's navigation; logging out ends the session."""

from __future__ import annotations

import pytest

NAV = {
    "admin": ["首页", "审核疑点工作台", "机构病例与盈亏"],
    "agency": ["首页", "审核疑点工作台", "机构病例与盈亏"],
    "supervisor": ["首页", "审核疑点工作台", "机构病例与盈亏"],
    "hospital": ["首页", "本院审核疑点", "本院病例与盈亏"],
    "auditor": ["首页", "审核疑点工作台", "机构病例与盈亏"],
}
ROLE_ZH = {"admin": "系统管理员", "agency": "经办", "supervisor": "监管", "hospital": "医疗机构（医保办）", "auditor": "审计"}


@pytest.mark.parametrize("role", list(NAV))
def test_log_in_as_each_role(page_as, site, shot, role):
    page = page_as(role)
    assert page.title() == "首页 · yibao 医保"
    who = page.locator(".who").inner_text()
    assert site.users[role] in who and ROLE_ZH[role] in who
    links = page.get_by_role("navigation", name="主导航").get_by_role("link").all_inner_texts()
    assert [t for t in links if t in {t for v in NAV.values() for t in v}][:len(NAV[role])] == NAV[role]
    if role == "hospital":
        assert site.institutions[site.users[role]] in who
    shot(page, f"首页-{role}")


def test_a_wrong_password_says_so_in_chinese_and_logout_ends_the_session(browser, site, shot):
    ctx = browser.new_context(locale="zh-CN")
    page = ctx.new_page()
    page.goto(site.url + "/findings")
    assert page.url == site.url + "/login"  # no session: to the login page
    page.get_by_label("用户名").fill(site.users["agency"])
    page.get_by_label("密码").fill("wrong-password")
    page.get_by_role("button", name="登录").click()
    assert page.get_by_role("alert").inner_text() == "用户名或密码错误"
    shot(page, "登录-密码错误")
    page.get_by_label("用户名").fill(site.users["agency"])
    page.get_by_label("密码").fill(site.password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(site.url + "/")
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url(site.url + "/login")
    page.goto(site.url + "/")
    assert page.url == site.url + "/login"
    ctx.close()
