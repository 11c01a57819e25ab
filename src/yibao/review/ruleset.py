"""Rule sets (规则库): rules declared as data in TOML, switched on/off and tuned by a region without code.

The built-in rules are ``rules/line.toml`` and ``rules/case.toml`` beside this module; the evidence table of
the upcoding rule (高套) is ``rules/upcoding_evidence.toml``. A region's file (``yibao review --rules FILE``)
may hold::

    [rules.L10]                 # an existing rule: switch off, change severity, tune parameters
    enabled = false
    [rules.C04.params]
    max_gap_days = 30

    [[rule]]                    # a new rule (or a full replacement of one with the same id)
    id = "X01"
    ...                         # same keys as the built-in files, with an existing ``logic``

    [[diagnosis]] / [[group]]   # replace the upcoding evidence table

Unknown keys, unknown logic, missing parameters, ``enabled`` that is not a TOML boolean (``"false"`` in quotes
would be truthy), float parameters and negative thresholds are errors naming the file, the rule and the key
(:class:`~yibao.contract.errors.BadPolicy`); every problem of every file is reported in one message
(``FILE：PROBLEM`` for one, ``FILE：N 处问题：P1；P2；…`` for several). A file that cannot be read at all
(missing, not TOML, not UTF-8) stops at once (:func:`yibao.contract.policyfile.read_toml`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from yibao.contract.errors import BadPolicy
from yibao.contract.params import problems_message
from yibao.contract.policyfile import read_toml
from yibao.contract.schema import LABEL_PATTERNS
from yibao.review.logic import LINE, LINE_LOGIC, SET_LOGIC, shape_of
from yibao.review.rulesql import rule_sql

__all__ = ["RULES_DIR", "Rule", "RuleError", "RuleSet", "line_rule_count", "load_rules"]

RULES_DIR = Path(__file__).parent / "rules"
BUILTIN_FILES = ("line.toml", "case.toml", "completeness.toml", "knowledge.toml")
EVIDENCE_FILE = "upcoding_evidence.toml"

CATEGORIES = ("政策类", "管理类", "医疗类")
SEVERITIES = ("reject", "warn")
AMOUNTS = ("line", "excess", "case", "none")
SETTINGS = ("inpatient", "outpatient")
KINDS = ("hospital", "primary", "pharmacy")
RULE_KEYS = {"id", "name", "category", "severity", "amount", "window", "settings", "institution_levels",
             "institution_kinds", "targets", "logic", "message", "basis", "params", "enabled", "stage"}


RuleError = BadPolicy  # the old name (tests/review import it)


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    category: str
    severity: str
    amount: str
    window: str
    logic: str
    message: str
    basis: str
    targets: str | None = None
    settings: tuple[str, ...] = ()
    institution_levels: tuple[int, ...] = ()
    institution_kinds: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    stage: tuple[str, ...] = ("事前", "事中", "事后")

    @property
    def shape(self) -> str:
        return shape_of(self.logic)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    evidence: dict  # {"diagnosis": [...], "group": [...]} for the upcoding rule
    sources: tuple[str, ...] = ()
    # rules a region's file switched off explicitly (``enabled = false``): a knowledge table does not switch
    # them back on (:func:`yibao.review.knowledge.apply_knowledge`)
    switched_off: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what the user is told once when the rules are applied (Chinese)

    @property
    def enabled(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.enabled)

    def by_id(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def only(self, *ids: str) -> RuleSet:
        """The same rule set with only ``ids`` enabled (tests, single-rule runs)."""
        return replace(self, rules=tuple(replace(r, enabled=r.id in ids) for r in self.rules))


def _param_problems(rid: str, params: object) -> list[str]:
    """Problems of a rule's parameters: floats (money and ratios are exact strings), negative thresholds."""
    if not isinstance(params, dict):
        return [f"规则 {rid} 键 params：应为表（[rule.params]），实际为 {params!r}"]
    out = []
    for k, v in params.items():
        where = f"规则 {rid} 参数 {k}"
        if isinstance(v, float):
            out.append(f"{where}：{v!r} 是浮点数，金额与比例请写成字符串（如 \"{v}\"）")
        elif isinstance(v, bool):
            continue
        elif isinstance(v, int):
            if v < 0:
                out.append(f"{where}：阈值不能为负数（{v}）")
        elif isinstance(v, str):
            try:
                d = Decimal(v.strip())
            except InvalidOperation:
                continue  # a keyword, not a number
            if d.is_finite() and d < 0:
                out.append(f"{where}：阈值不能为负数（{v!r}）")
        elif isinstance(v, list):
            if any(isinstance(x, float) for x in v):
                out.append(f"{where}：列表中有浮点数 {v!r}，请写成字符串")
            elif any(isinstance(x, int) and not isinstance(x, bool) and x < 0 for x in v):
                out.append(f"{where}：阈值不能为负数（{v!r}）")
        else:
            out.append(f"{where}：类型不支持（整数、金额字符串、字符串或其列表），实际为 {v!r}")
    return out


