"""Case and person rules on constructed cases: positive and negative."""

from __future__ import annotations

from decimal import Decimal

from .builder import Region, review

M = Decimal


def ids(findings, rule_id=None):
    return sorted({f["case_id"] for f in findings if rule_id is None or f["rule_id"] == rule_id})


def test_uncovered_item_booked_to_the_fund():
    r = Region()
    r.case("PAID", excluded="80.00").line("PAID", "THY", "2024-07-02", "1", "80.00")  # patient paid it: fine
    r.case("FUND", excluded="0.00").line("FUND", "THY", "2024-07-02", "1", "80.00")   # booked to fund
    r.case("HALF", excluded="30.00").line("HALF", "THY", "2024-07-02", "1", "80.00")  # 50.00 to fund
    f = review(r, "C01")
    assert [(x["case_id"], x["line_no"], x["amount"]) for x in f] == [("FUND", None, M("80.00")), ("HALF", None, M("50.00"))]


def test_services_after_death():
    r = Region()
    r.insured.append({"person_id": "DEAD", "sex": "1", "birth_date": r.insured[0]["birth_date"], "scheme": "employee",
                      "region_code": "440200", "death_date": __import__("datetime").date(2024, 7, 10)})
    r.case("BEFORE", person="DEAD", admit="2024-07-01", discharge="2024-07-10", mode="5")  # died in hospital
    r.case("AFTER", person="DEAD", setting="outpatient", admit="2024-08-20")
    f = review(r, "C02")
    assert ids(f) == ["AFTER"] and f[0]["severity"] == "reject" and f[0]["amount"] == M("14.00")  # 70 % of 20.00


def test_overlapping_stays_flag_the_later_admission_only():
    r = Region()
    r.case("FIRST", inst="H3", admit="2024-07-01", discharge="2024-07-10")
    r.case("SECOND", inst="H2", admit="2024-07-05", discharge="2024-07-08")
    r.case("TRANSFER", inst="H1", admit="2024-07-10", discharge="2024-07-12")  # admitted on the discharge day
    f = review(r, "C03")
    assert ids(f) == ["SECOND"] and "FIRST" in f[0]["message"]


def test_split_admission_window_and_diagnosis_category():
    r = Region()
    r.case("A1", admit="2024-03-01", discharge="2024-03-05", dx="J18.900")
    r.case("A2", admit="2024-03-15", discharge="2024-03-18", dx="J18.000")        # 10 days, same J18: split
    r.case("B1", person="F30", admit="2024-03-01", discharge="2024-03-05", dx="J18.900")
    r.case("B2", person="F30", admit="2024-03-21", discharge="2024-03-24", dx="J18.900")  # 16 days: outside
    r.case("C1", person="K05", admit="2024-03-01", discharge="2024-03-05", dx="J18.900")
    r.case("C2", person="K05", admit="2024-03-08", discharge="2024-03-10", dx="K35.800")  # other category
    r.case("C3", person="K05", inst="H2", admit="2024-03-12", discharge="2024-03-14", dx="J18.900")  # other inst
    f = review(r, "C04")
    assert ids(f) == ["A2"] and "后 10 天" in f[0]["message"]


def test_split_admission_window_is_a_parameter(tmp_path):
    r = Region()
    r.case("B1", person="F30", admit="2024-03-01", discharge="2024-03-05", dx="J18.900")
    r.case("B2", person="F30", admit="2024-03-21", discharge="2024-03-24", dx="J18.900")
    ov = tmp_path / "r.toml"
    ov.write_text("[rules.C04.params]\nmax_gap_days = 30\n", encoding="utf-8")
    assert ids(review(r, "C04", override=ov)) == ["B2"]


def test_phantom_stay_days_without_bed_nursing_or_drugs():
    r = Region()
    r.case("REAL", admit="2024-07-01", discharge="2024-07-11")
    r.case("PHANTOM", person="F30", admit="2024-07-01", discharge="2024-07-11", daily=False)
    for day in ("2024-07-01", "2024-07-02", "2024-07-03", "2024-07-09", "2024-07-10"):
        r.line("PHANTOM", "BED", day, "1", "80.00")
    r.line("PHANTOM", "OXY", "2024-07-05", "10", "3.00")  # a treatment line does not prove a bed day
    r.case("SHORTGAP", person="K05", admit="2024-07-01", discharge="2024-07-05", daily=False)
    for day in ("2024-07-01", "2024-07-02", "2024-07-04"):
        r.line("SHORTGAP", "BED", day, "1", "80.00")  # one empty day: below the 3-day threshold
    f = review(r, "C05")
    assert ids(f) == ["PHANTOM"] and "有 5 天" in f[0]["message"] and "2024-07-04" in f[0]["message"]


