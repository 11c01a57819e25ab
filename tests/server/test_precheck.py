"""The pre-check (事前预审, issue 16 §2): the API on the tiny workspace (roles, history rules, audit, nothing
stored) and, on a generated region, the single-case DIP points, DRG case weights and history rules compared
with the set-based pipelines on every case."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
import regions
from fastapi.testclient import TestClient

from yibao.engine.runner import query_arrow
from yibao.review.check import case_facts, evaluate_case
from yibao.review.logic import SET_LOGIC
from yibao.review.lookup import CaseFacts
from yibao.server.app import Settings, create_app
from yibao.server.precheck import Precheck, drg_case_weight
from yibao.store import audit

from .conftest import PASSWORD, ROLE_USER


@pytest.fixture
def client(store, workspace):
    with TestClient(create_app(Settings(store=store, workspace=workspace))) as c:
        yield c


def headers(client, role: str, user: str | None = None) -> dict:
    r = client.post("/api/login", json={"username": user or ROLE_USER[role], "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": "Bearer " + r.json()["token"]}


def stay(**kw) -> dict:
    """A stay of 张伟 (P0001) at H001; C0001 of the tiny region was 2024-03-01 → 2024-03-06, K80.100x001."""
    case = {"case_id": "PRE1", "person_id": "P0001", "institution_id": "H001", "setting": "inpatient",
            "admit_date": "2024-03-10", "discharge_date": "2024-03-12", "principal_dx": "K80.000",
            "total_cost": "300.00", "fund_paid": "200.00", "self_pay": "100.00", "out_of_pocket_excluded": "0.00",
            "lines": [{"line_no": 1, "item_code": "001101000010000", "item_name": "床位费", "item_kind": "facility",
                       "fee_category": "bed", "service_date": "2024-03-10", "quantity": "2", "unit_price": "50.00",
                       "amount": "100.00"}]}
    case.update(kw)
    return case


def by_rule(answer: dict) -> dict[str, dict]:
    return {f["rule_id"]: f for f in answer["findings"]}


def test_readmission_within_15_days_is_found_from_the_history(client):
    r = client.post("/api/precheck", json=stay(), headers=headers(client, "hospital"))
    assert r.status_code == 200, r.text
    f = by_rule(r.json())
    # C0001 discharged 2024-03-06, K80 again at H001 on 2024-03-10: 4 days later (≤ 15), the fund share 200.00
    assert f["C04"]["scope"] == "history"
    assert f["C04"]["message"] == "2024-03-06 出院（C0001，诊断 K80.100x001）后 4 天在同一机构因同类诊断 K80.000 再次入院"
    assert f["C04"]["amount"] == "200.00" and f["C04"]["severity"] == "warn"
    assert "C03" not in f  # admitted after the earlier discharge: no overlap
    assert r.json()["history"]["cases"] == 1


def test_overlapping_stay_names_another_hospital_only_as_such_for_a_hospital(client):
    case = stay(institution_id="H002", admit_date="2024-03-03", discharge_date="2024-03-04",
                lines=[dict(stay()["lines"][0], service_date="2024-03-03")])
    hosp2 = client.post("/api/precheck", json=case, headers=headers(client, "hospital", "hosp2")).json()
    assert by_rule(hosp2)["C03"]["message"] == \
        "参保人 P0001 于 2024-03-03 入院时仍在 其他机构 住院（他院病例，2024-03-01 至 2024-03-06）"
    sup = client.post("/api/precheck", json=case, headers=headers(client, "supervisor")).json()
    assert by_rule(sup)["C03"]["message"] == \
        "参保人 P0001 于 2024-03-03 入院时仍在 H001 住院（C0001，2024-03-01 至 2024-03-06）"
    assert "C04" not in by_rule(sup)  # another institution: not a split admission


def test_services_after_death_use_the_death_date_of_record(client):
    # 李强 (P0003) died on 2024-06-30 (insured.csv); the case does not say so
    case = stay(person_id="P0003", admit_date="2024-07-02", discharge_date="2024-07-02", setting="outpatient",
                lines=[dict(stay()["lines"][0], service_date="2024-07-02")])
    out = client.post("/api/precheck", json=case, headers=headers(client, "agency")).json()
    f = by_rule(out)["C02"]
    assert f["severity"] == "reject" and f["amount"] == "200.00"
    assert "2024-06-30 死亡" in f["message"]
    assert out["dip"] is None and out["drg"] is None and out["grouping_note"] == "门诊病例不参与 DIP/DRG 分组"


def test_roles_and_institutions(client):
    assert client.post("/api/precheck", json=stay(institution_id="H002"),
                       headers=headers(client, "hospital")).status_code == 403
    r = client.post("/api/precheck", json={k: v for k, v in stay().items() if k != "institution_id"},
                    headers=headers(client, "hospital"))
    assert r.status_code == 200 and r.json()["institution_id"] == "H001"  # its own institution by default
    assert client.post("/api/precheck", json=stay(), headers=headers(client, "auditor")).status_code == 403
    for role in ("admin", "agency", "supervisor"):
        assert client.post("/api/precheck", json=stay(institution_id="H002"),
                           headers=headers(client, role)).status_code == 200
    assert client.post("/api/precheck", json=stay()).status_code == 401


def test_bad_input_is_refused_in_chinese(client):
    h = headers(client, "agency")
    r = client.post("/api/precheck", json=stay(lines=[]), headers=h)
    assert r.status_code == 422 and r.json()["error"]["message"] == "请求参数不合法：lines：至少需要一条费用明细"
    r = client.post("/api/precheck", json=stay(admit_date="2024-13-01"), headers=h)
    assert r.status_code == 422 and "admit_date「2024-13-01」不是 YYYY-MM-DD 日期" in r.json()["error"]["message"]
    r = client.post("/api/precheck", content=b"{not json", headers={**h, "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    assert client.post("/api/precheck", json=[1, 2], headers=h).status_code == 422


def test_nothing_is_stored_but_an_audit_event(client, store):
    before = client.get("/api/findings", headers=headers(client, "agency")).json()["findings"]
    r = client.post("/api/precheck", json=stay(), headers=headers(client, "hospital"))
    assert r.status_code == 200
    after = client.get("/api/findings", headers=headers(client, "agency")).json()["findings"]
    assert after == before
    ev = [e for e in audit.events(store, 50) if e["action"] == "precheck"]
    assert len(ev) == 1 and ev[0]["actor"] == ROLE_USER["hospital"] and ev[0]["object"] == "precheck:PRE1"


def test_without_history_years_dip_says_why(client):
    out = client.post("/api/precheck", json=stay(), headers=headers(client, "agency")).json()
    # the tiny region has only 2024: no earlier year to build a DIP catalogue from
    assert out["dip"]["status"] == "unavailable" and "之前没有住院病例" in out["dip"]["reason_zh"]
    if out["drg"]["status"] == "unavailable":  # no CHS-DRG standards here
        assert "分组标准" in out["drg"]["status_zh"]
    else:  # grouped, but no history year gives weights: paid by item, and the answer says why
        assert out["drg"]["method"] == "item" and out["drg"]["item_reason"] in ("no_weight", "not_grouped")
        assert out["drg"]["item_reason_zh"] in ("该 DRG 无权重", "未能入组")


# --- single-case formulas against the set-based pipelines, on every case of a generated region ---------------

@pytest.fixture(scope="module")
def gen_ws(tmp_path_factory) -> Path:
    return regions.generated_workspace(tmp_path_factory.mktemp("precheck-gen"), seed=5, cases=3000)


@pytest.fixture(scope="module")
def loaded(gen_ws):
    return Precheck(gen_ws).load()


def _cases(ws: Path) -> list[dict]:
    import duckdb

    con = duckdb.connect(str(ws / "yibao.duckdb"), read_only=True)
    try:
        return query_arrow(con, "SELECT * FROM main.cases ORDER BY case_id").to_pylist()
    finally:
        con.close()


def test_dip_points_equal_the_dip_scoring(gen_ws, loaded):
    from yibao.dip import scoring as dip_build
    from yibao.engine.select import runner_for
    from yibao.engine.workspace import Workspace

    with Workspace(gen_ws, read_only=True) as ws:
        src = {n: query_arrow(ws.con, f"SELECT * FROM main.{n}") for n in ("cases", "institutions")}
    ref = dip_build.score_tables(src, runner_for("duckdb"), loaded.dip_policy, loaded.dip_catalogue,
                                 loaded.dip_rules, loaded.dip_valid, final=True)["dip_case_points"].to_pylist()
    svc = Precheck(gen_ws)
    svc._loaded = loaded
    cases = {c["case_id"]: c for c in _cases(gen_ws)}
    checked = 0
    for r in ref:
        c = cases[r["case_id"]]
        if not c["total_cost"] or c["total_cost"] <= 0:
            continue
        facts = {"case_id": c["case_id"], "institution_id": c["institution_id"], "total_cost": c["total_cost"]}
        hit = loaded.dip_keys[(c["principal_dx"] or "", tuple(c["procedures"] or ()))]
        got = svc._dip_row(loaded, facts, *hit)
        for k in ("group_id", "group_kind", "avg_cost", "score", "ratio", "deviation", "case_score", "coefficient",
                  "formula_points"):
            assert got[k] == r[k], (c["case_id"], k, got[k], r[k])
        checked += 1
    assert checked > 200  # every inpatient stay of positive cost (268 of 3 000 cases)
    assert {r["deviation"] for r in ref} >= {"normal", "high", "low"}


def test_drg_case_weights_equal_the_drg_payment(gen_ws, loaded):
    from yibao.drg.grouper import group_table
    from yibao.drg.payment import DRG_PAYMENT
    from yibao.drg.policy import param_tables
    from yibao.engine.select import runner_for
    from yibao.engine.workspace import Workspace
    from yibao.settle.agreement import agreement_sources

    if loaded.drg_std is None:
        pytest.skip("CHS-DRG standards not found (YIBAO_STANDARDS)")
    with Workspace(gen_ws, read_only=True) as ws:
        src = {n: query_arrow(ws.con, f"SELECT * FROM main.{n}") for n in ("cases", "institutions")}
    inpatient = src["cases"].filter(pa.compute.equal(src["cases"].column("setting"), "inpatient"))
    grouped = group_table(inpatient, loaded.drg_std, runner_for("duckdb"))
    weights = pa.Table.from_pylist(list(loaded.drg_weights.values()))
    out = runner_for("duckdb").run_pipeline(DRG_PAYMENT, {
        **src, "drg_grouped": grouped, "drg_weights": weights, **param_tables(loaded.drg_policy, 2025, [2023, 2024]),
        **agreement_sources(2025), "settle_outside_agreement": pa.table({"case_id": pa.array([], pa.string())})})
    cases = {c["case_id"]: c for c in _cases(gen_ws)}
    n = 0
    for r in out["drg_case_pay"].to_pylist():
        c = cases[r["case_id"]]
        got = drg_case_weight(loaded.drg_policy, loaded.drg_weights, loaded.institutions, c, r["status"], r["drg"])
        if r["method"] == "excluded":
            continue
        assert got["method"] == r["method"], r["case_id"]
        assert got["item_reason"] == r["item_reason"], r["case_id"]
        if r["method"] == "drg":
            assert Decimal(got["case_weight"]) == r["case_weight"], r["case_id"]
            assert got["outlier"] == r["outlier"]
            n += 1
    assert n > 150  # the DRG-paid stays (182 of the 3 000 cases)


def test_history_rules_equal_the_review(gen_ws, loaded):
    """Every case of the region pre-checked against the person's other cases of the workspace (as the pre-check
    reads them: ``Precheck._history``) gives the review's findings of the rules over a person's history."""
    import duckdb

    from yibao.review.run import run_workspace
    from yibao.staff import periods_from_workspace

    rs = loaded.rs
    ids = {r.id for r in rs.enabled if r.logic in ("overlapping_stay", "split_admission", "visit_frequency")}
    res = run_workspace(gen_ws, rs.only(*ids), periods_from_workspace(gen_ws))
    want = {(f["case_id"], f["rule_id"]): f for f in res.findings.to_pylist()}
    assert {k[1] for k in want} >= {"C03", "C04"}  # (C09 is not in this region: test_visit_frequency)
    con = duckdb.connect(str(gen_ws / "yibao.duckdb"), read_only=True)
    try:
        persons = {p["person_id"]: p for p in query_arrow(con, "SELECT * FROM main.insured").to_pylist()}
    finally:
        con.close()
    only, look, got = rs.only(*ids), loaded.checker.look, {}
    for row in _cases(gen_ws):
        c = case_facts(row, persons[row["person_id"]], look)
        for f in evaluate_case(only, look, c, [], [c, *Precheck._history(loaded, c)]):
            got[(c["case_id"], f[2])] = f
    assert set(got) == set(want)
    for k, f in want.items():
        assert got[k][5] == f["message"], k
        assert got[k][4] == f["amount"], k


def test_visit_frequency_counts_the_month_of_the_history():
    import datetime as dt

    from yibao.review.ruleset import load_rules

    p = load_rules().by_id("C09").params  # at most 8 outpatient visits a month
    day = dt.date(2024, 5, 20)
    c = {"case_id": "NEW", "person_id": "P1", "setting": "outpatient", "inst_kind": "hospital", "admit_date": day}
    hist = [{"case_id": f"V{i}", "setting": "outpatient", "inst_kind": "hospital", "admit_date": dt.date(2024, 5, i)}
            for i in range(1, 9)]  # eight visits on 1–8 May
    hist += [{"case_id": "PH", "setting": "outpatient", "inst_kind": "pharmacy", "admit_date": dt.date(2024, 5, 9)},
             {"case_id": "APR", "setting": "outpatient", "inst_kind": "hospital", "admit_date": dt.date(2024, 4, 30)},
             {"case_id": "LATER", "setting": "outpatient", "inst_kind": "hospital", "admit_date": dt.date(2024, 5, 25)}]
    one = SET_LOGIC["visit_frequency"].one  # what the pre-check runs, with the history it reads

    def visits(hist: list[dict]) -> list[tuple]:
        return one(p, CaseFacts(case=c, lines=[], history=[c, *hist], look=None, evidence={}))

    [(_, _, ev)] = visits(hist)
    assert (ev["month"], ev["visits"], ev["n"], ev["max_visits"]) == ("2024-05", 10, 9, 8)
    assert visits(hist[:7]) == []  # the eighth visit of the month: allowed
