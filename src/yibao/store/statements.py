"""A statement of record as a document: Excel (``yibao.engine.excel``) and PDF (fpdf2, Noto Sans CJK SC).

Both carry the same head — statement number (结算单编号), version and the version it replaces,
issue date, issuing agency, institution name and code, period, payment method, data cut-off,
status — then the computation (each line of it) and the deductions. A draft or checked version is
marked 草稿 / 未签发 in the title: only an issued version is a statement of record.

PDF: fpdf2 embeds a subset of the OpenType CJK font (CFF outlines) from Debian's fonts-noto-cjk
(docs/adr/0007-statement-pdf.md says why this library).
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from pathlib import Path

from yibao.contract.errors import MissingData
from yibao.engine.excel import Col, Sheet, write_workbook

FONT_DIRS = (Path("/usr/share/fonts/opentype/noto"), Path("/usr/share/fonts/opentype/noto-cjk"))
FONT_FILE = "NotoSansCJK-Regular.ttc"
FONT_SC = 2  # the face "Noto Sans CJK SC" (Simplified Chinese) in the collection
METHOD_ZH = {"dip": "按病种分值（DIP）", "drg": "按疾病诊断相关分组（DRG）", "per_capita": "按人头"}


def head_lines(st: dict) -> list[tuple[str, str]]:
    p = st["period"]
    rep = st.get("replaces")
    version = f"第 {p['version']} 版" + (f"（更正，取代第 {rep['version']} 版；更正理由：{p['reason']}）" if rep else "")
    status = p["status_zh"] + ("（须重新清算：所依据的月度预付已更正）" if p.get("needs_new_version") else
                               "（结算单据以此为准）" if p["status"] == "issued" else "（非正式结算单）")
    return [("结算单编号", st["number"]), ("版本", version), ("状态", status),
            ("签发日期", p["issue_date"] or "未签发"), ("签发机构", p["agency"]),
            ("机构名称", st["institution_name"]), ("机构编码", st["institution_id"]), ("结算期", p["label"]),
            ("结算方式", METHOD_ZH.get(p["method"], p["method"])), ("数据截止日", p["cutoff"]),
            ("计算人 / 复核人 / 签发人", f"{p['prepared_by']} / {p['checked_by'] or '—'} / {p['issued_by'] or '—'}")
            ] + ([("提示", p["notice"])] if p.get("notice") else [])


def title(st: dict) -> str:
    p = st["period"]
    kind = "年终清算结算单" if p["kind"] == "clearing" else "月度预付结算单"
    return f"医疗保障基金{kind}" + ("" if p["status"] in ("issued", "superseded") else "（草稿，未签发）")


def summary_lines(st: dict) -> list[tuple[str, str]]:
    clearing = st["period"]["kind"] == "clearing"
    return [("年度应付" if clearing else "应预付", st["gross"]),
            ("扣除质量保证金" if clearing else "预留质量保证金", st["deposit"]), ("审核扣款", st["deductions"]),
            ("清算拨付（负数为退回）" if clearing else "本期拨付", st["amount"])]


def excel_bytes(st: dict) -> bytes:
    head = [f"{title(st)}"] + [f"{k}：{v}" for k, v in head_lines(st)] + ["金额单位：元"]
    rows = [[k, v] for k, v in st["items"]] + [["—— 合计 ——", ""]] + [[k, v] for k, v in summary_lines(st)]
    sheet = Sheet("结算单", [Col("项目"), Col("金额或数值")], rows, head, total=False, filter=False)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "statement.xlsx"
        write_workbook(path, [sheet])
        return path.read_bytes()


def font_path() -> Path:
    for d in FONT_DIRS:
        if (d / FONT_FILE).exists():
            return d / FONT_FILE
    raise MissingData(f"找不到中文字体 {FONT_FILE}（请安装 Debian 的 fonts-noto-cjk）")


def pdf_bytes(st: dict) -> bytes:
    from fpdf import FPDF  # a heavy import, only when a PDF is asked for

    pdf = FPDF(format="A4")
    pdf.set_creation_date(dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))  # deterministic bytes
    pdf.set_title(f"{title(st)} {st['number']}")
    pdf.set_creator("yibao")
    pdf.add_font("cjk", "", str(font_path()), collection_font_number=FONT_SC)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("cjk", size=15)
    pdf.cell(0, 10, title(st), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=9.5)
    for k, v in head_lines(st):
        pdf.multi_cell(0, 5.5, f"{k}：{v}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("cjk", size=10)
    pdf.cell(0, 7, "计算过程（金额单位：元）", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=9.5)
    width = pdf.epw
    for k, v in list(st["items"]) + [("", "")] + summary_lines(st):
        if not k and not v:
            pdf.ln(2)
            continue
        if len(str(v)) > 24:
            pdf.multi_cell(0, 5.5, f"{k}：{v}", border="B", new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.cell(width * 0.6, 6, str(k), border="B")
            pdf.cell(width * 0.4, 6, str(v), border="B", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    reply = st.get("reply_zh") or "待确认"
    pdf.multi_cell(0, 5.5, f"对账确认：{reply}" + (f"（{st['reply_reason']}）" if st.get("reply_reason") else "")
                   + (f"；确认期限 {st['reply_deadline']}" if st.get("reply_deadline") else ""),
                   new_x="LMARGIN", new_y="NEXT")
    out = io.BytesIO()
    pdf.output(out)
    return out.getvalue()


__all__ = ["excel_bytes", "pdf_bytes"]
