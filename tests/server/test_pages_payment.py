"""The hospital's own view, by hand: profit or loss per case, department and doctor on four cases, and the DIP
point value it uses — the clearing of record, else the year's ``dip settle``, else the newest issued month,
else the estimate (and which one it is, said)."""

from __future__ import annotations

import datetime as dt
import json
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from yibao.server.pages.payment import case_payment, institution_view
from yibao.store import periods as per
from yibao.store.db import Store
from yibao.store.users import add_user

D = Decimal
PREP = per.Actor("agency1", "agency", None, "test")
CHK = per.Actor("agency2", "agency", None, "test")
# case, institution, dept, doctor, points, fund_paid, total_cost
CASES = [("c1", "H1", "A", "D1", "100", "900", "1200"), ("c2", "H1", "A", "D2", "50", "600", "800"),
         ("c3", "H1", "B", "D1", "200", "1500", "2000"), ("c4", "H2", "A", "D9", "150", "1000", "1300")]


def _dec(vals, p=18, s=4):
    return pa.array([D(v) for v in vals], pa.decimal128(p, s))


def _workspace(tmp: Path) -> Path:
    ws = tmp / "ws"
    (ws / "results" / "dip").mkdir(parents=True)
    n = len(CASES)
    pq.write_table(pa.table({
        "case_id": [c[0] for c in CASES], "institution_id": [c[1] for c in CASES], "scheme": ["employee"] * n,
        "settle_year": pa.array([2025] * n, pa.int32()), "settle_month": pa.array([3] * n, pa.int32()),
        "status": ["scored"] * n, "reason": pa.array([None] * n, pa.string()), "group_id": ["I20.0|-"] * n,
        "group_kind": ["core"] * n, "score": _dec(["100"] * n), "ratio": _dec(["1"] * n),
        "case_score": _dec(["100"] * n), "coefficient": _dec(["1"] * n), "deviation": ["normal"] * n,
        "primary_care": [False] * n, "formula_points": _dec([c[4] for c in CASES]),
        "points": _dec([c[4] for c in CASES]), "fund_paid": _dec([c[5] for c in CASES], 18, 2),
        "total_cost": _dec([c[6] for c in CASES], 18, 2)}), ws / "results" / "dip" / "scored_cases.parquet")
    return ws


class Reader:
    def __init__(self) -> None:
        self.con = duckdb.connect()
        self.con.execute("CREATE TABLE cases (case_id VARCHAR, institution_id VARCHAR, dept_code VARCHAR, "
                         "attending_staff_id VARCHAR)")
        self.con.executemany("INSERT INTO cases VALUES (?, ?, ?, ?)", [c[:4] for c in CASES])

    @contextmanager
    def cursor(self):
        yield self.con.cursor()


def _view(cfg, reader):
    v = institution_view(cfg, reader, "H1", "dip", None, 1)
    cases = {r["case_id"]: (r["payment"], r["profit"]) for r in v["cases"]}
    return v, cases, {r["key"]: r["profit"] for r in v["by_dept"]}, {r["key"]: r["profit"] for r in v["by_doctor"]}


def _issue(store, month, summary, day):
    p = per.prepare(store, pot="employee.inpatient", method="dip", year=2025, month=month, cutoff=dt.date(2025, 3, 31),
                    lines=[{"institution_id": "H1", "units": "350", "cases": 3, "gross": "1", "deposit": "0",
                            "deductions": "0", "amount": "1", "items": []}],
                    names={"H1": "一院"}, agency="某市医保中心", inputs={}, summary=summary, actor=PREP)
    per.check(store, p["period_id"], CHK)
    return per.issue(store, p["period_id"], CHK, day)


def test_profit_per_case_department_and_doctor_by_hand_and_the_point_value_used(tmp_path, monkeypatch):
    monkeypatch.delenv("YIBAO_DIP_SCORED", raising=False)
    monkeypatch.delenv("YIBAO_DIP_SETTLED", raising=False)
    ws = _workspace(tmp_path)
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    for name in ("agency1", "agency2"):
        add_user(store, name, "agency", "pw-123456789", None, actor="tester")
    cfg, reader = SimpleNamespace(workspace=ws, store=store), Reader()

    # 1. nothing issued, no dip settle: the estimate Σ fund_paid ÷ Σ points = 4000 ÷ 500 = 8 yuan a point
    v, cases, dept, doc = _view(cfg, reader)
    assert [(p["value"], p["kind"]) for p in v["point_values"]] == [(D("8"), "estimate")] and v["estimated"]
    assert "点值为估算" in v["point_values"][0]["source"]
    assert cases == {"c1": (D("800.00"), D("-100.00")), "c2": (D("400.00"), D("-200.00")),
                     "c3": (D("1600.00"), D("100.00"))}
    assert dept == {"A": D("-300.00"), "B": D("100.00")} and doc == {"D1": D("0.00"), "D2": D("-200.00")}
    assert v["total"]["profit"] == D("-200.00") and v["total"]["cases"] == 3
    assert [r["case_id"] for r in v["cases"]] == ["c2", "c1", "c3"]  # from the largest loss up

    # 2. March issued, its prepayment point value 7: provisional, said so
    _issue(store, 3, {"month_value": "7", "convention": "fund"}, dt.date(2025, 4, 10))
    v, cases, dept, _ = _view(cfg, reader)
    assert [(p["value"], p["kind"]) for p in v["point_values"]] == [(D("7"), "month")] and not v["estimated"]
    assert "月度预付点值" in v["point_values"][0]["source"] and "3 月第 1 版" in v["point_values"][0]["source"]
    assert cases["c1"] == (D("700.00"), D("-200.00")) and dept == {"A": D("-450.00"), "B": D("-100.00")}

    # 3. the year settled by `dip settle` (point value 9.5, not issued): before the month
    settle = ws / "results" / "dip-settle"
    settle.mkdir(parents=True)
    (settle / "summary.json").write_text(json.dumps({"year": 2025, "schemes": {"employee": {"dip": {
        "settlement_point_value": "9.5", "convention": "fund"}}}}), encoding="utf-8")
    v, cases, _, doc = _view(cfg, reader)
    assert [(p["value"], p["kind"]) for p in v["point_values"]] == [(D("9.5"), "settle")]
    assert cases["c2"] == (D("475.00"), D("-125.00")) and doc == {"D1": D("450.00"), "D2": D("-125.00")}

    # 4. the clearing of record (settlement point value 10): the real one, first
    _issue(store, None, {"settlement_value": "10", "convention": "fund"}, dt.date(2026, 2, 10))
    v, cases, dept, doc = _view(cfg, reader)
    assert [(p["value"], p["kind"]) for p in v["point_values"]] == [(D("10"), "clearing")]
    assert "年终清算第 1 版，2026-02-10 签发的结算点值" in v["point_values"][0]["source"]
    assert cases == {"c1": (D("1000.00"), D("100.00")), "c2": (D("500.00"), D("-100.00")),
                     "c3": (D("2000.00"), D("500.00"))}
    assert dept == {"A": D("0.00"), "B": D("500.00")} and doc == {"D1": D("600.00"), "D2": D("-100.00")}
    assert v["total"]["profit"] == D("500.00")
    one = case_payment(cfg, "c3")["dip"]
    assert (one["point_value"], one["payment"], one["profit"], one["pv_kind"]) == (D("10"), D("2000.00"),
                                                                                  D("500.00"), "clearing")
