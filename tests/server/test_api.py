"""The API in process (FastAPI's test client) on SQLite and PostgreSQL: the role matrix, masking,
audit events, the one error shape, login lockout, the pages' CSRF."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from yibao.server.app import Settings, create_app
from yibao.store.users import LoginPolicy

from .conftest import F_H001_REJECT, F_H001_WARN, F_H002_REJECT, PASSWORD, ROLE_USER

ROLES = ("admin", "agency", "supervisor", "hospital", "auditor")


@pytest.fixture
def client(store, workspace):
    app = create_app(Settings(store=store, workspace=workspace, policy=LoginPolicy(max_failures=3, lock_minutes=15)))
    with TestClient(app) as c:
        yield c


def token(client, username: str, password: str = PASSWORD) -> str:
    r = client.post("/api/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def bearer(client, role: str) -> dict:
    return {"Authorization": "Bearer " + token(client, ROLE_USER[role])}


# The role matrix: every endpoint × every role → the status answered (hospital = hosp1 of H001).
# Rows run in this order for each role, on a fresh store: a row that changes a finding's status is the
# only one a role may do on that finding before the next row (supervisor: open → upheld → final).
A, G, S, H, U = ROLES
MATRIX = [
    ("GET", "/api/health", None, {A: 200, G: 200, S: 200, H: 200, U: 200}),
    ("GET", "/api/cases/C0001", None, {A: 200, G: 200, S: 200, H: 200, U: 200}),                  # H001's case
    ("GET", "/api/cases/C0002", None, {A: 200, G: 200, S: 200, H: 404, U: 200}),                  # H002's case
    ("GET", "/api/cases/NO-SUCH-CASE", None, {A: 404, G: 404, S: 404, H: 404, U: 404}),
    ("GET", "/api/audit?limit=5", None, {A: 200, G: 403, S: 403, H: 403, U: 200}),
    ("GET", "/api/findings", None, {A: 200, G: 200, S: 200, H: 200, U: 200}),
    ("GET", "/api/findings?institution_id=H002", None, {A: 200, G: 200, S: 200, H: 200, U: 200}),  # H: empty
    ("POST", f"/api/findings/{F_H002_REJECT}/appeal", {"reason": "申诉"}, {A: 403, G: 403, S: 403, H: 404, U: 403}),
    ("POST", f"/api/findings/{F_H001_REJECT}/appeal", {"reason": "申诉"}, {A: 403, G: 403, S: 403, H: 200, U: 403}),
    ("POST", f"/api/findings/{F_H001_REJECT}/decision", {"decision": "upheld", "reason": "维持"},
     {A: 403, G: 403, S: 200, H: 403, U: 403}),
    ("POST", f"/api/findings/{F_H001_REJECT}/finalize", {"reason": "终结"}, {A: 403, G: 200, S: 200, H: 403, U: 403}),
    ("POST", "/api/findings/FNOSUCH/decision", {"decision": "upheld", "reason": "r"},
     {A: 403, G: 403, S: 404, H: 403, U: 403}),
    ("GET", "/api/deductions?institution_id=H001&year=2024", None, {A: 200, G: 200, S: 200, H: 200, U: 200}),
    ("GET", "/api/deductions?institution_id=H002&year=2024", None, {A: 200, G: 200, S: 200, H: 404, U: 200}),
    # issue 16: the workbench's filters, investigation, bulk decisions
    ("GET", "/api/findings?rule_id=L05&min_amount=1&limit=1&offset=0", None, {A: 200, G: 200, S: 200, H: 200, U: 200}),
    ("POST", f"/api/findings/{F_H001_WARN}/investigation", {"reason": "调查核实"},
     {A: 403, G: 403, S: 200, H: 403, U: 403}),
    ("POST", "/api/findings/decisions", {"finding_ids": [F_H002_REJECT], "decision": "upheld", "reason": "批量维持"},
     {A: 403, G: 403, S: 200, H: 403, U: 403}),
]


def test_the_matrix_covers_every_api_route_and_role():
    routes = {"/api/health", "/api/cases/", "/api/audit", "/api/findings", "/appeal", "/decision", "/finalize",
              "/api/deductions", "/investigation", "/api/findings/decisions"}
    assert all(any(r in path for _, path, _, _ in MATRIX) for r in routes)
    assert all(set(expect) == set(ROLES) for *_, expect in MATRIX)


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(client, role):
    h = bearer(client, role)
    got = {}
    for method, path, body, expect in MATRIX:
        r = client.request(method, path, headers=h, json=body)
        got[(method, path)] = r.status_code
    assert got == {(m, p): e[role] for m, p, _, e in MATRIX}


@pytest.mark.parametrize("method,path", [(m, p) for m, p, _, _ in MATRIX if p != "/api/health"]
                         + [("GET", "/api/no-such-route"), ("DELETE", "/api/audit")])
def test_every_api_path_but_health_and_login_needs_a_token(client, method, path):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YWRtaW4xOng="}):
        r = client.request(method, path, headers=headers, json={"reason": "x"})
        assert r.status_code == 401, (path, headers)
        assert r.json()["error"]["code"] == "unauthorized"


def test_a_tampered_token_is_refused(client):
    t = token(client, "admin1")
    payload, mac = t.split(".")
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + mac
    assert client.get("/api/findings", headers={"Authorization": "Bearer " + forged}).status_code == 401


def test_hospital_lists_only_its_own_findings(client):
    h = bearer(client, "hospital")
    own = client.get("/api/findings", headers=h).json()["findings"]
    assert {f["institution_id"] for f in own} == {"H001"} and len(own) == 2
    assert client.get("/api/findings?institution_id=H002", headers=h).json() == {"findings": []}
    every = client.get("/api/findings", headers=bearer(client, "agency")).json()["findings"]
    assert len(every) == 3
    f = next(f for f in every if f["finding_id"] == F_H002_REJECT)
    assert {k: f[k] for k in ("case_id", "institution_id", "rule_id", "severity", "amount", "status")} == \
        {"case_id": "C0002", "institution_id": "H002", "rule_id": "L05", "severity": "reject", "amount": "3.75",
         "status": "open"}


def test_case_fields_and_masking_by_role(client):
    clear = client.get("/api/cases/C0001", headers=bearer(client, "admin")).json()
    assert (clear["person_name"], clear["person_id_number"]) == ("张伟", "440203196501012317")
    assert clear["institution_id"] == "H001" and clear["total_cost"] == "12000.50"
    assert clear["secondary_dx"] == "I10.x00|E11.900" and clear["admit_date"] == "2024-03-01"
    from yibao.contract.schema import TABLES
    assert set(TABLES["cases"].column_names) | {"person_name", "person_id_number"} == set(clear)
    for role in ("agency", "supervisor", "hospital"):
        c = client.get("/api/cases/C0001", headers=bearer(client, role)).json()
        assert (c["person_name"], c["person_id_number"]) == ("张伟", "440203196501012317"), role
    m = client.get("/api/cases/C0001", headers=bearer(client, "auditor")).json()
    assert (m["person_name"], m["person_id_number"]) == ("张*", "440203********2317")
    assert {k: v for k, v in m.items() if not k.startswith("person_")} == \
        {k: v for k, v in clear.items() if not k.startswith("person_")}


def test_masking_rules():
    from yibao.contract.privacy import mask_id_number, mask_name

    assert mask_id_number("110101199003070066") == "110101********0066"
    assert mask_name("张三丰") == "张**" and mask_name("张三") == "张*" and mask_name("欧阳") == "欧*"
    assert mask_id_number(None) is None and mask_id_number("12345") == "*****"


def test_audit_events_of_case_reads_and_failed_logins(client):
    client.get("/api/cases/C0002", headers=bearer(client, "hospital"))   # another institution's: 404, audited
    client.get("/api/cases/C0001", headers=bearer(client, "supervisor"))
    assert client.post("/api/login", json={"username": "ghost", "password": "x"}).status_code == 401
    events = client.get("/api/audit?limit=10", headers=bearer(client, "auditor")).json()["events"]
    assert all(set(e) >= {"at", "actor", "action", "object"} for e in events)
    assert events == sorted(events, key=lambda e: e["at"], reverse=True)
    first = [(e["actor"], e["action"]) for e in events[:6]]
    assert first == [("audit1", "login.success"), ("ghost", "login.failure"), ("super1", "case.read"),
                     ("super1", "login.success"), ("hosp1", "case.read.not_found"), ("hosp1", "login.success")]
    assert "C0001" in events[2]["object"] and "C0002" in events[4]["object"]
    # never a name or an id number in the log
    text = str(client.get("/api/audit?limit=1000", headers=bearer(client, "admin")).json())
    assert "张伟" not in text and "440203196501012317" not in text


def test_appeal_and_decision_change_the_deductions(client):
    d = client.get("/api/deductions?institution_id=H001&year=2024", headers=bearer(client, "agency")).json()
    assert (d["institution_id"], d["year"], d["total"]) == ("H001", 2024, "200.00")
    r = client.post(f"/api/findings/{F_H001_REJECT}/appeal", json={"reason": "床位费按实际住院日计"},
                    headers=bearer(client, "hospital"))
    assert r.status_code == 200 and r.json()["status"] == "appealed"
    r = client.post(f"/api/findings/{F_H001_REJECT}/decision", json={"decision": "overturned", "reason": "核实无误"},
                    headers=bearer(client, "supervisor"))
    assert r.status_code == 200 and r.json()["status"] == "overturned"
    d = client.get("/api/deductions?institution_id=H001&year=2024", headers=bearer(client, "hospital")).json()
    assert d["total"] == "0.00" and d["by_status"]["overturned"] == "200.00"
    last = client.get("/api/audit?limit=3", headers=bearer(client, "admin")).json()["events"]
    assert [(e["actor"], e["action"]) for e in last] == [("admin1", "login.success"), ("hosp1", "login.success"),
                                                          ("super1", "finding.overturn")]
    assert F_H001_REJECT in last[2]["object"]


CJK = re.compile(r"[\u4e00-\u9fff]")


def _requests(client):
    adm, hosp = bearer(client, "admin"), bearer(client, "hospital")
    client.post(f"/api/findings/{F_H001_REJECT}/appeal", json={"reason": "r"}, headers=hosp)
    return [
        (400, client.post(f"/api/findings/{F_H001_REJECT}/appeal", content=b"{bad", headers={
            **hosp, "content-type": "application/json"})),
        (401, client.get("/api/findings")),
        (401, client.post("/api/login", json={"username": "admin1", "password": "wrong"})),
        (403, client.get("/api/audit", headers=hosp)),
        (404, client.get("/api/cases/NOPE", headers=adm)),
        (404, client.get("/api/no-such-route", headers=adm)),
        (404, client.get("/no-such-page")),
        (405, client.delete("/api/health")),
        (409, client.post(f"/api/findings/{F_H001_REJECT}/appeal", json={"reason": "again"}, headers=hosp)),
        (422, client.get("/api/deductions?institution_id=H001", headers=adm)),
        (422, client.get("/api/deductions?institution_id=H001&year=abc", headers=adm)),
        (422, client.get("/api/audit?limit=0", headers=adm)),
        (422, client.post(f"/api/findings/{F_H001_REJECT}/decision", json={"decision": "maybe", "reason": "r"},
                          headers=bearer(client, "supervisor"))),
        (422, client.post("/api/login", json={"username": "admin1"})),
    ]


def test_one_error_shape(client):
    for status, r in _requests(client):
        assert r.status_code == status, (status, r.request.url, r.text)
        body = r.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
        assert isinstance(body["error"]["code"], str) and CJK.search(body["error"]["message"]), body


def test_login_lockout_over_the_api(client):
    for _ in range(3):
        r = client.post("/api/login", json={"username": "super1", "password": "wrong"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "bad_credentials"
    r = client.post("/api/login", json={"username": "super1", "password": PASSWORD})
    assert r.status_code == 401 and r.json()["error"]["code"] == "account_locked"
    assert client.post("/api/login", json={"username": "agency1", "password": PASSWORD}).status_code == 200


def test_openapi_lists_the_contract(client):
    spec = client.get("/openapi.json").json()
    for p in ("/api/health", "/api/login", "/api/cases/{case_id}", "/api/audit", "/api/findings",
              "/api/findings/{finding_id}/appeal", "/api/findings/{finding_id}/decision", "/api/deductions"):
        assert p in spec["paths"], p


def test_login_page_needs_its_csrf_token_and_sets_a_session(client):
    page = client.get("/login")
    assert page.status_code == 200 and "用户名" in page.text and "密码" in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    assert client.post("/login", data={"username": "admin1", "password": PASSWORD, "csrf": "forged"}).status_code == 403
    r = client.post("/login", data={"username": "admin1", "password": PASSWORD, "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and "yibao_session" in r.cookies
    home = client.get("/")
    assert "admin1" in home.text and "系统管理员" in home.text
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 403
    csrf2 = re.search(r'name="csrf" value="([^"]+)"', home.text).group(1)
    assert client.post("/logout", data={"csrf": csrf2}, follow_redirects=False).status_code == 303
