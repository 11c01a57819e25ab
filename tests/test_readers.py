"""Readers: encodings, formats and row numbers, as text exactly as it came."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import Workbook

from yibao.contract.readers import detect_encoding, read_table
from yibao.contract.reasons import FatalLoadError
from yibao.contract.schema import TABLES

HEADER = "institution_id,name,kind,level,category,region_code,agreement_start,agreement_end\n"
ROW = "H001,市第一人民医院,hospital,3,general,440203,2020-01-01,\n"


@pytest.mark.parametrize("encoding, expected", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"),
                                                ("gbk", "gb18030"), ("gb18030", "gb18030")])
def test_encoding_detected_and_text_decoded(tmp_path: Path, encoding: str, expected: str) -> None:
    p = tmp_path / "institutions.csv"
    p.write_bytes((HEADER + ROW).encode(encoding))
    assert detect_encoding(p) == expected
    raw = read_table(p, TABLES["institutions"])
    assert raw.data.column("name").to_pylist() == ["市第一人民医院"]
    assert raw.data.column("institution_id").to_pylist() == ["H001"]


def test_undecodable_byte_offset_is_named(tmp_path: Path) -> None:
    p = tmp_path / "institutions.csv"
    body = (HEADER + ROW).encode("utf-8")
    p.write_bytes(body + b"H002,\x80\xff,hospital\n")
    with pytest.raises(FatalLoadError) as e:
        read_table(p, TABLES["institutions"])
    assert f"第 {len(body) + 5} 字节处 (0x80) 不是合法 UTF-8" in str(e.value)


def test_shape_errors_keep_true_row_numbers(tmp_path: Path) -> None:
    p = tmp_path / "institutions.csv"
    p.write_text(HEADER + ROW + "H002,short\n" + ROW.replace("H001", "H003") + "bad\n" + ROW.replace("H001", "H004"),
                 encoding="utf-8")
    raw = read_table(p, TABLES["institutions"])
    assert raw.data.column("_row").to_pylist() == [1, 3, 5]
    assert [(e.row, e.text) for e in raw.shape_errors] == [(2, "H002,short"), (4, "bad")]
    assert raw.read == 5


def test_missing_optional_column_is_blank_and_extra_column_ignored(tmp_path: Path) -> None:
    p = tmp_path / "institutions.csv"
    p.write_text("institution_id,name,kind,level,category,region_code,agreement_start,remark\n"
                 "H001,医院,hospital,3,general,440203,2020-01-01,备注\n", encoding="utf-8")
    raw = read_table(p, TABLES["institutions"])
    assert raw.data.column("agreement_end").to_pylist() == [""]
    assert raw.ignored_columns == ["remark"] and raw.missing_optional == ["agreement_end"]


def test_parquet_typed_columns_become_contract_text(tmp_path: Path) -> None:
    p = tmp_path / "cases.parquet"
    t = pa.table({
        "case_id": ["C1", "C2"],
        "admit_date": pa.array([dt.date(2024, 1, 2), None], pa.date32()),
        "total_cost": pa.array([Decimal("1234.50"), Decimal("0.05")], pa.decimal128(18, 2)),
        "secondary_dx": pa.array([["I10.x00", "E11.900"], []], pa.list_(pa.string())),
        "emergency": pa.array([True, False]),
        "age_years": pa.array([59, None], pa.int32()),
    })
    pq.write_table(t, p)
    with pytest.raises(FatalLoadError, match="缺少必需列 person_id"):
        read_table(p, TABLES["cases"])
    for name, col in [("person_id", ["P1", "P2"]), ("institution_id", ["H1", "H1"]), ("scheme", ["employee"] * 2),
                      ("setting", ["inpatient"] * 2), ("discharge_date", ["2024-01-05"] * 2),
                      ("principal_dx", ["K80.100"] * 2), ("fund_paid", ["1"] * 2), ("self_pay", ["1"] * 2),
                      ("out_of_pocket_excluded", ["1"] * 2), ("settle_date", ["2024-01-06"] * 2)]:
        t = t.append_column(name, pa.array(col))
    pq.write_table(t, p)
    d = read_table(p, TABLES["cases"]).data
    assert d.column("admit_date").to_pylist() == ["2024-01-02", ""]
    assert d.column("total_cost").to_pylist() == ["1234.50", "0.05"]
    assert d.column("secondary_dx").to_pylist() == ["I10.x00|E11.900", ""]
    assert d.column("emergency").to_pylist() == ["1", "0"]
    assert d.column("age_years").to_pylist() == ["59", ""]


def test_xlsx_cells_become_text(tmp_path: Path) -> None:
    p = tmp_path / "institutions.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER.strip().split(","))
    ws.append(["H001", "医院", "hospital", 3, "general", "440203", dt.datetime(2020, 1, 1), None])
    ws.append([None] * 8)  # trailing empty row Excel keeps
    wb.save(p)
    d = read_table(p, TABLES["institutions"]).data
    assert d.num_rows == 1
    assert d.column("level").to_pylist() == ["3"]
    assert d.column("agreement_start").to_pylist() == ["2020-01-01"]
    assert d.column("agreement_end").to_pylist() == [""]
