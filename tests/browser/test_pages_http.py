"""The pages over plain HTTP against the same real server (no browser needed): errors are Chinese HTML pages,
refusals change nothing, the scripts are served by the app itself."""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import httpx

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "yibao" / "server" / "templates"


@contextmanager
def session(site, role: str):
    """An HTTP client with a page session of ``role``'s user (closed afterwards)."""
    c = httpx.Client(base_url=site.url)
    csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"username": site.users[role], "password": site.password, "csrf": csrf})
    assert r.status_code == 303
    try:
        yield c
    finally:
        c.close()


def page_csrf(c: httpx.Client, path: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', c.get(path).text).group(1)


def test_without_a_session_every_page_goes_to_the_login_page(site):
    with httpx.Client(base_url=site.url) as c:
        for path in ("/", "/findings", "/findings/F0000000000000000", "/cases/X", "/hospital", "/findings/export.xlsx"):
            r = c.get(path)
            assert r.status_code == 303 and r.headers["location"] == "/login", path


def test_errors_are_chinese_html_pages_and_say_nothing_of_another_institution(site):
    other = site.institutions[site.users["hospital2"]]
    theirs = site.api("supervisor", "/api/findings", institution_id=other).json()["findings"][0]
    with session(site, "hospital") as c:
        for path in (f"/cases/{theirs['case_id']}", f"/findings/{theirs['finding_id']}",
                     f"/findings/{theirs['finding_id']}/attachments/1", "/cases/NO-SUCH-CASE"):
            r = c.get(path)
            assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), path
            assert "未找到" in r.text and other not in r.text
        csrf = page_csrf(c, "/")
        r = c.post(f"/findings/{theirs['finding_id']}/appeal", data={"reason": "x", "csrf": csrf})
        assert r.status_code == 404  # not 403: it does not say the finding exists
        r = c.get("/findings/export.xlsx?clear=1")
        assert r.status_code == 403 and "脱敏" in r.text
    with session(site, "auditor") as c:
        assert c.get("/findings/export.xlsx?clear=1").status_code == 403
        r = c.post(f"/findings/{theirs['finding_id']}/decision", data={"decision": "upheld", "reason": "x",
                                                                       "csrf": page_csrf(c, "/")})
        assert r.status_code == 403 and "无权" in r.text


def test_a_refused_attachment_or_a_forged_form_changes_nothing(site):
    me = site.institutions[site.users["hospital"]]
    f = next(x for x in site.api("hospital", "/api/findings", status="open").json()["findings"]
             if x["institution_id"] == me)
    with session(site, "hospital") as c:
        csrf = page_csrf(c, f"/findings/{f['finding_id']}")
        r = c.post(f"/findings/{f['finding_id']}/appeal", data={"reason": "理由", "csrf": csrf},
                   files=[("files", ("病历.exe", b"MZ...", "application/octet-stream"))])
        assert r.status_code == 422 and "不支持的文件类型" in r.text
        r = c.post(f"/findings/{f['finding_id']}/appeal", data={"reason": "理由", "csrf": "forged"})
        assert r.status_code == 403 and "CSRF" in r.text
        r = c.post(f"/findings/{f['finding_id']}/appeal", data={"reason": "  ", "csrf": csrf})
        assert r.status_code == 422 and "理由" in r.text
    now = site.api("hospital", "/api/findings", status="open").json()["findings"]
    assert f["finding_id"] in {x["finding_id"] for x in now}  # still open
    assert not (site.workspace / "attachments" / f["finding_id"]).exists()


def test_the_scripts_come_from_the_app_and_no_page_links_outside(site):
    with httpx.Client(base_url=site.url) as c:
        r = c.get("/static/vendor/htmx.min.js")
        assert r.status_code == 200 and "javascript" in r.headers["content-type"] and len(r.content) > 40_000
        assert c.get("/static/vendor/echarts.min.js").status_code == 200
        assert c.get("/static/app.css").status_code == 200
        for bad in ("/static/../pages/core.py", "/static/vendor/htmx.LICENSE", "/static/nope.js"):
            assert c.get(bad).status_code == 404, bad
    for t in TEMPLATES.rglob("*.html"):
        text = t.read_text(encoding="utf-8")
        assert not re.search(r'(src|href)="(https?:)?//', text), t.name
