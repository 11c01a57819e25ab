"""Plain output files of the staff capability (CSV in UTF-8, dates ``YYYY-MM-DD``, blank = not applicable)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from yibao.engine.csvfile import rows_csv
from yibao.engine.excel import table_sheet, write_workbook
from yibao.engine.outdir import write_bytes_atomic


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    return v.isoformat() if hasattr(v, "isoformat") else str(v)


def write_csv(table: pa.Table, path: Path, bom: bool = False) -> Path:
    """Write ``table`` as CSV with a header row (``bom`` for files meant to be opened in Excel), whole or not at all
    (a temporary file renamed over ``path``); text that a spreadsheet would run is escaped."""
    cols = [table.column(n).to_pylist() for n in table.column_names]
    return write_bytes_atomic(Path(path), rows_csv(table.column_names, ([_cell(v) for v in row] for row in zip(*cols)),
                                                   bom=bom))


def write_status_csv(status: pa.Table, path: Path) -> Path:
    """The contract's ``yibao staff status`` output: staff_id,year_points,status,suspended_until,barred_until."""
    return write_csv(status.select(["staff_id", "year_points", "status", "suspended_until", "barred_until"]), path)


# --- the institutions workbook (staff_institutions.xlsx) ------------------------------------------------

ROLE_ZH = {"physician": "医师", "nurse": "护士", "technician": "医技人员", "pharmacist": "药师",
           "billing": "医保结算人员", "pharmacy_principal": "药店主要负责人"}
SHARE_SHEET = (
    ("institution_id", "机构编码", "code"), ("name", "机构名称", "text"), ("year", "年度", "int"),
    ("registered", "登记人员数", "count"), ("suspended", "暂停人数", "count"), ("terminated", "终止人数", "count"),
    ("share", "暂停终止比例", "share"), ("flagged", "超过比例", "bool"),
)
LIST_SHEET = (
    ("regulator", "通报部门", "text"), ("staff_id", "医保相关人员代码", "code"), ("name", "姓名", "text"),
    ("role", "人员类别", "text"), ("institution_id", "机构编码", "code"), ("institution_name", "机构名称", "text"),
    ("status", "状态", "text"), ("start_date", "开始日期", "date"), ("end_date", "结束日期（不含）", "date"),
    ("year_points", "年度记分", "int"),
)


def write_institutions_workbook(path: Path, shares: pa.Table, lst: pa.Table, year: int, flag_share) -> Path:
    """机构暂停终止比例 (with a 合计 row of the head counts) and 通报名单, typed columns."""
    write_workbook(Path(path), [
        table_sheet("机构暂停终止比例", SHARE_SHEET, shares.to_pylist(),
                    [f"{year} 年定点医药机构相关人员暂停、终止医保支付资格比例（预警阈值 {flag_share}）"], total=True),
        table_sheet("通报名单", LIST_SHEET, lst.to_pylist(),
                    [f"{year} 年暂停、终止医保支付资格人员通报名单（卫生健康部门、药监部门）"], labels={"role": ROLE_ZH}),
    ])
    return Path(path)