def _rule_problems(d: dict) -> list[str]:
    """Every problem of one rule's keys (the rule named in each); empty when the rule can be used."""
    rid = d.get("id", "（无编号）")
    pre = f"规则 {rid}"
    out = []
    unknown = set(d) - RULE_KEYS
    if unknown:
        out.append(f"{pre}：未知的键 {', '.join(sorted(unknown))}")
    missing = [k for k in ("id", "name", "category", "severity", "amount", "logic", "message", "basis") if k not in d]
    if missing:
        out.append(f"{pre}：缺少 {', '.join(missing)}")
    if "category" in d and d["category"] not in CATEGORIES:
        out.append(f"{pre} 键 category：类别 {d['category']!r} 应为 {'/'.join(CATEGORIES)}")
    if "severity" in d and d["severity"] not in SEVERITIES:
        out.append(f"{pre} 键 severity：严重程度 {d['severity']!r} 应为 reject 或 warn")
    if "amount" in d and d["amount"] not in AMOUNTS:
        out.append(f"{pre} 键 amount：扣减金额方式 {d['amount']!r} 应为 {'/'.join(AMOUNTS)}")
    if "logic" in d and d["logic"] not in LINE_LOGIC and d["logic"] not in SET_LOGIC:
        out.append(f"{pre} 键 logic：未知的规则逻辑 {d['logic']!r}")
    if "enabled" in d and not isinstance(d["enabled"], bool):
        # a string "false" is truthy: it would silently leave the rule on
        out.append(f"{pre} 键 enabled：应为 true 或 false（不加引号），实际为 {d['enabled']!r}")
    for key, allowed in (("settings", SETTINGS), ("institution_kinds", KINDS)):
        v = d.get(key, [])
        if not isinstance(v, (list, tuple)):
            out.append(f"{pre} 键 {key}：应为列表，实际为 {v!r}")
            continue
        for x in v:
            if x not in allowed:
                out.append(f"{pre} 键 {key}：{x!r} 应为 {'/'.join(allowed)}")
    lv = d.get("institution_levels", [])
    if not isinstance(lv, (list, tuple)) or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 3
                                                    for x in lv):
        out.append(f"{pre} 键 institution_levels：应为 0–3 的整数列表，实际为 {lv!r}")
    if d.get("targets") is not None and d["targets"] not in LABEL_PATTERNS:
        out.append(f"{pre} 键 targets：{d['targets']!r} 不在合同的异常模式列表中")
    out += _param_problems(rid, d.get("params", {}))
    return out


def _make_rule(d: dict) -> Rule:
    return Rule(
        id=d["id"], name=d["name"], category=d["category"], severity=d["severity"], amount=d["amount"],
        window=d.get("window", ""), logic=d["logic"], message=d["message"], basis=d["basis"],
        targets=d.get("targets"), settings=tuple(d.get("settings", ())),
        institution_levels=tuple(int(x) for x in d.get("institution_levels", ())),
        institution_kinds=tuple(d.get("institution_kinds", ())), params=dict(d.get("params", {})),
        enabled=d.get("enabled", True), stage=tuple(d.get("stage", ("事前", "事中", "事后"))),
    )


class _Problems:
    """Every problem found in the rule files, by file, raised as one :class:`BadPolicy` at the end."""

    def __init__(self) -> None:
        self.by_file: dict[str, list[str]] = {}
        self.counted: set[str] = set()  # files whose message gives the count even for one problem

    def add(self, where: str, problems: list[str] | str) -> None:
        self.by_file.setdefault(where, []).extend([problems] if isinstance(problems, str) else problems)

    def raise_any(self) -> None:
        parts = []
        for where, ps in self.by_file.items():
            if ps:
                counted = where in self.counted and len(ps) == 1
                parts.append(f"{where}：" + (f"1 处问题：{ps[0]}" if counted else problems_message(ps)))
        if parts:
            raise BadPolicy("；".join(parts))


