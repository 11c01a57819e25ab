"""The supervisor's workbench in a real browser: filters (htmx), paging, bulk decisions, the Excel export,
keyboard navigation and labels."""

from __future__ import annotations

import io
import re
from pathlib import Path

from openpyxl import load_workbook

LABELLED_JS = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter(e => e.type !== 'hidden')
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
    .map(e => e.outerHTML.slice(0, 120))"""


def api_findings(site, role="supervisor", **params):
    r = site.api(role, "/api/findings", **params)
    r.raise_for_status()
    return r.json()


def test_workbench_filters_by_status_and_institution_through_htmx(page_as, site, shot):
    page = page_as("supervisor")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="审核疑点工作台").click()
    page.wait_for_url(site.url + "/findings")
    everything = api_findings(site)
    assert page.locator("#total").inner_text() == str(everything["total"])
    assert page.locator("#findings-table tbody tr").count() == min(50, everything["total"])
    shot(page, "审核疑点工作台")
    h2 = site.institutions[site.users["hospital2"]]
    page.get_by_label("机构", exact=True).select_option(h2)
    page.get_by_label("状态", exact=True).select_option("open")
    with page.expect_response(lambda r: "/findings?" in r.url and r.request.headers.get("hx-request") == "true"):
        page.get_by_role("button", name="筛选").click()
    expected = api_findings(site, institution_id=h2, status="open")
    page.wait_for_function(f"document.querySelector('#total').innerText === '{expected['total']}'")
    assert f"institution_id={h2}" in page.url and "status=open" in page.url  # the filters are in the address
    cells = page.locator("#findings-table tbody tr td:nth-child(3)").all_inner_texts()
    assert cells and all(c.startswith(h2) for c in cells)
    ids = page.locator("#findings-table tbody input[name=finding_ids]").evaluate_all("e => e.map(x => x.value)")
    assert ids == [f["finding_id"] for f in expected["findings"]]
    page.get_by_label("金额下限（元）").fill("abc")
    page.get_by_role("button", name="筛选").click()
    page.wait_for_timeout(300)
    assert page.evaluate(LABELLED_JS) == []


def test_paging_shows_fifty_a_page(page_as, site):
    page = page_as("agency")
    total = api_findings(site, role="agency")["total"]
    page.goto(site.url + "/findings")
    if total <= 50:
        assert page.get_by_role("link", name="下一页").count() == 0
        return
    page.get_by_role("link", name="下一页").click()
    page.wait_for_url(re.compile(r".*page=2"))
    second = api_findings(site, role="agency", limit=50, offset=50)["findings"]
    assert page.locator("#findings-table tbody tr td:first-child a").all_inner_texts() == \
        [f["finding_id"] for f in second]


def test_keyboard_alone_reaches_filters_rows_and_the_bulk_form(page_as, site):
    page = page_as("supervisor")
    page.goto(site.url + "/findings")
    seen = []
    for _ in range(400):  # 3 stops a row (checkbox, finding, case), 50 rows a page
        page.keyboard.press("Tab")
        seen.append(page.evaluate("() => document.activeElement.id || document.activeElement.textContent.trim()"))
        if seen[-1] == "批量决定":
            break
    order = ["f-institution", "f-dept", "f-staff", "f-rule", "f-status", "f-min", "f-max", "筛选", "select-all",
             "b-decision", "b-reason", "批量决定"]
    pos = [seen.index(x) for x in order]
    assert pos == sorted(pos), seen
    first_row = next(x for x in seen if str(x).startswith("sel-F"))
    assert pos[order.index("select-all")] < seen.index(first_row) < pos[order.index("b-decision")]
    # and filtering with the keyboard only: focus the status, choose with the arrow key, Enter on 筛选
    page.focus("#f-status")
    page.keyboard.press("ArrowDown")  # 全部状态 → 初审待处理
    page.focus("button.primary >> text=筛选")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*status=open"))
    assert page.locator("#findings-table tbody .status").all_inner_texts() == \
        ["初审待处理"] * page.locator("#findings-table tbody .status").count()


def test_bulk_decision_with_one_reason(page_as, site, shot):
    page = page_as("supervisor")
    h2 = site.institutions[site.users["hospital2"]]
    page.goto(f"{site.url}/findings")
    page.get_by_label("机构", exact=True).select_option(h2)   # filtered through htmx, not a page load
    page.get_by_label("状态", exact=True).select_option("open")
    page.get_by_role("button", name="筛选").click()
    page.wait_for_url(re.compile(r".*status=open"))
    page.wait_for_function("[...document.querySelectorAll('#findings-table tbody tr td:nth-child(3)')]"
                           f".every(td => td.innerText.startsWith('{h2}'))")
    boxes = page.locator("#findings-table tbody input[name=finding_ids]")
    chosen = boxes.evaluate_all("e => e.slice(0, 2).map(x => x.value)")
    assert len(chosen) == 2
    for fid in chosen:
        page.get_by_label(f"选择疑点 {fid}").check()
    page.get_by_label("复审决定", exact=True).select_option("upheld")
    page.get_by_label("复审理由", exact=True).fill("证据充分，批量维持初审")
    shot(page, "批量复审决定")
    page.get_by_role("button", name="批量决定").click()
    page.wait_for_url(re.compile(r".*done=2"))
    assert f"institution_id={h2}" in page.url  # back to the filters shown when deciding
    assert "已处理 2 条疑点" in page.get_by_role("status").inner_text()
    after = {f["finding_id"]: f["status"] for f in api_findings(site, institution_id=h2)["findings"]}
    assert [after[f] for f in chosen] == ["upheld", "upheld"]


def test_excel_export_masks_personal_data_by_default(page_as, site):
    page = page_as("agency")
    page.goto(site.url + "/findings")
    with page.expect_download() as dl:
        page.get_by_role("link", name="导出 Excel（个人信息脱敏）").click()
    wb = load_workbook(io.BytesIO(Path(dl.value.path()).read_bytes()))
    ws = wb["审核疑点"]
    rows = list(ws.iter_rows(values_only=True))
    header = next(i for i, r in enumerate(rows) if r[0] == "疑点编号")
    assert rows[header][:6] == ("疑点编号", "机构编码", "机构名称", "病例号", "参保人姓名", "身份证号")
    body = [r for r in rows[header + 1:] if r[0] and r[0] != "合计"]
    assert len(body) == api_findings(site, role="agency")["total"]
    ids = [r[5] for r in body if r[5]]
    assert ids and all(re.fullmatch(r".{6}\*+.{4}", i) for i in ids)  # 身份证号 masked
    assert page.get_by_role("link", name=re.compile("明文")).count() == 0  # agency may not export in clear
