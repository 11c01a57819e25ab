"""Fraud leads in the store (SQLite and PostgreSQL): a ``yibao leads --out`` directory imported once, outcomes
待核查 → 已检查 → 查实 / 未查实 with date, actor and note, the hit rate (查实率 = confirmed ÷ inspected), the role
matrix over HTTP (supervisor and agency; hospital 404; admin and auditor 403) and the audit chain."""

from __future__ import annotations

import csv
import re

import pytest
from fastapi.testclient import TestClient

from yibao.server.app import Settings, create_app
from yibao.store import audit
from yibao.store import leads as st
from yibao.store.users import ROLES

from .conftest import PASSWORD, ROLE_USER


def _w(path, header, rows):
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def leads_dir(tmp_path):
    """What yibao leads --out writes, for two institutions and one doctor of the tiny region."""
    d = tmp_path / "leads_out"
    d.mkdir()
    _w(d / "leads.csv", ["rank", "level", "institution_id", "staff_id", "score", "reasons"], [
        [1, "institution", "H001", "", "0.8134", "病种调整平均住院日 15.4 天，同类机构中位数 9.4 天（稳健Z值 10.0）。"],
        [2, "institution", "H002", "", "0.4000", "各项特征均不高于同类机构中位数（仅孤立森林异常度 0.50）。"],
        [1, "doctor", "H001", "D440203000001", "0.7000", "15 日内同机构再入院率 20.0%，同科室医师中位数 1.0%（稳健Z值 5.0）。"]])
    _w(d / "leads_features.csv", ["level", "institution_id", "staff_id", "peer_group", "cases", "feature", "feature_zh",
                                  "value", "peer_median", "robust_z"], [
        ["institution", "H001", "", "hospital/3", "2", "los_days_adj", "病种调整平均住院日", "15.4", "9.4", "10.0"],
        ["institution", "H002", "", "hospital/2", "1", "los_days_adj", "病种调整平均住院日", "9.0", "9.4", "-0.2"],
        ["doctor", "H001", "D440203000001", "hospital/0301", "1", "readmit15_share", "15 日内同机构再入院率", "0.2",
         "0.01", "5.0"]])
    _w(d / "leads_cases.csv", ["level", "rank", "institution_id", "staff_id", "case_id", "person_id", "setting",
                               "dept_code", "dx_category", "admit_date", "discharge_date", "los", "expected_los", "drg",
                               "total_cost", "expected_cost", "multi_dx", "readmit15", "offday_admission", "findings"], [
        ["institution", "1", "H001", "", "C0001", "P0001", "inpatient", "0301", "J18", "2024-03-01", "2024-03-16", "15",
         "9.4", "", "8000.00", "6000.00", "否", "否", "否", ""]])
    return d


def test_import_once_outcomes_hit_rate_and_audit(store, tmp_path):
    d = leads_dir(tmp_path)
    rid, n, new = st.import_run(store, d, 2024, actor="super1", role="supervisor")
    assert (n, new) == (3, True) and rid.startswith("L")
    assert st.import_run(store, d, 2024, actor="super1")[1:] == (3, False)  # the same directory again: nothing new
    shown, rows = st.list_leads(store, year=2024)
    assert shown == rid and [(r["level"], r["rank"], r["institution_id"]) for r in rows] == [
        ("institution", 1, "H001"), ("institution", 2, "H002"), ("doctor", 1, "H001")]
    assert all(r["status_zh"] == "待核查" for r in rows)
    h001, h002, doc = (r["lead_id"] for r in rows)
    lead = st.get_lead(store, h001)
    assert lead["evidence"]["features"][0] == {"feature": "los_days_adj", "feature_zh": "病种调整平均住院日",
                                               "value": "15.4", "peer_median": "9.4", "robust_z": "10.0",
                                               "peer_group": "hospital/3", "cases": "2"}
    assert [c["case_id"] for c in lead["evidence"]["cases"]] == ["C0001"]
    assert st.get_lead(store, doc)["evidence"]["cases"] == []  # its rank's cases were not listed for doctors here
    st.record_outcome(store, h001, "inspected", "2025-03-01", "飞行检查进驻", actor="super1", role="supervisor")
    done = st.record_outcome(store, h001, "confirmed", "2025-03-05", "查实挂床住院 12 例", actor="super1",
                             role="supervisor")
    assert done["status_zh"] == "查实" and done["status_on"] == "2025-03-05" and done["status_by"] == "super1"
    assert [h["status_zh"] for h in done["history"]] == ["已检查", "查实"]
    st.record_outcome(store, h002, "not_confirmed", "2025-03-06", "未发现问题", actor="agency1", role="agency")
    with pytest.raises(st.LeadRefused) as e:
        st.record_outcome(store, h002, "confirmed", "2025-03-07", "改判", actor="agency1", role="agency")
    assert e.value.status == 409  # a concluded lead stays concluded
    with pytest.raises(st.LeadRefused) as e:
        st.record_outcome(store, doc, "confirmed", "2025-13-01", "x", actor="agency1", role="agency")
    assert e.value.status == 422
    rate = st.hit_rate(store, rid)
    # 3 leads; inspected: H001 (confirmed) and H002 (not confirmed) → 查实率 1 / 2
    assert (rate["leads"], rate["inspected_total"], rate["confirmed"], rate["pending"], rate["rate"]) == (
        3, 2, 1, 1, "50.0%")
    assert rate["by_level"]["doctor"]["rate"] is None
    actions = [x["action"] for x in audit.events(store, 10)]
    assert actions[:4] == ["leads.not_confirmed", "leads.confirmed", "leads.inspected", "leads.import"]
    assert audit.verify(store).ok


