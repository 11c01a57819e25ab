"""One person's full record (一人一档), in Chinese: every ledger event, the derived periods, the state on a date."""

from __future__ import annotations

import datetime as dt
import json

from yibao.engine.workspace import Workspace
from yibao.staff.ledger import KIND_ZH, ledger_events, staff_events
from yibao.staff.letters import BASIS_ZH, OUTCOME_ZH, RESP_ZH
from yibao.staff.policy import StaffPolicy
from yibao.staff.rules import status_as_of

STATUS_ZH = {"active": "正常", "suspended": "暂停", "terminated": "终止"}


def _what(e: dict) -> str:
    k = e["kind"]
    det = json.loads(e["detail"]) if e["detail"] else {}
    if k in ("sanction", "notice"):
        s = (f"{BASIS_ZH.get(e['basis'], e['basis'])}，{RESP_ZH.get(e['responsibility'], e['responsibility'])}，"
             f"{e['points']} 分{'，欺诈骗保' if e['fraud'] else ''}（机构 {e['institution_id'] or '—'}）")
        if k == "notice":
            s += f"，复核申请期限至 {det.get('deadline')}"
        return s
    if k == "repair":
        return f"减少记分 {e['points_reduced'] or 0} 分，缩短期限 {e['shorten_days'] or 0} 天"
    if k == "registration":
        return f"机构 {e['institution_id'] or '—'}"
    if k == "expert_opinion":
        return f"专家 {det.get('expert')}：{det.get('opinion')}"
    if k == "review_decided":
        return OUTCOME_ZH.get(det.get("outcome"), "") + (f"，{det['points']} 分" if det.get("points") else "")
    if k in ("ext_suspension", "ext_termination"):
        word = "暂停至" if k == "ext_suspension" else "可再次登记日期"
        return f"来源地区 {e['origin']}，{word} {e['until']}"
    return det.get("reason", "") or ""


def render_record(ws: Workspace, pol: StaffPolicy, staff_id: str, as_of: dt.date) -> str:
    evs = staff_events(ws.con, staff_id)
    if not evs:
        return ""
    lines = []
    rows = ws.con.execute("SELECT name, role, institution_id FROM staff WHERE staff_id = ?", [staff_id]).fetchall()
    head = f"医保支付资格档案（一人一档）：{staff_id}"
    if rows:
        head += f" {rows[0][0] or ''}（{rows[0][1]}，现所在机构 {rows[0][2]}）"
    lines.append(head)
    lines.append("")
    lines.append("事件记录（只增不改，按日期）：")
    for e in evs:
        lines.append(f"  {e['day']}  #{e['event_id']:<6} {KIND_ZH[e['kind']]:<10} {e['ref_id']:<14} {_what(e)}"
                     f"  〔{e['source'] or ''}，{e['actor'] or ''}〕")
    events = ledger_events(ws.con, staff_id)
    st, d = status_as_of(events, [staff_id], pol, as_of)
    lines.append("")
    lines.append("由事件推导的暂停、终止期间（结束日为恢复或可再次登记的首日）：")
    per = [p for p in d.periods.to_pylist()]
    if not per:
        lines.append("  无")
    for p in per:
        if p["status"] == "suspended":
            lines.append(f"  暂停  {p['start_date']} 起，{p['end_date']} 恢复（依据 {p['source_id']}"
                         f"{'，来源地区 ' + p['origin'] if p['origin'] else ''}）")
        else:
            end = f"{p['end_date']} 再次登记" if p["end_date"] else "尚未再次登记"
            lines.append(f"  终止  {p['start_date']} 起，{p['barred_until']} 起可再次登记，{end}（依据 {p['source_id']}"
                         f"{'，一次性记满 12 分' if p['at_once'] else ''}{'，来源地区 ' + p['origin'] if p['origin'] else ''}）")
    for r in d.rejected.to_pylist():
        lines.append(f"  不记分：{r['message']}")
    s = st.to_pylist()[0]
    lines.append("")
    extra = ""
    if s["status"] == "suspended":
        extra = f"，{s['suspended_until']} 恢复"
    elif s["status"] == "terminated":
        extra = f"，{s['barred_until']} 起可再次登记"
    lines.append(f"截至 {as_of}：{as_of.year} 年度记分 {s['year_points']} 分，医保支付资格{STATUS_ZH[s['status']]}{extra}。")
    return "\n".join(lines)
