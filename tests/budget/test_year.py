"""The budget year worked by hand: split, months, clearing for a three-institution region.

Region (budget year 2025; employee scheme only; amounts in yuan):

    A  hospital, level 3      B  hospital, level 2      C  primary (基层), level 1

Policy: history weights 1:2:7, split by fund_paid only (basis_fund_paid = 1); deposit 5 %,
clearing reserve 5 %, flat months, monthly cap, no mid-year adjustment, no turnover fund
(unless a test changes it); clearing bands are the defaults (≤ 5 % → 60 %, 5–10 % → 50 %,
above → 0 %, marginal); keep 50 % of a saving up to 10 % of quota; compensation 50 % of the
overrun explained by 人次 growth beyond 10 %.

**Split.** Inpatient history (fund_paid, the same in 2022, 2023, 2024): A 500 000, B 300 000,
C 200 000 → weighted (1×x + 2×x + 7×x) / 10 = x; shares 0.5 / 0.3 / 0.2 of the pot
1 200 000.00 → A 600 000.00, B 360 000.00, C 240 000.00.
Outpatient pot 100 000.00, history A 60 000, B 30 000, C 10 000: base shares 0.6 / 0.3 / 0.1;
基层 C has 10 % < floor 30 % → C is scaled to exactly 30 % = 30 000.00; A and B share 70 000 in
2 : 1 = 46 666.666… and 23 333.333…; in fen 4 666 666 + 2 333 333 = 6 999 999, the one fen left
goes to the larger remainder (A, .67 > .33): A 46 666.67, B 23 333.33.

**Months (inpatient).** A: withheld 30 000 + 30 000, monthly budget 540 000 → 45 000 a month;
booked 50 000 a month → paid 45 000, deferred 5 000; year: paid 540 000, deferred 60 000.
B: withheld 18 000 + 18 000, 27 000 a month; booked 33 000 → paid 27 000, deferred 6 000;
year: booked 396 000, paid 324 000, deferred 72 000. C: withheld 12 000 + 12 000, 18 000 a
month; booked 15 000 → paid 15 000, nothing deferred; year 180 000.

**Clearing (inpatient).**
A: booked = quota 600 000 → base 600 000; score 100 → deposit returned whole; final =
600 000 − 540 000 = 60 000.00.
B: overrun 36 000 = 10 % of quota; fund share 18 000 × 0.6 + 18 000 × 0.5 = 19 800, borne
16 200; base 379 800. 人次 100 → 130 (+30 % > 10 %): reasonable overrun min(16 200,
360 000 × (0.30 − 0.10) = 72 000) = 16 200, compensation × 0.5 = 8 100. Pot left before
compensation 1 200 000 − 600 000 − 379 800 − 200 400 = 19 800 ≥ 8 100: paid in full.
Entitlement 387 900; final = 387 900 − 324 000 = 63 900.00.
C: saving 60 000, kept min(30 000, 24 000) = 24 000, base 204 000; score 75 → band ≥ 70 →
70 % of the deposit 12 000 returned = 8 400, deducted 3 600; entitlement 200 400; final =
200 400 − 180 000 = 20 400.00.
Fund pays 1 044 000 monthly + 144 300 at clearing = 1 188 300 = Σ entitlements; the pot's
balance 1 200 000 − 1 188 300 = 11 700.00 stays in the fund.
"""

from __future__ import annotations

import csv
from decimal import Decimal as D
from pathlib import Path

import pytest

from budget.year_example import inputs, inst, with_, year_policy_from
from yibao.budget.policy import load_policy
from yibao.budget.year import BudgetError, compute_year, csv_text, run_year, write_year

POLICY = """
[split]
basis_fund_paid = "1"
basis_visits = "0"
basis_persons = "0"
[cycle]
midyear_month = 0
[clearing.scores]
C = "75"
"""
INSTS = [inst("A", level=3), inst("B", level=2), inst("C", kind="primary", level=1)]


