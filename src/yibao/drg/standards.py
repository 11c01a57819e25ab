"""CHS-DRG standards (分组标准): read a table directory, validate it, compile it once.

A standards directory has the layout of ``shared/standards/chs-drg-1.1`` (its README describes
every table). Everything the grouper knows about the scheme comes from these tables: the MDCs
and their trial order, their entry conditions, the ADRGs and their conditions and code lists,
the DRGs and their complication rules, the CC/MCC lists and exclusion tables. CHS-DRG 2.0 or a
local version is another directory, never a code change.

:func:`load_standards` reads and checks the set; a broken set stops with
:class:`~yibao.contract.reasons.FatalLoadError` whose one line names the file, the row and the
problem — every bad row of the table at once (``mcc.csv: 2 处问题：第 3 行：…；第 9 行：…``, at most
:data:`MAX_LISTED` named); the tables are checked in dependency order and loading stops after the first
table with problems, since the next ones build on it. The result, :class:`Standards`, holds Python indexes (for the per-case
explanation of :mod:`yibao.drg.explain`) and, compiled once on first use, integer-coded Arrow lookup tables
(:meth:`Standards.tables`) that the set-based SQL of :mod:`yibao.drg.grouper` joins against.

The version id is the SHA-256 of the files read, in file-name order (each file contributes its
name, a newline, its byte length, a newline and its bytes), so two directories with the same
tables have the same version, and any edit gives a new one.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import pyarrow as pa

from yibao.contract.reasons import FatalLoadError
from yibao.contract.schema import ICD9_PATTERN, ICD10_PATTERN
from yibao.contract.standards import find_standards
from yibao.drg import conditions as cond
from yibao.drg import stdcache
from yibao.drg.compile import compile_tables
from yibao.drg.conditions import Bound, Condition, ConditionError

# file → required columns; optional files may be absent
REQUIRED_FILES: dict[str, tuple[str, ...]] = {
    "adrg_diagnoses.csv": ("adrg", "list_name", "code"),
    "adrg_procedures.csv": ("adrg", "list_name", "code"),
    "adrgs.csv": ("adrg", "mdc", "order_in_mdc", "condition"),
    "cc.csv": ("code", "exclusion_table"),
    "cc_exclusions.csv": ("principal_dx", "exclusion_table"),
    "diagnoses.csv": ("code", "name"),
    "drg_rules.csv": ("drg", "adrg", "order_in_adrg", "rule_kind"),
    "drgs.csv": ("drg", "name"),
    "mcc.csv": ("code", "exclusion_table"),
    "mdc_diagnoses.csv": ("mdc", "code"),
    "mdcs.csv": ("mdc", "order", "entry_condition"),
    "procedures.csv": ("code", "name"),
    "valid_procedures.csv": ("code",),
}
OPTIONAL_FILES: dict[str, tuple[str, ...]] = {
    "adrg_alternatives.csv": ("adrg", "alternative", "condition"),  # checked against adrgs.csv's `` OR `` parts
    "diagnosis_map.csv": ("source_code", "grouper_code"),
    "mdc_entry.json": (),
    "mdc_z_trauma_regions.csv": ("code", "region"),  # required when a condition uses TRAUMA_REGIONS
    "procedure_map.csv": ("source_code", "grouper_code"),
}
# DRG rule kinds (``drg_rules.csv`` ``rule_kind``): the complication test each makes and the variables it may
# bound. A rule's test is its ``condition`` (the notation of :mod:`yibao.drg.conditions`, ``where="drg"``); a
# file without that column gets it from the kind and the band columns (:func:`_rule_condition`).
RULE_KINDS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "mcc": ("mcc", ()),
    "cc_or_mcc": ("cc_or_mcc", ()),
    "always": (None, ()),
    "los_band": (None, ("LOS",)),                        # min_los_days ≤ LOS < max_los_days_exclusive
    "age_max": (None, ("AGE_YEARS",)),                   # AGE_YEARS ≤ max_age_years
    "age_max_and_cc_or_mcc": ("cc_or_mcc", ("AGE_YEARS",)),
}
LEVELS = ("mcc", "cc", "none")  # a case's complication level
LEVEL_OF = {"mcc": 2, "cc": 1, "none": 0}  # against conditions.LEVEL_NEED: a rule's level test holds when ≥

_DX = re.compile(ICD10_PATTERN)
_PROC = re.compile(ICD9_PATTERN)
_MDC = re.compile(r"^[A-Z][A-Z0-9]?$")
_ADRG = re.compile(r"^[A-Z][A-Z0-9]{1,5}$")
_DRG = re.compile(r"^[A-Z][A-Z0-9]{1,7}$")
_LIST = re.compile(r"^[A-Za-z0-9_]+$")
MAX_MDCS = 62  # MDC membership travels as bits of a BIGINT
MAX_LIST_BITS = 31
MAX_TRAUMA_REGIONS = 48  # regions travel as bits of a BIGINT; TRAUMA_REGIONS >= n needs n <= 48


@dataclass(frozen=True)
class Mdc:
    code: str
    order: int
    bit: int                 # position in the trial order, 0-based
    condition: Condition
    row: int


@dataclass(frozen=True)
class DrgRule:
    drg: str
    adrg: str
    order: int
    kind: str                # a key of RULE_KINDS
    name: str
    condition: Condition = field(default_factory=lambda: cond.parse("TRUE", where="drg"))

    def holds(self, level: str, value) -> bool | None:
        """Whether the rule holds for a case of complication ``level`` whose variables are ``value(VAR)``;
        None when it bounds a variable the case lacks (e.g. no length of stay)."""
        if LEVEL_OF[level] < cond.LEVEL_NEED[self.condition.level]:
            return False
        for var, b in self.condition.bounds.items():
            x = value(var)
            if x is None:
                return None
            if not b.holds(x):
                return False
        return True


@dataclass(frozen=True)
class Adrg:
    """An ADRG: its condition is one conjunction, or (a split ADRG such as Beijing 2022's AH1) several
    *alternatives* joined by `` OR `` — the ADRG holds when any one holds, tried in their order.

    When no DRG rule holds (possible only when the rules do not end with ``always``, e.g. Beijing 2022's
    length-of-stay ADRGs RC1, RC2, RE1 for a stay of 0 days), the case is grouped with the ADRG's own code
    as its DRG (the reference grouper's behaviour; standards README §4 step 4)."""

    code: str
    mdc: str
    order_in_mdc: int
    rank: int                # 1-based position in the overall trial order (MDC order, then order_in_mdc)
    alternatives: tuple[Condition, ...]
    rules: tuple[DrgRule, ...]
    row: int
    text: str = ""           # the condition as written

    @property
    def condition(self) -> Condition:
        """The condition of an ADRG without alternatives."""
        if len(self.alternatives) != 1:
            raise AttributeError(f"ADRG {self.code} has {len(self.alternatives)} alternatives: use .alternatives")
        return self.alternatives[0]

    @property
    def lists_used(self) -> tuple[set[str], set[str]]:
        """The diagnosis and procedure list names its conditions read (procedure groups as ``group_<label>``)."""
        dx = {lst for c in self.alternatives for _, lst in c.dx_lists}
        proc = {lst for c in self.alternatives for _, lst in c.proc_lists} | \
            {f"group_{g}" for c in self.alternatives for g in c.group_labels}
        return dx, proc

    def drg_for(self, level: str, value=lambda var: None) -> DrgRule | None:
        """The first DRG rule that holds for a case of complication ``level`` and variables ``value(VAR)``;
        None when none holds (the DRG is then the ADRG code) or a rule needs a variable the case lacks
        (see :meth:`decide`)."""
        return self.decide(level, value)[0]

    def decide(self, level: str, value=lambda var: None) -> tuple[DrgRule | None, str | None]:
        """(the first rule that holds, None) — or (None, VAR) when the first rule that does not fail needs
        the variable VAR the case lacks — or (None, None) when no rule holds."""
        for r in self.rules:
            held = r.holds(level, value)
            if held is None:
                return None, next(v for v in r.condition.bounds if value(v) is None)
            if held:
                return r, None
        return None, None


@dataclass
class Standards:
    """A loaded, validated standards set (read-only after loading)."""

    source: str
    version: str
    files: tuple[str, ...]
    mdcs: tuple[Mdc, ...]
    adrgs: dict[str, Adrg]
    drg_names: dict[str, str]
    dx_names: dict[str, str]
    proc_names: dict[str, str]
    mdc_dx: dict[str, tuple[str, ...]]            # principal code → MDCs whose list holds it (trial order)
    trauma_regions: dict[str, str]                # code → body region
    adrg_dx: dict[str, dict[str, frozenset[str]]]  # ADRG → list name → codes
    adrg_proc: dict[str, dict[str, frozenset[str]]]
    adrg_groups: dict[str, dict[str, str]]        # ADRG → procedure code → its (first) group label
    mcc: dict[str, int]
    cc: dict[str, int]
    cc_exclusions: dict[str, int]
    valid_procedures: frozenset[str]
    dx_map: dict[str, str] = field(default_factory=dict)
    proc_map: dict[str, str] = field(default_factory=dict)
    lines: dict[str, dict[str, int]] = field(default_factory=dict)  # file → key → line (mcc, cc, cc_exclusions)
    skipped: tuple[tuple[str, int, str, str], ...] = ()  # rows skipped while loading: (file, line, value, why)
    mdc_name_column: dict[str, str] = field(default_factory=dict)  # mdcs.csv ``name`` where present

    @property
    def short_version(self) -> str:
        return self.version[:12]

    @cached_property
    def adrg_order(self) -> tuple[Adrg, ...]:
        return tuple(sorted(self.adrgs.values(), key=lambda a: a.rank))

    @cached_property
    def mdc_by_code(self) -> dict[str, Mdc]:
        return {m.code: m for m in self.mdcs}

    @cached_property
    def region_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.trauma_regions.values()))

    @cached_property
    def newborn_max_days(self) -> float | None:
        """The scheme's newborn age limit for the birth-weight check: the largest ``AGE_DAYS`` upper
        bound among ADRG conditions that also test ``WEIGHT`` (28 in CHS-DRG 1.1); None if none."""
        his = [c.bounds["AGE_DAYS"].hi for a in self.adrgs.values() for c in a.alternatives
               if "WEIGHT" in c.bounds and "AGE_DAYS" in c.bounds and c.bounds["AGE_DAYS"].hi is not None]
        return max(his) if his else None

    def tables(self) -> dict[str, pa.Table]:
        """The compiled lookup tables (built once, then cached): name → Arrow table."""
        if "_tables" not in self.__dict__:
            self.__dict__["_tables"] = compile_tables(self)
        return self.__dict__["_tables"]

    @cached_property
    def mdc_names(self) -> dict[str, str]:
        """MDC letter → name: the ``name`` column of ``mdcs.csv`` where a version has one, else the national
        CHS-DRG names (``mdc_names.csv`` shipped with the package, 国家医疗保障疾病诊断相关分组 CHS-DRG
        分组与付费技术规范 1.1); an MDC in neither has no name."""
        names = dict(_NATIONAL_MDC_NAMES)
        names.update(self.mdc_name_column)
        return {m.code: names[m.code] for m in self.mdcs if m.code in names}

    @cached_property
    def adrg_names(self) -> dict[str, str]:
        """ADRG → name (:func:`adrg_name` of its DRGs' names): the one ADRG-name derivation, used by the
        grouping output, the explanation and the DRG statements."""
        out = {}
        for code, a in self.adrgs.items():
            name = adrg_name([r.name for r in a.rules if r.name])
            if name:
                out[code] = name
        return out

    def name_of(self, level: str, code: str | None) -> str | None:
        """The name of an MDC, ADRG or DRG code (``level`` mdc | adrg | drg); None when unknown."""
        if not code:
            return None
        table = {"mdc": self.mdc_names, "adrg": self.adrg_names, "drg": self.drg_names}[level]
        return table.get(code) or (self.adrg_names.get(code) if level == "drg" else None)

    @cached_property
    def rule_variables(self) -> frozenset[str]:
        """The case variables the DRG rules bound (``LOS``: the version needs admission and discharge dates)."""
        return frozenset(v for a in self.adrgs.values() for r in a.rules for v in r.condition.bounds)

    @cached_property
    def known_dx(self) -> frozenset[str]:
        """Every diagnosis code of the set: the dictionary and every grouping list."""
        codes = set(self.dx_names) | set(self.mdc_dx) | set(self.trauma_regions) | set(self.mcc) | set(self.cc) \
            | set(self.cc_exclusions)
        for lists in self.adrg_dx.values():
            for c in lists.values():
                codes |= c
        return frozenset(codes)

    @cached_property
    def known_proc(self) -> frozenset[str]:
        """Every procedure code of the set: the dictionary, the valid procedures and every ADRG list."""
        codes = set(self.proc_names) | set(self.valid_procedures)
        for lists in self.adrg_proc.values():
            for c in lists.values():
                codes |= c
        return frozenset(codes)