A, G, S, H, U = ROLES


def test_role_matrix_over_http_and_the_pages(store, workspace, tmp_path):
    d = leads_dir(tmp_path)
    app = create_app(Settings(store=store, workspace=workspace))
    with TestClient(app) as c:
        def h(role):
            t = c.post("/api/login", json={"username": ROLE_USER[role], "password": PASSWORD}).json()["token"]
            return {"Authorization": f"Bearer {t}"}

        heads = {role: h(role) for role in ROLES}
        for role, code in ((H, 404), (A, 403), (U, 403)):
            r = c.post("/api/leads/import", json={"dir": str(d), "year": 2024}, headers=heads[role])
            assert r.status_code == code and set(r.json()["error"]) == {"code", "message"}, (role, r.text)
        r = c.post("/api/leads/import", json={"dir": str(d), "year": 2024}, headers=heads[G])
        assert r.status_code == 200 and r.json()["leads"] == 3 and r.json()["new"]
        r = c.post("/api/leads/import", json={"dir": str(tmp_path), "year": 2024}, headers=heads[G])
        assert r.status_code == 422 and "leads.csv" in r.json()["error"]["message"]
        listed = c.get("/api/leads?year=2024", headers=heads[S]).json()
        assert len(listed["leads"]) == 3 and listed["hit_rate"]["rate"] is None
        lid = listed["leads"][0]["lead_id"]
        for role, code in ((H, 404), (A, 403), (U, 403)):
            assert c.get("/api/leads?year=2024", headers=heads[role]).status_code == code
            assert c.get(f"/api/leads/{lid}", headers=heads[role]).status_code == code
            assert c.post(f"/api/leads/{lid}/outcome", json={"status": "confirmed", "on_date": "2025-03-01",
                                                             "note": "x"}, headers=heads[role]).status_code == code
        r = c.post(f"/api/leads/{lid}/outcome", json={"status": "confirmed", "on_date": "2025-03-01",
                                                       "note": "查实"}, headers=heads[S])
        assert r.status_code == 200 and r.json()["status"] == "confirmed"
        r = c.post(f"/api/leads/{lid}/outcome", json={"status": "inspected", "on_date": "2025-03-02",
                                                       "note": "再"}, headers=heads[S])
        assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
        assert c.get("/api/leads/LDNOSUCH", headers=heads[S]).status_code == 404
        assert c.get("/api/leads").status_code == 401
        # the pages: a cookie session per role
        def login(role):
            c.cookies.clear()
            nonce = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
            c.post("/login", data={"username": ROLE_USER[role], "password": PASSWORD, "csrf": nonce})
            return re.search(r'name="csrf" value="([^"]+)"', c.get("/").text).group(1)

        def page(role, path):
            login(role)
            return c.get(path, follow_redirects=False)

        r = page(S, "/leads?year=2024")
        assert r.status_code == 200 and "飞行检查线索" in r.text
        assert "3 条线索，已检查 1 条，查实 1 条" in r.text and "查实率 100.0%" in r.text
        assert f'href="/leads/{lid}"' in r.text
        r = page(G, f"/leads/{lid}")
        assert r.status_code == 200 and 'href="/cases/C0001"' in r.text and "病种调整平均住院日" in r.text
        assert "查实" in r.text and "outcome-form" not in r.text  # concluded: no form
        assert page(H, "/leads").status_code == 404 and page(H, f"/leads/{lid}").status_code == 404
        assert page(A, "/leads").status_code == 403
        assert 'href="/leads"' not in page(H, "/").text and 'href="/leads"' in page(S, "/").text
        # an outcome through the page's form (the doctor lead, still 待核查)
        doc = next(x["lead_id"] for x in listed["leads"] if x["level"] == "doctor")
        csrf = login(G)
        assert 'id="outcome-form"' in c.get(f"/leads/{doc}").text
        r = c.post(f"/leads/{doc}/outcome", data={"csrf": csrf, "status": "inspected", "on_date": "2025-04-01",
                                                  "note": "约谈医师"}, follow_redirects=False)
        assert r.status_code == 303
        r = c.get(f"/leads/{doc}")
        assert "已检查" in r.text and "约谈医师" in r.text and "agency1" in r.text
        r = c.post(f"/leads/{doc}/outcome", data={"csrf": "forged", "status": "confirmed", "on_date": "2025-04-02",
                                                  "note": "x"})
        assert r.status_code == 403
