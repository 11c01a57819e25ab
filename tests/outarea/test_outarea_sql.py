"""Out-of-area SQL against hand-made tables: filing status of direct settlement, claim checks, the monthly
clearing statement (balanced to the fen), the inbound selection and the budget-figure writer."""

from __future__ import annotations

from decimal import Decimal as D

import duckdb
import pytest

from yibao.benefit.compute import BASE_COLUMNS
from yibao.outarea.policy import PARAMS
from yibao.outarea.run import (
    claims_base_sql,
    claims_check_sql,
    clearing_sql,
    inbound_sql,
    local_settlement_cases_sql,
    outbound_findings_sql,
    outbound_sql,
    write_figures,
)

REGION = "440200"
POL = PARAMS.defaults()


@pytest.fixture()
def con():
    c = duckdb.connect()
    c.execute("CREATE TABLE institutions AS SELECT * FROM (VALUES ('H1', 3, '440203'), ('G1', 3, '440106'), "
              "('C1', 3, '430102')) t(institution_id, level, region_code)")
    c.execute("CREATE TABLE insured AS SELECT * FROM (VALUES ('P1', 'employee', '440203'), ('P2', 'employee', '440204'), "
              "('P3', 'resident', '440205'), ('W1', 'employee', '440100'), ('W2', 'resident', '440100'), "
              "('W3', 'employee', '430100')) t(person_id, scheme, region_code)")
    c.execute("""CREATE TABLE cases AS SELECT case_id, person_id, institution_id, scheme, setting,
                 admit::DATE AS admit_date, admit::DATE AS discharge_date, settle::DATE AS settle_date,
                 emergency, total_cost::DECIMAL(18,2) AS total_cost, fund_paid::DECIMAL(18,2) AS fund_paid
                 FROM (VALUES
                   ('K1', 'W1', 'H1', 'employee', 'inpatient', '2025-03-01', '2025-03-05', false, '200.00', '100.00'),
                   ('K2', 'W2', 'H1', 'resident', 'inpatient', '2025-03-02', '2025-03-20', false, '100.00', '50.25'),
                   ('K3', 'W3', 'H1', 'employee', 'outpatient', '2025-03-03', '2025-03-03', false, '20.00', '10.00'),
                   ('K4', 'P1', 'G1', 'employee', 'inpatient', '2025-03-04', '2025-03-10', false, '500.00', '300.10'),
                   ('K5', 'P2', 'C1', 'employee', 'inpatient', '2025-03-05', '2025-03-11', false, '400.00', '200.00'),
                   ('K6', 'P3', 'C1', 'resident', 'inpatient', '2025-03-06', '2025-03-12', true, '90.00', '45.00'),
                   ('K7', 'P1', 'H1', 'employee', 'inpatient', '2025-03-07', '2025-03-13', false, '80.00', '40.00'),
                   ('K8', 'W1', 'H1', 'employee', 'inpatient', '2025-04-01', '2025-04-03', false, '80.00', '40.00'))
                 t(case_id, person_id, institution_id, scheme, setting, admit, settle, emergency, total_cost, fund_paid)""")
    # P1: a posted filing for Guangzhou (city code covers 440106); P2: a one-off for Changsha, expired
    c.execute("""CREATE TABLE filings AS SELECT filing_id, person_id, kind AS filing_kind, dest AS destination_region,
                 vf::DATE AS valid_from, vt::DATE AS valid_to FROM (VALUES
                   ('F1', 'P1', 'posted', '440100', '2024-01-01', NULL),
                   ('F2', 'P2', 'one_off', '430102', '2025-01-01', '2025-02-28'),
                   ('F3', 'P2', 'one_off', '440106', '2025-01-01', NULL))
                 t(filing_id, person_id, kind, dest, vf, vt)""")
    docs = "true, true, true, true, true"
    c.execute(f"""CREATE TABLE claims AS SELECT claim_id, person_id, 'X' AS institution_name, reg AS institution_region,
                 3 AS institution_level, 'inpatient' AS setting, 'K80.1' AS principal_dx, em AS emergency,
                 adm::DATE AS admit_date, dis::DATE AS discharge_date, sub::DATE AS submitted_on,
                 1000.00::DECIMAL(18,2) AS total_cost, 200.00::DECIMAL(18,2) AS class_b_amount,
                 20.00::DECIMAL(18,2) AS class_b_self_pay, 50.00::DECIMAL(18,2) AS class_c_amount,
                 d1 AS doc_card, d2 AS doc_filing_form, d3 AS doc_certificate, d4 AS doc_itemised_list, d5 AS doc_invoice
                 FROM (VALUES
                   ('L1', 'P1', '440106', false, '2025-01-20', '2025-01-31', '2025-02-28', {docs}),
                   ('L2', 'P1', '440106', false, '2025-01-20', '2025-01-31', '2025-03-01', {docs}),
                   ('L3', 'P1', '440106', false, '2025-02-01', '2025-02-05', '2025-02-10', true, true, false, true, false),
                   ('L4', 'P3', '430102', false, '2025-02-01', '2025-02-05', '2025-02-10', {docs}),
                   ('L5', 'P3', '430102', true, '2025-02-01', '2025-02-05', '2025-02-10', {docs}),
                   ('L6', 'P2', '430102', false, '2025-04-01', '2025-04-05', '2025-04-10', {docs}),
                   ('L7', 'W1', '440106', false, '2025-04-01', '2025-04-05', '2025-04-10', {docs}))
                 t(claim_id, person_id, reg, em, adm, dis, sub, d1, d2, d3, d4, d5)""")
    return c


