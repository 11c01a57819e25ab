"""The hospital's side in a real browser: another hospital's data is unreachable by URL (404), an appeal filed
in the page with an attachment, decided by a supervisor in the page, changes the deductions of the next
settlement (``/api/deductions`` and the DEDUCTIONS file that ``dip settle``/``drg settle`` read)."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

from browser.conftest import cli

LABELLED_JS = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter(e => e.type !== 'hidden')
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
    .map(e => e.outerHTML.slice(0, 120))"""


def findings_of(site, inst, **kw):
    return site.api("supervisor", "/api/findings", institution_id=inst, **kw).json()["findings"]


def test_a_hospital_cannot_reach_another_hospitals_case_finding_or_data_by_url(page_as, site, shot):
    me, other = site.institutions[site.users["hospital"]], site.institutions[site.users["hospital2"]]
    theirs = findings_of(site, other)[0]
    mine = findings_of(site, me)[0]
    page = page_as("hospital")
    r = page.goto(f"{site.url}/cases/{theirs['case_id']}")
    assert r.status == 404 and "未找到病例" in page.get_by_role("alert").inner_text()
    assert theirs["case_id"] in page.content()  # it names what was asked for, nothing about it
    assert other not in page.content()
    shot(page, "错误-未找到")
    for path in (f"/findings/{theirs['finding_id']}", f"/findings/{theirs['finding_id']}/attachments/1"):
        r = page.goto(site.url + path)
        assert r.status == 404, path
        assert other not in page.content()
    # the same URL pattern works for its own case and finding
    assert page.goto(f"{site.url}/cases/{mine['case_id']}").status == 200
    assert page.goto(f"{site.url}/findings/{mine['finding_id']}").status == 200
    # a search for the other institution shows its own findings only (the filter is fixed)
    page.goto(f"{site.url}/findings?institution_id={other}")
    cells = page.locator("#findings-table tbody tr td:nth-child(2)").all_inner_texts()
    assert cells and all(c.startswith(me) for c in cells)
    page.goto(f"{site.url}/hospital?institution_id={other}")
    assert me in page.locator("main h2").first.inner_text() and other not in page.content()
    # downloads: the export has its own rows only
    with page.expect_download() as dl:
        page.goto(site.url + "/findings")
        page.get_by_role("link", name="导出 Excel（个人信息脱敏）").click()
    from openpyxl import load_workbook

    rows = list(load_workbook(io.BytesIO(Path(dl.value.path()).read_bytes()))["审核疑点"].iter_rows(values_only=True))
    insts = {r[1] for r in rows if r[0] and str(r[0]).startswith("F")}
    assert insts == {me}
    # the API says the same: 404 for the other's case and deductions
    h = site.login_api("hospital")
    import httpx

    assert httpx.get(f"{site.url}/api/cases/{theirs['case_id']}", headers=h).status_code == 404
    assert httpx.get(f"{site.url}/api/deductions", params={"institution_id": other, "year": 2024},
                     headers=h).status_code == 404


def test_an_appeal_filed_in_the_page_changes_the_deductions_of_the_next_settlement(page_as, site, shot, tmp_path):
    me = site.institutions[site.users["hospital"]]
    rejects = [f for f in findings_of(site, me, status="open") if f["severity"] == "reject"]
    by_year: dict[tuple, list] = {}
    for f in rejects:
        by_year.setdefault((f["settle_date"][:4], f["setting"]), []).append(f)
    (year, setting), pair = next((k, v) for k, v in sorted(by_year.items()) if len(v) >= 2)
    a, b = pair[0], pair[1]
    year = int(year)
    before = site.api("hospital", "/api/deductions", institution_id=me, year=year).json()

    hosp = page_as("hospital")
    for f, why in ((a, "该收费符合物价规定，附医嘱单"), (b, "实际住院天数与床位费一致，附护理记录")):
        hosp.goto(f"{site.url}/findings/{f['finding_id']}")
        assert "剩" in hosp.locator("dl.facts").inner_text()  # the deadline in working days
        assert hosp.evaluate(LABELLED_JS) == []
        hosp.get_by_label("申诉理由", exact=True).fill(why)
        hosp.get_by_label("附件", exact=True).set_input_files(files=[{"name": "医嘱单.pdf", "mimeType": "application/pdf",
                                                          "buffer": b"%PDF-1.4 test attachment\n"}])
        if f is a:
            shot(hosp, "申诉-填写")
        hosp.get_by_role("button", name="提交申诉").click()
        hosp.wait_for_url(re.compile(r".*done=appeal"))
        assert "已申诉" in hosp.locator(".status").first.inner_text()
        assert hosp.get_by_role("link", name="医嘱单.pdf").count() == 1
    shot(hosp, "申诉-已提交")
    with hosp.expect_download() as dl:
        hosp.get_by_role("link", name="医嘱单.pdf").click()
    assert Path(dl.value.path()).read_bytes() == b"%PDF-1.4 test attachment\n"

    sup = page_as("supervisor")
    for f, decision in ((a, "维持（扣款）"), (b, "撤销（不扣款）")):
        sup.goto(f"{site.url}/findings/{f['finding_id']}")
        assert sup.get_by_role("link", name="医嘱单.pdf").count() == 1  # the supervisor sees the attachment
        sup.get_by_label("决定", exact=True).select_option(label=decision)
        sup.get_by_label("复审理由", exact=True).fill("经复审" + decision[:2])
        if f is b:
            shot(sup, "复审决定")
        sup.get_by_role("button", name="提交复审决定").click()
        sup.wait_for_url(re.compile(r".*done="))
    assert "复审撤销" in sup.locator(".status").first.inner_text()
    shot(sup, "审核疑点-复审撤销")

    after = site.api("hospital", "/api/deductions", institution_id=me, year=year).json()
    amt_a, amt_b = Decimal(a["amount"]), Decimal(b["amount"])
    assert Decimal(after["total"]) == Decimal(before["total"]) - amt_b          # B no longer at stake
    assert Decimal(after["by_status"]["overturned"]) == Decimal(before["by_status"]["overturned"]) + amt_b
    assert Decimal(after["deducted"]) == Decimal(before["deducted"]) + amt_a    # A now deducted
    # the DEDUCTIONS file of the next settlement (what `dip settle --deductions` reads)
    out = tmp_path / "deductions.csv"
    cli("findings", "deductions", "--workspace", str(site.workspace), "--year", str(year), "--out", str(out))
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = {(r["institution_id"], r["setting"]): r for r in csv.DictReader(fh)}
    expected = sum((Decimal(f["amount"]) for f in findings_of(site, me) if f["severity"] == "reject"
                    and f["status"] in ("upheld", "final") and f["settle_date"][:4] == str(year)
                    and f["setting"] == setting), Decimal(0))
    assert amt_a <= expected and Decimal(rows[(me, setting)]["amount"]) == expected