def adrg_name(drg_names: list[str]) -> str | None:
    """An ADRG's name from its DRGs' names (the tables name DRGs only). One DRG: its name. Several: the part
    they all share up to its last ``，`` (``伴严重并发症或合并症``, ``13天及以上`` … name the DRG's split, not the
    ADRG), compared with full-width and half-width forms alike (CHS-DRG 1.1 writes PS15 ``＜1500g`` beside PS11
    ``<1500g``) and taken from the first name; the first DRG's name when they share no such part."""
    if not drg_names:
        return None
    if len(drg_names) == 1:
        return drg_names[0]
    common = os.path.commonprefix(drg_names)
    if "，" not in common:  # the same text in another width (the cut is computed on NFKC forms of equal length)
        folded = [unicodedata.normalize("NFKC", n) for n in drg_names]
        if all(len(f) == len(n) for f, n in zip(folded, drg_names)):
            common = drg_names[0][:len(os.path.commonprefix(folded))]
    head = common[:common.rfind("，")] if "，" in common else ""
    return head or drg_names[0]


# --------------------------------------------------------------------------- reading


MAX_LISTED = 20  # problems named in one message; the rest counted


class RowProblem(FatalLoadError):
    """One row's problem: ``file: 第 N 行：problem`` (alone, the message of a set broken in one place)."""

    def __init__(self, where: str, line: int, problem: str) -> None:
        self.where, self.line, self.row_problem = where, line, problem
        super().__init__(where, f"第 {line} 行：{problem}")