def test_direct_settlement_needs_a_valid_filing_emergency_excepted(con):
    rows = {r[0]: r for r in con.execute(
        f"SELECT case_id, filing_id, filing_status FROM ({outbound_sql(REGION, 2025, True)})").fetchall()}
    # K4: P1 in 440106 with the posted filing for 440100 (the city covers the district); K5: P2's Changsha filing
    # ended 2025-02-28; K6: P3 has none but was an emergency; local and inbound cases are not outbound
    assert rows == {"K4": ("K4", "F1", "valid"), "K5": ("K5", "F2", "expired"), "K6": ("K6", None, "emergency_exempt")}
    rows = dict(con.execute(f"SELECT case_id, filing_status FROM ({outbound_sql(REGION, 2025, False)})").fetchall())
    assert rows["K6"] == "missing"
    con.execute(f"CREATE TABLE o AS {outbound_sql(REGION, 2025, False)}")
    f = con.execute(f"SELECT case_id, rule_id, severity, amount, message FROM ({outbound_findings_sql('o')})").fetchall()
    assert [(r[0], r[1], r[3]) for r in f] == [("K5", "O02", D("200.00")), ("K6", "O01", D("45.00"))]
    assert f[0][4] == ("异地就医备案不在有效期：备案 F2 有效期 2025-01-01 至 2025-02-28，不含入院日期 2025-03-05"
                       "（就医地 430102，统筹基金支付 200.00 元）")


def test_claim_checks_deadline_documents_filing(con):
    rows = {r[0]: r[1:] for r in con.execute(
        f"SELECT claim_id, eligible, reasons, filing_status FROM ({claims_check_sql(REGION, 2025, POL)})").fetchall()}
    # discharge 2025-01-31 + 1 calendar month = 2025-02-28: submitted that day is in time, a day later is late
    assert rows["L1"] == (True, "", "valid")
    assert rows["L2"][0] is False and rows["L2"][1] == (
        "超过申报期限：出院日期 2025-01-31，应于 2025-02-28 前申报（出院之日起 1 个月内），实际申报日期 2025-03-01")
    assert rows["L3"][1] == "资料不全，缺少：出院记录或诊断证明（门诊特定项目附审批表）、医疗收费票据"
    assert rows["L4"][1] == "没有覆盖就医地 430102 的异地就医备案"
    assert rows["L5"] == (True, "", "emergency_exempt")
    assert rows["L6"][1] == "异地就医备案 F2 有效期 2025-01-01 至 2025-02-28，不含入院日期 2025-04-01"
    assert rows["L7"][1].startswith("非本统筹区参保人员（参保地 440100）")


