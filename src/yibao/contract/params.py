"""Policy parameters declared once (政策参数表): name, default, check, source, unit, Chinese meaning.

Every capability declares its parameters as one :class:`ParamTable` of :class:`Param` records (the habit of
datasette's ``Setting`` table and beancount's ``OptDesc``). From that one declaration come:

- the checks of a policy file (:meth:`ParamTable.load`): every problem of a file reported at once, each naming
  its key (``FILE: problem`` for one, ``FILE: N 处问题：P1；P2；…`` for several), unknown keys refused;
- the typed values and where each came from (:class:`Values`: ``v["scoring.high_ratio"]``, ``v.source(key)``);
- the defaults file (:meth:`ParamTable.defaults_toml`, committed beside the capability, a test keeps it equal);
- the table in the docs (:meth:`ParamTable.markdown`) and the rows a SQL parameter table is built from
  (:meth:`Values.rows`).

A key is dotted: ``section.name`` (a TOML key of table ``[section]``), ``name`` (a top-level key), or
``section.sub.name``. Map kinds (:func:`kinds.decimal_map` …) are TOML sub-tables whose keys are data (levels,
institutions). Defaults pass through the same checks when the table is declared, so a bad default fails at
import. Sections a table does not declare belong to other capabilities and are ignored (a policy file may
hold several capabilities' sections) unless ``others="refuse"``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from yibao.contract.errors import BadPolicy
from yibao.contract.policyfile import read_toml

__all__ = ["Param", "ParamTable", "Values", "Kind", "PolicyFileError", "kinds", "problems_message", "parse_decimal",
           "toml_value"]


class PolicyFileError(BadPolicy):
    """A policy file with problems: one line naming the file and every problem (``.problems``)."""

    def __init__(self, path: str, problem: str, problems: list[str] | None = None) -> None:
        self.path = path
        self.problem = problem
        self.problems = problems if problems is not None else [problem]
        super().__init__(f"{path}: {problem}")


def problems_message(problems: list[str]) -> str:
    """One problem as is; several as ``N 处问题：P1；P2；…``."""
    return problems[0] if len(problems) == 1 else f"{len(problems)} 处问题：" + "；".join(problems)


# ----------------------------------------------------------------------------------------------- kinds


@dataclass(frozen=True)
class Kind:
    """How a parameter's value is checked, typed, written to TOML and shown in the docs."""

    label: str  # 小数, 整数, … (the docs' 类型 column)
    parse: Callable[[str, Any], tuple[Any, list[str]]]  # (key, raw) -> (typed value, problems)
    toml: Callable[[Any], str]  # the raw default -> TOML text
    show: Callable[[Any], str]  # the raw default -> docs text
    is_map: bool = False  # a TOML sub-table whose keys are data