def example_inputs(b_visits_2025: int = 130, months_visits: dict | None = None):
    history, months = {}, {}
    for y in (2022, 2023, 2024):
        for k, fund in (("A", "500000.00"), ("B", "300000.00"), ("C", "200000.00")):
            history[(k, y, "employee", "inpatient")] = (100, 90, D(fund))
        for k, fund in (("A", "60000.00"), ("B", "30000.00"), ("C", "10000.00")):
            history[(k, y, "employee", "outpatient")] = (1000, 500, D(fund))
    history[("C", 2024, "employee", "inpatient")] = (50, 45, D("200000.00"))
    history[("A", 2025, "employee", "inpatient")] = (100, 90, D("600000.00"))
    history[("B", 2025, "employee", "inpatient")] = (b_visits_2025, 120, D("396000.00"))
    history[("C", 2025, "employee", "inpatient")] = (50, 45, D("180000.00"))
    for m in range(1, 13):
        for k, booked in (("A", "50000.00"), ("B", "33000.00"), ("C", "15000.00")):
            v = (months_visits or {}).get(k, (10, 10))
            months[(k, 2025, m, "employee", "inpatient")] = (v[1], D(booked))
            months[(k, 2024, m, "employee", "inpatient")] = (v[0], D(booked))
    return inputs(INSTS, history, months, {"employee.inpatient": "1200000.00", "employee.outpatient": "100000.00"})


def by(rows, pot: str) -> dict:
    return {r.institution_id: r for r in rows if r.pot == pot}


def test_worked_example_split(tmp_path: Path) -> None:
    res = compute_year(example_inputs(), year_policy_from(tmp_path, POLICY))
    q = by(res.quotas, "employee.inpatient")
    assert {k: r.quota for k, r in q.items()} == {"A": D("600000.00"), "B": D("360000.00"), "C": D("240000.00")}
    assert q["A"].hist_fund_paid == D("500000.00") and not q["A"].floor_applied
    o = by(res.quotas, "employee.outpatient")
    assert {k: r.quota for k, r in o.items()} == {"A": D("46666.67"), "B": D("23333.33"), "C": D("30000.00")}
    assert o["C"].floor_applied and o["C"].base_share == D("0.100000") and o["C"].share == D("0.300000")
    assert res.years_used == {2022: D(1), 2023: D(2), 2024: D(7)}


def test_worked_example_months(tmp_path: Path) -> None:
    res = compute_year(example_inputs(), year_policy_from(tmp_path, POLICY))
    lines = {c.institution_id: c for c in res.cycle if c.pot == "employee.inpatient"}
    a, b, c = lines["A"], lines["B"], lines["C"]
    assert (a.deposit, a.reserve, a.monthly_budget) == (D("30000.00"), D("30000.00"), D("540000.00"))
    assert {m.quota for m in a.months} == {D("45000.00")}
    assert {(m.paid, m.deferred) for m in a.months} == {(D("45000.00"), D("5000.00"))}
    assert (a.paid, a.deferred, b.paid, b.deferred, c.paid, c.deferred) == (
        D("540000.00"), D("60000.00"), D("324000.00"), D("72000.00"), D("180000.00"), D("0.00"))