def _override(path: Path, data: dict, rules: dict[str, Rule], origin: dict[str, str], problems: list[str]) -> None:
    """Apply a region's file to ``rules`` (new rules, changes of existing ones), its problems to ``problems``."""
    unknown = set(data) - {"rules", "rule", "diagnosis", "group"}
    if unknown:
        problems.append(f"未知的键 {', '.join(sorted(unknown))}")
    for d in data.get("rule", []):
        p = _rule_problems(d)
        if p:
            problems += p
        else:
            rules[d["id"]] = _make_rule(d)
            origin[d["id"]] = str(path)
    changes = data.get("rules", {})
    if not isinstance(changes, dict):
        problems.append(f"[rules] 应为表，实际为 {changes!r}")
        changes = {}
    for rid, change in changes.items():
        if rid not in rules:
            problems.append(f"没有编号为 {rid} 的规则")
            continue
        if not isinstance(change, dict):
            problems.append(f"规则 {rid}：[rules.{rid}] 应为表")
            continue
        r = rules[rid]
        cp = change.get("params", {})
        if not isinstance(cp, dict):
            problems.append(f"规则 {rid} 键 params：应为表")
            continue
        unknown_p = set(cp) - set(r.params)
        if unknown_p:
            problems.append(f"规则 {rid}：未知参数 {', '.join(sorted(unknown_p))}")
            continue
        merged = {k: getattr(r, k) for k in RULE_KEYS - {"params"}}
        merged["params"] = {**r.params, **cp}
        for k, v in change.items():
            if k != "params":
                merged[k] = v
        merged = {k: (list(v) if isinstance(v, tuple) else v) for k, v in merged.items()}
        p = _rule_problems(merged)
        if p:
            problems += p
        else:
            rules[rid] = _make_rule(merged)
            origin[rid] = str(path)


def load_rules(override: Path | str | None = None) -> RuleSet:
    """The built-in rules, with a region's ``override`` file applied; every problem of the files in one error."""
    rules: dict[str, Rule] = {}
    origin: dict[str, str] = {}  # rule id → the file that defined it last (where its problems are reported)
    sources = []
    problems = _Problems()
    for name in BUILTIN_FILES:
        path = RULES_DIR / name
        for d in read_toml(path).get("rule", []):
            p = _rule_problems(d)
            if p:
                problems.add(name, p)
            elif d["id"] in rules:
                problems.add(name, f"规则编号 {d['id']} 重复")
            else:
                rules[d["id"]] = _make_rule(d)
                origin[d["id"]] = name
        sources.append(str(path))
    evidence = read_toml(RULES_DIR / EVIDENCE_FILE)
    evidence_from = EVIDENCE_FILE
    switched_off: list[str] = []
    if override is not None:
        path = Path(override)
        data = read_toml(path)
        p: list[str] = []
        _override(path, data, rules, origin, p)
        changes = data.get("rules", {}) if isinstance(data.get("rules", {}), dict) else {}
        switched_off = sorted({rid for rid, ch in changes.items() if isinstance(ch, dict) and ch.get("enabled") is False}
                              | {d.get("id") for d in data.get("rule", []) if isinstance(d, dict) and d.get("enabled") is False})
        problems.counted.add(str(path))  # a region's file says how many problems, even one (docs/review.md)
        problems.add(str(path), p)
        if "diagnosis" in data or "group" in data:
            evidence = {"diagnosis": data.get("diagnosis", []), "group": data.get("group", evidence.get("group", []))}
            evidence_from = str(path)
        sources.append(str(path))
    groups = {g["name"] for g in evidence.get("group", [])}
    for d in evidence.get("diagnosis", []):
        for g in d.get("evidence", []):
            if g not in groups:
                problems.add(evidence_from, f"诊断 {d.get('dx_prefix')} 的证据组 {g} 未定义")
    ordered = tuple(sorted(rules.values(), key=lambda r: r.id))
    rs = RuleSet(ordered, evidence, tuple(sources), tuple(switched_off))
    if not problems.by_file.get(evidence_from):
        for r in rs.rules:  # every parameter the logic names is present, every message column exists
            try:
                rule_sql(r, rs)
            except BadPolicy as exc:
                problems.add(origin[r.id], str(exc))
    problems.raise_any()
    return rs


def line_rule_count(rs: RuleSet) -> int:
    return sum(1 for r in rs.enabled if r.shape == LINE)