def test_approved_claims_form_a_cost_base_for_the_calculator(con):
    con.execute(f"CREATE TABLE k AS {claims_check_sql(REGION, 2025, POL)}")
    base = con.execute(f"SELECT * FROM ({claims_base_sql('k')}) ORDER BY row_id")
    assert tuple(d[0] for d in base.description) == BASE_COLUMNS
    rows = base.fetchall()
    assert [r[0] for r in rows] == ["L1", "L5"]
    # class A = 1000 − 200 − 50
    assert rows[0][9:13] == (D("750.00"), D("200.00"), D("20.00"), D("50.00"))


def test_clearing_statement_balances_to_the_fen(con):
    rows = con.execute(f"SELECT * FROM ({clearing_sql(REGION, 2025)})").fetchall()
    march = [r for r in rows if r[0] == "2025-03"]
    # inbound: 440100 (K1 100.00 + K2 50.25), 430100 (K3 10.00); outbound: 440100 (K4 300.10), 430100 (K5 200.00,
    # K6 45.00); K7 is local, K8 is April
    assert march == [
        ("2025-03", "430100", 1, D("10.00"), D("10.00"), 2, D("245.00"), D("-235.00")),
        ("2025-03", "440100", 2, D("150.25"), D("150.25"), 1, D("300.10"), D("-149.85")),
    ]
    assert sum(r[7] for r in march) == D("160.25") - D("545.10")
    assert [r for r in rows if r[0] == "2025-04"] == [("2025-04", "440100", 1, D("40.00"), D("40.00"), 0, D("0.00"), D("40.00"))]


def test_inbound_selection_and_local_settlement(con):
    inb = con.execute(f"SELECT case_id, insured_region, in_local_settlement FROM ({inbound_sql(REGION, 2025, False)})").fetchall()
    assert inb == [("K1", "440100", False), ("K2", "440100", False), ("K3", "430100", False), ("K8", "440100", False)]
    out = sorted(r[0] for r in con.execute(local_settlement_cases_sql(REGION, False)).fetchall())
    assert out == ["K7"]
    keep = sorted(r[0] for r in con.execute(local_settlement_cases_sql(REGION, True)).fetchall())
    assert keep == ["K1", "K2", "K3", "K7", "K8"]


def test_budget_figures_fill_only_untyped_keys():
    text = ('year = 2025\n\n[fund.employee]  # 职工\ncontributions = "1.00"\nout_of_area_manual = "7.00"\n\n'
            '[fund.resident]\ncontributions = "2.00"\n')
    figs = {"employee": {"out_of_area_realtime": D("300.10"), "out_of_area_manual": D("12.34")},
            "resident": {"out_of_area_realtime": D("45.00"), "out_of_area_manual": D("0.00")}}
    new, notes = write_figures(text, figs, 2024)
    import tomllib
    data = tomllib.loads(new)
    assert data["fund"]["employee"]["out_of_area_realtime"] == "300.10"
    assert data["fund"]["employee"]["out_of_area_manual"] == "7.00"  # the typed value wins
    assert data["fund"]["resident"] == {"contributions": "2.00", "out_of_area_realtime": "45.00",
                                        "out_of_area_manual": "0.00"}
    assert any("保留输入值" in n and "12.34" in n for n in notes)
    new2, _ = write_figures('year = 2025\n', figs, 2024)
    assert tomllib.loads(new2)["fund"]["employee"]["out_of_area_manual"] == "12.34"