def toml_value(v: Any, quote_keys: bool = False) -> str:
    """A value as TOML text: strings and decimals quoted, lists inline, tables inline (``{ k = v }``; ``quote_keys``
    quotes every key)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (Decimal, str)):
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x, quote_keys) for x in v) + "]"
    if isinstance(v, Mapping):
        key = (lambda k: toml_value(str(k))) if quote_keys else str
        return "{ " + ", ".join(f"{key(k)} = {toml_value(x, quote_keys)}" for k, x in v.items()) + " }"
    raise TypeError(f"no TOML form for {v!r}")


_toml_scalar = toml_value


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_show(x) for x in v) + "]" if v else "[]（空）"
    if isinstance(v, Mapping):
        return "；".join(f"{k} = {_show(x)}" for k, x in v.items()) if v else "（无）"
    if v == "":
        return "（空）"
    return str(v)


def parse_decimal(key: str, value: Any, lo: Decimal | None = None, hi: Decimal | None = None,
                  places: int | None = None, example: str = '"0.85"') -> tuple[Any, list[str]]:
    """An exact decimal (string, integer, or a TOML float taken as written) in [lo, hi]: (value, problems).
    ``places``: at most that many decimals, quantized to them; None keeps the value as written."""
    # the wording of contract.policyfile.decimal_param, so every capability says the same
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        return None, [f"{key} 应为数字（写成字符串，例如 {example}），实际为 {value!r}"]
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        d = Decimal(text)
    except InvalidOperation:
        return None, [f"{key} 不是数字：{value!r}"]
    if not d.is_finite():
        return None, [f"{key} 不是有限数字：{value!r}"]
    if lo is not None and d < lo or hi is not None and d > hi:
        return None, [f"{key} 超出允许范围 {lo}–{hi if hi is not None else '∞'}：{value}"]
    if places is None:
        return d, []
    q = Decimal(1).scaleb(-places)
    if d != d.quantize(q):
        return None, [f"{key} 小数超过 {places} 位：{value}"]
    return d.quantize(q), []


def _decimal(key: str, value: Any, lo: Decimal | None, hi: Decimal | None, places: int) -> tuple[Any, list[str]]:
    return parse_decimal(key, value, lo, hi, places)


def _d(x: Any) -> Decimal | None:
    return None if x is None else Decimal(str(x))


class kinds:  # noqa: N801 — a namespace of kind constructors, read as K.decimal(...)
    """Constructors of :class:`Kind` (import as ``from yibao.contract.params import kinds as K``)."""

    @staticmethod
    def decimal(lo: Any = None, hi: Any = None, places: int = 4, empty_ok: bool = False) -> Kind:
        """An exact decimal (string ``"0.85"``, integer, or TOML float taken as written) in [lo, hi], at most
        ``places`` decimals, quantized to them; ``empty_ok``: ``""`` means "not set" (typed ``None``)."""
        lo_, hi_ = _d(lo), _d(hi)

        def parse(key: str, v: Any):
            if empty_ok and v in ("", None):
                return None, []
            return _decimal(key, v, lo_, hi_, places)

        rng = f"{lo if lo is not None else '-∞'}–{hi if hi is not None else '∞'}"
        return Kind(f"小数（{rng}，至多 {places} 位）" + ("，可为空" if empty_ok else ""), parse, _toml_scalar, _show)

    @staticmethod
    def integer(lo: int | None = None, hi: int | None = None) -> Kind:
        def parse(key: str, v: Any):
            if isinstance(v, bool) or not isinstance(v, int):
                return None, [f"{key} 应为整数，实际为 {v!r}"]
            if lo is not None and v < lo or hi is not None and v > hi:
                return None, [f"{key} 超出允许范围 {lo if lo is not None else '-∞'}–{hi if hi is not None else '∞'}：{v}"]
            return v, []

        return Kind(f"整数（{lo if lo is not None else '-∞'}–{hi if hi is not None else '∞'}）", parse, _toml_scalar, _show)

    @staticmethod
    def boolean() -> Kind:
        def parse(key: str, v: Any):
            if not isinstance(v, bool):
                return None, [f"{key} 应为 true 或 false，实际为 {v!r}"]
            return v, []

        return Kind("true / false", parse, _toml_scalar, _show)

    @staticmethod
    def choice(*options: str) -> Kind:
        def parse(key: str, v: Any):
            if v not in options:
                return None, [f"{key} 应为 {' / '.join(options)} 之一，实际为 {v!r}"]
            return str(v), []

        return Kind("取值之一：" + " / ".join(options), parse, _toml_scalar, _show)

    @staticmethod
    def text(nonempty: bool = False) -> Kind:
        def parse(key: str, v: Any):
            if not isinstance(v, str) or (nonempty and not v.strip()):
                return None, [f"{key} 应为{'非空' if nonempty else ''}文字，实际为 {v!r}"]
            return v, []

        return Kind("文字", parse, _toml_scalar, _show)

    @staticmethod
    def date(empty_ok: bool = False) -> Kind:
        def parse(key: str, v: Any):
            if empty_ok and v in ("", None):
                return None, []
            if isinstance(v, dt.datetime):
                return None, [f"{key} 应为日期（例如 2025-01-01），不是日期时间：{v!r}"]
            if isinstance(v, dt.date):
                return v, []
            if isinstance(v, str):
                try:
                    return dt.date.fromisoformat(v.strip()), []
                except ValueError:
                    pass
            return None, [f"{key} 应为日期（例如 2025-01-01），实际为 {v!r}"]

        return Kind("日期（YYYY-MM-DD）" + ("，可为空" if empty_ok else ""), parse, _toml_scalar, _show)

    @staticmethod
    def decimal_list(lo: Any = None, hi: Any = None, places: int = 4, min_len: int = 0) -> Kind:
        lo_, hi_ = _d(lo), _d(hi)

        def parse(key: str, v: Any):
            if not isinstance(v, list) or len(v) < min_len:
                return None, [f"{key} 应为{'非空' if min_len else ''}数字列表，例如 [\"1\", \"2\"]，实际为 {v!r}"]
            out, probs = [], []
            for i, x in enumerate(v):
                d, p = _decimal(f"{key}[{i}]", x, lo_, hi_, places)
                out.append(d)
                probs += p
            return (tuple(out) if not probs else None), probs

        return Kind("数字列表", parse, _toml_scalar, _show)

    @staticmethod
    def integer_list(lo: int | None = None, hi: int | None = None, ascending: bool = False) -> Kind:
        def parse(key: str, v: Any):
            if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
                return None, [f"{key} 应为整数列表，实际为 {v!r}"]
            bad = [x for x in v if lo is not None and x < lo or hi is not None and x > hi]
            if bad:
                return None, [f"{key} 超出允许范围 {lo}–{hi}：{bad}"]
            if ascending and v != sorted(set(v)):
                return None, [f"{key} 应从小到大、不重复：{v!r}"]
            return tuple(v), []

        return Kind("整数列表", parse, _toml_scalar, _show)

    @staticmethod
    def text_list(options: Iterable[str] | None = None, unique: bool = True, nonempty: bool = False) -> Kind:
        opts = tuple(options) if options is not None else None

        def parse(key: str, v: Any):
            ok = isinstance(v, list) and all(isinstance(x, str) and x.strip() for x in v)
            if ok and opts is not None:
                ok = all(x in opts for x in v)
            if ok and unique:
                ok = len(set(v)) == len(v)
            if ok and nonempty:
                ok = bool(v)
            if not ok:
                what = f"{list(opts)} 中{'不重复的' if unique else ''}若干项" if opts is not None else "文字列表"
                return None, [f"{key} 应为 {what}，实际为 {v!r}"]
            return tuple(v), []

        return Kind("文字列表" + (f"（{' / '.join(opts)}）" if opts else ""), parse, _toml_scalar, _show)

    @staticmethod
    def decimal_map(keys: Iterable[str] | None = None, lo: Any = None, hi: Any = None, places: int = 4,
                    complete: bool = False) -> Kind:
        """A TOML sub-table of decimals; ``keys=None``: any key (e.g. per institution); ``complete``: every key
        of ``keys`` must be there (a user's table is merged over the default's key by key)."""
        ks = tuple(keys) if keys is not None else None
        lo_, hi_ = _d(lo), _d(hi)

        def parse(key: str, v: Any):
            if not isinstance(v, Mapping):
                return None, [f"{key} 应为表（[{key}]）"]
            probs, out = [], {}
            extra = [k for k in v if ks is not None and str(k) not in ks]
            if extra:
                probs.append(f"[{key}] 未知的键：{', '.join(map(str, extra))}（可选：{', '.join(ks)}）")
            for k, x in v.items():
                d, p = _decimal(f"{key}.{k}", x, lo_, hi_, places)
                out[str(k)] = d
                probs += p
            if complete and ks is not None:
                missing = [k for k in ks if k not in out]
                if missing:
                    probs.append(f"[{key}] 缺少键：{', '.join(missing)}")
            return (out if not probs else None), probs

        return Kind("表：键 → 小数" + (f"（键：{' / '.join(ks)}）" if ks else ""), parse, _toml_scalar, _show, True)

    @staticmethod
    def text_list_map(keys: Iterable[str] | None = None) -> Kind:
        ks = tuple(keys) if keys is not None else None

        def parse(key: str, v: Any):
            if not isinstance(v, Mapping):
                return None, [f"{key} 应为表（[{key}]）"]
            probs, out = [], {}
            for k, x in v.items():
                if ks is not None and str(k) not in ks:
                    probs.append(f"[{key}] 未知的键：{k}（可选：{', '.join(ks)}）")
                    continue
                if not isinstance(x, list) or not all(isinstance(s, str) and s.strip() for s in x):
                    probs.append(f"{key}.{k} 应为文字列表，实际为 {x!r}")
                    continue
                out[str(k)] = tuple(x)
            return (out if not probs else None), probs

        return Kind("表：键 → 文字列表", parse, _toml_scalar, _show, True)

    @staticmethod
    def decimal_map_map(outer: Iterable[str] | None = None, inner: Iterable[str] | None = None, lo: Any = None,
                        hi: Any = None, places: int = 4) -> Kind:
        os_, is_ = (tuple(outer) if outer is not None else None), (tuple(inner) if inner is not None else None)
        lo_, hi_ = _d(lo), _d(hi)

        def parse(key: str, v: Any):
            if not isinstance(v, Mapping):
                return None, [f"{key} 应为表（[{key}]）"]
            probs, out = [], {}
            for k, sub in v.items():
                if os_ is not None and str(k) not in os_:
                    probs.append(f"[{key}] 未知的键：{k}（可选：{', '.join(os_)}）")
                    continue
                if not isinstance(sub, Mapping):
                    probs.append(f"{key}.{k} 应为表（[{key}.{k}]）")
                    continue
                row = {}
                for k2, x in sub.items():
                    if is_ is not None and str(k2) not in is_:
                        probs.append(f"[{key}.{k}] 未知的键：{k2}（可选：{', '.join(is_)}）")
                        continue
                    d, p = _decimal(f"{key}.{k}.{k2}", x, lo_, hi_, places)
                    row[str(k2)] = d
                    probs += p
                out[str(k)] = row
            return (out if not probs else None), probs

        return Kind("表：键 → 键 → 小数", parse, _toml_scalar, _show, True)


# ----------------------------------------------------------------------------------------------- params


@dataclass(frozen=True)
class Param:
    """One policy parameter: dotted ``key``, ``default`` (as written in TOML), ``kind``, ``source`` (the seed, the
    article or "本地规则（示例值）"), ``zh`` (its meaning in Chinese), ``unit`` (元, 天, 比例 …)."""

    key: str
    default: Any
    kind: Kind
    source: str
    zh: str
    unit: str = ""

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.key.split("."))


@dataclass(frozen=True)
class Values:
    """A policy's checked values (typed), with where each came from."""

    table: "ParamTable"
    path: str  # the file read, or "默认值"
    values: Mapping[str, Any]
    sources: Mapping[str, str]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def source(self, key: str) -> str:
        return self.sources[key]

    def section(self, name: str) -> dict[str, Any]:
        """The values under ``name.`` (dotted deeper keys nested), e.g. ``section("scoring")["high_ratio"]``."""
        out: dict[str, Any] = {}
        prefix = name + "."
        for k, v in self.values.items():
            if k.startswith(prefix):
                parts = k[len(prefix):].split(".")
                node = out
                for p in parts[:-1]:
                    node = node.setdefault(p, {})
                node[parts[-1]] = v
        return out

    def ns(self, name: str) -> SimpleNamespace:
        """``section(name)`` as attributes: ``v.ns("scoring").high_ratio``."""
        return SimpleNamespace(**self.section(name))

    def rows(self) -> list[tuple[str, str, str]]:
        """(key, value as text, source) per scalar; map entries as ``key.sub`` (the rows a SQL parameter table
        is made of), in declaration order."""
        out = []
        for p in self.table.params:
            v = self.values[p.key]
            for k, x in _flatten(p.key, v):
                out.append((k, _text(x), self.sources[p.key]))
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-able: decimals and dates as strings, tuples as lists, nested by section."""
        out: dict[str, Any] = {}
        for k, v in self.values.items():
            parts = k.split(".")
            node = out
            for p in parts[:-1]:
                node = node.setdefault(p, {})
            node[parts[-1]] = _jsonable(v)
        return out


def _flatten(key: str, v: Any) -> list[tuple[str, Any]]:
    if isinstance(v, Mapping):
        out = []
        for k, x in v.items():
            out += _flatten(f"{key}.{k}", x)
        return out
    return [(key, v)]


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ",".join(_text(x) for x in v)
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def _jsonable(v: Any) -> Any:
    if isinstance(v, (Decimal, dt.date)):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, Mapping):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


@dataclass(frozen=True)
class ParamTable:
    """A capability's parameters, declared once. ``checks``: cross-parameter checks ``fn(values) -> problem | None``
    run when every single value is valid. ``doc``: the page that documents the table (for messages)."""

    name: str
    title: str
    params: tuple[Param, ...]
    checks: tuple[Callable[[Values], str | None], ...] = ()
    doc: str = ""
    others: str = "ignore"  # top-level keys of other capabilities: "ignore" or "refuse"
    by_key: Mapping[str, Param] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = [p.key for p in self.params]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ValueError(f"{self.name}: parameters declared twice: {dup}")
        for p in self.params:
            if not p.source.strip() or not p.zh.strip():
                raise ValueError(f"{self.name}: {p.key} has no source or no meaning")
            _, probs = p.kind.parse(p.key, p.default)
            if probs:
                raise ValueError(f"{self.name}: default of {p.key} is invalid: {probs}")
        object.__setattr__(self, "by_key", {p.key: p for p in self.params})

    # -- reading

    @property
    def sections(self) -> set[str]:
        return {p.path[0] for p in self.params if len(p.path) > 1}

    @property
    def top_keys(self) -> set[str]:
        return {p.key for p in self.params if len(p.path) == 1}

    def defaults(self) -> Values:
        return self.load(None)

    def load(self, path: Path | str | None = None, *, overrides: Mapping | None = None, overrides_from: str = "",
             error: Callable[[str, str], Exception] = PolicyFileError, raw: Mapping | None = None) -> Values:
        """The defaults, overridden by the file ``path`` (or its already-read TOML ``raw``), then by ``overrides``
        (a scenario's sections); every problem reported at once as ``error(where, message)`` — a
        :class:`PolicyFileError` subclass also gets the list of problems; any class taking (path, problem), such as
        a :class:`~yibao.contract.reasons.FatalLoadError`, works (it also reports an unreadable file)."""
        layers: list[tuple[str, str, Mapping]] = []
        if path is not None:
            data = raw if raw is not None else read_toml(path, error)
            layers.append((str(path), Path(path).name, data))
        if overrides:
            layers.append((overrides_from or (str(path) if path is not None else "情景"),
                           Path(overrides_from).name if overrides_from else "情景", overrides))
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for p in self.params:
            values[p.key] = p.kind.parse(p.key, p.default)[0]
            sources[p.key] = f"默认值（{p.source}）"
        where = "默认值"
        problems: list[str] = []
        for where_, name, data in layers:
            where = where_
            problems += self._unknown(data)
            for p in self.params:
                found, rawv = _lookup(data, p.path)
                if not found:
                    continue
                if p.kind.is_map and isinstance(rawv, Mapping):
                    base = p.default if isinstance(p.default, Mapping) else {}
                    rawv = _merge_map(base, rawv)
                v, probs = p.kind.parse(p.key, rawv)
                if probs:
                    problems += probs
                    continue
                values[p.key] = v
                sec = ".".join(p.path[:-1])
                sources[p.key] = f"{name} [{sec}] {p.path[-1]}" if sec else f"{name} {p.key}"
        result = Values(self, where, values, sources)
        if not problems:
            for check in self.checks:
                msg = check(result)
                if msg:
                    problems.append(msg)
        if problems:
            if isinstance(error, type) and issubclass(error, PolicyFileError):
                raise error(where, problems_message(problems), problems)
            raise error(where, problems_message(problems))
        return result

    def _unknown(self, data: Mapping) -> list[str]:
        """Keys under the table's sections that no parameter declares (a prefix of a key, or inside a map, is fine)."""
        probs = []
        declared = {p.path for p in self.params}
        maps = {p.path for p in self.params if p.kind.is_map}
        prefixes = {p.path[:i] for p in self.params for i in range(1, len(p.path))}

        def walk(node: Mapping, at: tuple[str, ...]) -> None:
            for k, v in node.items():
                here = at + (str(k),)
                if here in maps or here in declared:
                    continue
                if here in prefixes and isinstance(v, Mapping):
                    walk(v, here)
                    continue
                hint = f"（见 {self.doc}）" if self.doc else ""
                probs.append(f"{'.'.join(here)} 不是已知的参数{hint}")

        for k, v in data.items():
            if (k,) in declared or (k,) in maps:
                continue
            if k in self.sections and isinstance(v, Mapping):
                walk(v, (k,))
            elif k in self.sections:
                probs.append(f"{k} 应为表（[{k}]）")
            elif self.others == "refuse":
                hint = f"（见 {self.doc}）" if self.doc else ""
                probs.append(f"{k} 不是已知的参数{hint}")
        return probs

    # -- writing

    def defaults_toml(self, header: str = "") -> str:
        """The defaults file: every parameter with its meaning, unit and source as a comment, grouped by table."""
        lines = [f"# {self.title}：默认参数（由 {self.name} 的参数表生成，请勿手改；改参数请在政策文件中覆盖）"]
        if header:
            lines += [f"# {h}" if h else "#" for h in header.splitlines()]
        top = [p for p in self.params if len(p.path) == 1]
        for p in top:
            lines += _param_lines(p, p.key)
        tables: dict[tuple[str, ...], list[Param]] = {}
        for p in self.params:
            if len(p.path) == 1:
                continue
            at = p.path if p.kind.is_map else p.path[:-1]
            tables.setdefault(at, []).append(p)
        for at, ps in tables.items():
            lines.append("")
            lines.append(f"[{'.'.join(_toml_key(x) for x in at)}]")
            for p in ps:
                if p.kind.is_map:
                    lines.append(f"# {p.zh}{'（' + p.unit + '）' if p.unit else ''} — {p.source}")
                    d = p.default or {}
                    if d and all(isinstance(x, Mapping) for x in d.values()):
                        for k, sub in d.items():
                            lines.append("")
                            lines.append(f"[{'.'.join(_toml_key(x) for x in at + (str(k),))}]")
                            for k2, x in sub.items():
                                lines.append(f"{_toml_key(str(k2))} = {_toml_scalar(x)}")
                    else:
                        for k, x in d.items():
                            lines.append(f"{_toml_key(str(k))} = {p.kind.toml(x)}")
                else:
                    lines += _param_lines(p, p.path[-1])
        return "\n".join(lines) + "\n"

    def markdown(self) -> str:
        """The docs table (参数 | 含义 | 类型 | 默认值 | 单位 | 来源)."""
        out = ["| 参数 | 含义 | 类型 | 默认值 | 单位 | 来源 |", "|---|---|---|---|---|---|"]
        for p in self.params:
            cells = [f"`{p.key}`", p.zh, p.kind.label, p.kind.show(p.default), p.unit, p.source]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        return "\n".join(out) + "\n"


def _param_lines(p: Param, name: str) -> list[str]:
    return [f"# {p.zh}{'（' + p.unit + '）' if p.unit else ''} — {p.source}", f"{_toml_key(name)} = {p.kind.toml(p.default)}"]


def _toml_key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() and k.isascii() and not k.isdigit() else f'"{k}"'


def _lookup(data: Mapping, path: tuple[str, ...]) -> tuple[bool, Any]:
    node: Any = data
    for p in path:
        if not isinstance(node, Mapping) or p not in node:
            return False, None
        node = node[p]
    return True, node


def _merge_map(base: Mapping, over: Mapping) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge_map(out[k], v)
        else:
            out[k] = v
    return out
