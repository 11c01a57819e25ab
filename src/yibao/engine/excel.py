"""Excel statements (报表): workbooks with Chinese headers, exact money, byte-identical per input.

``write_workbook(path, sheets)`` writes each sheet as a header row and data rows. Decimal values
are written as numbers with the ``#,##0.00`` format (a Decimal with two places is exactly
representable as what Excel shows; the CSV beside a workbook remains the exact record).
Workbooks are made deterministic: fixed document dates and fixed zip entry times, so the same
inputs give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Sequence

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

FIXED_TIME = dt.datetime(2000, 1, 1)
MONEY_FORMAT = "#,##0.00"
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")


@dataclass
class Sheet:
    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[object]]
    notes: Sequence[str] = field(default_factory=tuple)  # lines above the table (title, basis, units)


def _cell(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)  # display only; two-decimal amounts are shown exactly with MONEY_FORMAT
    return value


def write_workbook(path: Path, sheets: Sequence[Sheet]) -> None:
    wb = Workbook()
    wb.remove(wb.active)
    for s in sheets:
        ws = wb.create_sheet(title=s.title[:31])
        r = 1
        for note in s.notes:
            ws.cell(row=r, column=1, value=note).font = Font(bold=(r == 1), size=12 if r == 1 else 10)
            r += 1
        if s.notes:
            r += 1
        header_row = r
        for c, h in enumerate(s.headers, start=1):
            cell = ws.cell(row=r, column=c, value=h)
            cell.font = Font(bold=True)
            cell.fill = HEADER_FILL
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        widths = [max(8, len(str(h)) * 2 + 2) for h in s.headers]
        for row in s.rows:
            r += 1
            for c, v in enumerate(row, start=1):
                cell = ws.cell(row=r, column=c, value=_cell(v))
                if isinstance(v, Decimal):
                    cell.number_format = MONEY_FORMAT
                widths[c - 1] = max(widths[c - 1], min(40, len(f"{v:,.2f}" if isinstance(v, Decimal) else str(v)) + 2))
        for c, w in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(c)].width = w
        ws.freeze_panes = ws.cell(row=header_row + 1, column=1)
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    wb.properties.creator = "yibao"
    buf = io.BytesIO()
    wb.save(buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_normalise_zip(buf.getvalue()))


def _normalise_zip(data: bytes) -> bytes:
    """Rewrite the zip with fixed entry times (openpyxl stamps the current time)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps "modified" at save time
                body = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2000-01-01T00:00:00Z", body)
            dst.writestr(fixed, body)
    return out.getvalue()
