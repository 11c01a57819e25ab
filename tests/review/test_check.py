"""Before-the-fact check (事前提醒): the Python fast path gives exactly the SQL pipeline's findings."""

from __future__ import annotations

import json
from decimal import Decimal

import pyarrow as pa
import pytest

from yibao.review.check import Checker, CheckError
from yibao.review.pipelines import review_fixture
from yibao.review.ruleset import load_rules

from .builder import D, Region


def _case_json(tables: dict[str, pa.Table], case_id: str) -> dict:
    c = [r for r in tables["cases"].to_pylist() if r["case_id"] == case_id][0]
    person = [r for r in tables["insured"].to_pylist() if r["person_id"] == c["person_id"]][0]
    lines = [r for r in tables["fee_items"].to_pylist() if r["case_id"] == case_id]
    s = lambda v: None if v is None else str(v)  # noqa: E731
    return {"case_id": case_id, "person_id": c["person_id"], "institution_id": c["institution_id"],
            "setting": c["setting"], "admit_date": s(c["admit_date"]), "discharge_date": s(c["discharge_date"]),
            "sex": c["sex"] or person["sex"], "birth_date": s(person["birth_date"]), "principal_dx": c["principal_dx"],
            "secondary_dx": c["secondary_dx"], "emergency": c["emergency"], "attending_staff_id": c["attending_staff_id"],
            "death_date": s(person["death_date"]), "total_cost": s(c["total_cost"]), "fund_paid": s(c["fund_paid"]),
            "self_pay": s(c["self_pay"]), "out_of_pocket_excluded": s(c["out_of_pocket_excluded"]),
            "discharge_mode": c["discharge_mode"], "dept_code": c["dept_code"], "scheme": c["scheme"],
            "procedures": c["procedures"],
            "lines": [{k: s(v) if k not in ("line_no",) else v for k, v in ln.items() if k != "case_id"} for ln in lines]}


def _both_paths_agree(tables: dict[str, pa.Table]) -> int:
    rs = load_rules()
    from dataclasses import replace

    rs = replace(rs, rules=tuple(replace(r, enabled=True) for r in rs.rules))  # the templates too
    ch = Checker(tables["catalog"], tables["institutions"], rs, tables.get("qualification_periods"))
    n = 0
    for cid in tables["cases"].column("case_id").to_pylist():
        case = _case_json(tables, cid)
        fast, sql = ch.check(case), ch.check(case, engine="sql")
        assert fast == sql, cid
        n += len(fast["findings"])
    return n


def test_fast_path_equals_sql_on_the_pipeline_fixture():
    assert _both_paths_agree(review_fixture()) >= 15


def test_fast_path_equals_sql_on_constructed_cases():
    r = Region().suspend("S9", "2024-07-02", None, status="terminated").suspend("S9", "2024-06-01", "2024-07-05")
    r.case("A", admit="2024-06-29", discharge="2024-07-03", staff="S9", sec=["J96.000", "E11.900"])
    r.line("A", "NUR", "2024-06-30", "1", "28.00")
    r.line("A", "MERO", "2024-07-01", "9", "62.00")
    r.line("A", "MERO", "2024-07-02", "2", "31.00")
    r.line("A", "BED", "2024-07-02", "1", "80.00")
    r.line("A", "THY", "2024-07-02", "1", "80.00")
    r.line("A", "CEF", "2024-07-02", "1.5", "5.20", amount="9.00")
    r.case("B", person="F30", inst="H1", dx="J06.900", admit="2024-08-01", discharge="2024-08-03")
    r.line("B", "PSA", "2024-08-01", "1", "60.00")
    r.line("B", "MERO", "2024-08-01", "1", "62.00")
    r.line("B", "INS", "2024-08-01", "1", "178.00")
    r.case("C", person="K05", setting="outpatient", admit="2024-08-01", excluded="5.00", total="400.00", fund="100.00")
    r.line("C", "LEVO", "2024-08-01", "1", "12.00")
    r.line("C", "ZZZ", "2024-08-01", "1", "10.00")
    r.case("D", person="M60", admit="2024-09-01", discharge="2024-09-20", daily=False)
    for d in range(1, 17):
        r.line("D", "DANHONG", f"2024-09-{d:02d}", "2", "52.00")
    r.line("D", "BED", "2024-09-02", "1", "80.00")
    r.line("D", "ICUBED", "2024-09-02", "1", "260.00")
    r.line("D", "TRANS", "2024-09-03", "1", "25.00")
    r.line("D", "GA", "2024-09-03", "1", "1600.00")
    r.line("D", "MERO", "2024-09-04", "1", "52.00")
    r.line("D", "SUR1", "2024-09-03", "1", "20.00", name="急诊加收")
    r.line("D", "SUR1", "2024-09-03", "1", "20.00", name="急诊加收")
    r.line("D", "MON", "2024-09-03", "1", "280.00", name="麻醉中监测")
    r.case("E", person="F30", setting="outpatient", admit="2024-10-01", dept="0300", scheme="resident")
    r.line("E", "ACU", "2024-10-01", "1", "30.00", name="普通针刺")
    r.line("E", "VIP", "2024-10-01", "1", "300.00", name="单人病房床位费（特需）")
    assert _both_paths_agree(r.tables()) >= 20