def test_low_standard_admission_listed_template():
    """The former C06 (a fixed list of minor conditions) is the template C20, off by default."""
    r = Region()
    r.case("MINOR", dx="J06.900", admit="2024-07-01", discharge="2024-07-03")
    r.case("MINORLONG", person="F30", dx="J06.900", admit="2024-07-01", discharge="2024-07-09")  # 8 days
    r.case("MINOREMERG", person="K05", dx="I10.x00", admit="2024-07-01", discharge="2024-07-02", emergency=True)
    r.case("PNEUMONIA", dx="J18.900", admit="2024-08-01", discharge="2024-08-03")
    r.case("MINOROP", dx="J06.900", setting="outpatient", admit="2024-09-01")
    f = review(r, "C20")
    assert ids(f) == ["MINOR"]


def test_upcoding_needs_supporting_lines():
    r = Region()
    r.case("RF", dx="J18.900", sec=["J96.000"])                                 # no oxygen: flagged
    r.case("RFOK", person="F30", dx="J18.900", sec=["J96.000"])
    r.line("RFOK", "OXY", "2024-07-02", "16", "3.00")                           # oxygen: supported
    r.case("SHOCK", person="K05", dx="K35.800", sec=["R57.200"])                # antibiotics alone: not ICU
    r.case("SHOCKOK", admit="2024-09-01", dx="K35.800", sec=["R57.200"])
    r.line("SHOCKOK", "ICU", "2024-09-01", "1", "480.00")
    r.case("LEVO", person="F30", admit="2024-10-01", dx="J18.900", sec=["J96.000"])
    r.line("LEVO", "LEVO", "2024-10-01", "1", "12.00")                          # 左氧氟沙星 is not oxygen
    f = review(r, "C07")
    assert ids(f) == ["LEVO", "RF", "SHOCK"]
    assert "呼吸衰竭" in [x for x in f if x["case_id"] == "RF"][0]["message"]


def test_suspended_attending_physician():
    r = Region().suspend("S9", "2024-07-01", "2024-08-01")
    r.case("IN", staff="S9", admit="2024-07-10", daily=False)
    r.case("OUT", staff="S9", admit="2024-08-01", daily=False)          # the period ended (exclusive end)
    r.case("EM", person="F30", staff="S9", admit="2024-07-10", daily=False, emergency=True)
    assert ids(review(r, "C08")) == ["IN"]


def test_outpatient_visit_frequency(tmp_path):
    r = Region()
    for d in range(1, 5):
        r.case(f"V{d}", setting="outpatient", admit=f"2024-07-0{d}")
    r.case("AUG", setting="outpatient", admit="2024-08-01")
    ov = tmp_path / "r.toml"
    ov.write_text("[rules.C09.params]\nmax_visits = 3\n", encoding="utf-8")
    f = review(r, "C09", override=ov)
    assert ids(f) == ["V4"] and "就诊 4 次" in f[0]["message"]


def test_shares_and_total_cost_standards():
    r = Region()
    r.case("EXCL", excluded="100.00", total="400.00", fund="200.00", daily=False)  # 25 % > 15 %; cash 50 % = std
    r.case("CASH", person="F30", total="400.00", fund="100.00", daily=False)       # cash 75 % > 50 %
    r.case("BIG", person="K05", total="250000.00", fund="200000.00", daily=False)
    f = review(r, "C10", "C11", "C12")
    got = sorted((x["case_id"], x["rule_id"]) for x in f)
    assert got == [("BIG", "C12"), ("CASH", "C11"), ("EXCL", "C10")]
    assert "25.0%" in [x for x in f if x["rule_id"] == "C10"][0]["message"]


