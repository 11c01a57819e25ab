"""The demo region of ``yibao synth --out-of-area`` end to end through the commands: the booking-error rule's
recall and precision on the generator's labels, the filings findings, the three refused and the approved claims,
the balanced clearing statements and the budget figures."""

from __future__ import annotations

import csv
from decimal import Decimal as D

import pytest
from conftest import run_cli


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    base = tmp_path_factory.mktemp("oa")
    region, ws = base / "region", base / "ws"
    r = run_cli("synth", "--out", region, "--seed", "7", "--cases", "3000", "--out-of-area")
    assert r.returncode == 0, r.stderr
    r = run_cli("load", region, "--workspace", ws)
    assert r.returncode == 0, r.stderr
    return base, region, ws


def rows(path):
    with open(path, encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def test_booking_errors_are_all_found_and_nothing_else(demo):
    base, region, ws = demo
    labels = {r["case_id"]: r for r in rows(region / "benefit_labels.csv")}
    assert len(labels) >= 6
    flagged = set()
    for year in (2023, 2024, 2025):
        out = base / f"b{year}"
        r = run_cli("benefit", "compute", "-w", ws, "--out", out, "--year", year, "--policy",
                    region / "benefit_policy.toml", "--catalog", f"440100={region / 'catalogs' / '440100.csv'}",
                    "--labels", region / "benefit_labels.csv")
        assert r.returncode == 0, r.stderr
        f = rows(out / "findings.csv")
        flagged |= {x["case_id"] for x in f}
        for x in f:
            lab = labels[x["case_id"]]
            assert D(x["amount"]) == abs(D(lab["booked"]) - D(lab["correct"]))
            assert x["severity"] == ("reject" if lab["pattern"] == "fund_overbooked" else "warn")
            assert f"统筹基金记账 {lab['booked']} 元，按待遇政策计算应为 {lab['correct']} 元" in x["message"]
    # recall 1 and precision 1 over the three years (labels of cases settled in 2026 are outside every year)
    settled_2026 = {r["case_id"] for r in rows(region / "cases.csv") if r["settle_date"] >= "2026"}
    assert flagged == set(labels) - settled_2026


def test_claims_filings_and_clearing(demo):
    base, region, ws = demo
    out = base / "oa2025"
    r = run_cli("outarea", "check", "-w", ws, "--out", out, "--year", "2025", "--policy",
                region / "benefit_policy.toml", "--catalog", f"440100={region / 'catalogs' / '440100.csv'}")
    assert r.returncode == 0, r.stderr
    claims = {c["claim_id"]: c for c in rows(out / "claims.csv")}
    assert [c["decision"] for c in claims.values()] == ["approved"] * 3 + ["refused"] * 3
    assert claims["LX00004"]["reason"].startswith("不予报销：超过申报期限")
    assert claims["LX00005"]["reason"] == "不予报销：资料不全，缺少：医疗收费票据"
    assert claims["LX00006"]["reason"].startswith("不予报销：没有覆盖就医地")
    ok = claims["LX00001"]
    assert D(ok["fund_reimbursed"]) > 0 and D(ok["fund_reimbursed"]) + D(ok["paid_by_person"]) == D(ok["total_cost"])
    assert ok["computation"].startswith("政策范围内费用 ") and f"= {ok['fund_reimbursed']} 元" in ok["computation"]
    assert {f["rule_id"] for f in rows(out / "findings.csv")} == {"O01", "O02"}
    # every month's statement: the regions' lines add up to the total line, to the fen
    months = sorted((out / "clearing").glob("*.csv"))
    assert months
    for m in months:
        with open(m, encoding="utf-8-sig") as fh:
            body = list(csv.reader(fh))[1:]
        lines, total = body[:-1], body[-1]
        assert total[1] == "合计"
        for col in (3, 4, 6, 7):
            assert sum(D(x[col]) for x in lines) == D(total[col])
        assert D(total[4]) - D(total[6]) == D(total[7])
    assert "不计入本地总额预算" in r.stdout


def test_budget_figures_from_the_year_before(demo, tmp_path):
    base, region, ws = demo
    src = tmp_path / "budget.toml"
    src.write_text('year = 2025\n\n[fund.employee]\ncontributions = "1000.00"\nout_of_area_manual = "9.99"\n\n'
                   '[fund.resident]\ncontributions = "500.00"\n', encoding="utf-8")
    r = run_cli("outarea", "budget-figures", "-w", ws, "--year", "2024", "--policy", region / "benefit_policy.toml",
                "--into", src, "--out", tmp_path / "new.toml")
    assert r.returncode == 0, r.stderr
    import tomllib
    new = tomllib.loads((tmp_path / "new.toml").read_text(encoding="utf-8"))
    assert new["fund"]["employee"]["out_of_area_manual"] == "9.99"
    # out_of_area_realtime = Σ fund_paid of our insured's cases elsewhere settled in 2024
    outb = base / "oa2024"
    assert run_cli("outarea", "check", "-w", ws, "--out", outb, "--year", "2024", "--policy",
                   region / "benefit_policy.toml").returncode == 0
    by_scheme = {"employee": D(0), "resident": D(0)}
    for x in rows(outb / "outbound.csv"):
        by_scheme[x["scheme"]] += D(x["fund_paid"])
    assert D(new["fund"]["employee"]["out_of_area_realtime"]) == by_scheme["employee"]
    assert D(new["fund"]["resident"]["out_of_area_realtime"]) == by_scheme["resident"]


def test_the_agency_decides_a_claim_on_its_page_and_the_decision_is_stored(demo):
    import re

    from fastapi.testclient import TestClient

    from yibao.server.app import Settings, create_app
    from yibao.store import audit
    from yibao.store import claim_decisions as cd
    from yibao.store.db import open_store
    from yibao.store.users import add_user

    base, region, ws = demo
    with open_store(ws) as st, TestClient(create_app(Settings(store=st, workspace=ws))) as c:
        for name, role in (("agency1", "agency"), ("super1", "supervisor")):
            add_user(st, name, role, "correct-horse-1", None, actor="test")

        def login(name):
            c.cookies.clear()
            nonce = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
            c.post("/login", data={"username": name, "password": "correct-horse-1", "csrf": nonce})
            return re.search(r'name="csrf" value="([^"]+)"', c.get("/").text).group(1)

        csrf = login("agency1")
        page = c.get("/outarea/claims/LX00001?year=2025").text
        assert "尚未作出审核决定" in page and 'id="decide"' in page
        computed = re.search(r"统筹基金支付 <strong>([0-9.,]+)</strong> 元", page).group(1).replace(",", "")
        r = c.post("/outarea/claims/LX00001/decision?year=2025", data={"csrf": csrf, "decision": "approved",
                                                                       "reason": ""}, follow_redirects=False)
        assert r.status_code == 303
        page = c.get("/outarea/claims/LX00001?year=2025").text
        standing = re.search(r'<p id="standing"[^>]*>(.*?)</p>', page, re.S).group(1)
        assert "予以报销" in standing and f"统筹基金支付 {computed} 元" in standing and "agency1 于 " in standing
        # the late claim: refused with the reason; an approval of it is refused (the rules give no payment)
        r = c.post("/outarea/claims/LX00004/decision?year=2025", data={"csrf": csrf, "decision": "approved"})
        assert r.status_code == 422 and "不能予以报销" in r.text
        r = c.post("/outarea/claims/LX00004/decision?year=2025", data={"csrf": csrf, "decision": "refused",
                                                                       "reason": "超过申报期限"}, follow_redirects=False)
        assert r.status_code == 303
        (d,) = cd.decisions(st, "LX00004")
        assert (d["decision_zh"], d["reason"], d["fund_reimbursed"], d["actor"]) == ("不予报销", "超过申报期限", "0.00",
                                                                                     "agency1")
        assert d["computed_reason"].startswith("不予报销：超过申报期限")
        assert c.post("/outarea/claims/LX00004/decision?year=2025",
                      data={"csrf": "forged", "decision": "refused", "reason": "x"}).status_code == 403
        # the supervisor reads the decision, has no form and may not decide
        csrf = login("super1")
        page = c.get("/outarea/claims/LX00001?year=2025").text
        assert "予以报销" in page and 'id="decide"' not in page
        assert c.post("/outarea/claims/LX00001/decision?year=2025",
                      data={"csrf": csrf, "decision": "refused", "reason": "x"}).status_code == 403
        assert [e["action"] for e in audit.events(st, 20) if e["action"].startswith("outarea.")] == [
            "outarea.claim_refused", "outarea.claim_approved"]
        assert audit.verify(st).ok
