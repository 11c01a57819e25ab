"""Statements in Excel: Chinese headers, money shown to the fen, same input → same bytes."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

from openpyxl import load_workbook

from yibao.engine.excel import Sheet, write_workbook


def test_workbook_is_deterministic_and_readable(tmp_path: Path) -> None:
    sheets = [Sheet("月度结算", ["月份", "额度（元）", "记账（元）"],
                    [["2025-01", Decimal("1234567.89"), Decimal("0.05")], ["2025-02", Decimal("10.00"), Decimal("0.00")]],
                    notes=["市第一人民医院 2025 年度总额控制结算单", "单位：元"])]
    write_workbook(tmp_path / "a.xlsx", sheets)
    time.sleep(1.1)  # a different wall-clock second must not change the bytes
    write_workbook(tmp_path / "b.xlsx", sheets)
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()
    ws = load_workbook(tmp_path / "a.xlsx").active
    assert ws.title == "月度结算" and ws["A1"].value == "市第一人民医院 2025 年度总额控制结算单"
    assert [c.value for c in ws[4]] == ["月份", "额度（元）", "记账（元）"]
    assert ws["B5"].value == 1234567.89 and ws["B5"].number_format == "#,##0.00"
    assert ws.freeze_panes == "A5"
