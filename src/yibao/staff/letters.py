"""Letters of the procedure (告知书、决定书), in Chinese, from templates (Markdown text), and as PDF.

Templates are ``string.Template`` texts: the defaults below, or files ``notice.md`` /
``decision.md`` in a directory named by ``YIBAO_STAFF_TEMPLATES`` (a region's own wording).

:func:`letters_of` makes a sanction's letters again from its ledger events (the ledger only grows, so the same
events give the same letters): the 预先告知书 once noticed, the 记分决定书 — 复核决定书 when the person asked for
review — once decided. :func:`letter_pdf` sets one letter as an A4 PDF (``yibao.engine.pdf``: fpdf2 and Noto Sans
CJK, the same as the statements), with the person's name as the caller passes it (masked for a role that sees
names masked).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from string import Template

from yibao.engine.pdf import document, pdf_bytes

BASIS_ZH = {"admin_penalty": "行政处罚", "agreement_termination": "解除服务协议", "agreement_suspension": "中止服务协议",
            "liquidated_damages": "处以违约金"}
RESP_ZH = {"main": "主要责任", "secondary": "一般责任", "none": "无责任"}
OUTCOME_ZH = {"upheld": "维持原记分", "changed": "变更记分", "cancelled": "撤销记分"}

NOTICE = """# 医保支付资格记分预先告知书

编号：$sanction_id

$name（医保相关人员代码 $staff_id）：

经查，你在${institution}执业期间，对该机构被${basis}所涉违法违规使用医保基金行为负有$responsibility。
$facts
依据《关于建立定点医药机构相关人员医保支付资格管理制度的指导意见》（医保发〔2024〕23号），拟对你记 **$points 分**$fraud。

你有权在 **$deadline**（含当日）前向医保部门提出复核申请，并可提交书面陈述和证据；涉及医学专业问题的，
将组织医疗专家同行评议。逾期未申请的，医保部门将依法作出记分决定。

告知日期：$day
"""

DECISION = """# 医保支付资格记分决定书

编号：$sanction_id

$name（医保相关人员代码 $staff_id）：

$review
依据《关于建立定点医药机构相关人员医保支付资格管理制度的指导意见》（医保发〔2024〕23号），决定如下：

$result

记分自本决定作出之日（$day）起计入 $year 年度记分。一个自然年度内记分达到 9 分的，暂停医保支付资格；
达到 12 分的，终止医保支付资格。暂停、终止期间提供服务发生的医保费用不予结算（急救、抢救除外）。
积极整改、主动参与本机构医保管理工作的，可申请修复（减免记分、缩短暂停或终止期限）。

