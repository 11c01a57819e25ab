"""Staff payment qualification pages (医保支付资格): the procedure 预先告知 → 复核申请 → 专家意见 → 决定 through the
page (the CLI command underneath), one person's record with the findings on their lines, the lists, masking."""

from __future__ import annotations

import json
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
    client.post("/login", data={"username": user, "password": PASSWORD, "csrf": nonce})
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)


def test_the_procedure_through_the_pages(client, store):
    csrf = login(client, ROLE_USER["supervisor"])
    staff = "D440203000003"  # 赵医生 of H002
    r = client.post("/staff/procedure", data={"csrf": csrf, "step": "notice", "sanction_id": "JF2024-9", "staff_id": staff,
                                              "institution_id": "H002", "date": "2024-06-03", "points": "3",
                                              "basis": "admin_penalty", "responsibility": "main", "facts": "串换药品"})
    assert r.status_code == 200, r.text
    main = r.text[r.text.index("<main"):r.text.index("</main>")]
    assert "预先告知书" in main and "2024年6月10日" in main  # the deadline: notice + 7 days
    assert "/tmp/" not in main  # the command's temporary letter file is not shown  # the deadline: notice + 7 days
    # a decision before the deadline without a review request is refused by the procedure, in Chinese
    r = client.post("/staff/procedure", data={"csrf": csrf, "step": "decide", "sanction_id": "JF2024-9",
                                              "date": "2024-06-05"})
    assert r.status_code == 422 and "复核申请期限（至 2024-06-10）未满且未申请复核" in r.text
    for step, extra in (("review", {"date": "2024-06-06", "reason": "非主要责任"}),
                        ("opinion", {"date": "2024-06-08", "expert": "王教授", "opinion": "责任较轻"})):
        r = client.post("/staff/procedure", data={"csrf": csrf, "step": step, "sanction_id": "JF2024-9", **extra})
        assert r.status_code == 200, r.text
    r = client.post("/staff/procedure", data={"csrf": csrf, "step": "decide", "sanction_id": "JF2024-9",
                                              "date": "2024-06-12", "points": "2", "reason": "复核变更"})
    assert r.status_code == 200 and "记分决定书" in r.text
    page = client.get(f"/staff/person/{staff}?as_of=2024-06-30")
    assert page.status_code == 200
    for word in ("记分预先告知", "复核申请", "专家评议意见", "复核决定", "记分决定"):
        assert word in page.text
    assert "2024 年度记分 2 分" in page.text and "赵医生" in page.text
    # the findings on this person's own lines (监管到人): 阿莫西林 on C0002 line 1 by D440203000003 (L05, 3.75)
    assert 'id="person-findings"' in page.text and "C0002" in page.text and "3.75" in page.text
    from yibao.store import audit

    assert [e["action"] for e in audit.events(store, 20) if e["action"].startswith("staff.")][:4] == \
        ["staff.decide", "staff.opinion", "staff.review_request", "staff.notice"]


def test_roles_masking_and_the_hospitals_own(client):
    login(client, ROLE_USER["auditor"])
    page = client.get("/staff/person/D440203000001")
    assert page.status_code == 200 and "刘**" in page.text and "刘医生" not in page.text
    assert client.get("/staff/procedure").status_code == 403  # the auditor reads only
    client.cookies.clear()
    login(client, ROLE_USER["hospital"])  # hosp1 of H001
    assert client.get("/staff/person/D440203000001").status_code == 200   # its own staff
    assert client.get("/staff/person/D440203000003").status_code == 404   # H002's: as if absent
    assert client.get("/staff").status_code == 200
    assert client.get("/staff/notifications?year=2024").status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)
    assert client.post("/staff/procedure", data={"csrf": csrf, "step": "review", "sanction_id": "X",
                                                 "date": "2024-01-01"}).status_code == 403


def _pdf_text(data: bytes) -> str:
    import io

    import pypdfium2 as pdfium

    assert data.startswith(b"%PDF")
    doc = pdfium.PdfDocument(io.BytesIO(data))
    return "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc))).replace("\r", "").replace("\n", "")


def test_the_letters_as_pdf_with_the_name_as_each_role_may_see_it(client, store):
    from yibao.store import audit

    csrf = login(client, ROLE_USER["supervisor"])
    staff, ref = "D440203000003", "JF2024-7"  # 赵医生 of H002
    steps = (("notice", {"staff_id": staff, "institution_id": "H002", "date": "2024-06-03", "points": "3",
                         "basis": "admin_penalty", "responsibility": "main", "facts": "串换药品"}),
             ("review", {"date": "2024-06-06", "reason": "非主要责任"}),
             ("opinion", {"date": "2024-06-08", "expert": "王教授", "opinion": "责任较轻"}),
             ("decide", {"date": "2024-06-12", "points": "2", "reason": "复核变更"}))
    for step, extra in steps:
        r = client.post("/staff/procedure", data={"csrf": csrf, "step": step, "sanction_id": ref, **extra})
        assert r.status_code == 200, r.text
        if step == "notice":
            assert f'href="/staff/letters/{ref}/notice.pdf"' in r.text  # the PDF offered right after the step
    assert f'href="/staff/letters/{ref}/review_decision.pdf"' in r.text
    page = client.get(f"/staff/person/{staff}")
    assert f"/staff/letters/{ref}/notice.pdf" in page.text and f"/staff/letters/{ref}/review_decision.pdf" in page.text
    notice = _pdf_text(client.get(f"/staff/letters/{ref}/notice.pdf").content)
    for text in ("医保支付资格记分预先告知书", f"编号：{ref}", "赵医生", staff, "行政处罚", "主要责任", "拟对你记 3 分",
                 "2024年6月10日", "告知日期：2024年6月3日", "违规事实：串换药品", "医保发〔2024〕23号"):
        assert text in notice, text
    decision = _pdf_text(client.get(f"/staff/letters/{ref}/review_decision.pdf").content)
    for text in ("医保支付资格记分决定书", "赵医生", "2024年6月3日 对你拟记 3 分的预先告知，你已申请复核",
                 "专家 王教授：责任较轻", "复核结论：变更记分。复核变更", "记 2 分",
                 "决定日期：2024年6月12日", "计入 2024 年度记分"):
        assert text in decision, text
    assert client.get(f"/staff/letters/{ref}/decision.pdf").status_code == 404  # reviewed: a 复核决定书, not this
    # the auditor: the same letter with the name masked; every download audited with `masked`
    client.cookies.clear()
    login(client, ROLE_USER["auditor"])
    masked = _pdf_text(client.get(f"/staff/letters/{ref}/notice.pdf").content)
    assert "赵**" in masked and "赵医生" not in masked and "拟对你记 3 分" in masked
    got = [e for e in audit.events(store, 20) if e["action"] == "staff.letter"]
    det = [e["detail"] if isinstance(e["detail"], dict) else json.loads(e["detail"]) for e in got]
    assert [(e["role"], d["letter"], d["masked"]) for e, d in zip(got, det)][:3] == \
        [("auditor", "notice", True), ("supervisor", "review_decision", False), ("supervisor", "notice", False)]
    # a hospital: its own staff's letters only (H001's user, H002's person: as if absent)
    client.cookies.clear()
    login(client, ROLE_USER["hospital"])
    assert client.get(f"/staff/letters/{ref}/notice.pdf").status_code == 404
    assert client.get("/staff/letters/NOPE/notice.pdf").status_code == 404
