"""Line rules on constructed cases: each with a positive case (finding, amount checked by hand) and a near miss."""

from __future__ import annotations

from decimal import Decimal

from .builder import D, Region, review

M = Decimal


def only(findings, rule_id):
    return [f for f in findings if f["rule_id"] == rule_id]


def test_price_over_cap_uses_the_version_valid_on_the_service_date():
    r = Region().case("A", admit="2024-06-29", discharge="2024-07-02")
    # the builder bills nursing at 24.00 until June 30 and 28.00 from July 1: all clean
    assert review(r, "L02") == []
    r.line("A", "NUR", "2024-06-30", "1", "28.00")  # 28 on June 30: the old cap 24 applies
    f = review(r, "L02")
    assert [(x["line_no"], x["amount"], x["severity"]) for x in f] == [(r.lines[-1]["line_no"], M("4.00"), "reject")]
    assert "最高限价 24.00" in f[0]["message"] and "2024-06-30" in f[0]["message"]


def test_price_over_cap_takes_excess_times_quantity():
    r = Region().case("A")
    no = r.line("A", "CEF", "2024-07-02", "3", "6.00")  # cap 5.20: (6.00 − 5.20) × 3 = 2.40
    assert [(x["line_no"], x["amount"]) for x in review(r, "L02")] == [(no, M("2.40"))]


def test_amount_mismatch_both_directions_and_one_fen_tolerance():
    r = Region().case("A")
    over = r.line("A", "CEF", "2024-07-02", "3", "5.20", amount="20.60")   # 15.60 expected → +5.00
    under = r.line("A", "CEF", "2024-07-03", "1.5", "5.20", amount="6.00")  # 7.80 expected → −1.80
    r.line("A", "CEF", "2024-07-03", "0.333", "5.20", amount="1.74")      # 1.7316 → 1.73: one fen off, tolerated
    f = review(r, "L03", "L04")
    assert [(x["line_no"], x["rule_id"], x["amount"]) for x in f] == [(over, "L03", M("5.00")), (under, "L04", M("1.80"))]
    assert only(f, "L03")[0]["severity"] == "reject" and only(f, "L04")[0]["severity"] == "warn"


def test_over_quantity_takes_the_excess_quantity():
    r = Region().case("A")
    r.line("A", "MERO", "2024-07-02", "6", "62.00")  # at the limit: clean
    no = r.line("A", "MERO", "2024-07-03", "9", "62.00")  # 3 over → 186.00
    f = review(r, "L05")
    assert [(x["line_no"], x["amount"]) for x in f] == [(no, M("186.00"))]


def test_sex_age_indication_level_restrictions():
    r = Region()
    r.case("MAN", person="M60").line("MAN", "PSA", "2024-07-02", "1", "60.00")            # male: allowed
    r.case("WOMAN", person="F30").line("WOMAN", "PSA", "2024-07-02", "1", "60.00")        # female: L06
    r.case("CHILD", person="K05", dx="J20.900").line("CHILD", "KID", "2024-07-02", "1", "12.00")  # allowed
    r.case("ADULT", person="M60", dx="J20.900").line("ADULT", "KID", "2024-07-02", "1", "12.00")  # 60 y: L07
    r.case("KIDLEVO", person="K05", dx="J20.900").line("KIDLEVO", "LEVO", "2024-07-02", "1", "12.00")  # 5 y < 18: L07
    r.case("DM", dx="J18.900", sec=["E11.900"]).line("DM", "INS", "2024-07-02", "1", "178.00")  # secondary dx ok
    r.case("NODM", dx="J18.900", sec=["I10.x00"]).line("NODM", "INS", "2024-07-02", "1", "178.00")  # L08
    r.case("L3", inst="H3").line("L3", "MERO", "2024-07-02", "2", "62.00")                # level 3 ≥ 2
    r.case("L1", inst="H1").line("L1", "MERO", "2024-07-02", "2", "62.00")                # level 1 < 2: L09
    f = review(r, "L06", "L07", "L08", "L09")
    got = sorted((x["case_id"], x["rule_id"], x["amount"]) for x in f)
    assert got == [("ADULT", "L07", M("12.00")), ("KIDLEVO", "L07", M("12.00")), ("L1", "L09", M("124.00")),
                   ("NODM", "L08", M("178.00")), ("WOMAN", "L06", M("60.00"))]
    assert "限女" not in only(f, "L06")[0]["message"] and "限男性" in only(f, "L06")[0]["message"]


