"""The hospital's own view in a real browser: DIP and DRG groups with names, points and weights, profit or loss
per case, department and doctor — checked against the files ``dip score`` and ``drg settle`` wrote."""

from __future__ import annotations

import csv
import json
from decimal import ROUND_HALF_UP, Decimal

import pyarrow.parquet as pq
import pytest

Q2 = Decimal("0.01")


def money(text: str) -> Decimal:
    return Decimal(text.replace(",", "")) if text.strip() else None


@pytest.fixture
def paid(site):
    if not site.has_payment:
        pytest.skip("CHS-DRG standards absent: no DIP/DRG results for the hospital's view")
    return site


def test_dip_cases_with_group_names_points_and_profit(page_as, paid, shot):
    site = paid
    me = site.institutions[site.users["hospital"]]
    scored = pq.read_table(site.workspace / "results" / "dip" / "scored_cases.parquet").to_pylist()
    page = page_as("hospital")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="本院病例与盈亏").click()
    year = int(page.get_by_label("结算年度").input_value())
    mine = [r for r in scored if r["institution_id"] == me and r["settle_year"] == year]
    shot(page, "本院病例-DIP")
    rows = page.locator("#hospital-cases tbody tr")
    assert rows.count() == min(50, len(mine))
    first = rows.nth(0).locator("td").all_inner_texts()
    case = next(r for r in mine if r["case_id"] == first[0])
    # the point value: the year's `dip settle` when it was run (the dashboards' tests run it; no clearing is
    # issued here), else by hand Σ fund_paid ÷ Σ points of the region's scored cases, same scheme and year
    summary = site.workspace / "results" / "dip-settle" / "summary.json"
    settled = json.loads(summary.read_text(encoding="utf-8")) if summary.exists() else {}
    dip = (settled.get("schemes", {}).get(case["scheme"]) or {}).get("dip") if settled.get("year") == year else None
    pv_text = page.locator("#point-values").inner_text()
    if dip:
        pv = Decimal(dip["settlement_point_value"])
        assert "年度结算点值" in pv_text and "尚未签发" in pv_text and dip["convention"] == "fund"
    else:
        same = [r for r in scored if r["scheme"] == case["scheme"] and r["settle_year"] == year
                and r["points"] is not None]
        pv = sum(r["fund_paid"] for r in same) / sum(r["points"] for r in same)
        assert "估算点值" in pv_text and "点值为估算" in pv_text
    if case["points"] is not None:
        pay = (case["points"] * pv).quantize(Q2, ROUND_HALF_UP)
        assert money(first[9]) == pay
        assert money(first[10]) == pay - case["fund_paid"]
        assert first[2] and first[2] != "名称不可得"  # a DIP group name from the CHS-DRG dictionaries
        assert "分值" in first[11]                       # the explanation of the points
    # the cases are listed from the largest loss up
    profits = [money(t) for t in page.locator("#hospital-cases tbody tr td:nth-child(11)").all_inner_texts()]
    known = [p for p in profits if p is not None]
    assert known == sorted(known)
    # by department: every case counted once
    dept_cases = page.locator("section[aria-labelledby=h-dept] tbody tr td:nth-child(2)").all_inner_texts()
    assert sum(int(x) for x in dept_cases) == len(mine)


def test_drg_cases_with_group_names_weights_and_profit(page_as, paid, shot):
    site = paid
    me = site.institutions[site.users["hospital"]]
    with (site.workspace / "results" / "drg" / "cases.csv").open(encoding="utf-8-sig", newline="") as fh:
        drg = [r for r in csv.DictReader(fh) if r["机构编码"] == me]
    with (site.workspace / "results" / "drg" / "base_rates.csv").open(encoding="utf-8-sig", newline="") as fh:
        rates = {r["险种"]: r["费率（元/权重）"] for r in csv.DictReader(fh) if r["费率类型"] == "结算费率"}
    page = page_as("hospital")
    page.goto(site.url + "/hospital?scheme=drg")
    shot(page, "本院病例-DRG")
    year = page.get_by_label("结算年度").input_value()
    mine = {r["病例号"]: r for r in drg if r["结算年度"] == year}
    rows = page.locator("#hospital-cases tbody tr")
    assert rows.count() == min(50, len(mine))
    checked = 0
    for i in range(rows.count()):
        t = rows.nth(i).locator("td").all_inner_texts()
        r = mine[t[0]]
        assert t[2] == r["DRG 名称"]
        if r["结算方式"] == "按 DRG" and rates.get(r["险种"]):
            pay = (Decimal(r["病例权重"]) * Decimal(rates[r["险种"]])).quantize(Q2, ROUND_HALF_UP)
            assert money(t[9]) == pay and money(t[10]) == pay - Decimal(r["统筹基金记账"])
            checked += 1
        elif r["结算方式"] == "按项目":
            assert money(t[10]) == 0
    assert checked or not any(r["结算方式"] == "按 DRG" for r in mine.values())


def test_case_page_shows_lines_findings_evidence_basis_and_masks_for_the_auditor(page_as, site, shot):
    f = site.api("supervisor", "/api/findings").json()["findings"]
    f = next(x for x in f if x["line_no"] is not None and x["severity"] == "reject" and x["setting"] == "inpatient")
    sup = page_as("supervisor")
    sup.goto(f"{site.url}/cases/{f['case_id']}")
    if site.has_payment:  # the DRG grouping trail appears once the server has read the standards
        for _ in range(90):
            if sup.locator("pre.trail").count():
                break
            assert "正在准备" in sup.locator("#trail-note").inner_text()
            sup.wait_for_timeout(1000)
            sup.reload()
        assert "分组" in sup.locator("pre.trail").inner_text()
        assert sup.locator("pre.trail").inner_text().startswith(f"病例 {f['case_id']}")
    shot(sup, "病例")
    text = sup.locator("main").inner_text()
    assert f["message"] in text and "依据：" in text and f["rule_id"] in text
    case = site.api("supervisor", f"/api/cases/{f['case_id']}").json()
    assert case["person_id_number"] in text  # a supervisor sees it in clear
    assert sup.locator("tr.flagged").count() >= 1
    aud = page_as("auditor")
    aud.goto(f"{site.url}/cases/{f['case_id']}")
    text = aud.locator("main").inner_text()
    assert case["person_id_number"] not in text and case["person_id_number"][:6] + "*" in text
    assert "已脱敏" in text
