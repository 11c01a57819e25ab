"""Statements: the worked example's institution B on its one-page statement, the public CSV, the CLI."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

from openpyxl import load_workbook

from yibao.budget.statements import write_statements
from yibao.budget.year import compute_year

from .test_year import POLICY, example_inputs
from .year_example import year_policy_from

D = Decimal


def test_statement_of_institution_b_shows_its_year(tmp_path: Path) -> None:
    res = compute_year(example_inputs(), year_policy_from(tmp_path, POLICY))
    written = write_statements(res, tmp_path / "out")
    book = next(p for p in written if p.name.startswith("B_"))
    ws = load_workbook(book)["年度结算单"]
    rows = {r[0]: r[1:] for r in ws.iter_rows(min_row=4, values_only=True) if r[0]}
    header = rows.pop("项目")
    assert header[0] == "职工住院" and header[-1] == "合计"
    # worked example (test_year.py): B's inpatient quota 360 000, booked 396 000, overrun 36 000 (10 %),
    # fund shares 19 800, compensation 8 100, entitlement 387 900, paid monthly 324 000, final 63 900
    assert rows["年度指标"][0] == 360000 and rows["记账金额"][0] == 396000
    assert rows["超支基金分担"][0] == 19800 and rows["合理超支补偿"][0] == 8100
    assert rows["年度应付"][0] == 387900 and rows["清算拨付（负数为应退回）"][0] == 63900
    assert load_workbook(book).sheetnames == ["年度结算单", "月度明细", "年终清算"]


def test_public_csv_and_region_workbook(tmp_path: Path) -> None:
    res = compute_year(example_inputs(), year_policy_from(tmp_path, POLICY))
    written = write_statements(res, tmp_path / "out")
    public = next(p for p in written if p.suffix == ".csv")
    rows = list(csv.DictReader(public.open(encoding="utf-8-sig")))
    assert [r["机构编码"] for r in rows] == ["A", "B", "C"]
    assert "考核得分" not in rows[0]  # internal assessment details are not published
    assert sum(D(r["年度应付"]) for r in rows) == sum(r["entitlement"] for r in res.rows("institutions"))
    region = next(p for p in written if p.name == "全市汇总.xlsx")
    assert load_workbook(region).sheetnames == ["项目汇总", "机构汇总", "指标分解", "协商调整", "未纳入机构"]


def test_statements_are_byte_identical_on_rerun(tmp_path: Path) -> None:
    res = compute_year(example_inputs(), year_policy_from(tmp_path, POLICY))
    a = write_statements(res, tmp_path / "a")
    b = write_statements(res, tmp_path / "b")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