def test_check_reports_bad_input_in_chinese():
    t = review_fixture()
    ch = Checker(t["catalog"], t["institutions"], load_rules())
    with pytest.raises(CheckError, match="lines"):
        ch.check({"admit_date": "2024-01-01", "lines": []})
    with pytest.raises(CheckError, match="浮点"):
        ch.check({"admit_date": "2024-01-01", "lines": [{"item_code": "BED", "quantity": 1.5, "unit_price": "80"}]})


def test_check_command(tmp_path):
    from conftest import run_cli

    t = review_fixture()
    import pyarrow.csv as pacsv

    pacsv.write_csv(t["catalog"].drop(["indications"]), tmp_path / "catalog.csv")
    rx = {"case_id": "RX", "institution_id": "H1", "setting": "outpatient", "admit_date": "2024-07-01",
          "sex": "2", "age_years": 40, "principal_dx": "J18.900",
          "lines": [{"item_code": "PSA", "item_name": "前列腺特异性抗原测定", "item_kind": "service",
                     "quantity": "1", "unit_price": "60.00"},
                    {"item_code": "BED", "quantity": "1", "unit_price": "90.00", "item_kind": "facility"}]}
    (tmp_path / "rx.json").write_text(json.dumps(rx, ensure_ascii=False), encoding="utf-8")
    p = run_cli("check", str(tmp_path / "rx.json"), "--catalog", str(tmp_path / "catalog.csv"))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert [(f["line_no"], f["rule_id"], f["amount"]) for f in out["findings"]] == [(1, "L06", "60.00"), (2, "L02", "10.00")]
    assert out["reject_amount"] == str(Decimal("70.00"))
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    p = run_cli("check", str(tmp_path / "bad.json"), "--catalog", str(tmp_path / "catalog.csv"))
    assert p.returncode == 2 and p.stderr.startswith("错误") and "Traceback" not in p.stderr


def test_fast_path_equals_sql_on_agreement_period_and_terminated_emergencies():
    """Issue 13: the twins of the agreement-period rule (C19) and of the emergency exception for suspension only
    (L11, C08) give the SQL path's findings."""
    from dataclasses import replace

    r = Region().suspend("S9", "2024-07-01", "2024-08-01").suspend("S8", "2024-07-01", None, status="terminated")
    for i in r.institutions:
        if i["institution_id"] == "H2":
            i["agreement_end"] = D("2024-07-31")
        if i["institution_id"] == "H1":
            i["agreement_start"] = D("2024-09-01")
    r.case("IN", inst="H2", admit="2024-07-05", discharge="2024-07-10", daily=False)        # inside H2's term
    r.line("IN", "BED", "2024-07-05", "1", "80.00")
    r.case("AFTER", inst="H2", admit="2024-07-30", discharge="2024-08-03", daily=False)     # discharged after
    r.line("AFTER", "BED", "2024-07-30", "1", "80.00")
    r.case("BEFORE", person="F30", inst="H1", setting="outpatient", admit="2024-08-15")   # before H1's start
    r.case("EM", person="K05", admit="2024-07-10", discharge="2024-07-12", daily=False, emergency=True, staff="S8")
    r.line("EM", "CEF", "2024-07-10", "1", "5.20", staff="S9")   # suspended, emergency: settled
    r.line("EM", "CEF", "2024-07-10", "2", "5.20", staff="S8")   # terminated, emergency: not settled
    t = r.tables()
    assert _both_paths_agree(t) >= 4
    rs = load_rules()
    rs = replace(rs, rules=tuple(replace(x, enabled=True) for x in rs.rules))
    ch = Checker(t["catalog"], t["institutions"], rs, t["qualification_periods"])
    hits = {}
    for cid in ("IN", "AFTER", "BEFORE", "EM"):
        got = ch.check(_case_json(t, cid))
        assert got == ch.check(_case_json(t, cid), engine="sql")
        hits[cid] = [(f["rule_id"], f["line_no"], f["amount"]) for f in got["findings"]
                     if f["rule_id"] in ("C19", "L11", "C08")]
    assert hits["IN"] == []
    assert [h[0] for h in hits["AFTER"]] == ["C19"] and [h[0] for h in hits["BEFORE"]] == ["C19"]
    assert ("L11", 2, "10.40") in hits["EM"] and ("L11", 1, "5.20") not in hits["EM"]
    assert ("C08", None, "0.00") in hits["EM"]  # the terminated attending physician: flagged, no amount
