"""Overrun rectification notices (超总额整改) in the store, on SQLite and PostgreSQL: issued once from
``overrun.csv``, answered by the institution, followed up by the agency; the role matrix; the audit chain."""

from __future__ import annotations

import csv

import pytest
from fastapi.testclient import TestClient

from yibao.server.app import Settings, create_app
from yibao.store import audit
from yibao.store import rectification as rect
from yibao.store.users import ROLES

from .conftest import PASSWORD, ROLE_USER

ROWS = [  # what yibao assess --budget … --issued-on writes (overrun.csv), two institutions
    {"pot": "employee.inpatient", "institution_id": "H001", "name": "市第一人民医院", "overrun": "5600.00",
     "volume_effect": "2000.00", "case_mix_effect": "2400.00", "cost_effect": "1200.00",
     "opinion": "市第一人民医院（H001）职工住院 2025 年超出年度指标 5600.00 元…", "issued_on": "2026-03-02",
     "response_due": "2026-03-17", "follow_up_on": "2026-05-31"},
    {"pot": "resident.inpatient", "institution_id": "H002", "name": "市中医院", "overrun": "10.01",
     "volume_effect": "", "case_mix_effect": "", "cost_effect": "", "opinion": "市中医院（H002）…无法分解原因…",
     "issued_on": "2026-03-02", "response_due": "2026-03-17", "follow_up_on": "2026-05-31"},
]


def _overrun_csv(path):
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(ROWS[0]))
        w.writeheader()
        w.writerows(ROWS)
    return path


def _ids():
    return rect._id(2025, "employee.inpatient", "H001"), rect._id(2025, "resident.inpatient", "H002")


def test_issue_once_answer_follow_up_and_audit(store, tmp_path):
    path = _overrun_csv(tmp_path / "overrun.csv")
    assert rect.issue_file(store, path, 2025, actor="agency1") == (2, 0)
    assert rect.issue_file(store, path, 2025, actor="agency1") == (0, 2)  # the same file again: nothing new
    r1, r2 = _ids()
    rows = {r["rect_id"]: r for r in rect.list_notices(store, year=2025)}
    assert rows[r1]["overrun"] == "5600.00" and rows[r1]["case_mix"] == "2400.00" and rows[r2]["volume"] is None
    assert rows[r1]["status"] == "issued" and rows[r1]["overdue"]  # 2026-03-17 has passed
    with pytest.raises(rect.RectificationRefused) as e:
        rect.follow_up(store, r1, "maybe", "x", actor="agency1", role="agency")
    assert e.value.status == 422
    done = rect.respond(store, r1, "CT 检查增多，已限制无指征检查", actor="hosp1", role="hospital", institution_id="H001")
    assert done["status"] == "responded" and done["responded_by"] == "hosp1"
    with pytest.raises(rect.RectificationRefused) as e:
        rect.respond(store, r1, "again", actor="hosp1", role="hospital", institution_id="H001")
    assert e.value.status == 409
    closed = rect.follow_up(store, r1, "rectified", "复查 6 月数据，检查费用回落", actor="agency1", role="agency")
    assert closed["status"] == "closed" and closed["result_zh"] == "整改到位"
    actions = [e["action"] for e in audit.events(store, 10)]
    assert actions[:4] == ["rectification.follow_up", "rectification.respond", "rectification.issue",
                           "rectification.issue"]
    assert audit.verify(store).ok


A, G, S, H, U = ROLES


def test_role_matrix_over_http(store, workspace, tmp_path):
    rect.issue_file(store, _overrun_csv(tmp_path / "overrun.csv"), 2025, actor="agency1")
    r1, r2 = _ids()
    app = create_app(Settings(store=store, workspace=workspace))
    with TestClient(app) as c:
        def h(role):
            t = c.post("/api/login", json={"username": ROLE_USER[role], "password": PASSWORD}).json()["token"]
            return {"Authorization": f"Bearer {t}"}

        heads = {role: h(role) for role in ROLES}
        listed = {role: c.get("/api/rectifications?year=2025", headers=heads[role]).json()["rectifications"]
                  for role in ROLES}
        assert {r["institution_id"] for r in listed[H]} == {"H001"} and all(len(listed[x]) == 2 for x in (A, G, S, U))
        assert c.get("/api/rectifications?institution_id=H002", headers=heads[H]).json() == {"rectifications": []}
        matrix = [  # (method, path, body, expected status per role), in order on the same store
            ("POST", f"/api/rectifications/{r2}/response", {"text": "原因"}, {A: 403, G: 403, S: 403, H: 404, U: 403}),
            ("POST", f"/api/rectifications/{r1}/follow-up", {"result": "rectified", "note": "n"},
             {A: 403, G: None, S: None, H: 403, U: 403}),
        ]
        for method, path, body, expect in matrix:
            for role in (A, H, U):
                r = c.request(method, path, json=body, headers=heads[role])
                assert r.status_code == expect[role], (path, role, r.text)
                assert set(r.json()["error"]) == {"code", "message"}
        r = c.post(f"/api/rectifications/{r1}/response", json={"text": "已整改"}, headers=heads[H])
        assert r.status_code == 200 and r.json()["status"] == "responded"
        r = c.post(f"/api/rectifications/{r1}/follow-up", json={"result": "not_rectified", "note": "仍偏高"},
                   headers=heads[S])
        assert r.status_code == 200 and r.json()["result"] == "not_rectified"
        r = c.post(f"/api/rectifications/{r1}/follow-up", json={"result": "rectified", "note": "再次"}, headers=heads[G])
        assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
        assert c.get("/api/rectifications").status_code == 401
