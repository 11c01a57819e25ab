"""Excel statements (报表): typed columns, Chinese headers, exact money, byte-identical per input.

Every workbook yibao writes goes through :func:`write_workbook`. A sheet is a table whose columns
each declare a *kind* (:class:`Col`), and the kind alone decides how a cell is stored and shown:

=============  ==================================  =================  ===========================
kind           stored as                           number format      合计 row (default)
=============  ==================================  =================  ===========================
money          number (the exact Decimal text)     ``#,##0.00``       summed
count          whole number                        ``#,##0``          summed
int            whole number (year, month, rank)    ``0``              —
share          number, a fraction (0.1234)         ``0.00%``          —
weight, score  number                              ``0.0000``         — (``total=True`` sums)
point_value    number                              ``0.000000``       —
text, code     text, never a formula               ``@``              —
bool           text 是 / 否                         ``@``              —
date           date                                ``yyyy-mm-dd``     —
=============  ==================================  =================  ===========================

- A number given as text (``"12.30"``) in a numeric column is stored as the number; a value that is
  not a number there stops the writer (a programming error, never a silent text cell).
- Text cells are always written as text (``data_type 's'``): a name beginning with ``=``, ``+``,
  ``-`` or ``@`` is shown as written, with Excel's quote prefix, and never becomes a live formula.
- ``labels`` on a column maps codes to their Chinese labels (险种 employee → 职工 …).
- ``Sheet(total=True)`` appends a 合计 row with the exact Decimal sum of each summed column.
- Detail sheets get an auto-filter on the header row (``Sheet(filter=False)`` for one-page
  statements); every sheet freezes the panes below its header, prints landscape, fitted to the
  page width, with the title and header rows repeated on every printed page.
- Workbooks are deterministic: fixed document dates and zip entry times. The column kinds of each
  sheet are recorded in the custom document property ``yibao.sheets`` (JSON), so a test or a
  reader can check every cell against what the writer meant.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Callable, Sequence

from openpyxl import Workbook
from openpyxl.packaging.custom import StringProperty
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties

FIXED_TIME = dt.datetime(2000, 1, 1)
MONEY_FORMAT = "#,##0.00"
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
TOTAL_FILL = PatternFill("solid", fgColor="F2F2F2")
TOTAL_LABEL = "合计"
PROPERTY = "yibao.sheets"

FORMATS = {
    "money": MONEY_FORMAT, "count": "#,##0", "int": "0", "share": "0.00%", "weight": "0.0000", "score": "0.0000",
    "point_value": "0.000000", "text": "@", "code": "@", "bool": "@", "date": "yyyy-mm-dd",
}
NUMERIC = frozenset({"money", "count", "int", "share", "weight", "score", "point_value"})
WHOLE = frozenset({"count", "int"})
SUMMED = frozenset({"money", "count"})
FORMULA_START = ("=", "+", "-", "@")
BOOL_ZH = {True: "是", False: "否"}


@dataclass(frozen=True)
class Col:
    """One column: its Chinese header, its kind (see the module table), optional code → label map."""

    header: str
    kind: str = "text"
    labels: Mapping | None = None
    total: bool | None = None  # None: money and count columns are summed in the 合计 row

    def __post_init__(self) -> None:
        if self.kind not in FORMATS:
            raise ValueError(f"unknown column kind {self.kind!r}")

    @property
    def summed(self) -> bool:
        return self.kind in SUMMED if self.total is None else bool(self.total)


@dataclass
class Sheet:
    title: str
    headers: Sequence[str | Col]
    rows: Sequence[Sequence[object]]
    notes: Sequence[str] = field(default_factory=tuple)  # lines above the table (title, basis, units)
    total: bool = False  # append a 合计 row
    filter: bool = True  # auto-filter on the header row (detail sheets)

    @property
    def columns(self) -> list[Col]:
        return [h if isinstance(h, Col) else _inferred(h, [r[i] for r in self.rows if i < len(r)])
                for i, h in enumerate(self.headers)]


def cols(spec: Sequence[tuple[str, str, str]] | Sequence[tuple[str, str]], kinds: Mapping[str, str] | None = None,
         labels: Mapping[str, Mapping] | None = None, skip: Sequence[str] = (),
         totals: Mapping[str, bool] | None = None) -> tuple[list[str], list[Col]]:
    """(keys, columns) of a ``(key, 中文表头[, kind])`` spec; ``kinds`` / ``labels`` / ``totals`` (whether the
    合计 row sums the column: an average or a rate is not summed) per key override or add."""
    keys, out = [], []
    for item in spec:
        key, zh = item[0], item[1]
        if key in skip:
            continue
        kind = (kinds or {}).get(key) or (item[2] if len(item) > 2 else "text")
        keys.append(key)
        out.append(Col(zh, kind, (labels or {}).get(key), (totals or {}).get(key)))
    return keys, out


def table_sheet(title: str, spec, rows: Sequence[Mapping], notes: Sequence[str] = (), *,
                kinds: Mapping[str, str] | None = None, labels: Mapping[str, Mapping] | None = None,
                skip: Sequence[str] = (), total: bool = False, filter: bool = True,
                totals: Mapping[str, bool] | None = None) -> Sheet:
    """A sheet of dict rows under a ``(key, 中文表头[, kind])`` spec."""
    keys, columns = cols(spec, kinds, labels, skip, totals)
    return Sheet(title, columns, [[r.get(k) for k in keys] for r in rows], notes, total, filter)


def _inferred(header: str, values: Sequence[object]) -> Col:
    """The kind of a column given by a bare header (older callers): Decimal → money, int → count."""
    seen = [v for v in values if v is not None and v != ""]
    if seen and all(isinstance(v, bool) for v in seen):
        return Col(header, "bool")
    if seen and all(isinstance(v, Decimal) for v in seen):
        return Col(header, "money")
    if seen and all(isinstance(v, int) and not isinstance(v, bool) for v in seen):
        return Col(header, "count")
    return Col(header, "text")


def _number(value: object, col: Col) -> Decimal | int:
    if isinstance(value, bool):
        raise ValueError(f"{col.header}: a boolean in a {col.kind} column")
    if isinstance(value, (int, Decimal)):
        d = value
    elif isinstance(value, float):
        d = Decimal(repr(value))
    else:
        try:
            d = Decimal(str(value).strip().replace(",", ""))
        except InvalidOperation:
            raise ValueError(f"{col.header}: {value!r} is not a number ({col.kind} column)") from None
    if col.kind in WHOLE and isinstance(d, Decimal) and d == d.to_integral_value():
        return int(d)
    return d


def _text(value: object, col: Col) -> str:
    if col.labels is not None:
        key = value if value in col.labels else str(value)
        value = col.labels.get(key, value)
    if isinstance(value, bool):
        return BOOL_ZH[value]
    if isinstance(value, Decimal):
        return format(value, "f")
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else str(value)


def _put(ws, row: int, column: int, value: object, col: Col) -> str:
    """Write one cell as its column's kind; return its shown text (for the column width)."""
    if value is None or (isinstance(value, str) and value == ""):
        return ""
    cell = ws.cell(row=row, column=column)
    kind = col.kind
    if kind in NUMERIC:
        n = _number(value, col)
        cell.value = n
        cell.number_format = FORMATS[kind]
        return f"{n:,.2f}" if kind == "money" else str(n)
    if kind == "date" and isinstance(value, (dt.date, dt.datetime)):
        cell.value = value
        cell.number_format = FORMATS["date"]
        return "0000-00-00"
    if kind == "bool" and isinstance(value, bool):
        text = BOOL_ZH[value]
    else:
        text = _text(value, col)
    cell.value = text
    cell.data_type = "s"  # never a formula, whatever the text begins with
    cell.number_format = "@"
    if text.startswith(FORMULA_START):
        cell.quotePrefix = True
    return text


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _write_sheet(wb: Workbook, s: Sheet) -> dict:
    ws = wb.create_sheet(title=s.title[:31])
    columns = s.columns
    r = 1
    for note in s.notes:
        cell = ws.cell(row=r, column=1)
        cell.value = note
        cell.data_type = "s"
        cell.font = Font(bold=(r == 1), size=12 if r == 1 else 10)
        r += 1
    if s.notes:
        r += 1
    header_row = r
    for c, col in enumerate(columns, start=1):
        cell = ws.cell(row=r, column=c, value=col.header)
        cell.data_type = "s"
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    widths = [max(8, _width(col.header) + 2) for col in columns]
    sums = [Decimal(0) if col.summed else None for col in columns]
    for row in s.rows:
        r += 1
        for c, (v, col) in enumerate(zip(row, columns), start=1):
            shown = _put(ws, r, c, v, col)
            widths[c - 1] = max(widths[c - 1], min(60, _width(shown) + 2))
            if sums[c - 1] is not None and shown:
                sums[c - 1] += _number(v, col)
    last_data = r
    total_row = None
    if s.total:
        r += 1
        total_row = r
        label_at = next((i for i, col in enumerate(columns) if not col.summed), None)
        top = Border(top=Side(style="thin"))
        for c, col in enumerate(columns, start=1):
            cell = ws.cell(row=r, column=c)
            if sums[c - 1] is not None:
                _put(ws, r, c, sums[c - 1], col)
            elif c - 1 == label_at:
                _put(ws, r, c, TOTAL_LABEL, Col(col.header, "text"))
            cell.font = Font(bold=True)
            cell.fill = TOTAL_FILL
            cell.border = top
    for c, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(c)].width = w
    ws.freeze_panes = ws.cell(row=header_row + 1, column=1)
    if s.filter and columns and s.rows:
        ws.auto_filter.ref = f"A{header_row}:{get_column_letter(len(columns))}{last_data}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_title_rows = f"1:{header_row}"
    return {"header_row": header_row, "last_row": last_data, "total_row": total_row,
            "kinds": [col.kind for col in columns], "summed": [col.summed for col in columns]}


def write_workbook(path: Path, sheets: Sequence[Sheet], *, decorate: Callable[[Workbook, dict], None] | None = None) -> None:
    """The sheets as one workbook (deterministic bytes); ``decorate(workbook, layout)`` may add charts after the
    tables are written (``layout``: per sheet title, its header row, last data row and column kinds)."""
    wb = Workbook()
    wb.remove(wb.active)
    layout = {}
    for s in sheets:
        layout[s.title[:31]] = _write_sheet(wb, s)
    if decorate is not None:
        decorate(wb, layout)
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    wb.properties.creator = "yibao"
    wb.custom_doc_props.append(StringProperty(name=PROPERTY, value=json.dumps(layout, ensure_ascii=False,
                                                                              separators=(",", ":"))))
    buf = io.BytesIO()
    wb.save(buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(normalise_zip(buf.getvalue()))


def layout_of(workbook) -> dict:
    """The column kinds the writer recorded for each sheet of an opened workbook ({} if none)."""
    for p in workbook.custom_doc_props:
        if p.name == PROPERTY:
            return json.loads(p.value)
    return {}


def normalise_zip(data: bytes) -> bytes:
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