def problems_error(problems: list[RowProblem]) -> FatalLoadError:
    """Every problem of a table in one line: ``file: 第 N 行：P`` for one, ``file: K 处问题：第 N 行：P1；…`` for
    several (at most :data:`MAX_LISTED` named), each with the file when they lie in several."""
    if len(problems) == 1:
        return problems[0]
    files = list(dict.fromkeys(p.where for p in problems))
    one = len(files) == 1
    parts = [("" if one else f"{p.where} ") + f"第 {p.line} 行：{p.row_problem}" for p in problems[:MAX_LISTED]]
    more = f"；另有 {len(problems) - MAX_LISTED} 处未列出" if len(problems) > MAX_LISTED else ""
    where = files[0] if one else os.path.dirname(files[0]) or "standards"
    return FatalLoadError(where, f"{len(problems)} 处问题：" + "；".join(parts) + more)


class _Table:
    """A CSV file's rows as dicts, each with its line number (header is line 1)."""

    def __init__(self, source: str, name: str, data: bytes, required: tuple[str, ...]) -> None:
        self.name = name
        self.where = f"{source.rstrip('/')}/{name}" if source else name
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FatalLoadError(self.where, f"第 {exc.start} 字节处不是合法 UTF-8") from None
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = next(reader)
        except StopIteration:
            raise FatalLoadError(self.where, "空文件（没有表头）") from None
        self.columns = [h.strip() for h in header]
        missing = [c for c in required if c not in self.columns]
        if missing:
            raise FatalLoadError(self.where, f"第 1 行：缺少列 {', '.join(missing)}（表头：{','.join(self.columns)}）")
        dup = sorted({c for c in self.columns if self.columns.count(c) > 1})
        if dup:
            raise FatalLoadError(self.where, f"第 1 行：列名重复 {', '.join(dup)}")
        self.rows: list[tuple[int, dict[str, str]]] = []
        cols, width = self.columns, len(self.columns)
        append = self.rows.append
        bad: list[RowProblem] = []  # every row of the wrong width, reported together
        try:
            for rec in reader:
                if len(rec) != width:
                    if not rec or rec == [""]:
                        continue
                    bad.append(RowProblem(self.where, reader.line_num, f"有 {len(rec)} 个字段，表头有 {width} 列"))
                    continue
                append((reader.line_num, dict(zip(cols, rec))))
        except csv.Error as exc:
            bad.append(RowProblem(self.where, reader.line_num, f"无法解析：{exc}"))
        if bad:
            raise problems_error(bad)

    def fail(self, line: int, problem: str) -> None:
        raise RowProblem(self.where, line, problem)

    def has(self, column: str) -> bool:
        return column in self.columns

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        return iter(self.rows)


def _int(t: _Table, line: int, row: dict, col: str, *, lo: int | None = None, blank_ok: bool = False) -> int | None:
    v = row.get(col, "").strip()
    if v == "":
        if blank_ok:
            return None
        t.fail(line, f"{col} 为空")
    if not re.fullmatch(r"-?[0-9]+", v):
        t.fail(line, f"{col} = {v!r} 不是整数")
    n = int(v)
    if lo is not None and n < lo:
        t.fail(line, f"{col} = {n} 小于 {lo}")
    return n


_CHECKED: dict[str, set[str]] = {}  # kind → values already found well-formed (codes repeat across files)
_PATTERNS = {"dx": _DX, "proc": _PROC, "mdc": _MDC, "adrg": _ADRG, "drg": _DRG, "list": _LIST}
_WHAT = {"dx": "诊断编码（ICD-10 医保版）", "proc": "手术操作编码（ICD-9-CM-3 医保版）", "mdc": "MDC 代码",
         "adrg": "ADRG 代码", "drg": "DRG 代码", "list": "列表名"}


def _code(t: _Table, line: int, value: str, kind: str, col: str) -> str:
    ok = _CHECKED.setdefault(kind, set())
    if value in ok:
        return value
    if not _PATTERNS[kind].match(value):
        t.fail(line, f"{col} = {value!r} 不是合法的{_WHAT[kind]}")
    ok.add(value)
    return value


def _condition(t: _Table, line: int, text: str, where: str) -> Condition:
    try:
        return cond.parse(text, where=where)
    except ConditionError as exc:
        t.fail(line, f"条件 {text!r} 无法解析：{exc}")
    raise AssertionError  # unreachable


def _alternatives(t: _Table, line: int, text: str) -> tuple[Condition, ...]:
    try:
        return cond.parse_alternatives(text, where="adrg")
    except ConditionError as exc:
        t.fail(line, f"条件 {text!r} 无法解析：{exc}")
    raise AssertionError  # unreachable