def test_drug_substitution_price_band():
    r = Region().case("A")
    r.line("A", "MERO", "2024-07-02", "2", "40.00")        # 65 % of the cap: a discount, not a band mismatch
    no = r.line("A", "MERO", "2024-07-03", "2", "31.00")   # exactly 50 % of 62.00: flagged, whole line
    r.line("A", "NUR", "2024-07-03", "1", "5.00")           # services are not drugs (item_kinds = drug)
    f = review(r, "L16")
    assert [(x["line_no"], x["amount"]) for x in f] == [(no, M("62.00"))]


def test_suspended_staff_emergency_exempt_and_period_bounds():
    r = Region().suspend("S9", "2024-07-02", "2024-07-03")  # suspended on July 2 only (end exclusive)
    r.case("A", admit="2024-07-01", discharge="2024-07-04")
    a1 = r.line("A", "CEF", "2024-07-01", "1", "5.20", staff="S9")  # before: fine
    a2 = r.line("A", "CEF", "2024-07-02", "1", "5.20", staff="S9")  # inside: reject
    r.line("A", "CEF", "2024-07-03", "1", "5.20", staff="S9")       # end date is the first day qualified again
    r.case("E", admit="2024-07-01", discharge="2024-07-04", emergency=True)
    r.line("E", "CEF", "2024-07-02", "1", "5.20", staff="S9")       # emergency: exempt
    f = review(r, "L11")
    assert [(x["case_id"], x["line_no"], x["amount"]) for x in f] == [("A", a2, M("5.20"))]
    assert a1 != a2


def test_terminated_staff_open_period():
    r = Region().suspend("S9", "2024-01-01", None, status="terminated").case("A", staff="S9")
    f = review(r, "L11")
    assert len(f) == 9 and all("终止" in x["message"] for x in f)  # 3 stay days × 3 daily lines


def test_duplicate_charge_beyond_the_daily_limit():
    r = Region().case("A")
    no = r.line("A", "BED", "2024-07-02", "1", "80.00")  # a second bed day on July 2 (limit 1/day)
    r.line("A", "CEF", "2024-07-02", "2", "5.20")          # 2 + 2 = 4 = the limit: not a duplicate charge
    f = review(r, "L12")
    assert [(x["line_no"], x["amount"]) for x in f] == [(no, M("80.00"))]
    assert "重复计费 2 条" in f[0]["message"]


def test_not_in_catalogue_or_expired():
    r = Region().case("A")
    no = r.line("A", "ZZZ", "2024-07-02", "1", "10.00")
    f = review(r, "L01")
    assert [(x["line_no"], x["severity"]) for x in f] == [(no, "warn")]


def test_region_override_switches_off_and_tunes(tmp_path):
    r = Region().case("A")
    r.line("A", "MERO", "2024-07-03", "2", "40.00")  # 65 % of cap
    ov = tmp_path / "local.toml"
    ov.write_text('[rules.L16.params]\nmin_price_ratio = "0.70"\n[rules.L02]\nenabled = false\n', encoding="utf-8")
    assert len(review(r, "L16", override=ov)) == 1
    from yibao.review.ruleset import load_rules

    assert not load_rules(ov).by_id("L02").enabled


def test_drug_substitution_price_of_another_drug():
    r = Region().case("A")
    no = r.line("A", "MERO", "2024-07-02", "1", "52.00")   # 84 % of 62.00, but exactly 丹红注射液's cap 52.00
    r.line("A", "MERO", "2024-07-03", "1", "50.00")        # 81 %: no catalogue drug costs 50.00
    r.line("A", "INS", "2024-07-03", "1", "178.00")        # its own cap: fine
    f = review(r, "L13")
    assert [(x["line_no"], x["amount"]) for x in f] == [(no, M("52.00"))]
    assert "丹红注射液（DANHONG）" in f[0]["message"]


def test_suspended_staff_overlapping_periods():
    r = Region().suspend("S9", "2024-07-01", "2024-07-10").suspend("S9", "2024-07-05", None, status="terminated")
    r.case("A", admit="2024-06-30", discharge="2024-07-12", daily=False)
    for day in ("2024-06-30", "2024-07-03", "2024-07-06", "2024-07-11"):
        r.line("A", "CEF", day, "1", "5.20", staff="S9")
    f = review(r, "L11")
    assert [(x["line_no"], "终止" in x["message"], "自 2024-07-01" in x["message"]) for x in f] == [
        (2, False, True), (3, True, True), (4, True, False)]  # on 07-11 only the termination (from 07-05) covers