def test_worked_example_clearing(tmp_path: Path) -> None:
    res = compute_year(example_inputs(), year_policy_from(tmp_path, POLICY))
    c = by(res.clearing, "employee.inpatient")
    assert (c["A"].entitlement, c["A"].final_transfer) == (D("600000.00"), D("60000.00"))
    b = c["B"]
    assert (b.overrun, b.overrun_rate, b.overrun_fund_share, b.overrun_borne) == (
        D("36000.00"), D("0.1000"), D("19800.00"), D("16200.00"))
    assert (b.visit_growth, b.compensation, b.entitlement, b.final_transfer) == (
        D("0.3000"), D("8100.00"), D("387900.00"), D("63900.00"))
    cc = c["C"]
    # issue 18: the kept saving reads the score — min(60 000 × 0.5, 240 000 × 0.1) = 24 000, and C's score 75 returns
    # 0.7 of its deposit, so it keeps 24 000 × 0.7 = 16 800 (before issue 18: 24 000, entitlement 200 400)
    assert (cc.saving, cc.saving_kept, cc.score, cc.deposit_returned, cc.deposit_deducted) == (
        D("60000.00"), D("16800.00"), D(75), D("8400.00"), D("3600.00"))
    assert (cc.entitlement, cc.final_transfer) == (D("193200.00"), D("13200.00"))  # 180 000 + 16 800 − 3 600
    pot = next(p for p in res.rows("pots") if p["pot"] == "employee.inpatient")
    assert (pot["month_transfers"], pot["final_transfers"], pot["fund_total_paid"], pot["balance"]) == (
        D("1044000.00"), D("137100.00"), D("1181100.00"), D("18900.00"))


def test_whole_band_mode_and_no_growth(tmp_path: Path) -> None:
    """B's overrun rate 10 % falls in the band ≤ 10 % → 50 % of all 36 000 = 18 000; 人次 flat → no compensation."""
    pol = year_policy_from(tmp_path, POLICY + '[clearing]\nband_mode = "whole"\n')
    res = compute_year(example_inputs(b_visits_2025=100), pol)
    b = by(res.clearing, "employee.inpatient")["B"]
    assert (b.overrun_fund_share, b.compensation, b.entitlement) == (D("18000.00"), D("0.00"), D("378000.00"))


def test_compensation_capped_by_what_the_pot_has_left(tmp_path: Path) -> None:
    """Pot 1 180 200 instead of 1 200 000: quotas shift, the pot's remainder caps B's compensation.

    Quotas: 590 100.00 / 354 060.00 / 236 040.00. A booked 600 000 → overrun 9 900 (1.68 %),
    fund 5 940 → base 596 040. B booked 396 000 → overrun 41 940 (11.85 %): 17 703 × 0.6 +
    17 703 × 0.5 + 6 534 × 0 = 19 473.30 → base 373 533.30; compensation wanted min(22 466.70,
    70 812) × 0.5 = 11 233.35. C saving 56 040, kept min(28 020, 23 604) = 23 604, deposit
    11 802 × 0.7 = 8 261.40, deducted 3 540.60 → 200 063.40. Left: 1 180 200 − 596 040 −
    373 533.30 − 200 063.40 = 10 563.30 < 11 233.35 → B gets 10 563.30; the pot is spent exactly.
    """
    inp = example_inputs()
    inp = type(inp)(inp.year, inp.institutions, inp.history, inp.months,
                    {"employee.inpatient": D("1180200.00"), "employee.outpatient": D("100000.00")})
    # this example was worked by hand with the kept saving not read by the score (issue 18 made that the default):
    # the policy says so, to keep the example's point — the pot's remainder capping B's compensation
    res = compute_year(inp, year_policy_from(tmp_path,
                                             POLICY.replace("[clearing.scores]",
                                                            "[clearing]\nsaving_by_score = \"none\"\n[clearing.scores]")))
    c = by(res.clearing, "employee.inpatient")
    assert [c[k].quota for k in "ABC"] == [D("590100.00"), D("354060.00"), D("236040.00")]
    assert (c["B"].overrun_fund_share, c["B"].compensation) == (D("19473.30"), D("10563.30"))
    pot = next(p for p in res.rows("pots") if p["pot"] == "employee.inpatient")
    assert pot["balance"] == D("0.00")