def _rule_condition(t: _Table, line: int, r: dict, kind: str) -> Condition:
    """A DRG rule's test: its ``condition`` when the file has it (checked against the kind and the band
    columns), else written from the kind and the band columns."""
    level, variables = RULE_KINDS[kind]
    parts = {"mcc": ["MCC"], "cc_or_mcc": ["CC_OR_MCC"], None: []}[level]
    lo = _int(t, line, r, "min_los_days", blank_ok=True) if t.has("min_los_days") else None
    hi = _int(t, line, r, "max_los_days_exclusive", blank_ok=True) if t.has("max_los_days_exclusive") else None
    age = _int(t, line, r, "max_age_years", blank_ok=True) if t.has("max_age_years") else None
    if "LOS" in variables:
        if lo is None and hi is None and not (t.has("condition") and r["condition"].strip()):
            t.fail(line, f"rule_kind = {kind}，但 min_los_days 和 max_los_days_exclusive 都为空")
        parts += ([f"LOS >= {lo}"] if lo is not None else []) + ([f"LOS < {hi}"] if hi is not None else [])
    elif lo is not None or hi is not None:
        t.fail(line, f"rule_kind = {kind} 不按住院天数分组，但 min_los_days / max_los_days_exclusive 有值")
    if "AGE_YEARS" in variables:
        if age is None and not (t.has("condition") and r["condition"].strip()):
            t.fail(line, f"rule_kind = {kind}，但 max_age_years 为空")
        parts += [f"AGE_YEARS <= {age}"] if age is not None else []
    elif age is not None:
        t.fail(line, f"rule_kind = {kind} 不按年龄分组，但 max_age_years 有值")
    derived = _condition(t, line, " AND ".join(parts) or "TRUE", "drg")
    if not (t.has("condition") and r["condition"].strip()):
        return derived
    given = _condition(t, line, r["condition"], "drg")
    if given.level != level or set(given.bounds) - set(variables):
        t.fail(line, f"condition = {given.text!r} 与 rule_kind = {kind} 不符")
    if "LOS" in variables or "AGE_YEARS" in variables:
        # the band columns, when filled, must say what the condition says: LOS and age are whole numbers,
        # so the two agree when they hold for the same whole numbers around every bound either names
        cuts = [b for c in (given, derived) for x in c.bounds.values() for b in (x.lo, x.hi) if b is not None]
        for var in variables:
            if var not in derived.bounds:
                continue
            for x in range(int(min(cuts, default=0)) - 2, int(max(cuts, default=0)) + 3):
                if given.bounds[var].holds(x) != derived.bounds[var].holds(x):
                    t.fail(line, f"condition = {given.text!r} 与 {var} 的区间列不一致（{var} = {x} 时不同）")
    return given


def read_files(directory: Path | str) -> tuple[str, dict[str, bytes]]:
    """The standards files present in ``directory`` (name → bytes)."""
    d = Path(directory)
    if not d.is_dir():
        raise FatalLoadError(str(d), "分组标准目录不存在")
    files = {name: (d / name).read_bytes() for name in (*REQUIRED_FILES, *OPTIONAL_FILES) if (d / name).is_file()}
    return str(d), files


