"""Fund monitoring, early warning and projection on a hand-made workspace: every figure checked by hand."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

import openpyxl
import pytest

from yibao.engine.workspace import Workspace
from yibao.fund.monitor import flows_from_budget, monitor
from yibao.fund.params import FUND_PARAMS
from yibao.fund.projection import backtest, project
from yibao.fund.run import read_ledger, run_monitor

INSURED = [  # person_id, scheme, birth_date, death_date
    ("A", "employee", "1960-01-01", None),
    ("B", "employee", "2000-06-01", None),
    ("C", "employee", "1950-02-01", "2025-03-15"),
]
CASES = [  # case_id, person_id, setting, settle_date, fund_paid
    ("K1", "A", "inpatient", "2025-01-10", "300.00"),
    ("K2", "B", "outpatient", "2025-01-20", "20.00"),
    ("K3", "A", "inpatient", "2025-02-05", "100.00"),
    ("K4", "A", "inpatient", "2024-06-05", "200.00"),
    ("K5", "B", "outpatient", "2024-06-06", "10.00"),
]

def _flows_csv(path: Path, extra: str = "") -> Path:
    lines = ["month,scheme,item,amount", "2025-01,employee,opening_balance,1000.00"]
    for m in range(1, 13):
        lines += [f"2025-{m:02d},employee,contributions,100.00", f"2025-{m:02d},employee,personal_account,10.00",
                  f"2025-{m:02d},employee,out_of_area_realtime,5.00"]
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path

@pytest.fixture
def ws(tmp_path) -> Path:
    w = tmp_path / "ws"
    with Workspace(w) as wsp, wsp.transaction() as con:
        for pid, scheme, born, died in INSURED:
            con.execute("INSERT INTO insured (person_id, sex, birth_date, scheme, region_code, death_date) "
                        "VALUES (?, '1', ?, ?, '440203', ?)", [pid, born, scheme, died])
        for cid, pid, setting, day, paid in CASES:
            con.execute("INSERT INTO cases (case_id, person_id, institution_id, scheme, setting, admit_date, "
                        "discharge_date, principal_dx, total_cost, fund_paid, self_pay, out_of_pocket_excluded, "
                        "settle_date) VALUES (?, ?, 'H001', 'employee', ?, ?, ?, 'J18.900', ?, ?, 0, 0, ?)",
                        [cid, pid, setting, day, day, paid, paid, day])
    return w

def _monitor(ws: Path, tmp_path: Path, **over):
    pol = FUND_PARAMS.load(None, overrides=over or None)
    with Workspace(ws, read_only=True) as w:
        return monitor(w.con, 2025, pol, read_ledger(_flows_csv(tmp_path / "f.csv")))

def test_months_by_hand(ws, tmp_path):
    m = _monitor(ws, tmp_path)
    jan, feb, mar = m.rows[0], m.rows[1], m.rows[2]
    assert len(m.rows) == 12 and {r.scheme for r in m.rows} == {"employee"}
    # January: revenue 100 − 10 = 90; expenditure 300 + 20 + 5 = 325; 1000 − 235 = 765; 765 / 325 = 2.35 months
    assert (jan.revenue, jan.expenditure, jan.current_balance) == (D("90.00"), D("325.00"), D("-235.00"))
    assert (jan.current_balance_rate, jan.accumulated_balance, jan.months_covered) == (D("-2.6111"), D("765.00"), D("2.35"))
    assert jan.enrolled == 3 and jan.per_capita_expenditure == D("108.33")
    # February: 90 − 105 = −15 → 750; average of Jan–Feb 215 → 3.49 months
    assert (feb.expenditure, feb.accumulated_balance, feb.months_covered) == (D("105.00"), D("750.00"), D("3.49"))
    # March: 90 − 5 = 85 → 835; average (325 + 105 + 5) / 3 = 145 → 5.76; C died on 15 March: 2 insured
    assert (mar.accumulated_balance, mar.months_covered, mar.ytd_current_balance) == (D("835.00"), D("5.76"), D("-165.00"))
    assert mar.enrolled == 2
    # growth: 2024 has cases but no ledger → expenditure growth only (Jan 2025 vs Jan 2024: no 2024 January cases)
    assert jan.revenue_growth_ytd is None and jan.expenditure_growth_ytd is None
    levels = [(w.month, w.level, w.indicator) for w in m.warnings if w.month <= "2025-03"]
    assert levels == [("2025-01", "红色", "months_covered"), ("2025-01", "橙色", "ytd_current_balance"),
                      ("2025-02", "橙色", "ytd_current_balance"), ("2025-02", "黄色", "months_covered"),
                      ("2025-03", "橙色", "ytd_current_balance"), ("2025-03", "黄色", "months_covered")]

def test_a_scenario_that_raises_expenditure_raises_a_warning(ws, tmp_path):
    base = _monitor(ws, tmp_path)
    dec = [w for w in base.warnings if w.month == "2025-12"]
    assert not [w for w in dec if w.level == "红色"]
    assert [w.level for w in dec] == ["提示"]  # 1600 ÷ 40 a month = 40 months: more than 12
    worse = _monitor(ws, tmp_path, scenario={"expenditure_factor": "10", "from_month": "2025-02"})
    assert worse.rows[0].expenditure == D("325.00") and worse.rows[1].expenditure == D("1050.00")  # × 10 from February
    # December: 1000 + 12 × 90 − (325 + 1050 + 10 × 50) = 205; average expenditure 1875 / 12 = 156.25 → 1.31 months
    assert worse.rows[11].accumulated_balance == D("205.00") and worse.rows[11].months_covered == D("1.31")
    assert [w.level for w in worse.warnings if w.month == "2025-12"] == ["红色", "橙色"]

def test_ledger_from_budget_conserves_every_fen():
    t = flows_from_budget({"employee": {"contributions": D("100.01"), "accumulated_surplus": D("7.00"),
                                        "personal_account": D("0.05")}}, 2025)
    rows = t.to_pylist()
    contrib = [r["amount"] for r in rows if r["item"] == "contributions"]
    assert len(contrib) == 12 and sum(contrib) == D("100.01")
    assert contrib[:5] == [D("8.34")] * 5 and contrib[5:] == [D("8.33")] * 7  # 10001 fen = 12 × 833 + 5
    assert sum(r["amount"] for r in rows if r["item"] == "personal_account") == D("0.05")
    assert [r["amount"] for r in rows if r["item"] == "opening_balance"] == [D("7.00")]

def test_bad_ledger_names_every_bad_row(tmp_path):
    p = _flows_csv(tmp_path / "f.csv", "2025-13,employee,contributions,1\n2025-02,nobody,contributions,-1\n")
    with pytest.raises(Exception) as e:
        read_ledger(p)
    msg = str(e.value)
    assert "2 行有问题" in msg and "第 39 行：月份 '2025-13' 应为 YYYY-MM" in msg
    assert "第 40 行：险种 'nobody'" in msg and "金额 '-1'" in msg
    assert getattr(e.value, "exit_code", None) == 2

def test_projection_flat_trend_by_hand(ws):
    pol = FUND_PARAMS.load(None, overrides={"projection": {"trend": "flat", "years": 2}})
    with Workspace(ws, read_only=True) as w:
        p = project(w.con, (2024, 2025), pol)
    # 2025 mid-year: A (65, band 60) and B (25, band 18); C died before 1 July. Per person 2025: band 60 inpatient
    # 400 / 1, band 18 outpatient 20 / 1. Flat trend, nobody dies in the fit years, no births: 2026 = the same.
    got = {(r.year, r.setting): (r.enrolled, r.expenditure) for r in p.rows}
    assert got[(2026, "inpatient")] == (2, D("400.00")) and got[(2026, "outpatient")] == (2, D("20.00"))
    assert got[(2027, "inpatient")] == (2, D("400.00"))

def test_projection_trend_and_backtest(ws):
    pol = FUND_PARAMS.load(None)
    with Workspace(ws, read_only=True) as w:
        p = project(w.con, (2024, 2025), pol)
        # standardised per person, inpatient: 2024 = 200 (A) → 2025 = 400: growth 100 % a year
        assert p.growth[("employee", "inpatient")] == D("1.0000")
        assert [r.expenditure for r in p.rows if r.setting == "inpatient"][:1] == [D("800.00")]
        bt = backtest(w.con, (2024,), 2025, FUND_PARAMS.load(None, overrides={"projection": {"trend": "flat"}}))
    row = next(r for r in bt if r["setting"] == "inpatient")
    # fitted on 2024 alone: A's 200 per person, C (alive mid-2024, band 70) costs 0 → 2025 projected 200, actual 400
    assert (row["projected"], row["actual"], row["error"], row["error_share"]) == (D("200.00"), D("400.00"),
                                                                                   D("-200.00"), D("-0.5000"))

def test_run_monitor_writes_the_table_the_chart_and_refuses_an_empty_year(ws, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    r = run_monitor(ws, 2025, out, flows=_flows_csv(tmp_path / "f.csv"))
    assert r.files == ["monitor.csv", "warnings.csv", "基金运行监测.xlsx", "summary.json"]
    lines = (out / "monitor.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 13 and lines[1].startswith("employee,2025-01,90.00,300.00,20.00,5.00,325.00,-235.00")
    wb = openpyxl.load_workbook(out / "基金运行监测.xlsx")
    assert wb.sheetnames == ["月度监测", "预警", "参数", "图表"] and len(wb["图表"]._charts) == 2
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["months"] == 12 and s["warnings"]["红色"] == 1
    with pytest.raises(Exception, match="没有 2030 年结算的病例"):
        run_monitor(ws, 2030, out)


def test_docs_hold_the_generated_parameter_table():
    text = (Path(__file__).resolve().parents[2] / "docs" / "fund.md").read_text(encoding="utf-8")
    assert FUND_PARAMS.markdown() in text, "docs/fund.md is stale: paste FUND_PARAMS.markdown() between the markers"
