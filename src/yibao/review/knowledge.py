"""The knowledge base (知识库, the 两库框架's rule base in table form): CSV tables of rule kind, item code, limit and
window, loaded by ``yibao review --knowledge DIR`` into the knowledge rules K01–K08 (``rules/knowledge.toml``).

One table per rule kind (layouts: docs/knowledge-base.md); every row has an ``id`` (unique in the whole base),
an ``item_code`` and a ``source`` (出处: the national rule base entry, the catalogue note, the local document).
A table that is present switches its rule on with the table in the rule's parameters (parallel lists of text,
:func:`yibao.review.logic.kb_rows`); the rule's SQL is set-based (one join of the fee lines to the table per
kind, not one rule per item). Every bad row of every table is reported at once (file, line, reason) and the run
is refused (:class:`~yibao.contract.errors.BadPolicy`, exit 2), like the policy files.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path

from yibao.contract.errors import BadPolicy
from yibao.contract.params import problems_message
from yibao.review.ruleset import RuleSet

__all__ = ["TABLES", "KnowledgeTable", "apply_knowledge", "read_knowledge"]

SETTINGS = ("inpatient", "outpatient")
SCHEMES = ("employee", "resident")
PERS = ("day", "stay", "window")


@dataclass(frozen=True)
class KnowledgeTable:
    file: str  # the CSV file's name in the knowledge directory
    rule_id: str  # the rule it fills
    kind_zh: str  # the national rule base's rule kind
    columns: tuple[tuple[str, str], ...]  # (CSV column, rule parameter) beyond id, item_code, source
    key: tuple[str, ...] = ("item_code",)  # unique within the table


TABLES = (
    KnowledgeTable("sex_limit.csv", "K01", "限性别", (("sex", "kb_sex"),)),
    KnowledgeTable("age_limit.csv", "K02", "限年龄（限儿童）", (("min_age", "kb_min_age"), ("max_age", "kb_max_age"))),
    KnowledgeTable("duplicate_pairs.csv", "K03", "重复收费",
                   (("other_code", "kb_other"), ("window_days", "kb_window_days")), key=("item_code", "other_code")),
    KnowledgeTable("setting_limit.csv", "K04", "限就诊方式", (("settings", "kb_settings"),)),
    KnowledgeTable("level_limit.csv", "K05", "限医疗机构级别",
                   (("min_level", "kb_min_level"), ("max_level", "kb_max_level"))),
    KnowledgeTable("scheme_limit.csv", "K06", "限险种", (("schemes", "kb_schemes"),)),
    KnowledgeTable("course_limit.csv", "K07", "疗程（限定天数）", (("max_days", "kb_max_days"),)),
    KnowledgeTable("frequency_limit.csv", "K08", "限频次（数量）",
                   (("max_qty", "kb_max_qty"), ("per", "kb_per"), ("window_days", "kb_window_days"))),
)
_BY_FILE = {t.file: t for t in TABLES}


def _int(v: str, lo: int, hi: int | None = None) -> str | None:
    """The problem of an integer cell (None when it is one in lo..hi)."""
    try:
        n = int(v)
    except ValueError:
        return f"应为整数，实际为 {v!r}"
    if n < lo or (hi is not None and n > hi):
        return f"应在 {lo}–{hi} 之间，实际为 {n}" if hi is not None else f"应不小于 {lo}，实际为 {n}"
    return None


def _qty(v: str) -> str | None:
    try:
        d = Decimal(v)
    except InvalidOperation:
        return f"应为数量（如 2 或 0.5），实际为 {v!r}"
    if not d.is_finite() or d <= 0 or d != d.quantize(Decimal("0.0001")):
        return f"应为正数、最多 4 位小数，实际为 {v!r}"
    return None


def _list(v: str, allowed: tuple[str, ...]) -> str | None:
    parts = v.split("|")
    bad = [x for x in parts if x not in allowed]
    if not v or bad:
        return f"应为 {'/'.join(allowed)} 中的一个或多个（以 | 分隔），实际为 {v!r}"
    return None


def _row_problems(t: KnowledgeTable, r: dict[str, str]) -> list[str]:
    """Problems of one row's kind-specific cells (the row's id, item code and source are checked by the caller)."""
    out = []

    def cell(name: str, problem: str | None) -> None:
        if problem:
            out.append(f"列 {name}：{problem}")

    if t.rule_id == "K01":
        cell("sex", None if r["sex"] in ("1", "2") else f"应为 1（男）或 2（女），实际为 {r['sex']!r}")
    elif t.rule_id in ("K02", "K05"):
        lo_name, hi_name = (("min_age", "max_age") if t.rule_id == "K02" else ("min_level", "max_level"))
        top = 150 if t.rule_id == "K02" else 3
        lo, hi = r[lo_name], r[hi_name]
        if lo == "" and hi == "":
            out.append(f"列 {lo_name}、{hi_name} 至少填一个")
        for name, v in ((lo_name, lo), (hi_name, hi)):
            if v != "":
                cell(name, _int(v, 0, top))
        if not out and lo != "" and hi != "" and int(lo) > int(hi):
            out.append(f"{lo_name} {lo} 大于 {hi_name} {hi}")
    elif t.rule_id == "K03":
        cell("other_code", None if r["other_code"] else "不能为空")
        cell("window_days", _int(r["window_days"], 0))
    elif t.rule_id == "K04":
        cell("settings", _list(r["settings"], SETTINGS))
    elif t.rule_id == "K06":
        cell("schemes", _list(r["schemes"], SCHEMES))
    elif t.rule_id == "K07":
        cell("max_days", _int(r["max_days"], 1))
    elif t.rule_id == "K08":
        cell("max_qty", _qty(r["max_qty"]))
        if r["per"] not in PERS:
            cell("per", f"应为 day（每日）、stay（每次就诊）或 window（N 天内），实际为 {r['per']!r}")
        elif r["per"] == "window":
            cell("window_days", _int(r["window_days"], 1))
        elif r["window_days"] != "":
            cell("window_days", f"per 为 {r['per']} 时应留空，实际为 {r['window_days']!r}")
    return out


def read_knowledge(directory: Path | str) -> dict[str, dict[str, list[str]]]:
    """The knowledge tables of ``directory`` as the parameters of their rules (rule id → parameter → list of text).

    Every problem of every table (unknown file, missing or unknown column, bad cell, duplicate id or key) is
    reported in one :class:`BadPolicy` naming the file and the line; nothing is loaded when there is one."""
    d = Path(directory)
    if not d.is_dir():
        raise BadPolicy(f"{d}：知识库目录不存在")
    files = sorted(p for p in d.iterdir() if p.suffix.lower() == ".csv")
    problems: list[str] = []
    unknown = [p.name for p in files if p.name not in _BY_FILE]
    if unknown:
        problems.append(f"未知的知识库表 {', '.join(unknown)}（可用：{', '.join(_BY_FILE)}）")
    if not [p for p in files if p.name in _BY_FILE]:
        problems.append(f"没有知识库表（{', '.join(_BY_FILE)}）")
    out: dict[str, dict[str, list[str]]] = {}
    ids: dict[str, str] = {}  # id → "file 第 N 行" (ids are unique in the whole base)
    for path in files:
        t = _BY_FILE.get(path.name)
        if t is None:
            continue
        where = path.name
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            problems.append(f"{where}：不是 UTF-8 文本")
            continue
        reader = csv.reader(text.splitlines())
        header = next(reader, None)
        cols = ("id", "item_code", *(c for c, _ in t.columns), "source")
        if header is None:
            problems.append(f"{where}：空文件（应有表头 {','.join(cols)}）")
            continue
        header = [h.strip() for h in header]
        missing = [c for c in cols if c not in header]
        extra = [h for h in header if h not in cols and h != "note"]
        if missing or extra:
            problems.append(f"{where} 第 1 行：表头" + (f"缺少列 {', '.join(missing)}" if missing else "")
                            + ("；" if missing and extra else "") + (f"未知的列 {', '.join(extra)}" if extra else ""))
            continue
        params: dict[str, list[str]] = {"kb_id": [], "kb_item": [], "kb_source": [], **{p: [] for _, p in t.columns}}
        keys: dict[tuple, int] = {}
        for n, raw in enumerate(reader, start=2):
            if not raw or all(not x.strip() for x in raw):
                continue
            at = f"{where} 第 {n} 行"
            if len(raw) != len(header):
                problems.append(f"{at}：应有 {len(header)} 列，实际 {len(raw)} 列")
                continue
            r = {h: v.strip() for h, v in zip(header, raw)}
            ps = [f"列 {c}：不能为空" for c in ("id", "item_code", "source") if not r[c]]
            ps += _row_problems(t, r)
            if r["id"]:
                if r["id"] in ids:
                    ps.append(f"编号 {r['id']} 与 {ids[r['id']]} 重复")
                else:
                    ids[r["id"]] = at
            k = tuple(r[c] for c in t.key)
            if all(k):
                if k in keys:
                    ps.append(f"{'、'.join(t.key)} {'/'.join(k)} 与第 {keys[k]} 行重复（每个项目一行）")
                else:
                    keys[k] = n
            if ps:
                problems.append(f"{at}：{'，'.join(ps)}")
                continue
            params["kb_id"].append(r["id"])
            params["kb_item"].append(r["item_code"])
            params["kb_source"].append(r["source"])
            for c, p in t.columns:
                params[p].append(r[c])
        out[t.rule_id] = params
    if problems:
        raise BadPolicy(f"知识库 {d}：" + problems_message(problems))
    return out


def apply_knowledge(rs: RuleSet, directory: Path | str | None) -> RuleSet:
    """``rs`` with the knowledge rules of the tables in ``directory`` filled and switched on (the others as they
    were); ``rs`` itself when no directory is given. A rule that the region's rule file switched off
    (``enabled = false``) gets its table's parameters but stays off, and ``notes`` says so once."""
    if directory is None:
        return rs
    tables = read_knowledge(directory)
    rules, kept_off = [], []
    for r in rs.rules:
        if r.id in tables:
            on = r.id not in rs.switched_off
            if not on:
                kept_off.append(r.id)
            r = replace(r, enabled=on or r.enabled, params={**r.params, **tables[r.id]})
        rules.append(r)
    notes = tuple(f"注意：知识库目录给出了规则 {rid} 的表，但本地规则文件已停用该规则，按停用处理" for rid in kept_off)
    return replace(rs, rules=tuple(rules), sources=(*rs.sources, str(Path(directory))), notes=(*rs.notes, *notes))