def version_of(files: Mapping[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        data = files[name]
        h.update(f"{name}\n{len(data)}\n".encode())
        h.update(data)
    return h.hexdigest()


def load_standards(directory: Path | str | None = None) -> Standards:
    """Load and validate the standards in ``directory`` (default: :func:`find_standards`)."""
    if directory is None:
        found = find_standards()
        if found is None:
            raise FatalLoadError("--standards",
                                 "未找到 CHS-DRG 分组标准目录（用 --standards DIR 或环境变量 YIBAO_STANDARDS 指定）")
        directory = found
    d = Path(directory)
    if not d.is_dir():
        raise FatalLoadError(str(d), "分组标准目录不存在")
    key = (str(d.resolve()), tuple((n, (d / n).stat().st_mtime_ns, (d / n).stat().st_size)
                                   for n in (*REQUIRED_FILES, *OPTIONAL_FILES) if (d / n).is_file()))
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    source, files = read_files(d)
    std = stdcache.get(version_of(files), source)  # compiled by an earlier process (yibao.drg.stdcache)
    if std is None:
        std = standards_from_files(files, source=source)
        stdcache.put(std)
    _CACHE.clear()
    _CACHE[key] = std
    return std


_CACHE: dict[tuple, Standards] = {}


def _national_mdc_names() -> dict[str, str]:
    text = (Path(__file__).with_name("mdc_names.csv")).read_text(encoding="utf-8")
    return {r["mdc"]: r["name"] for r in csv.DictReader(io.StringIO(text))}


_NATIONAL_MDC_NAMES = _national_mdc_names()


def standards_from_files(files: Mapping[str, bytes | str], source: str = "") -> Standards:
    """Validate and index a standards set given as file name → content (a directory's files, or an
    in-memory miniature such as :mod:`yibao.drg.mini`)."""
    data = {n: (v.encode("utf-8") if isinstance(v, str) else v) for n, v in files.items()}
    missing = [n for n in REQUIRED_FILES if n not in data]
    if missing:
        raise FatalLoadError(source or "standards", f"分组标准缺少文件 {', '.join(missing)}")
    unknown = [n for n in data if n not in REQUIRED_FILES and n not in OPTIONAL_FILES]
    if unknown:
        raise FatalLoadError(source or "standards", f"不认识的文件 {', '.join(sorted(unknown))}")
    t = {n: _Table(source, n, b, (REQUIRED_FILES | OPTIONAL_FILES)[n]) for n, b in data.items() if n.endswith(".csv")}
    return _Builder(source, data, t).build()


class _Builder:
    def __init__(self, source: str, data: dict[str, bytes], tables: dict[str, _Table]) -> None:
        self.source = source
        self.data = data
        self.t = tables
        self.lines: dict[str, dict[str, int]] = {}
        self.skipped: list[tuple[str, int, str, str]] = []
        self.problems: list[RowProblem] = []

    @contextmanager
    def _row(self) -> Iterator[None]:
        """One row (or one MDC, ADRG …) checked: its problem is recorded and the next one checked."""
        try:
            yield
        except RowProblem as exc:
            self.problems.append(exc)

    def _checkpoint(self) -> None:
        """After a table's rows: every problem found so far, at once (the next tables build on this one)."""
        if self.problems:
            raise problems_error(self.problems)

    # -- dictionaries and lists ------------------------------------------------------------

    def _dictionary(self, name: str, kind: str) -> dict[str, str]:
        t = self.t[name]
        out: dict[str, str] = {}
        for line, r in t:
            with self._row():
                code = _code(t, line, r["code"], kind, "code")
                if code in out:
                    t.fail(line, f"编码 {code} 重复")
                out[code] = r["name"]
        self._checkpoint()
        return out

    def _exclusion_list(self, name: str, col: str, *, skip_malformed: bool = False) -> dict[str, int]:
        """``skip_malformed``: a key that is not a diagnosis code is skipped and recorded in ``skipped``
        instead of stopping the load (Beijing 2022's cc_exclusions.csv has seven keys spoiled by stray
        characters; a case's principal diagnosis can never equal them, so skipping them gives the
        reference's results — its README §1)."""
        t = self.t[name]
        out: dict[str, int] = {}
        for line, r in t:
            with self._row():
                if skip_malformed and not _DX.match(r[col]):
                    self.skipped.append((name, line, r[col], "不是合法的诊断编码，跳过（不可能与病例的主要诊断相同）"))
                    continue
                code = _code(t, line, r[col], "dx", col)
                if code in out:
                    t.fail(line, f"编码 {code} 重复")
                out[code] = _int(t, line, r, "exclusion_table", lo=0)
                self.lines.setdefault(name, {})[code] = line
        self._checkpoint()
        return out

    def _map(self, name: str) -> dict[str, str]:
        if name not in self.t:
            return {}
        t = self.t[name]
        out: dict[str, str] = {}
        for line, r in t:
            with self._row():
                src = r["source_code"]
                if not src.strip():
                    t.fail(line, "source_code 为空")
                if src in out:
                    t.fail(line, f"source_code {src} 重复")
                if not r["grouper_code"].strip():
                    t.fail(line, "grouper_code 为空")
                out[src] = r["grouper_code"]
        self._checkpoint()
        return out

    # -- MDCs -------------------------------------------------------------------------------

    def _mdcs(self) -> list[Mdc]:
        t = self.t["mdcs.csv"]
        seen: dict[str, int] = {}
        orders: dict[int, str] = {}
        raw = []
        for line, r in t:
            with self._row():
                code = _code(t, line, r["mdc"], "mdc", "mdc")
                if code in seen:
                    t.fail(line, f"MDC {code} 重复（第 {seen[code]} 行已有）")
                seen[code] = line
                order = _int(t, line, r, "order", lo=1)
                if order in orders:
                    t.fail(line, f"order = {order} 与 MDC {orders[order]} 重复")
                orders[order] = code
                c = _condition(t, line, r["entry_condition"], "mdc")
                self._check_mdc_columns(t, line, r, c)
                raw.append((order, code, c, line))
        self._checkpoint()
        if not raw:
            raise FatalLoadError(t.where, "没有任何 MDC")
        if len(raw) > MAX_MDCS:
            t.fail(raw[MAX_MDCS][3], f"MDC 超过 {MAX_MDCS} 个")
        raw.sort()
        return [Mdc(code, order, bit, c, line) for bit, (order, code, c, line) in enumerate(raw)]

    @staticmethod
    def _check_mdc_columns(t: _Table, line: int, r: dict, c: Condition) -> None:
        """The structured columns of mdcs.csv, when present and filled, must say what the condition says."""
        def eq_value(var: str) -> str:
            b = c.bounds.get(var)
            if b and b.lo is not None and b.lo == b.hi and not b.lo_strict and not b.hi_strict:
                return _num(b.lo)
            return ""
        expect = {
            "sex": eq_value("SEX"),
            "age_years": eq_value("AGE_YEARS"),
            "principal_dx_list": "mdc_diagnoses" if c.pdx_mdc_list else "",
            "principal_proc_must_be_valid": "1" if c.pproc_valid else "0",
            "min_trauma_regions": "" if c.trauma_min is None else str(c.trauma_min),
        }
        for col, want in expect.items():
            if not t.has(col):
                continue
            got = r[col].strip()
            if col == "principal_proc_must_be_valid" and got == "" and want == "0":
                continue
            if got != want:
                t.fail(line, f"{col} = {got!r} 与入组条件 {c.text!r} 不一致（应为 {want!r}）")

    # -- ADRGs and DRGs ---------------------------------------------------------------------

    def _adrgs(self, mdcs: dict[str, Mdc]) -> dict[str, tuple[str, int, Condition, int, dict]]:
        t = self.t["adrgs.csv"]
        out: dict[str, tuple[str, int, Condition, int, dict]] = {}
        orders: dict[tuple[str, int], str] = {}
        for line, r in t:
            with self._row():
                code = _code(t, line, r["adrg"], "adrg", "adrg")
                if code in out:
                    t.fail(line, f"ADRG {code} 重复（第 {out[code][3]} 行已有）")
                mdc = r["mdc"]
                if mdc not in mdcs:
                    t.fail(line, f"ADRG {code} 的 MDC {mdc!r} 不在 mdcs.csv 中")
                if not code.startswith(mdc):
                    t.fail(line, f"ADRG {code} 不以其 MDC 代码 {mdc} 开头")
                order = _int(t, line, r, "order_in_mdc", lo=1)
                if (mdc, order) in orders:
                    t.fail(line, f"MDC {mdc} 中 order_in_mdc = {order} 与 ADRG {orders[(mdc, order)]} 重复")
                orders[(mdc, order)] = code
                alts = _alternatives(t, line, r["condition"])
                if len(alts) == 1:
                    self._check_adrg_columns(t, line, r, alts[0])
                else:
                    self._check_split_columns(t, line, r, alts)
                out[code] = (mdc, order, alts, line, r)
        self._checkpoint()
        self._check_alternatives_file(out)
        return out

    @staticmethod
    def _check_split_columns(t: _Table, line: int, r: dict, alts: tuple[Condition, ...]) -> None:
        """The structured columns of an ADRG with alternatives: no single rule, a procedure needed when
        every alternative needs one, the number of alternatives."""
        expect = {"dx_rule": "", "proc_rule": "", "proc_group_expr": "",
                  "requires_procedure": "1" if all(c.has_proc for c in alts) else "0",
                  "match_kind": "any_of_alternatives", "n_alternatives": str(len(alts))}
        for col, want in expect.items():
            if t.has(col) and r[col].strip() != want:
                t.fail(line, f"{col} = {r[col].strip()!r} 与条件 {r['condition']!r} 不一致（应为 {want!r}）")

    def _check_alternatives_file(self, adrgs: dict) -> None:
        """``adrg_alternatives.csv`` (optional): one row per alternative of each ADRG with alternatives, its
        condition the alternative's text in ``adrgs.csv``."""
        if "adrg_alternatives.csv" not in self.t:
            return
        t = self.t["adrg_alternatives.csv"]
        seen: dict[str, list[int]] = {}
        for line, r in t:
            with self._row():
                adrg = r["adrg"]
                if adrg not in adrgs:
                    t.fail(line, f"ADRG {adrg!r} 不在 adrgs.csv 中")
                alts = adrgs[adrg][2]
                k = _int(t, line, r, "alternative", lo=1)
                if k > len(alts):
                    t.fail(line, f"ADRG {adrg} 在 adrgs.csv 中只有 {len(alts)} 个备选条件，没有第 {k} 个")
                if " ".join(r["condition"].split()) != alts[k - 1].text:
                    t.fail(line, f"第 {k} 个备选条件 {r['condition']!r} 与 adrgs.csv 中的 {alts[k - 1].text!r} 不一致")
                seen.setdefault(adrg, []).append(k)
        self._checkpoint()
        for adrg, (_, _, alts, aline, _) in adrgs.items():
            with self._row():
                if len(alts) > 1 and sorted(seen.get(adrg, [])) != list(range(1, len(alts) + 1)):
                    t.fail(len(t.rows) + 1, f"ADRG {adrg} 有 {len(alts)} 个备选条件（adrgs.csv 第 {aline} 行），"
                                            f"本表列出 {sorted(seen.get(adrg, []))}")
        self._checkpoint()

    @staticmethod
    def _check_adrg_columns(t: _Table, line: int, r: dict, c: Condition) -> None:
        b_days, b_w = c.bounds.get("AGE_DAYS", Bound()), c.bounds.get("WEIGHT", Bound())
        dx_rule = {("PDX", "main"): "principal_in_list", ("ANY_DX", "main"): "any_in_list",
                   ("ANY_SDX", "second"): "secondary_in_second_list"}
        proc_rule = ""
        if c.proc_group_dnf:
            proc_rule = "proc_groups"
        elif ("ANY_PROC", "main") in c.proc_lists and ("ANY_PROC", "second") in c.proc_lists:
            proc_rule = "any_in_main_and_any_in_second"
        elif ("PPROC", "main") in c.proc_lists:
            proc_rule = "principal_in_list"
        elif ("ANY_PROC", "main") in c.proc_lists:
            proc_rule = "any_in_list"
        elif c.pproc_valid:
            proc_rule = "principal_in_valid_procedures"
        elif c.no_proc_valid:
            proc_rule = "none_in_valid_procedures"
        expect = {
            "requires_procedure": "1" if c.has_proc else "0",
            "max_age_days": "" if b_days.hi is None else _num(b_days.hi),
            "requires_nonzero_weight": "1" if b_w.nonzero else "0",
            "min_weight_g": "" if b_w.lo is None else _num(b_w.lo),
            "max_weight_g_exclusive": "" if b_w.hi is None else _num(b_w.hi),
            "proc_group_expr": c.proc_groups or "",
            "dx_rule": "|".join(dx_rule.get(x, f"{x[0]}:{x[1]}") for x in c.dx_lists),
            "proc_rule": proc_rule,
        }
        for col, want in expect.items():
            if t.has(col) and r[col].strip() != want:
                t.fail(line, f"{col} = {r[col].strip()!r} 与条件 {c.text!r} 不一致（应为 {want!r}）")

    def _drgs(self, adrgs: dict) -> tuple[dict[str, str], dict[str, list[DrgRule]]]:
        t = self.t["drgs.csv"]
        names: dict[str, str] = {}
        for line, r in t:
            with self._row():
                code = _code(t, line, r["drg"], "drg", "drg")
                if code in names:
                    t.fail(line, f"DRG {code} 重复")
                names[code] = r["name"]
        self._checkpoint()
        t = self.t["drg_rules.csv"]
        rules: dict[str, list[tuple[int, DrgRule, int]]] = {}
        seen: dict[str, int] = {}
        for line, r in t:
            with self._row():
                code = _code(t, line, r["drg"], "drg", "drg")
                if code in seen:
                    t.fail(line, f"DRG {code} 重复（第 {seen[code]} 行已有）")
                seen[code] = line
                if code not in names:
                    t.fail(line, f"DRG {code} 不在 drgs.csv 中")
                adrg = r["adrg"]
                if adrg not in adrgs:
                    t.fail(line, f"DRG {code} 的 ADRG {adrg!r} 不在 adrgs.csv 中")
                if not code.startswith(adrg):
                    t.fail(line, f"DRG {code} 不以其 ADRG 代码 {adrg} 开头")
                if t.has("mdc") and r["mdc"] != adrgs[adrg][0]:
                    t.fail(line, f"mdc = {r['mdc']!r}，但 ADRG {adrg} 属于 MDC {adrgs[adrg][0]}")
                order = _int(t, line, r, "order_in_adrg", lo=1)
                if any(o == order for o, _, _ in rules.get(adrg, [])):
                    t.fail(line, f"ADRG {adrg} 中 order_in_adrg = {order} 重复")
                kind = r["rule_kind"].strip()
                if kind not in RULE_KINDS:
                    t.fail(line, f"不认识的 rule_kind = {kind!r}（应为 {' / '.join(RULE_KINDS)} 之一）")
                name = r["name"] if t.has("name") and r["name"] else names[code]
                rule = DrgRule(code, adrg, order, kind, name, _rule_condition(t, line, r, kind))
                rules.setdefault(adrg, []).append((order, rule, line))
        self._checkpoint()
        out: dict[str, list[DrgRule]] = {}
        for adrg, (mdc, _, _, aline, arow) in adrgs.items():
            with self._row():
                lst = sorted(rules.get(adrg, []), key=lambda x: x[0])
                if not lst:
                    self.t["adrgs.csv"].fail(aline, f"ADRG {adrg} 在 drg_rules.csv 中没有任何 DRG")
                # rules that bound a variable (length-of-stay bands, age) need not end with `always`: a case none
                # of them takes is grouped to the ADRG code itself (README §4 step 4); rules on the complication
                # level alone must, or a case without complications would get no DRG
                if lst[-1][1].kind != "always" and not any(x[1].condition.bounds for x in lst):
                    t.fail(lst[-1][2], f"ADRG {adrg} 的最后一个 DRG {lst[-1][1].drg} 的 rule_kind 不是 always"
                                       f"（入组的病例可能得不到 DRG）")
                out[adrg] = [x[1] for x in lst]
                at = self.t["adrgs.csv"]
                if at.has("drgs_in_order") and arow["drgs_in_order"].strip():
                    listed = arow["drgs_in_order"].strip().split("|")
                    if listed != [x.drg for x in out[adrg]]:
                        at.fail(aline, f"drgs_in_order = {arow['drgs_in_order']!r} 与 drg_rules.csv 的顺序 "
                                       f"{'|'.join(x.drg for x in out[adrg])} 不一致")
        self._checkpoint()
        return names, out

    # -- lists ------------------------------------------------------------------------------

    def _adrg_lists(self, name: str, kind: str, adrgs: dict) -> dict[str, dict[str, list[str]]]:
        t = self.t[name]
        out: dict[str, dict[str, list[str]]] = {}
        seen: set[tuple[str, str, str]] = set()
        for line, r in t:
            with self._row():
                adrg = r["adrg"]
                if adrg not in adrgs:
                    t.fail(line, f"ADRG {adrg!r} 不在 adrgs.csv 中")
                lst = _code(t, line, r["list_name"], "list", "list_name")
                code = _code(t, line, r["code"], kind, "code")
                if (adrg, lst, code) in seen:
                    t.fail(line, f"ADRG {adrg} 的列表 {lst} 中编码 {code} 重复")
                seen.add((adrg, lst, code))
                alts: tuple[Condition, ...] = adrgs[adrg][2]
                if kind == "dx":
                    used = {l for c in alts for _, l in c.dx_lists}
                else:
                    used = {l for c in alts for _, l in c.proc_lists} | {f"group_{g}" for c in alts for g in c.group_labels}
                if lst not in used:
                    t.fail(line, f"ADRG {adrg} 的条件 {adrgs[adrg][4]['condition']!r} 没有用到列表 {lst}")
                out.setdefault(adrg, {}).setdefault(lst, []).append(code)
        self._checkpoint()
        return out

    # -- all --------------------------------------------------------------------------------

    def build(self) -> Standards:
        dx_names = self._dictionary("diagnoses.csv", "dx")
        proc_names = self._dictionary("procedures.csv", "proc")
        mdcs = self._mdcs()
        by_code = {m.code: m for m in mdcs}
        mt = self.t["mdcs.csv"]

        # MDC principal-diagnosis lists
        t = self.t["mdc_diagnoses.csv"]
        mdc_lists: dict[str, list[str]] = {}
        seen: set[tuple[str, str]] = set()
        for line, r in t:
            with self._row():
                mdc = r["mdc"]
                if mdc not in by_code:
                    t.fail(line, f"MDC {mdc!r} 不在 mdcs.csv 中")
                if not by_code[mdc].condition.pdx_mdc_list:
                    t.fail(line, f"MDC {mdc} 的入组条件 {by_code[mdc].condition.text!r} 不用 mdc_diagnoses")
                code = _code(t, line, r["code"], "dx", "code")
                if (mdc, code) in seen:
                    t.fail(line, f"MDC {mdc} 的主要诊断列表中编码 {code} 重复")
                seen.add((mdc, code))
                mdc_lists.setdefault(mdc, []).append(code)
        self._checkpoint()
        for m in mdcs:
            with self._row():
                if m.condition.pdx_mdc_list and not mdc_lists.get(m.code):
                    mt.fail(m.row, f"MDC {m.code} 的入组条件要求主要诊断在 mdc_diagnoses.csv 中，但该 MDC 没有任何编码")
        self._checkpoint()
        mdc_dx: dict[str, list[str]] = {}
        for m in mdcs:
            for code in mdc_lists.get(m.code, ()):
                mdc_dx.setdefault(code, []).append(m.code)

        # trauma regions
        trauma: dict[str, str] = {}
        if "mdc_z_trauma_regions.csv" in self.t:
            t = self.t["mdc_z_trauma_regions.csv"]
            for line, r in t:
                with self._row():
                    code = _code(t, line, r["code"], "dx", "code")
                    if code in trauma:
                        t.fail(line, f"编码 {code} 重复（一个编码只能属于一个部位）")
                    if not r["region"].strip():
                        t.fail(line, "region 为空")
                    trauma[code] = r["region"].strip()
            self._checkpoint()
        if len(set(trauma.values())) > MAX_TRAUMA_REGIONS:
            raise FatalLoadError(f"{self.source.rstrip('/')}/mdc_z_trauma_regions.csv",
                                 f"部位超过 {MAX_TRAUMA_REGIONS} 个（{len(set(trauma.values()))} 个）")
        for m in mdcs:
            with self._row():
                if (m.condition.trauma_min or 0) > MAX_TRAUMA_REGIONS:
                    mt.fail(m.row, f"TRAUMA_REGIONS >= {m.condition.trauma_min} 超过上限 {MAX_TRAUMA_REGIONS}")
        self._checkpoint()
        adrg_raw = self._adrgs(by_code)
        for code, (_, _, alts, line, _) in adrg_raw.items():
            with self._row():
                for c in alts:
                    if (c.trauma_min or 0) > MAX_TRAUMA_REGIONS:
                        self.t["adrgs.csv"].fail(line, f"TRAUMA_REGIONS >= {c.trauma_min} 超过上限 {MAX_TRAUMA_REGIONS}")
        self._checkpoint()
        needs_trauma = [m for m in mdcs if m.condition.trauma_min is not None] + \
                       [a for a in adrg_raw.values() if any(c.trauma_min is not None for c in a[2])]
        if needs_trauma and not trauma:
            raise FatalLoadError(self.source or "standards",
                                 "条件用到 TRAUMA_REGIONS，但缺少 mdc_z_trauma_regions.csv（或该表为空）")

        drg_names, rules = self._drgs(adrg_raw)
        dx_lists = self._adrg_lists("adrg_diagnoses.csv", "dx", adrg_raw)
        proc_lists = self._adrg_lists("adrg_procedures.csv", "proc", adrg_raw)

        at = self.t["adrgs.csv"]
        adrgs: dict[str, Adrg] = {}
        keyed = sorted(adrg_raw.items(), key=lambda kv: (by_code[kv[1][0]].order, kv[1][1]))
        for rank, (code, (mdc, order, alts, line, row)) in enumerate(keyed, start=1):
            with self._row():
                for c in alts:
                    for role, lst in c.dx_lists:
                        if not dx_lists.get(code, {}).get(lst):
                            at.fail(line, f"ADRG {code} 的条件用到诊断列表 dx.{lst}，但 adrg_diagnoses.csv 中没有它的编码")
                    for role, lst in c.proc_lists:
                        if not proc_lists.get(code, {}).get(lst):
                            at.fail(line, f"ADRG {code} 的条件用到手术列表 proc.{lst}，但 adrg_procedures.csv 中没有它的编码")
                    for g in c.group_labels:
                        if not proc_lists.get(code, {}).get(f"group_{g}"):
                            at.fail(line, f"ADRG {code} 的条件用到手术组 {g}，但 adrg_procedures.csv 中没有列表 group_{g}")
                    n_lists = len(c.dx_lists) + len(c.proc_lists) + len(c.group_labels)
                    if n_lists > MAX_LIST_BITS // 2:
                        at.fail(line, f"ADRG {code} 的条件用到的列表过多（{n_lists}）")

                def size(lists: dict, base: str) -> int:  # a list and its alternatives' copies (base_1, base_2 …)
                    return sum(len(v) for k, v in lists.get(code, {}).items()
                               if k == base or re.fullmatch(rf"{base}_[0-9]+", k))
                counts = {
                    "n_dx_main": size(dx_lists, "main"),
                    "n_proc_main": size(proc_lists, "main") + sum(
                        len(v) for k, v in proc_lists.get(code, {}).items() if k.startswith("group_")),
                    "n_proc_second": size(proc_lists, "second"),
                    "n_dx_second": size(dx_lists, "second"),
                    "n_alternatives": len(alts),
                }
                for col, n in counts.items():
                    if at.has(col) and row[col].strip() and row[col].strip() != str(n):
                        at.fail(line, f"{col} = {row[col].strip()}，但实际列表有 {n} 个编码")
                adrgs[code] = Adrg(code, mdc, order, rank, alts, tuple(rules[code]), line,
                                   " ".join(row["condition"].split()))
        self._checkpoint()

        for m in mdcs:
            with self._row():
                n_adrgs = sum(1 for a in adrgs.values() if a.mdc == m.code)
                r = next(row for ln, row in mt.rows if ln == m.row)
                for col, n in (("n_adrgs", n_adrgs), ("n_principal_dx", len(mdc_lists.get(m.code, ())))):
                    if mt.has(col) and r[col].strip() and r[col].strip() != str(n):
                        mt.fail(m.row, f"MDC {m.code} 的 {col} = {r[col].strip()}，但实际为 {n}")
                if n_adrgs == 0:
                    mt.fail(m.row, f"MDC {m.code} 没有任何 ADRG")
        self._checkpoint()

        # PROC_GROUPS: a code listed in several groups of one ADRG counts with its first label (file order)
        groups: dict[str, dict[str, str]] = {code: {} for code, a in adrgs.items()
                                             if any(c.group_labels for c in a.alternatives)}
        for line, r in self.t["adrg_procedures.csv"]:
            if r["adrg"] in groups and r["list_name"].startswith("group_"):
                groups[r["adrg"]].setdefault(r["code"], r["list_name"][len("group_"):])

        mcc = self._exclusion_list("mcc.csv", "code")
        cc = self._exclusion_list("cc.csv", "code")
        cce = self._exclusion_list("cc_exclusions.csv", "principal_dx", skip_malformed=True)
        t = self.t["valid_procedures.csv"]
        valid = frozenset(_code(t, line, r["code"], "proc", "code") for line, r in t)  # duplicates allowed

        std = Standards(
            source=self.source, version=version_of(self.data), files=tuple(sorted(self.data)),
            mdcs=tuple(mdcs), adrgs=adrgs, drg_names=drg_names, dx_names=dx_names, proc_names=proc_names,
            mdc_dx={k: tuple(v) for k, v in mdc_dx.items()}, trauma_regions=trauma,
            adrg_dx={a: {k: frozenset(v) for k, v in d.items()} for a, d in dx_lists.items()},
            adrg_proc={a: {k: frozenset(v) for k, v in d.items()} for a, d in proc_lists.items()},
            adrg_groups=groups, mcc=mcc, cc=cc, cc_exclusions=cce, valid_procedures=valid,
            dx_map=self._map("diagnosis_map.csv"), proc_map=self._map("procedure_map.csv"),
            lines=self.lines, skipped=tuple(self.skipped),
            mdc_name_column={r["mdc"]: r["name"].strip() for _, r in mt
                             if mt.has("name") and r["name"].strip()},
        )
        if "mdc_entry.json" in self.data:
            self._check_entry_json(std)
        return std

    def _check_entry_json(self, std: Standards) -> None:
        where = f"{self.source.rstrip('/')}/mdc_entry.json" if self.source else "mdc_entry.json"
        try:
            j = json.loads(self.data["mdc_entry.json"].decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FatalLoadError(where, f"不是合法的 JSON：{exc}") from None
        order = [m.code for m in std.mdcs]
        if "mdc_order" in j and list(j["mdc_order"]) != order:
            raise FatalLoadError(where, f"mdc_order {''.join(j['mdc_order'])} 与 mdcs.csv 的顺序 {''.join(order)} 不一致")
        for code, entry in (j.get("mdcs") or {}).items():
            if code not in std.mdc_by_code:
                raise FatalLoadError(where, f"mdcs.{code}：MDC 不在 mdcs.csv 中")
            listed = entry.get("adrgs_in_order")
            actual = [a.code for a in std.adrg_order if a.mdc == code]
            if listed is not None and list(listed) != actual:
                raise FatalLoadError(where, f"mdcs.{code}.adrgs_in_order 与 adrgs.csv 的顺序不一致")
            if entry.get("condition") and entry["condition"] != std.mdc_by_code[code].condition.text:
                raise FatalLoadError(where, f"mdcs.{code}.condition 与 mdcs.csv 的 entry_condition 不一致")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def iter_codes(*maps: Iterable[str]) -> list[str]:
    """Sorted distinct codes of several collections."""
    return sorted(set().union(*[set(m) for m in maps]))
