"""The pre-check page (事前预审) through the ASGI app: the form, a submission with its result, the hospital's own
institution only, the CSRF token."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from yibao.server.app import Settings, create_app

from .conftest import PASSWORD, ROLE_USER


@pytest.fixture
def client(store, workspace):
    with TestClient(create_app(Settings(store=store, workspace=workspace))) as c:
        yield c


def login(client, user: str) -> str:
    page = client.get("/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"username": user, "password": PASSWORD, "csrf": nonce}, follow_redirects=False)
    assert r.status_code == 303
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/precheck").text).group(1)


FORM = {"case_id": "PRE1", "person_id": "P0001", "institution_id": "H001", "setting": "inpatient",
        "scheme": "employee", "admit_date": "2024-03-10", "discharge_date": "2024-03-12", "principal_dx": "K80.000",
        "fund_paid": "200.00", "self_pay": "0.00", "out_of_pocket_excluded": "0.00",
        "lines": "001101000010000,床位费,2,50.00,2024-03-10,bed,facility\n"
                 "XJ01CAA040A001010100839,阿莫西林胶囊,9,1.25,2024-03-10,western_drug,drug"}


def test_the_form_and_its_result(client):
    csrf = login(client, ROLE_USER["hospital"])
    page = client.get("/precheck")
    assert page.status_code == 200 and "事前预审" in page.text
    for name in ("person_id", "admit_date", "principal_dx", "lines"):  # every input has its label
        assert f'<label for="{name}"' in page.text
    assert 'id="institution_id" name="institution_id" value="H001" readonly' in page.text
    r = client.post("/precheck", data={**FORM, "csrf": csrf})
    assert r.status_code == 200, r.text
    # 阿莫西林 9 with at most 6 a day: 3 × 1.25 = 3.75 rejected (L05); readmission after C0001 (C04, history)
    assert "L05" in r.text and "3.75" in r.text
    assert "C04" in r.text and "历史就诊" in r.text
    assert 'id="dip-result"' in r.text and 'id="drg-result"' in r.text


def test_a_hospital_cannot_precheck_for_another_institution(client):
    csrf = login(client, "hosp2")  # of H002
    r = client.post("/precheck", data={**FORM, "csrf": csrf})  # the form says H001: the page uses the user's own
    assert r.status_code == 200 and "机构编码" in r.text and 'value="H002" readonly' in r.text
    assert client.get("/precheck?from_case=C0001").status_code == 404  # H001's case: as if it did not exist


def test_csrf_and_roles(client):
    login(client, ROLE_USER["agency"])
    assert client.post("/precheck", data={**FORM, "csrf": "wrong"}).status_code == 403
    r = client.get("/precheck?from_case=C0001")
    assert r.status_code == 200 and 'value="K80.100x001"' in r.text
    client.cookies.clear()
    assert client.get("/precheck", follow_redirects=False).status_code == 303  # no session: to the login page
    page = client.get("/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"username": ROLE_USER["auditor"], "password": PASSWORD, "csrf": nonce})
    assert client.get("/precheck").status_code == 403  # the auditor reads; it does not pre-check


def test_bad_lines_are_refused_in_chinese(client):
    csrf = login(client, ROLE_USER["agency"])
    r = client.post("/precheck", data={**FORM, "lines": "ABC,名称", "csrf": csrf})
    assert r.status_code == 422 and "费用明细第 1 行：至少需要 项目编码、项目名称、数量、单价 四项" in r.text
