"""Dashboards (数据看板): the JSON numbers checked by hand on the tiny region, roles and institutions."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from yibao.server.app import Settings, create_app

from .conftest import PASSWORD, ROLE_USER


@pytest.fixture
def client(store, workspace):
    with TestClient(create_app(Settings(store=store, workspace=workspace))) as c:
        yield c


def bearer(client, role: str, user: str | None = None) -> dict:
    r = client.post("/api/login", json={"username": user or ROLE_USER[role], "password": PASSWORD})
    return {"Authorization": "Bearer " + r.json()["token"]}


def budget_policy(workspace: Path, tmp: Path) -> Decimal:
    """A budget policy for 2024 beside the workspace (a generated region's, year changed); returns the resident
    scheme's outpatient pooling (its outpatient pot)."""
    import tomllib

    from yibao.synth import generate

    generate(tmp / "gen", seed=1, cases=100)
    text = (tmp / "gen" / "budget_policy.toml").read_text(encoding="utf-8")
    (workspace / "budget_policy.toml").write_text(re.sub(r"^year = \d+", "year = 2024", text, flags=re.M),
                                                  encoding="utf-8")
    return Decimal(tomllib.loads(text)["fund"]["resident"]["outpatient_pooling"])


def test_region_use_budget_and_findings_by_hand(client, workspace, tmp_path):
    pot = budget_policy(workspace, tmp_path)
    d = client.get("/api/dashboards/region", headers=bearer(client, "agency")).json()
    assert d["year"] == 2024 and d["years"] == [2024]
    pots = {p["pot"]: p for p in d["pots"]}
    # C0001 employee inpatient settled 2024-03-08, fund 9000.25; C0002 resident outpatient 2024-04-02, 75.00;
    # C0003 resident inpatient 2024-05-22, 16000.00
    emp = pots["employee.inpatient"]
    assert emp["used"] == "9000.25" and emp["months"][2]["used"] == "9000.25" and emp["months"][1]["used"] == "0.00"
    assert emp["months"][11]["cumulative_used"] == "9000.25"
    out = pots["resident.outpatient"]
    assert out["used"] == "75.00" and out["months"][3]["used"] == "75.00" and out["months"][3]["cases"] == 1
    assert out["budget"] == f"{pot:.2f}" and out["balance"] == f"{pot - Decimal('75.00'):.2f}"
    assert out["months"][5]["cumulative_budget"] == f"{pot * 6 / 12:.2f}"  # the pot × 6 / 12 by June
    assert pots["resident.inpatient"]["months"][4]["used"] == "16000.00"
    # findings of the recorded run: L05 on C0001 (200.00, H001) and on C0002 (3.75, H002)
    rules = {r["rule_id"]: r for r in d["findings_by_rule"]}
    assert rules["L05"]["findings"] == 2 and rules["L05"]["reject_amount"] == "203.75"
    assert rules["L05"]["by_status"] == {"open": 2}
    # by institution: the same findings as the findings list, summed by hand
    allf = client.get("/api/findings", headers=bearer(client, "agency")).json()["findings"]
    for r in d["findings_by_institution"]:
        mine = [f for f in allf if f["institution_id"] == r["institution_id"]]
        assert r["findings"] == len(mine)
        assert Decimal(r["reject_amount"]) == sum((Decimal(f["amount"]) for f in mine if f["severity"] == "reject"),
                                                  Decimal("0.00"))
    assert {r["institution_id"]: r["name"] for r in d["findings_by_institution"]}["H002"] == "市中医院"
    assert any("DIP 结算结果" in n for n in d["notes"])  # no dip settle output: said, not invented


def test_without_a_budget_policy_only_the_use_is_shown(client):
    d = client.get("/api/dashboards/region", headers=bearer(client, "supervisor")).json()
    assert all(p["budget"] is None and p["balance"] is None for p in d["pots"])
    assert any("未找到总额控制政策文件" in n for n in d["notes"])


def test_institution_dashboard_is_the_hospitals_own(client):
    h = bearer(client, "hospital")  # hosp1 of H001
    d = client.get("/api/dashboards/institution/H001", headers=h).json()
    assert d["name"] == "市第一人民医院" and d["year"] == 2024
    assert d["months"][2] == {"month": 3, "cases": 1, "total_cost": "12000.50", "fund_paid": "9000.25",
                              "inpatient_cases": 1}
    assert d["months"][4]["fund_paid"] == "16000.00"  # C0003 in May
    assert {r["rule_id"] for r in d["findings_by_rule"]} >= {"L05"}
    assert client.get("/api/dashboards/institution/H002", headers=h).status_code == 404
    assert client.get("/api/dashboards/region", headers=h).status_code == 403
    assert client.get("/api/dashboards/institution/NOPE", headers=bearer(client, "agency")).status_code == 404


def test_dashboard_pages_and_their_json(client):
    page = client.get("/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"username": ROLE_USER["hospital"], "password": PASSWORD, "csrf": nonce})
    assert client.get("/dash").status_code == 403
    p = client.get("/dash/institution")
    assert p.status_code == 200 and 'value="H001" readonly' in p.text and "/static/vendor/echarts.min.js" in p.text
    assert client.get("/dash/institution?institution_id=H002").status_code == 404
    assert client.get("/dash/institution.json?institution_id=H002").status_code == 404
    j = client.get("/dash/institution.json").json()
    assert j["institution_id"] == "H001"


def test_region_dashboard_shows_the_fund_months_and_warnings(client):
    """基金运行监测 on the dashboard: twelve months per scheme of the year; the tiny region has no ledger, so the
    months covered are blank and the note says why (the figures themselves are tested in tests/fund)."""
    d = client.get("/api/dashboards/region", headers=bearer(client, "agency")).json()
    fund = d["fund"]
    assert {m["month"] for m in fund["months"]} == {f"2024-{k:02d}" for k in range(1, 13)}
    march = [m for m in fund["months"] if m["month"] == "2024-03" and m["scheme_zh"] == "职工"]
    assert march and march[0]["expenditure"] == "9000.25" and march[0]["months_covered"] is None
    assert any("没有基金收支流水" in n for n in d["notes"])
