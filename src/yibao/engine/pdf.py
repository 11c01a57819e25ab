"""PDF documents with Chinese text (fpdf2 + Debian's fonts-noto-cjk), deterministic bytes.

fpdf2 embeds a subset of the OpenType CJK face "Noto Sans CJK SC" from the collection file (CFF outlines), so
the Chinese renders in any reader without fonts installed; the creation date is fixed so the same document gives
the same bytes. A heavy import: call :func:`document` only when a PDF is asked for.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from yibao.contract.errors import MissingData

__all__ = ["font_path", "document", "pdf_bytes", "table", "bar_chart"]

FONT_DIRS = (Path("/usr/share/fonts/opentype/noto"), Path("/usr/share/fonts/opentype/noto-cjk"))
FONT_FILE = "NotoSansCJK-Regular.ttc"
FONT_SC = 2  # the face "Noto Sans CJK SC" (Simplified Chinese) in the collection
FIXED = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


def font_path() -> Path:
    for d in FONT_DIRS:
        if (d / FONT_FILE).exists():
            return d / FONT_FILE
    raise MissingData(f"找不到中文字体 {FONT_FILE}（请安装 Debian 的 fonts-noto-cjk）")


def document(title: str):
    """An A4 document with the CJK font set as ``cjk`` and a first page."""
    from fpdf import FPDF  # optional heavy import, only when a PDF is made

    pdf = FPDF(format="A4")
    pdf.set_creation_date(FIXED)
    pdf.set_title(title)
    pdf.set_creator("yibao")
    pdf.add_font("cjk", "", str(font_path()), collection_font_number=FONT_SC)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("cjk", size=10)
    return pdf


def pdf_bytes(pdf) -> bytes:
    out = io.BytesIO()
    pdf.output(out)
    return out.getvalue()


def table(pdf, headers: Sequence[str], rows: Sequence[Sequence[object]], widths: Sequence[float] | None = None,
          size: float = 8.5) -> None:
    """A simple ruled table; numbers right-aligned; a header row repeated on each new page."""
    widths = list(widths) if widths else [pdf.epw / len(headers)] * len(headers)
    pdf.set_font("cjk", size=size)

    def head() -> None:
        pdf.set_fill_color(230, 236, 245)
        for h, w in zip(headers, widths):
            pdf.cell(w, 6, str(h), border=1, align="C", fill=True)
        pdf.ln(6)

    head()
    for r in rows:
        if pdf.will_page_break(6):
            pdf.add_page()
            head()
        for v, w in zip(r, widths):
            num = isinstance(v, (int, Decimal, float)) and not isinstance(v, bool)
            text = "" if v is None else (f"{v:,}" if num else str(v))
            while pdf.get_string_width(text) > w - 1.5 and len(text) > 1:
                text = text[:-2] + "…"
            pdf.cell(w, 6, text, border=1, align="R" if num else "L")
        pdf.ln(6)


def bar_chart(pdf, title: str, labels: Sequence[str], values: Sequence[Decimal | int | float], unit: str = "",
              height: float = 55) -> None:
    """Horizontal bars drawn with the PDF's own primitives (no image library): one bar per label, the value beside."""
    if not values:
        return
    if pdf.will_page_break(height + 12):
        pdf.add_page()
    pdf.set_font("cjk", size=10)
    pdf.cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
    top = pdf.get_y()
    n = len(values)
    bar_h = min(6.0, (height - 2) / n)
    label_w = 55.0
    val_w = 30.0
    span = pdf.epw - label_w - val_w
    vmax = max(float(v) for v in values) or 1.0
    pdf.set_font("cjk", size=7.5)
    for i, (lab, v) in enumerate(zip(labels, values)):
        y = top + i * bar_h
        text = str(lab)
        while pdf.get_string_width(text) > label_w - 2 and len(text) > 1:
            text = text[:-2] + "…"
        pdf.set_xy(pdf.l_margin, y)
        pdf.cell(label_w, bar_h, text)
        w = max(0.2, span * float(v) / vmax) if float(v) > 0 else 0
        pdf.set_fill_color(70, 110, 170)
        if w:
            pdf.rect(pdf.l_margin + label_w, y + bar_h * 0.15, w, bar_h * 0.7, style="F")
        pdf.set_xy(pdf.l_margin + label_w + span, y)
        pdf.cell(val_w, bar_h, f"{v:,}{unit}", align="R")
    pdf.set_xy(pdf.l_margin, top + n * bar_h + 3)