def test_template_rules_department_and_scheme_limits(tmp_path):
    ov = tmp_path / "r.toml"
    ov.write_text('[rules.L14]\nenabled = true\n[rules.L14.params]\nitem_keywords = ["针刺"]\ndept_prefixes = ["05"]\n'
                  '[rules.L15]\nenabled = true\n[rules.L15.params]\nitem_keywords = ["特需"]\nschemes = ["employee"]\n',
                  encoding="utf-8")
    r = Region()
    r.case("TCM", setting="outpatient", dept="0501").line("TCM", "ACU", "2024-07-01", "1", "30.00", name="普通针刺")
    r.case("SUR", setting="outpatient", dept="0300", person="F30").line("SUR", "ACU", "2024-07-01", "1", "30.00",
                                                                        name="普通针刺")
    r.case("RES", setting="outpatient", scheme="resident", person="K05")
    r.line("RES", "VIP", "2024-07-01", "1", "300.00", name="单人病房床位费（特需）")
    r.case("EMP", setting="outpatient", admit="2024-07-02")
    r.line("EMP", "VIP", "2024-07-02", "1", "300.00", name="单人病房床位费（特需）")
    f = review(r, "L14", "L15", override=ov)
    assert sorted((x["case_id"], x["rule_id"], x["amount"]) for x in f) == [("RES", "L15", M("300.00")),
                                                                            ("SUR", "L14", M("30.00"))]
    from yibao.review.ruleset import load_rules

    rs = load_rules()
    assert not rs.by_id("L14").enabled and not rs.by_id("L15").enabled  # templates, off in the built-in base


def _reference_region():
    """A drug without a cap billed at 10.00 by three institutions (30 lines), plus the lines under test."""
    r = Region()
    r.catalog.append({"item_code": "NOCAP", "item_name": "无限价药品", "item_kind": "drug", "class": "A",
                      "price_cap": None, "valid_from": D("2020-01-01")})
    for i in range(30):
        inst = ("H1", "H2", "H3")[i % 3]
        r.case(f"R{i:02d}", inst=inst, admit="2024-07-01", daily=False)
        r.line(f"R{i:02d}", "NOCAP", "2024-07-01", "1", "10.00")
    r.case("T", inst="H3", daily=False)
    return r


def test_substitution_against_the_learned_reference_price_both_directions():
    r = _reference_region()
    low = r.line("T", "NOCAP", "2024-07-02", "1", "5.90")    # 59 % of the reference 10.00: flagged
    r.line("T", "NOCAP", "2024-07-02", "2", "6.10")          # 61 %: a discount, not another drug
    high = r.line("T", "NOCAP", "2024-07-03", "1", "16.80")  # 168 % of a drug without a cap: flagged
    r.line("T", "NOCAP", "2024-07-03", "1", "16.60")         # 166 %: not far enough
    mero = r.line("T", "MERO", "2024-07-03", "1", "37.00")   # 59.7 % of its cap 62.00 (too few lines to learn)
    r.line("T", "MERO", "2024-07-04", "1", "37.50")          # 60.5 % of the cap
    r.line("T", "MERO", "2024-07-04", "1", "99.00")          # above a cap: L02's excess, not L10
    f = review(r, "L10")
    assert [(x["line_no"], x["severity"], x["amount"]) for x in f] == [
        (low, "warn", M("5.90")), (high, "warn", M("16.80")), (mero, "warn", M("37.00"))]
    # both prices in the message, and where the reference comes from (34 lines: the 30 and the 4 under test)
    assert "实收单价 5.90 元，本编码参考单价 10.00 元（全部机构 34 条明细的中位数），为参考价的 59%" in f[0]["message"]
    assert "为参考价的 168%" in f[1]["message"]
    assert "实收单价 37.00 元，本编码参考单价 62.00 元（目录限价），为参考价的 60%" in f[2]["message"]


def test_learned_reference_prices_are_returned_with_the_review():
    from yibao.review.ruleset import load_rules
    from yibao.review.run import run

    r = _reference_region()
    r.line("T", "NOCAP", "2024-07-02", "1", "5.90")
    src = r.tables()
    periods = src.pop("qualification_periods")
    refs = {(x["item_code"], x["basis"], x["inst_level"]): x  # (one catalogue version of NOCAP)
            for x in run(src, load_rules().only("L10"), periods=periods).references.to_pylist()}
    allx = refs[("NOCAP", "price", -1)]
    assert (allx["n_lines"], allx["n_institutions"], allx["median"], allx["mad"]) == (31, 3, 1000, 0)
    lvl3 = refs[("NOCAP", "price", 3)]  # H3: 10 lines at 10.00 and the 5.90 one
    assert (lvl3["n_lines"], lvl3["n_institutions"], lvl3["median"]) == (11, 1, 1000)