def test_course_length_of_tcm_injections():
    r = Region()
    r.case("LONG", admit="2024-07-01", discharge="2024-07-20", daily=False)
    for d in range(1, 17):  # 16 days of 丹红注射液: days 15 and 16 are past the 14-day limit
        r.line("LONG", "DANHONG", f"2024-07-{d:02d}", "2", "52.00")
    r.case("SHORT", person="F30", admit="2024-07-01", discharge="2024-07-20", daily=False)
    for d in range(1, 15):
        r.line("SHORT", "DANHONG", f"2024-07-{d:02d}", "2", "52.00")
    f = review(r, "C13")
    assert [(x["case_id"], x["amount"]) for x in f] == [("LONG", M("104.00")), ("LONG", M("104.00"))]
    assert "第 15 天" in f[0]["message"] and "计费 16 天" in f[0]["message"]


def test_same_day_bed_or_nursing_of_two_kinds():
    r = Region()
    r.case("A", admit="2024-07-01", discharge="2024-07-04")  # clean: one bed, one nursing a day
    r.line("A", "ICUBED", "2024-07-02", "1", "260.00")  # ICU bed and ward bed on the same day
    ward = [ln["line_no"] for ln in r.lines if ln["item_code"] == "BED" and str(ln["service_date"]) == "2024-07-02"]
    f = review(r, "C14")
    assert ward == [4] and [(x["line_no"], x["amount"]) for x in f] == [(4, M("80.00"))]  # the cheaper one goes
    assert "已收取 重症监护病房床位费" in f[0]["message"]


def test_missing_companion_and_anaesthesia_without_procedure():
    r = Region()
    r.case("T1").line("T1", "TRANS", "2024-07-02", "1", "25.00")                 # transfusion, no cross-match
    r.case("T2", person="F30").line("T2", "TRANS", "2024-07-02", "1", "25.00")
    r.line("T2", "XMATCH", "2024-07-02", "1", "30.00")
    r.case("G1", person="K05").line("G1", "GA", "2024-07-02", "1", "1600.00")    # no procedure coded
    r.case("G2", admit="2024-09-01", procedures=["47.0100"]).line("G2", "GA", "2024-09-01", "1", "1600.00")
    f = review(r, "C15", "C16")
    assert sorted((x["case_id"], x["rule_id"], x["amount"]) for x in f) == [("G1", "C16", M("1600.00")),
                                                                            ("T1", "C15", M("25.00"))]


def test_repeated_surcharge_and_unbundled_items(tmp_path):
    r = Region()
    r.case("A", admit="2024-07-01", discharge="2024-07-04")
    r.line("A", "SUR1", "2024-07-02", "1", "20.00", name="急诊加收")
    second = r.line("A", "SUR1", "2024-07-02", "1", "20.00", name="急诊加收")   # twice on one day
    r.line("A", "SUR1", "2024-07-03", "1", "20.00", name="急诊加收")            # once the next day: fine
    r.line("A", "GA", "2024-07-02", "1", "1600.00")
    mon = r.line("A", "MON", "2024-07-02", "1", "280.00", name="麻醉中监测")
    r.line("A", "MON", "2024-07-03", "1", "280.00", name="麻醉中监测")          # no anaesthesia that day
    ov = tmp_path / "r.toml"
    ov.write_text("[rules.C18]\nenabled = true\n", encoding="utf-8")
    f = review(r, "C17", "C18", override=ov)
    assert [(x["line_no"], x["rule_id"], x["amount"]) for x in f] == [(second, "C17", M("20.00")),
                                                                      (mon, "C18", M("280.00"))]
    assert "已收取 全身麻醉" in f[1]["message"]


def _j06_outpatient_region() -> Region:
    """J06 seen as outpatient care: 60 outpatient visits, 3 peers of its own (6 days, 10 000.00 each) and a 5-day
    stay (a peer too: 4 in all), beside 3 peers of another category (K80, 10 000.00 each)."""
    r = Region()
    for i in range(60):
        r.case(f"OP{i:02d}", person="F30", dx="J06.900", setting="outpatient", admit="2024-03-01", daily=False)
    for i in range(3):
        r.case(f"PEER{i}", person="K05", dx="K80.100", admit=f"2024-0{i + 4}-01", discharge=f"2024-0{i + 4}-07",
               daily=False, total="10000.00")
        r.case(f"JPEER{i}", person="K06", dx="J06.900", admit=f"2024-0{i + 4}-01", discharge=f"2024-0{i + 4}-07",
               daily=False, total="10000.00")
    r.case("LONG", dx="J06.900", admit="2024-10-01", discharge="2024-10-06", daily=False, total="900.00")  # 5 days
    return r