def test_midyear_adjustment_re_splits_the_remaining_months(tmp_path: Path) -> None:
    """B's 人次 in months 1–6: 78 this year against 60 last year (ratio 1.3000 > 1 + 20 %).

    Remaining month quotas (7–12): A 270 000, B 162 000, C 108 000 = 540 000. Weights A 270 000,
    B 162 000 × 1.3 = 210 600, C 108 000 (sum 588 600): exact shares 247 706.4220…,
    193 211.0092…, 99 082.5688…; fen floors leave 2 fen for the largest remainders (B .92,
    C .88): A 247 706.42, B 193 211.01, C 99 082.57. Annual adjustments −22 293.58,
    +31 211.01, −8 917.43 (sum 0); B's months 7–12 get 32 201.83 or 32 201.84 each.
    """
    pol = with_(year_policy_from(tmp_path, POLICY), "cycle", midyear_month=6)
    res = compute_year(example_inputs(months_visits={"B": (10, 13)}), pol)
    lines = {c.institution_id: c for c in res.cycle if c.pot == "employee.inpatient"}
    assert lines["B"].midyear_flagged and lines["B"].midyear_ratio == D("1.3000")
    assert not lines["A"].midyear_flagged
    assert [lines[k].adjustment for k in "ABC"] == [D("-22293.58"), D("31211.01"), D("-8917.43")]
    assert sum((m.quota for m in lines["B"].months[6:]), D(0)) == D("193211.01")
    assert {m.quota for m in lines["B"].months[6:]} == {D("32201.83"), D("32201.84")}
    assert all(m.adjustment == 0 for m in lines["B"].months[:6])


def test_turnover_fund_advanced_in_january_and_recovered(tmp_path: Path) -> None:
    """Turnover 10 %: A gets 60 000 in January; recovered at the clearing: its final transfer 60 000 − 60 000 = 0.
    With recovery in December instead, December's transfer is 45 000 − 60 000 = −15 000 and the final is 60 000."""
    pol = with_(year_policy_from(tmp_path, POLICY), "cycle", turnover_rate=D("0.10"))
    a = by(compute_year(example_inputs(), pol).clearing, "employee.inpatient")["A"]
    assert (a.turnover_advanced, a.turnover_outstanding, a.final_transfer) == (D("60000.00"), D("60000.00"), D("0.00"))
    pol = with_(pol, "cycle", turnover_recovery_month=12)
    res = compute_year(example_inputs(), pol)
    line = next(c for c in res.cycle if c.pot == "employee.inpatient" and c.institution_id == "A")
    assert (line.months[0].transfer, line.months[11].transfer) == (D("105000.00"), D("-15000.00"))
    assert by(res.clearing, "employee.inpatient")["A"].final_transfer == D("60000.00")


def test_cumulative_cap_pays_earlier_deferrals_when_room(tmp_path: Path) -> None:
    """C books 15 000 a month against 18 000: nothing deferred either way. B books 33 000 against 27 000:
    cumulative changes nothing (always over). With A's bookings 40 000 in January and 50 000 × 11,
    cumulative pays 40 000 in January and 45 000 after (year-to-date quota binds), like monthly."""
    pol = with_(year_policy_from(tmp_path, POLICY), "cycle", monthly_cap="cumulative")
    res = compute_year(example_inputs(), pol)
    for line in res.cycle:
        assert line.paid + line.deferred == line.booked
        ytd_paid = ytd_quota = D(0)
        for m in line.months:
            ytd_paid += m.paid
            ytd_quota += m.quota
            assert ytd_paid <= ytd_quota


