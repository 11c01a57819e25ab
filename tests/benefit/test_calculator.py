"""The benefit calculator, element by element, against numbers computed by hand (default example policy:
employee inpatient level 3: 起付线 800 per stay, 85 % to 30 000, 88 % to 100 000, 90 % above; employee outpatient:
200 per year, 50 % at level 3, annual cap 3 000; resident outpatient level 3: no deductible, 50 %, cap 800)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from benefit.util import region, rows

from yibao.benefit.check import findings
from yibao.benefit.compute import Sources, compute
from yibao.benefit.policy import PARAMS, load_policy

P = load_policy()


def case(cid, person, inst, scheme, setting, total, booked="0.00", day="2025-03-01", dx="K80.1"):
    return (cid, person, inst, scheme, setting, dx, total, booked, day)


def line(cid, no, code, amount, day="2025-02-27"):
    return (cid, no, code, amount, day)


def run(cases, lines, policy=P, **kw):
    con, src = region(cases, lines, **kw)
    return rows(compute(con, src, policy)), con


def test_deductible_per_stay_and_one_band():
    # covered 6000 + 3000 − 300 = 8700; 起付线 800; (8700 − 800) × 85 % = 6715.00; self pay 300 + 800 + 1185
    r, _ = run([case("K1", "P1", "H3", "employee", "inpatient", "10000.00")],
               [line("K1", 1, "A1", "6000.00"), line("K1", 2, "B1", "3000.00"), line("K1", 3, "C1", "1000.00")])
    k = r["K1"]
    assert (k["class_a"], k["class_b"], k["class_b_self_pay"], k["class_c"]) == (D("6000"), D("3000"), D("300"), D("1000"))
    assert (k["covered"], k["deductible"], k["band1"], k["fund_computed"]) == (D("8700"), D("800"), D("7900"), D("6715"))
    assert (k["self_pay_computed"], k["excluded_computed"]) == (D("2285.00"), D("1000.00"))


def test_every_stay_pays_its_own_deductible_and_level_sets_it():
    # two stays at level 3 (800 each) and one at level 2 (500, 88 %): 1000 → 200×85% = 170; 1000 → 170; 1000 → 500×88% = 440
    r, _ = run([case("K1", "P1", "H3", "employee", "inpatient", "1000.00", day="2025-01-10"),
                case("K2", "P1", "H3", "employee", "inpatient", "1000.00", day="2025-02-10"),
                case("K3", "P1", "H2", "employee", "inpatient", "1000.00", day="2025-03-10")],
               [line(c, 1, "A1", "1000.00", day) for c, day in
                (("K1", "2025-01-09"), ("K2", "2025-02-09"), ("K3", "2025-03-09"))])
    assert [r[k]["deductible"] for k in ("K1", "K2", "K3")] == [D("800"), D("800"), D("500")]
    assert [r[k]["fund_computed"] for k in ("K1", "K2", "K3")] == [D("170.00"), D("170.00"), D("440.00")]


def test_deductible_per_year_is_met_across_visits_in_settlement_order():
    # employee outpatient level 3: 200 per year, 50 %: visits 150, 100, 80 → deductible 150, 50, 0 → fund 0, 25, 40
    cs = [case("V1", "P1", "H3", "employee", "outpatient", "150.00", day="2025-01-05", dx="J06.9"),
          case("V2", "P1", "H3", "employee", "outpatient", "100.00", day="2025-01-20", dx="J06.9"),
          case("V3", "P1", "H3", "employee", "outpatient", "80.00", day="2025-02-01", dx="J06.9")]
    ls = [line(c[0], 1, "A1", c[6], c[8]) for c in cs]
    r, _ = run(cs, ls)
    assert [r[v]["deductible"] for v in ("V1", "V2", "V3")] == [D("150"), D("50"), D("0")]
    assert [r[v]["deductible_before"] for v in ("V1", "V2", "V3")] == [D("0"), D("150"), D("200")]
    assert [r[v]["fund_computed"] for v in ("V1", "V2", "V3")] == [D("0.00"), D("25.00"), D("40.00")]


def test_two_and_three_cost_bands():
    # 50 000 covered: (30 000 − 800) × 85 % + 20 000 × 88 % = 24 820 + 17 600 = 42 420
    # 120 000 covered: 24 820 + 70 000 × 88 % + 20 000 × 90 % = 24 820 + 61 600 + 18 000 = 104 420
    r, _ = run([case("K1", "P1", "H3", "employee", "inpatient", "50000.00"),
                case("K2", "P2", "H3", "employee", "inpatient", "120000.00")],
               [line("K1", 1, "A1", "50000.00"), line("K2", 1, "A1", "120000.00")])
    assert (r["K1"]["band1"], r["K1"]["band2"], r["K1"]["band3"]) == (D("29200"), D("20000"), D("0"))
    assert r["K1"]["fund_computed"] == D("42420.00")
    assert (r["K2"]["band1"], r["K2"]["band2"], r["K2"]["band3"]) == (D("29200"), D("70000"), D("20000"))
    assert r["K2"]["fund_computed"] == D("104420.00")


def test_cap_reached_mid_year():
    # resident outpatient level 3: no deductible, 50 %, annual cap 800: 500, then 500 of which 300 paid (200 over cap),
    # then nothing; the patient pays what the cap cuts off
    cs = [case(f"V{i}", "P2", "H3", "resident", "outpatient", amt, day=day, dx="J06.9")
          for i, (amt, day) in enumerate((("1000.00", "2025-02-01"), ("1000.00", "2025-05-01"), ("200.00", "2025-09-01")), 1)]
    r, _ = run(cs, [line(c[0], 1, "A1", c[6], c[8]) for c in cs])
    assert [r[v]["fund_uncapped"] for v in ("V1", "V2", "V3")] == [D("500.00"), D("500.00"), D("100.00")]
    assert [r[v]["fund_computed"] for v in ("V1", "V2", "V3")] == [D("500.00"), D("300.00"), D("0.00")]
    assert [r[v]["over_cap"] for v in ("V1", "V2", "V3")] == [D("0.00"), D("200.00"), D("100.00")]
    assert [r[v]["cap_used_before"] for v in ("V1", "V2", "V3")] == [D("0.00"), D("500.00"), D("800.00")]
    assert r["V2"]["self_pay_computed"] == D("700.00")


def test_inpatient_and_special_outpatient_share_the_pooling_cap():
    pol = PARAMS.load(None, overrides={"benefit": {"cap": {"employee": {"pooling": "10000.00"}}}})
    # stay: 20 000 → (20 000 − 800) × 85 % = 16 320 → capped at 10 000; then 门诊慢特病 (E11, no deductible, 80 %)
    # 1000 → 800 uncapped, 0 paid
    r, _ = run([case("K1", "P1", "H3", "employee", "inpatient", "20000.00", day="2025-03-01"),
                case("V1", "P1", "H3", "employee", "outpatient", "1000.00", day="2025-04-01", dx="E11.900")],
               [line("K1", 1, "A1", "20000.00"), line("V1", 1, "A1", "1000.00", "2025-04-01")], policy=pol)
    assert r["V1"]["benefit_setting"] == "special_outpatient"
    assert (r["K1"]["fund_computed"], r["K1"]["over_cap"]) == (D("10000.00"), D("6320.00"))
    assert (r["V1"]["fund_uncapped"], r["V1"]["fund_computed"]) == (D("800.00"), D("0.00"))


def test_class_b_share_is_rounded_half_up_per_line_and_class_c_is_excluded():
    # B1 10 %: 20.05 × 0.10 = 2.005 → 2.01 (half-up; half-even would give 2.00); B2 version of the service date:
    # 2024 15 %, 2025 20 %: 100 × 0.20 = 20.00; C1 and an unknown code are 自费
    r, _ = run([case("K1", "P1", "H3", "employee", "inpatient", "1240.05")],
               [line("K1", 1, "B1", "20.05"), line("K1", 2, "B2", "100.00", "2025-01-02"),
                line("K1", 3, "C1", "70.00"), line("K1", 4, "NOPE", "50.00"), line("K1", 5, "A1", "1000.00")])
    k = r["K1"]
    assert (k["class_b"], k["class_b_self_pay"], k["class_c"]) == (D("120.05"), D("22.01"), D("120.00"))
    assert k["covered"] == D("1098.04")  # 1000 + 120.05 − 22.01
    # (1098.04 − 800) × 85 % = 253.334 → 253.33
    assert k["fund_computed"] == D("253.33")
    assert k["fund_computed"] + k["self_pay_computed"] + k["excluded_computed"] == D("1240.05")


def test_fund_rounding_is_half_up_once_per_case():
    # covered 801.10 → (1.10) × 85 % = 0.935 → 0.94
    r, _ = run([case("K1", "P1", "H3", "employee", "inpatient", "801.10")], [line("K1", 1, "A1", "801.10")])
    assert r["K1"]["fund_computed"] == D("0.94")


def test_part_without_lines_counts_as_class_a_or_as_self_pay():
    cs = [case("K1", "P1", "H3", "employee", "inpatient", "2000.00")]
    ls = [line("K1", 1, "A1", "1800.00")]
    r, _ = run(cs, ls)
    assert (r["K1"]["unlisted"], r["K1"]["covered"], r["K1"]["fund_computed"]) == (D("200"), D("2000"), D("1020.00"))
    pol = PARAMS.load(None, overrides={"benefit": {"unlisted_class": "C"}})
    r, _ = run(cs, ls, policy=pol)
    assert (r["K1"]["covered"], r["K1"]["excluded_computed"], r["K1"]["fund_computed"]) == (D("1800"), D("200"), D("850.00"))


def test_place_of_care_catalogue_prices_cases_elsewhere():
    # X3 lies in 440106 (Guangzhou): with Guangzhou's catalogue (A1 is class C there) the line is 自费
    con, src = region([case("K1", "P1", "X3", "employee", "inpatient", "1000.00"),
                       case("K2", "P1", "H3", "employee", "inpatient", "1000.00", day="2025-04-01")],
                      [line("K1", 1, "A1", "1000.00"), line("K2", 1, "A1", "1000.00", "2025-03-30")])
    con.execute("CREATE TABLE gz AS SELECT 'A1' AS item_code, 'C' AS class, NULL::DECIMAL(9,4) AS self_pay_ratio, "
                "DATE '2020-01-01' AS valid_from, NULL::DATE AS valid_to")
    src2 = Sources(src.cases, src.fee_items, src.catalog, src.institutions, other_catalogs=(("440100", "gz"),))
    r = rows(compute(con, src2, P))
    assert (r["K1"]["catalogue_region"], r["K1"]["class_c"], r["K1"]["fund_computed"]) == ("440100", D("1000"), D("0.00"))
    assert (r["K2"]["catalogue_region"], r["K2"]["class_a"]) == ("440200", D("1000"))


def test_only_cases_settled_in_the_policy_year():
    r, _ = run([case("K1", "P1", "H3", "employee", "inpatient", "1000.00", day="2024-12-31")],
               [line("K1", 1, "A1", "1000.00", "2024-12-30")])
    assert r == {}


def test_b01_flags_beyond_tolerance_with_the_arithmetic():
    # computed 6715.00 (test above): booked 6715.01 within the 0.01 tolerance, 6715.02 rejected 0.02, 6000 warned 715
    cs = [case(f"K{i}", f"P{i}", "H3", "employee", "inpatient", "10000.00", booked=b)
          for i, b in enumerate(("6715.01", "6715.02", "6000.00"), 1)]
    ls = [x for i in (1, 2, 3) for x in (line(f"K{i}", 1, "A1", "6000.00"), line(f"K{i}", 2, "B1", "3000.00"),
                                         line(f"K{i}", 3, "C1", "1000.00"))]
    con, src = region(cs, ls)
    f = {r["case_id"]: r for r in findings(con, compute(con, src, P), P["benefit.tolerance"]).to_pylist()}
    assert set(f) == {"K2", "K3"}
    assert (f["K2"]["severity"], f["K2"]["amount"], f["K3"]["severity"], f["K3"]["amount"]) == \
        ("reject", D("0.02"), "warn", D("715.00"))
    assert f["K3"]["message"] == (
        "统筹基金记账与待遇政策计算不符：统筹基金记账 6000.00 元，按待遇政策计算应为 6715.00 元，少记 715.00 元"
        "（容差 0.01 元）：政策范围内费用 8700.00 元（甲类 6000.00 + 乙类 3000.00 − 乙类先行自付 300.00；"
        "丙类及目录外 1000.00 元自费）；起付线 800.00 元；7900.00×85% = 6715.00 元（四舍五入到分）")


def test_message_names_bands_and_cap():
    pol = PARAMS.load(None, overrides={"benefit": {"cap": {"employee": {"pooling": "30000.00"}}}})
    con, src = region([case("K1", "P1", "H3", "employee", "inpatient", "50000.00", booked="42420.00")],
                      [line("K1", 1, "A1", "50000.00")])
    (f,) = findings(con, compute(con, src, pol), "0.01").to_pylist()
    assert "29200.00×85% + 20000.00×88% = 42420.00 元" in f["message"]
    assert "年度最高支付限额 30000.00 元，此前已支付 0.00 元，封顶扣减 12420.00 元" in f["message"]
    assert f["amount"] == D("12420.00")


def test_policy_file_problems_all_at_once(tmp_path):
    p = tmp_path / "b.toml"
    p.write_text('[benefit]\nregion_code = "44"\ntolerance = "-1"\n[benefit.rate1.employee_inpatient]\n"3" = "1.5"\n',
                 encoding="utf-8")
    from yibao.contract.errors import BadPolicy
    with pytest.raises(BadPolicy) as e:
        load_policy(p)
    assert "tolerance" in str(e.value) and "rate1.employee_inpatient.3" in str(e.value)


def test_defaults_file_is_generated_from_the_declaration():
    from yibao.benefit.policy import DEFAULTS_FILE
    assert DEFAULTS_FILE.read_text(encoding="utf-8") == PARAMS.defaults_toml()
