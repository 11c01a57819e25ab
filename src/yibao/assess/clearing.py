"""The assessment score as the year-end clearing's input (质量保证金返还按考核得分).

``clearing_scores`` turns ``score_totals.csv`` (written by ``yibao assess``) into the institution → score
mapping the clearing takes, instead of scores typed by hand in ``[clearing.scores]``. A typed score
still wins — a hand override — but only with a reason (``--score-reason ID=理由``); every institution's
score, where it came from and the reason are returned as rows to record beside the settlement
(``score_sources.csv``).
"""

from __future__ import annotations

import csv
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Mapping

from yibao.contract.errors import BadFile, BadOption

RECORD_COLUMNS = ["institution_id", "assessed_score", "typed_score", "score_used", "source", "reason"]


def read_score_totals(path: Path) -> dict[str, Decimal | None]:
    p = Path(path)
    if not p.is_file():
        raise BadFile(f"{p}: 考核得分文件不存在（yibao assess 输出的 score_totals.csv）")
    try:
        with p.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in ("institution_id", "score") if c not in (reader.fieldnames or [])]
            if missing:
                raise BadFile(f"{p}: 缺少列 {', '.join(missing)}（应为 yibao assess 输出的 score_totals.csv）")
            rows = list(reader)
    except UnicodeDecodeError as exc:
        raise BadFile(f"{p}: 不是 UTF-8 编码（字节位置 {exc.start}）") from None
    out: dict[str, Decimal | None] = {}
    for n, r in enumerate(rows, start=2):
        inst, text = (r["institution_id"] or "").strip(), (r["score"] or "").strip()
        if not inst:
            raise BadFile(f"{p}: 第 {n} 行缺少机构编码")
        if inst in out:
            raise BadFile(f"{p}: 机构 {inst} 重复（第 {n} 行）")
        try:
            score = Decimal(text) if text else None
        except InvalidOperation:
            raise BadFile(f"{p}: 第 {n} 行得分不是数字：{text!r}") from None
        if score is not None and not Decimal(0) <= score <= Decimal(100):
            raise BadFile(f"{p}: 第 {n} 行得分超出 0–100：{text}")
        out[inst] = score
    return out


def parse_reasons(items: list[str] | None) -> dict[str, str]:
    """``ID=理由`` pairs (``--score-reason``)."""
    out: dict[str, str] = {}
    for item in items or []:
        inst, sep, reason = item.partition("=")
        if not sep or not inst.strip() or not reason.strip():
            raise BadOption(f"--score-reason {item!r}：应写成 机构编码=理由")
        out[inst.strip()] = reason.strip()
    return out


def clearing_scores(score_file: Path, typed: Mapping[str, Decimal], reasons: Mapping[str, str]
                    ) -> tuple[dict[str, Decimal], list[dict]]:
    """(institution → score used, record rows). An institution with a blank assessed score and no typed
    one is left out, so the clearing's ``default_score`` applies (recorded as such)."""
    assessed = read_score_totals(score_file)
    unused = sorted(set(reasons) - set(typed))
    if unused:
        raise BadOption(f"--score-reason 给出了 {', '.join(unused)}，但政策文件 [clearing.scores] 中没有其手工得分")
    scores: dict[str, Decimal] = {}
    rows = []
    for inst in sorted(set(assessed) | set(typed)):
        a, t = assessed.get(inst), typed.get(inst)
        reason = reasons.get(inst, "")
        if t is not None and a is not None and t != a and not reason:
            raise BadOption(f"机构 {inst} 的手工得分 {t} 与考核得分 {a} 不同：请用 --score-reason {inst}=理由 说明，"
                            "或从 [clearing.scores] 中删去")
        if t is not None:
            used, source = t, ("手工得分（与考核得分相同）" if t == a else
                              "手工得分（覆盖考核得分）" if a is not None else "手工得分（无考核得分）")
        elif a is not None:
            used, source = a, "考核得分（yibao assess）"
        else:
            used, source = None, "考核得分为空，按 default_score"
        if used is not None:
            scores[inst] = used
        rows.append({"institution_id": inst, "assessed_score": a, "typed_score": t, "score_used": used,
                     "source": source, "reason": reason})
    return scores, rows


def write_record(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(RECORD_COLUMNS)
        for r in rows:
            w.writerow(["" if r[c] is None else str(r[c]) for c in RECORD_COLUMNS])


def summary_line(rows: list[dict], score_file: Path) -> str:
    """The command's line about where the clearing's scores came from (Chinese, for users)."""
    overrides = [r["institution_id"] for r in rows if r["source"] == "手工得分（覆盖考核得分）"]
    return (f"质量保证金按考核得分返还（{score_file}）：{len(rows)} 家；手工覆盖 {len(overrides)} 家"
            + (f"（{'、'.join(overrides)}，理由见 score_sources.csv）" if overrides else ""))