def test_groups_and_recorded_transfers(tmp_path: Path) -> None:
    """Groups by kind: 医院 (A, B) weight 0.8, 基层 (C) 0.2 → 960 000 / 240 000. The groups agree
    that 基层 gives 12 000.00 to 医院 (recorded with its note); 医院 972 000 splits 5 : 3 →
    A 607 500.00, B 364 500.00; then A passes 500.00 to C by an institution transfer."""
    pol = year_policy_from(tmp_path, POLICY.replace("[split]\n", """[split]
groups = true
group_by = ["kind"]
""") + """
[[split.adjustments]]
pot = "employee.inpatient"
from_group = "primary"
to_group = "hospital"
amount = "12000.00"
note = "2025-01-08 组间协商纪要第 3 号"
[[split.adjustments]]
pot = "employee.inpatient"
from_institution = "A"
to_institution = "C"
amount = "500.00"
note = "双向转诊任务"
""")
    res = compute_year(example_inputs(), pol)
    q = by(res.quotas, "employee.inpatient")
    assert (q["A"].group_quota, q["C"].group_quota) == (D("972000.00"), D("228000.00"))
    assert (q["A"].split_quota, q["B"].split_quota, q["C"].split_quota) == (D("607500.00"), D("364500.00"), D("228000.00"))
    assert (q["A"].quota, q["C"].quota, q["A"].adjustment) == (D("607000.00"), D("228500.00"), D("-500.00"))
    assert sum(r.quota for r in q.values()) == D("1200000.00")
    assert [(a.level, a.from_, a.to, a.amount, a.note) for a in res.adjustments] == [
        ("group", "primary", "hospital", D("12000.00"), "2025-01-08 组间协商纪要第 3 号"),
        ("institution", "A", "C", D("500.00"), "双向转诊任务")]
    assert "组间协商纪要" in csv_text(res, "adjustments")


def test_transfer_larger_than_the_quota_is_refused(tmp_path: Path) -> None:
    pol = year_policy_from(tmp_path, POLICY + """
[[split.adjustments]]
pot = "employee.inpatient"
from_institution = "C"
to_institution = "A"
amount = "240000.01"
note = "x"
""")
    with pytest.raises(BudgetError, match=r"split.adjustments\[1\]：调出 240000.01 元超过机构 C"):
        compute_year(example_inputs(), pol)


def test_agreement_and_kind_decide_who_takes_part(tmp_path: Path) -> None:
    """A pharmacy and an institution whose agreement ended in 2024 get nothing; one that starts in
    April 2025 has 9 months in force: its weight × 9/12, no quota in January–March."""
    from datetime import date

    insts = INSTS + [inst("D", kind="pharmacy", level=0, category="other"),
                     inst("E", end=date(2024, 12, 31)), inst("F", start=date(2025, 4, 1))]
    inp = example_inputs()
    history = dict(inp.history)
    for y in (2022, 2023, 2024):
        history[("D", y, "employee", "outpatient")] = (10, 10, D("999.00"))
        history[("E", y, "employee", "inpatient")] = (10, 10, D("999.00"))
        history[("F", y, "employee", "inpatient")] = (100, 90, D("300000.00"))
    inp = type(inp)(inp.year, tuple(insts), history, inp.months, inp.pots)
    res = compute_year(inp, year_policy_from(tmp_path, POLICY))
    assert [(e["institution_id"], e["reason"]) for e in res.excluded] == [
        ("D", "机构类型 药店 不参与分解（split.kinds）"), ("E", "服务协议未覆盖 2025 年度")]
    q = by(res.quotas, "employee.inpatient")
    # weights A 0.5, B 0.3, C 0.2 of 1.0 before F; F 0.3 × 9/12 = 0.225 → total 1.225 (history 1 300 000)
    assert q["F"].months_in_force == 9 and q["F"].factor == D("0.7500")
    assert sum(r.quota for r in q.values()) == D("1200000.00")
    f_line = next(c for c in res.cycle if c.pot == "employee.inpatient" and c.institution_id == "F")
    assert all(m.quota == 0 for m in f_line.months[:3]) and all(m.quota > 0 for m in f_line.months[3:])