决定日期：$day
"""


def _template(name: str, default: str) -> Template:
    d = os.environ.get("YIBAO_STAFF_TEMPLATES")
    if d and (Path(d) / name).is_file():
        return Template((Path(d) / name).read_text(encoding="utf-8"))
    return Template(default)


def _d(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def notice_letter(*, sanction_id, staff_id, name, institution, day, points, basis, responsibility, fraud, facts,
                  deadline) -> str:
    return _template("notice.md", NOTICE).safe_substitute(
        sanction_id=sanction_id, staff_id=staff_id, name=name, institution=institution or "定点医药机构",
        basis=BASIS_ZH.get(basis, basis), responsibility=RESP_ZH.get(responsibility, responsibility),
        facts=f"\n违规事实：{facts}\n" if facts else "", points=points,
        fraud="（欺诈骗保，一次性记满 12 分）" if fraud else "", deadline=_d(deadline), day=_d(day))


def decision_letter(*, sanction_id, staff_id, name, institution, day, notice_day, points, noticed_points, basis,
                    responsibility, fraud, reviewed, outcome, opinions, reason) -> str:
    if reviewed:
        ops = "".join(f"\n- 专家 {o['expert']}：{o['opinion']}" for o in opinions) or "\n- （无专家评议意见）"
        review = (f"{_d(notice_day)} 对你拟记 {noticed_points} 分的预先告知，你已申请复核。复核中的专家同行评议意见：{ops}\n\n"
                  f"复核结论：{OUTCOME_ZH[outcome]}。{reason}\n")
    else:
        review = f"{_d(notice_day)} 对你拟记 {noticed_points} 分的预先告知，你在期限内未申请复核。\n"
    if outcome == "cancelled":
        result = "撤销该项记分，不计入年度记分。"
    else:
        result = (f"对你在{institution or '定点医药机构'}被{BASIS_ZH.get(basis, basis)}所涉行为"
                  f"（{RESP_ZH.get(responsibility, responsibility)}）记 **{points} 分**"
                  f"{'（欺诈骗保，一次性记满 12 分）' if fraud else ''}。")
    return _template("decision.md", DECISION).safe_substitute(
        sanction_id=sanction_id, staff_id=staff_id, name=name, review=review, result=result, day=_d(day),
        year=day.year)


LETTER_ZH = {"notice": "预先告知书", "decision": "记分决定书", "review_decision": "复核决定书"}


def _detail(e: dict) -> dict:
    d = e.get("detail")
    return json.loads(d) if isinstance(d, str) and d else (d or {})


def _day(v) -> dt.date:
    return v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v)[:10])


def letters_of(events: list[dict], name: str, institution: str) -> dict[str, str]:
    """The letters of one sanction from its ledger events (one ``ref_id``, oldest first): ``{"notice": text}``
    once noticed, and ``"decision"`` (no review asked) or ``"review_decision"`` (复核决定) once decided. A sanction
    loaded from the contract tables without a notice has no letters (it was decided elsewhere)."""
    notes = [e for e in events if e["kind"] == "notice"]
    if not notes:
        return {}
    note = notes[-1]
    nd = _detail(note)
    out = {"notice": notice_letter(
        sanction_id=note["ref_id"], staff_id=note["staff_id"], name=name, institution=institution,
        day=_day(note["day"]), points=note["points"], basis=note["basis"], responsibility=note["responsibility"],
        fraud=bool(note["fraud"]), facts=nd.get("facts", ""), deadline=_day(nd["deadline"]))}
    after = [e for e in events if e.get("event_id", 0) > note.get("event_id", 0)] if "event_id" in note else events
    done = [e for e in after if e["kind"] in ("sanction", "withdrawn")]
    if not done:
        return out
    end = done[-1]
    reviewed = any(e["kind"] == "review_requested" for e in after)
    review = next((e for e in reversed(after) if e["kind"] == "review_decided"), None)
    rd = _detail(review) if review else {}
    cancelled = end["kind"] == "withdrawn"
    points = note["points"] if cancelled else end["points"]
    outcome = "cancelled" if cancelled else rd.get("outcome") or ("changed" if points != note["points"] else "upheld")
    text = decision_letter(
        sanction_id=note["ref_id"], staff_id=note["staff_id"], name=name, institution=institution, day=_day(end["day"]),
        notice_day=_day(note["day"]), points=points, noticed_points=note["points"], basis=note["basis"],
        responsibility=note["responsibility"], fraud=bool(note["fraud"]), reviewed=reviewed, outcome=outcome,
        opinions=[_detail(e) for e in after if e["kind"] == "expert_opinion"],
        reason=rd.get("reason") or _detail(end).get("reason", ""))
    out["review_decision" if reviewed else "decision"] = text
    return out


def letter_pdf(text: str) -> bytes:
    """One letter (the Markdown text above) as an A4 PDF: ``# `` the centred title, ``- `` items, ``**`` dropped."""
    lines = text.splitlines()
    head = next((ln[2:].strip() for ln in lines if ln.startswith("# ")), "医保支付资格文书")
    pdf = document(head)
    pdf.set_font("cjk", size=16)
    pdf.cell(0, 12, head, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("cjk", size=11)
    for ln in lines:
        if ln.startswith("# "):
            continue
        plain = re.sub(r"\*\*(.+?)\*\*", r"\1", ln).rstrip()
        if not plain:
            pdf.ln(3)
            continue
        if plain.startswith("- "):
            plain = "· " + plain[2:]
        pdf.multi_cell(0, 7, plain, new_x="LMARGIN", new_y="NEXT")
    return pdf_bytes(pdf)
