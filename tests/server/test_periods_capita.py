"""Outpatient per-capita periods (门诊统筹按人头) on a hand-made region: every number checkable by hand.

职工 2025, outpatient pooling pot 12 000.00 (1 000.00 a month), deposit 5 % (DIP policy default),
clearing bands of the budget defaults (结余留用 50 % capped at 10 % of the quota; 超支 ≤ 5 % fund 60 %).
Five employees; each is attributed to the primary institution (基层) he visited most in the year:

    E1: P001 Jan, Feb (2 000.00 + 2 000.00), P002 Mar (1 000.00) → P001      E4: P002 Apr (1 500.00) → P002
    E2: P001 Mar (1 500.00) → P001                                           E5: P002 May, Jul (1 250.00 each),
    E3: P001 Jun (1 500.00) → P001                                               D001 (pharmacy) ×3 → P002

P001: 3 persons, P002: 2 persons, every month. Month: P001 3/5 × 1 000.00 = 600.00, deposit 30.00, paid
570.00; P002 400.00, 20.00, 380.00. Year: 12 000.00 by 36 : 24 person-months → P001 7 200.00, P002 4 800.00.
P001 booked 7 000.00 (under): saving 200.00, kept min(100.00, 720.00) = 100.00 → 7 100.00; score 100 returns
the deposit 360.00 whole → entitlement 7 100.00; clearing 7 100.00 − 12 × 570.00 = 260.00.
P002 booked 5 000.00 (over by 200.00 = 4.17 %): fund share 200.00 × 0.60 = 120.00 → 4 920.00; score 85
returns 240.00 × 0.9 = 216.00, 24.00 deducted → entitlement 4 896.00; clearing 4 896.00 − 12 × 380.00 = 336.00.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import regions

from yibao.server import periods as sp
from yibao.store import audit
from yibao.store import periods as per
from yibao.store.db import Store
from yibao.store.users import add_user

from .conftest import PASSWORD

YEAR = 2025
PREP, CHK = per.Actor("agency1", "agency"), per.Actor("agency2", "agency")

INSTITUTIONS = regions.INSTITUTIONS + [["P002", "西河社区卫生服务中心", "primary", "1", "general", "440204",
                                        "2021-01-01", ""]]


def _id_number(first17: str) -> str:
    """GB 11643: the 18th character is the check digit of the first 17."""
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return first17 + "10X98765432"[sum(int(c) * x for c, x in zip(first17, w)) % 11]


INSURED = regions.INSURED + [[f"E{i}", _id_number(f"440204198001010{i:02d}"), f"职工{i}", "1", "1980-01-01", "employee",
                              "440204", ""] for i in range(1, 6)]
VISITS = [  # person, institution, settle date, fund paid
    ("E1", "P001", "2025-01-10", "2000.00"), ("E1", "P001", "2025-02-10", "2000.00"),
    ("E1", "P002", "2025-03-10", "1000.00"), ("E2", "P001", "2025-03-12", "1500.00"),
    ("E3", "P001", "2025-06-12", "1500.00"), ("E4", "P002", "2025-04-12", "1500.00"),
    ("E5", "P002", "2025-05-12", "1250.00"), ("E5", "P002", "2025-07-12", "1250.00"),
    ("E5", "D001", "2025-08-01", "100.00"), ("E5", "D001", "2025-08-02", "100.00"),
    ("E5", "D001", "2025-08-03", "100.00"),
]
CASES = [[f"V{n:03d}", p, i, "employee", "1", "45", "outpatient", d, d, "0101", "", "J06.900", "", "", "", "", "",
          "0", f, f, "0.00", "0.00", d] for n, (p, i, d, f) in enumerate(VISITS, 1)]

BUDGET = """year = 2025
[fund.employee]
contributions = "312900.49"
personal_account = "93870.15"
outpatient_pooling = "12000.00"
out_of_area_realtime = "18203.19"
out_of_area_manual = "2022.58"
special_outpatient = "14158.04"
marriage_checkup = "202.26"
outpatient_special_items = "8090.31"
bed_day = "4045.15"
other_policy = "2022.58"
risk_reserve_rate = "0.03"
prior_year_total = "129049.05"
booked_total = "202257.66"
current_surplus = "3129.00"
accumulated_surplus = "78225.12"
floor_rate = "1.05"
ceiling_rate = "1.05"