def test_low_standard_admission_learned_from_the_region(tmp_path):
    """C06 (with a region's smaller thresholds): J06 is outpatient care here — of its 60 outpatient visits and its 4
    inpatient peers (stays of ≥ 5 days), 60 of 64 = 93.8 % ≥ 90 % are outpatient; its short stays (the ones the rule
    looks at) do not count —, the region's inpatient peers (stays of ≥ 5 days) cost 10 000.00 at the median, and
    J06 has too few peers of its own (4 < 5), so a short stay costs at most 45 % of it (4 500.00)."""
    r = _j06_outpatient_region()
    r.case("MINOR", dx="J06.900", admit="2024-07-01", discharge="2024-07-03", daily=False, total="4500.00")
    r.case("DEAR", dx="J06.900", admit="2024-08-01", discharge="2024-08-03", daily=False, total="4500.01")
    r.case("OPERATED", dx="J06.900", admit="2024-09-01", discharge="2024-09-03", daily=False, total="900.00",
           procedures=["47.0100"])
    ov = tmp_path / "local.toml"
    ov.write_text('[rules.C06.params]\nmin_category_cases = 10\nmin_peers = 5\nmin_outpatient_share = "0.90"\n',
                  encoding="utf-8")
    f = review(r, "C06", override=ov)
    assert ids(f) == ["MINOR"]
    assert ("主要诊断 J06.900 所属类别在本区门诊与 5 天以上住院的就诊中 93.8% 为门诊，本次住院 2 天、总费用 4500.00 元，"
            "不高于全区住院病例费用中位数 10000.00 元的 45%") in f[0]["message"]
    # 60 of 64 is below 95 %: a category the region does not treat as outpatient care is not flagged
    ov.write_text('[rules.C06.params]\nmin_category_cases = 10\nmin_peers = 5\nmin_outpatient_share = "0.95"\n',
                  encoding="utf-8")
    assert review(r, "C06", override=ov) == []


def test_low_standard_admissions_do_not_make_their_category_look_like_inpatient_care(tmp_path):
    """The share is learned without the short stays: 40 short cheap J06 stays beside 60 outpatient visits (and 4
    peers) are still a category treated as outpatient care (60 of 64), not one that is 60 % outpatient (60 of
    104). The more a region admits such patients, the more of them the rule finds — whatever the region's size."""
    r = _j06_outpatient_region()
    for i in range(40):
        r.case(f"SHORT{i:02d}", person=f"S{i:02d}", dx="J06.900", admit="2024-07-01", discharge="2024-07-03",
               daily=False, total="1200.00")
    ov = tmp_path / "local.toml"
    ov.write_text('[rules.C06.params]\nmin_category_cases = 10\nmin_peers = 5\n', encoding="utf-8")
    f = review(r, "C06", override=ov)
    assert ids(f) == [f"SHORT{i:02d}" for i in range(40)]
    assert "所属类别在本区门诊与 5 天以上住院的就诊中 93.8% 为门诊" in f[0]["message"]


def test_a_symptom_seen_only_in_short_stays_counts_as_outpatient_care(tmp_path):
    """R42 (dizziness) seen only as 60 short stays: with no outpatient visit and no peer nothing is learned about
    the category (0 < min_category_cases), and a symptom or sign without any longer stay counts as outpatient
    care — however many such stays the region has (before, 60 stays ≥ 50 made a learned share of 0 %)."""
    r = Region()
    for i in range(3):
        r.case(f"PEER{i}", person="K05", dx="K80.100", admit=f"2024-0{i + 4}-01", discharge=f"2024-0{i + 4}-07",
               daily=False, total="10000.00")
    for i in range(60):
        r.case(f"R{i:02d}", person=f"S{i:02d}", dx="R42.x00", admit="2024-07-01", discharge="2024-07-02",
               daily=False, total="800.00")
    r.case("LONG", person="S99", dx="R51.x00", admit="2024-07-01", discharge="2024-07-08", daily=False,
           total="800.00")
    r.case("HEADACHE", person="S98", dx="R51.x00", admit="2024-08-01", discharge="2024-08-02", daily=False,
           total="800.00")  # R51 has a stay of 7 days: not a symptom the region never keeps in hospital
    f = review(r, "C06")
    assert ids(f) == [f"R{i:02d}" for i in range(60)]
    assert ("主要诊断 R42.x00 为症状体征，所属类别在本区门诊 0 例、无 5 天以上住院（病例过少，按门诊诊疗），本次住院 1 天"
            in f[0]["message"])