def test_missing_history_year_is_left_out_and_weights_renormalised(tmp_path: Path) -> None:
    """No case at all in 2022: the weighted history uses 2023 (2) and 2024 (7) only, averaged over 9."""
    inp = example_inputs()
    history = {k: v for k, v in inp.history.items() if k[1] != 2022}
    history[("A", 2024, "employee", "inpatient")] = (100, 90, D("509000.00"))
    inp = type(inp)(inp.year, inp.institutions, history, inp.months, inp.pots)
    res = compute_year(inp, year_policy_from(tmp_path, POLICY))
    assert res.years_used == {2023: D(2), 2024: D(7)}
    a = by(res.quotas, "employee.inpatient")["A"]
    assert a.hist_fund_paid == D("507000.00")  # (2 × 500 000 + 7 × 509 000) / 9


# --- on a workspace ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from regions import generated_workspace

    return generated_workspace(tmp_path_factory.mktemp("budget_region"), seed=3, cases=3000)


def region_policy(tmp_path: Path) -> Path:
    p = tmp_path / "policy.toml"
    p.write_text("""year = 2025
[fund.employee]
contributions = "900000.00"
personal_account = "270000.00"
outpatient_pooling = "60000.00"
out_of_area_realtime = "0.00"
out_of_area_manual = "0.00"
special_outpatient = "0.00"
marriage_checkup = "0.00"
outpatient_special_items = "0.00"
bed_day = "0.00"
other_policy = "0.00"
prior_year_total = "300000.00"
booked_total = "350000.00"
current_surplus = "100000.00"
accumulated_surplus = "0.00"
[cycle]
seasonality = "last_year"
turnover_rate = "0.05"
[clearing.scores]
""", encoding="utf-8")
    return p


def test_workspace_year_is_deterministic_and_written_with_chinese_headers(workspace: Path, tmp_path: Path) -> None:
    pol = load_policy(region_policy(tmp_path))
    first, second = run_year(workspace, pol), run_year(workspace, pol)
    write_year(first, tmp_path / "a")
    write_year(second, tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["adjustments.csv", "clearing.csv", "columns.csv", "excluded.csv", "institutions.csv",
                     "months.csv", "pots.csv", "quotas.csv"]
    for n in names:
        assert (tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes(), n
    rows = list(csv.reader((tmp_path / "a" / "clearing.csv").open(encoding="utf-8-sig")))
    assert rows[0][:3] == ["项目", "机构编码", "机构名称"] and "清算拨付（负数为应退回）" in rows[0]
    mapping = list(csv.reader((tmp_path / "a" / "columns.csv").open(encoding="utf-8-sig")))
    assert ["clearing.csv", "清算拨付（负数为应退回）", "final_transfer", "money"] in mapping
    pots = first.rows("pots")
    assert {p["pot"] for p in pots} == {"employee.inpatient", "employee.outpatient"}
    for p in pots:
        assert p["quota"] == p["amount"] and p["fund_total_paid"] == p["entitlement"]
    assert any(e["kind"] == "pharmacy" for e in first.excluded)


def test_workspace_year_on_arrow_inputs_equals_the_direct_run(workspace: Path, tmp_path: Path) -> None:
    """The pipeline over Arrow copies of the tables (how the Spark runner is fed) gives the same year."""
    import duckdb

    from yibao.budget.pipelines import BUDGET_INPUTS
    from yibao.budget.year import inputs_from_tables, pot_amounts
    from yibao.engine.runner import LocalRunner

    pol = load_policy(region_policy(tmp_path))
    direct = run_year(workspace, pol)
    con = duckdb.connect(str(workspace / "yibao.duckdb"), read_only=True)
    try:
        cases = con.sql("SELECT * FROM cases").to_arrow_table()
        institutions = con.sql("SELECT * FROM institutions").to_arrow_table()
    finally:
        con.close()
    out = LocalRunner().run_pipeline(BUDGET_INPUTS, {"cases": cases})
    res = compute_year(inputs_from_tables(2025, institutions, out["budget_history"], out["budget_month"],
                                          pot_amounts(pol)), pol.sections)
    for name in ("quotas", "months", "clearing", "pots"):
        assert csv_text(res, name) == csv_text(direct, name), name