[clearing.scores]
P002 = "85"
"""


@pytest.fixture(scope="module")
def region(tmp_path_factory) -> Path:
    from yibao.engine.loading import load_region

    base = tmp_path_factory.mktemp("capita")
    tables = {**regions.ROWS, "institutions": INSTITUTIONS, "insured": INSURED, "cases": CASES, "fee_items": []}
    regions.write_region(base / "region", tables)
    report = load_region(base / "region", base / "ws")
    assert all(t.quarantined == 0 for t in report.tables), report  # every row as written above
    (base / "budget_policy.toml").write_text(BUDGET, encoding="utf-8")
    return base


def test_per_capita_months_and_clearing_sum_to_the_years_entitlement(region: Path, tmp_path: Path) -> None:
    st = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    for name in ("agency1", "agency2"):
        add_user(st, name, "agency", PASSWORD, None, actor="tester")
    inputs = sp.PeriodInputs(None, region / "budget_policy.toml")  # no DIP scoring needed for 按人头

    def run(month):
        return sp.run_period(st, region / "ws", year=YEAR, month=month, scheme="employee", setting="outpatient",
                             inputs=inputs, actor=PREP)

    for m in range(1, 13):
        p = run(m)
        assert (p["pot"], p["method"], p["total"]) == ("employee.outpatient", "per_capita", "950.00")
        got = {s["institution_id"]: (s["units"], s["gross"], s["deposit"], s["amount"])
               for s in per.period_statements(st, p["period_id"])}
        assert got == {"P001": ("3", "600.00", "30.00", "570.00"), "P002": ("2", "400.00", "20.00", "380.00")}, m
        per.check(st, p["period_id"], CHK)
        sp.issue_period(st, p["period_id"], CHK, dt.date(YEAR, m, 28))
    c = run(None)
    lines = {s["institution_id"]: s for s in per.period_statements(st, c["period_id"])}
    assert set(lines) == {"P001", "P002"}  # the pharmacy is not in the per-capita pot
    p1, p2 = dict(lines["P001"]["items"]), dict(lines["P002"]["items"])
    assert (p1["年度计量单位"], p1["按单位应付"], p1["统筹基金记账"], p1["结余留用"]) == ("36", "7200.00", "7000.00", "100.00")
    assert (p1["返还质量保证金"], p1["年度应付"], p1["已签发的月度预付合计"]) == ("360.00", "7100.00", "6840.00")
    assert (p2["年度计量单位"], p2["按单位应付"], p2["统筹基金记账"], p2["超支分担（基金承担）"]) == \
        ("24", "4800.00", "5000.00", "120.00")
    assert (p2["考核得分"], p2["返还质量保证金"], p2["扣除质量保证金"], p2["年度应付"]) == ("85", "216.00", "24.00", "4896.00")
    assert (lines["P001"]["amount"], lines["P002"]["amount"]) == ("260.00", "336.00")
    per.check(st, c["period_id"], CHK)
    sp.issue_period(st, c["period_id"], CHK, dt.date(YEAR + 1, 2, 10))
    year = per.year_of_record(st, "employee.outpatient", YEAR)
    assert {i: sum(d.values(), Decimal(0)) for i, d in year.items()} == \
        {"P001": Decimal("7100.00"), "P002": Decimal("4896.00")}  # Σ 12 months + clearing = the year, to the fen
    assert all(len(d) == 13 for d in year.values())
    assert audit.verify(st).ok
    st.close()
