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

Unknown keys, unknown logic and missing parameters are errors naming the rule (``RuleError``).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from yibao.contract.errors import BadPolicy
from yibao.review.logic import LINE, LINE_LOGIC, SET_LOGIC, shape_of

RULES_DIR = Path(__file__).parent / "rules"
BUILTIN_FILES = ("line.toml", "case.toml")
EVIDENCE_FILE = "upcoding_evidence.toml"

CATEGORIES = ("政策类", "管理类", "医疗类")
SEVERITIES = ("reject", "warn")
AMOUNTS = ("line", "excess", "case", "none")
SETTINGS = ("inpatient", "outpatient")
KINDS = ("hospital", "primary", "pharmacy")
RULE_KEYS = {"id", "name", "category", "severity", "amount", "window", "settings", "institution_levels",
             "institution_kinds", "targets", "logic", "message", "basis", "params", "enabled", "stage"}


class RuleError(BadPolicy, ValueError):
    """A rule file that cannot be used: the message names the file, the rule and the problem (Chinese; exit 2)."""


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

    def param_sql(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        out = {k: sql_literal(v) for k, v in self.params.items()}
        for k, v in self.params.items():  # keyword lists also as one regular expression (RE2 alternation)
            if isinstance(v, list) and all(isinstance(x, str) for x in v):
                out[f"{k}_regex"] = _s("|".join(re.escape(x) for x in v) if v else "(?!)")
        out.update(extra or {})
        return out


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    evidence: dict  # {"diagnosis": [...], "group": [...]} for the upcoding rule
    sources: tuple[str, ...] = ()

    @property
    def enabled(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.enabled)

    def by_id(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def only(self, *ids: str) -> "RuleSet":
        """The same rule set with only ``ids`` enabled (tests, single-rule runs)."""
        return replace(self, rules=tuple(replace(r, enabled=r.id in ids) for r in self.rules))

    def evidence_sql(self) -> dict[str, str]:
        """The upcoding evidence table as SQL VALUES rows (``evidence_rows``, ``group_rows``)."""
        groups = {g["name"]: g for g in self.evidence.get("group", [])}
        ev = []
        for d in self.evidence.get("diagnosis", []):
            for g in d["evidence"]:
                ev.append(f"({_s(d['dx_prefix'])}, {_s(d.get('name', d['dx_prefix']))}, {_s(g)}, "
                          f"{_s(groups[g].get('zh', g))})")
        gr = []
        for g in groups.values():
            for kw in g.get("keywords", []):
                gr.append(f"({_s(g['name'])}, {_s(kw)}, NULL::VARCHAR)")
            for code in g.get("item_codes", []):
                gr.append(f"({_s(g['name'])}, NULL::VARCHAR, {_s(code)})")
        if not ev:
            ev = ["(NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR)"]
        if not gr:
            gr = ["(NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR)"]
        return {"evidence_rows": ", ".join(ev), "group_rows": ", ".join(gr)}


def _s(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def sql_literal(v: Any) -> str:
    """A TOML parameter as a SQL literal: integers as such, decimal strings as exact DECIMAL, lists as lists."""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        raise RuleError(f"参数 {v!r} 是浮点数：金额与比例请写成字符串（如 \"0.50\"）")
    if isinstance(v, str):
        try:
            d = Decimal(v)
            if d.is_finite():
                return f"CAST('{d}' AS DECIMAL(18,4))"
        except InvalidOperation:
            pass
        return _s(v)
    if isinstance(v, list):
        if not v:
            return "CAST([] AS VARCHAR[])"
        if all(isinstance(x, str) for x in v):
            return "[" + ", ".join(_s(x) for x in v) + "]"
        if all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            return "[" + ", ".join(str(x) for x in v) + "]"
    raise RuleError(f"参数 {v!r} 的类型不支持（整数、金额字符串、字符串或其列表）")


_PARAM = re.compile(r"\$\{(\w+)\}")


def render(sql: str, params: dict[str, str], where: str) -> str:
    def sub(m: re.Match) -> str:
        if m.group(1) not in params:
            raise RuleError(f"{where}：缺少参数 {m.group(1)}")
        return params[m.group(1)]

    return _PARAM.sub(sub, sql)


def _rule_from(d: dict, where: str) -> Rule:
    unknown = set(d) - RULE_KEYS
    if unknown:
        raise RuleError(f"{where}：未知的键 {', '.join(sorted(unknown))}")
    missing = [k for k in ("id", "name", "category", "severity", "amount", "logic", "message", "basis") if k not in d]
    if missing:
        raise RuleError(f"{where}：缺少 {', '.join(missing)}")
    rid = d["id"]
    where = f"{where} 规则 {rid}"
    if d["category"] not in CATEGORIES:
        raise RuleError(f"{where}：类别 {d['category']!r} 应为 {'/'.join(CATEGORIES)}")
    if d["severity"] not in SEVERITIES:
        raise RuleError(f"{where}：严重程度 {d['severity']!r} 应为 reject 或 warn")
    if d["amount"] not in AMOUNTS:
        raise RuleError(f"{where}：扣减金额方式 {d['amount']!r} 应为 {'/'.join(AMOUNTS)}")
    if d["logic"] not in LINE_LOGIC and d["logic"] not in SET_LOGIC:
        raise RuleError(f"{where}：未知的规则逻辑 {d['logic']!r}")
    for s in d.get("settings", []):
        if s not in SETTINGS:
            raise RuleError(f"{where}：就诊类型 {s!r} 应为 inpatient 或 outpatient")
    for k in d.get("institution_kinds", []):
        if k not in KINDS:
            raise RuleError(f"{where}：机构类型 {k!r} 应为 {'/'.join(KINDS)}")
    from yibao.contract.schema import LABEL_PATTERNS

    if d.get("targets") is not None and d["targets"] not in LABEL_PATTERNS:
        raise RuleError(f"{where}：targets {d['targets']!r} 不在合同的异常模式列表中")
    return Rule(
        id=rid, name=d["name"], category=d["category"], severity=d["severity"], amount=d["amount"],
        window=d.get("window", ""), logic=d["logic"], message=d["message"], basis=d["basis"],
        targets=d.get("targets"), settings=tuple(d.get("settings", ())),
        institution_levels=tuple(int(x) for x in d.get("institution_levels", ())),
        institution_kinds=tuple(d.get("institution_kinds", ())), params=dict(d.get("params", {})),
        enabled=bool(d.get("enabled", True)), stage=tuple(d.get("stage", ("事前", "事中", "事后"))),
    )


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RuleError(f"{path}：文件不存在") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RuleError(f"{path}：不是有效的 TOML（{exc}）") from None


def load_rules(override: Path | str | None = None) -> RuleSet:
    """The built-in rules, with a region's ``override`` file applied."""
    rules: dict[str, Rule] = {}
    sources = []
    for name in BUILTIN_FILES:
        path = RULES_DIR / name
        for d in _read(path).get("rule", []):
            r = _rule_from(d, name)
            if r.id in rules:
                raise RuleError(f"{name}：规则编号 {r.id} 重复")
            rules[r.id] = r
        sources.append(str(path))
    evidence = _read(RULES_DIR / EVIDENCE_FILE)
    if override is not None:
        path = Path(override)
        data = _read(path)
        unknown = set(data) - {"rules", "rule", "diagnosis", "group"}
        if unknown:
            raise RuleError(f"{path}：未知的键 {', '.join(sorted(unknown))}")
        for d in data.get("rule", []):
            r = _rule_from(d, str(path))
            rules[r.id] = r
        for rid, change in data.get("rules", {}).items():
            if rid not in rules:
                raise RuleError(f"{path}：没有编号为 {rid} 的规则")
            r = rules[rid]
            merged = {k: getattr(r, k) for k in RULE_KEYS - {"params"}}
            merged["params"] = {**r.params, **change.get("params", {})}
            unknown_p = set(change.get("params", {})) - set(r.params)
            if unknown_p:
                raise RuleError(f"{path} 规则 {rid}：未知参数 {', '.join(sorted(unknown_p))}")
            for k, v in change.items():
                if k != "params":
                    merged[k] = v
            merged = {k: (list(v) if isinstance(v, tuple) else v) for k, v in merged.items()}
            rules[rid] = _rule_from(merged, str(path))
        if "diagnosis" in data or "group" in data:
            evidence = {"diagnosis": data.get("diagnosis", []), "group": data.get("group", evidence.get("group", []))}
        sources.append(str(path))
    groups = {g["name"] for g in evidence.get("group", [])}
    for d in evidence.get("diagnosis", []):
        for g in d.get("evidence", []):
            if g not in groups:
                raise RuleError(f"{EVIDENCE_FILE}：诊断 {d.get('dx_prefix')} 的证据组 {g} 未定义")
    ordered = tuple(sorted(rules.values(), key=lambda r: r.id))
    rs = RuleSet(ordered, evidence, tuple(sources))
    for r in rs.rules:  # every parameter the logic names is present
        from yibao.review.pipelines import rule_sql

        rule_sql(r, rs)
    return rs


def line_rule_count(rs: RuleSet) -> int:
    return sum(1 for r in rs.enabled if r.shape == LINE)
