"""Mapping profiles (映射配置): how a real export's files, headers and code values become the contract.

Agencies' exports rarely use the contract's English names: files are called ``结算清单.csv`` or
``费用明细.xlsx``, headers are the national settlement list's field names (医保结算清单: 医疗费总额,
统筹基金支付, 主要诊断编码, 入院日期 …) and codes are words (职工, 住院, 男, 乙类, 三级 …). A
*mapping profile* is data, in TOML: the package ships one (``mappings/national.toml``) and a
region adds its own with ``yibao load --mapping FILE``, merged over the shipped one.

Layout (every section optional in a region's file)::

    [files]                       # table = [file names without extension]
    cases = ["结算清单", "医保结算清单"]

    [columns.cases]               # contract column = [headers]
    total_cost = ["医疗费总额", "总费用"]

    [combine.cases]               # contract list column = [headers joined with | in this order]
    procedures = ["主要手术及操作代码", "其他手术及操作代码"]

    [values.scheme]               # every table's `scheme`: contract code = [words]
    employee = ["职工", "职工基本医疗保险"]
    [values."catalog.sex_limit"]  # one table's column only (merged over the column-wide entry)
    "1" = ["男", "限男性"]

    [lists]
    separators = [";", "；", "，"]  # also accepted between codes inside a list cell

Names are compared after Unicode NFKC normalisation (full-width brackets and letters become
ASCII), with blanks removed and case ignored; a column's contract name and its Chinese label in
the schema (``Column.zh``) always match. The mapping is applied set-based: the header is renamed
once, and each mapped column is translated as a whole with one lookup (``pyarrow.compute``), never
row by row in Python. A value without a mapping is left as it came, so validation quarantines it
with the original text.
"""

from __future__ import annotations

import difflib
import tomllib
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from yibao.contract.errors import BadPolicy
from yibao.contract.schema import TABLES, Column, Table

SHIPPED = "national.toml"
PART = "\x1f"  # contract column + PART + index: one of the headers a combined column is built from

# Code columns (代码列): text whose every character matters, leading zeros included. Excel turns
# such a cell typed as a number into 301 for 0301; the loader reports every one it sees.
CODE_KINDS = frozenset({"id", "icd10", "icd9", "icd10_list", "icd9_list", "prefix_list"})
TEXT_CODE_COLUMNS = frozenset({"dept_code", "region_code", "id_number"})


class MappingError(BadPolicy):
    """A mapping profile that cannot be used: one line naming the file and the key."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")


def norm(text: str) -> str:
    """The form names are compared in: NFKC, no blanks, case folded, no BOM."""
    return "".join(unicodedata.normalize("NFKC", str(text)).replace("\ufeff", "").split()).casefold()


def is_code_column(c: Column) -> bool:
    return c.kind in CODE_KINDS or c.name in TEXT_CODE_COLUMNS


@dataclass
class Profile:
    """A merged mapping profile, ready to apply."""

    sources: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)                        # norm(stem) → table
    file_names: dict[str, list[str]] = field(default_factory=dict)             # table → names as written
    headers: dict[str, dict[str, str]] = field(default_factory=dict)           # table → norm(header) → column
    combine: dict[str, dict[str, list[str]]] = field(default_factory=dict)     # table → column → headers
    values: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # table → column → norm(word) → code
    separators: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------ files

    def table_for_file(self, path: Path) -> str | None:
        """The table a file holds, by its name (case-insensitive; Chinese names from ``[files]``)."""
        return self.files.get(norm(path.stem))

    def hint(self, path: Path) -> str:
        """A Chinese hint for a file that is not recognised: the closest known name, or the format."""
        stem, ext = path.stem, path.suffix.lower()
        if ext in (".xls", ".et", ".xlsb"):
            return f"{ext} 格式不支持，请另存为 .xlsx 或 .csv"
        if ext not in (".csv", ".parquet", ".xlsx"):
            return "不是数据文件（支持 .csv、.parquet、.xlsx）"
        known = {}
        for table, names in self.file_names.items():
            for n in [table, *names]:
                known.setdefault(norm(n), (n, table))
        key = norm(stem)
        inside = [v for k, v in known.items() if k and (k in key or key in k)]
        close = inside or [known[k] for k in difflib.get_close_matches(key, list(known), n=1, cutoff=0.5)]
        if close:
            name, table = close[0]
            return f"最接近的已知文件名为「{name}」（{table} 表），如是请改名或在映射文件 [files] 中加入「{stem}」"
        return "不是已知的表名，可在映射文件 [files] 中指定它属于哪个表"

    # ------------------------------------------------------------------ headers

    def header_target(self, table: str, header: str) -> str | None:
        return self.headers.get(table, {}).get(norm(header))

    def rename(self, table: str, names: list[str]) -> tuple[list[str], dict[str, str]]:
        """Header cells → contract names (unknown ones kept as they are) and {original: contract}.

        Headers of a combined column (``[combine]``) become ``column<PART>i``; they are joined
        by :meth:`apply`. Two headers for one contract column are refused by the caller
        (duplicate names after renaming).
        """
        out, mapped = [], {}
        parts = {norm(h): (col, i) for col, hs in self.combine.get(table, {}).items() for i, h in enumerate(hs)}
        direct = {self.header_target(table, n) for n in names} - {None}
        for n in names:
            target = self.header_target(table, n)
            if target is None and norm(n) in parts and parts[norm(n)][0] not in direct:
                col, i = parts[norm(n)]
                target = f"{col}{PART}{i}"
            if target is None:
                out.append(n)
            else:
                out.append(target)
                if target != n:
                    mapped[n] = target
        return out, mapped

    def header_score(self, schema: Table, cells: list[str]) -> tuple[int, int]:
        """(required columns found, contract columns found) in a candidate header row."""
        names, _ = self.rename(schema.name, [c for c in cells if c])
        found = {n.split(PART)[0] for n in names}
        return len(found & set(schema.required_columns)), len(found & set(schema.column_names))

    # ------------------------------------------------------------------ values

    def apply(self, schema: Table, data: pa.Table) -> tuple[pa.Table, dict[str, int]]:
        """Combined columns joined, list separators unified, code words translated — set-based.

        Returns the table and, per translated column, how many cells the mapping changed.
        """
        data = self._combine(schema, data)
        changed: dict[str, int] = {}
        seps = [s for s in self.separators if s != "|"]
        pattern = "|".join(_re_escape(s) for s in seps)
        for c in schema.columns:
            if c.name not in data.column_names:
                continue
            col = data.column(c.name)
            new, n = col, 0
            if c.is_list and seps and pc.any(pc.match_substring_regex(col, pattern=pattern)).as_py():
                new = pc.replace_substring_regex(col, pattern=pattern, replacement="|")
                n = pc.sum(pc.invert(pc.equal(new, col))).as_py() or 0
            words = self.values.get(schema.name, {}).get(c.name)
            if words:
                new, n = _translate(new, words)
            if n:
                changed[c.name] = n
                data = data.set_column(data.column_names.index(c.name), c.name, new)
        return data, changed

    def _combine(self, schema: Table, data: pa.Table) -> pa.Table:
        groups: dict[str, list[str]] = {}
        for n in data.column_names:
            if PART in n:
                groups.setdefault(n.split(PART)[0], []).append(n)
        for col, parts in groups.items():
            parts.sort(key=lambda n: int(n.split(PART)[1]))
            arrays = [pc.utf8_trim_whitespace(data.column(p).combine_chunks()) for p in parts]
            joined = pc.binary_join_element_wise(*arrays, "|")
            # blank parts leave empty elements: drop them (validation ignores blanks in a list anyway)
            joined = pc.replace_substring_regex(joined, pattern=r"\|{2,}", replacement="|")
            joined = pc.replace_substring_regex(joined, pattern=r"^\||\|$", replacement="")
            data = data.drop_columns(parts).append_column(col, joined)
        return data


def _translate(col: pa.ChunkedArray, words: dict[str, str]) -> tuple[pa.ChunkedArray, int]:
    """Code words of a whole column → codes; (new column, cells changed). The words are looked up
    once per distinct value; a column with nothing to translate is returned as it is."""
    uniq = pc.unique(col)
    key = pc.utf8_lower(pc.utf8_trim_whitespace(pc.utf8_normalize(uniq, "NFKC")))
    key = pc.replace_substring_regex(key, pattern=r"\s+", replacement="")
    idx = pc.index_in(key, value_set=pa.array(list(words), pa.string()))
    codes = pc.take(pa.array(list(words.values()), pa.string()), pc.fill_null(idx, 0))
    hit = pc.and_(pc.is_valid(idx), pc.not_equal(codes, uniq))
    if not pc.any(hit).as_py():
        return col, 0
    frm, to = uniq.filter(hit), codes.filter(hit)
    pos = pc.index_in(col, value_set=frm)
    found = pc.is_valid(pos)
    return pc.if_else(found, pc.take(to, pc.fill_null(pos, 0)), col), pc.sum(found).as_py() or 0


def _re_escape(s: str) -> str:
    return "".join("\\" + ch if ch in r".^$*+?()[]{}|\\" else ch for ch in s)


# ---------------------------------------------------------------------- reading and merging

def shipped_text() -> str:
    return resources.files("yibao.contract").joinpath("mappings", SHIPPED).read_text(encoding="utf-8")


def load_profile(extra: Path | None = None) -> Profile:
    """The shipped profile, with a region's own file merged over it when given."""
    p = Profile()
    for t in TABLES.values():  # contract names and the schema's Chinese labels always match
        p.files[norm(t.name)] = t.name
        p.file_names[t.name] = [t.zh]
        p.files.setdefault(norm(t.zh), t.name)
        p.headers[t.name] = {}
        for c in t.columns:
            p.headers[t.name][norm(c.name)] = c.name
            p.headers[t.name].setdefault(norm(c.zh), c.name)
    _merge(p, tomllib.loads(shipped_text()), f"yibao/contract/mappings/{SHIPPED}", region=False)
    if extra is not None:
        _merge(p, _read(extra), str(extra), region=True)
    return p


def _read(path: Path) -> dict:
    where = str(path)
    if path.is_dir():
        raise MappingError(where, "是目录，应为映射文件（TOML）")
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise MappingError(where, "映射文件不存在") from None
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(where, f"不是有效的 TOML：{exc}") from None
    except UnicodeDecodeError:
        raise MappingError(where, "映射文件应为 UTF-8 编码的文本") from None
    except OSError as exc:
        raise MappingError(where, f"无法读取映射文件：{exc.strerror or exc}") from None


def _names(where: str, key: str, value: object) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise MappingError(where, f"{key} 应为名称列表（字符串数组），实际为 {value!r}")
    return value


def _table(where: str, key: str, name: str) -> Table:
    if name not in TABLES:
        raise MappingError(where, f"{key}：{name} 不是数据合同中的表（可选：{', '.join(TABLES)}）")
    return TABLES[name]


def _column(where: str, key: str, t: Table, name: str) -> Column:
    if name not in t.column_names:
        raise MappingError(where, f"{key}：{name} 不是 {t.name} 表的列")
    return t.column(name)


def _check_code(where: str, key: str, c: Column, code: str) -> None:
    if c.kind == "enum" and code not in c.values:
        raise MappingError(where, f"{key}：「{code}」不是 {c.name} 的合同代码（允许：{'、'.join(c.values)}）")
    if c.kind == "flag" and code not in ("0", "1"):
        raise MappingError(where, f"{key}：「{code}」不是 {c.name} 的合同代码（允许：1、0）")
    if c.kind == "int":
        ok = code.lstrip("-").isdigit() and (c.lo is None or int(code) >= c.lo) and (c.hi is None or int(code) <= c.hi)
        if not ok:
            raise MappingError(where, f"{key}：「{code}」不是 {c.name} 允许的整数（{c.lo}–{c.hi}）")


_SECTIONS = {"meta", "files", "columns", "combine", "values", "lists"}


def _merge(p: Profile, doc: dict, where: str, region: bool) -> None:
    unknown = set(doc) - _SECTIONS
    if unknown:
        raise MappingError(where, f"未知的配置节 {', '.join(sorted(unknown))}（可用：{', '.join(sorted(_SECTIONS))}）")
    p.sources.append(where)
    mine: dict[tuple, str] = {}  # what this file has said: a name claimed twice in one file is refused

    def claim(key: tuple, target: str, text: str) -> None:
        if mine.setdefault(key, target) != target:
            raise MappingError(where, text.format(a=mine[key], b=target))

    for table, names in _section(where, doc, "files").items():
        t = _table(where, f"[files] {table}", table)
        for n in _names(where, f"[files] {table}", names):
            have = p.files.get(norm(n))
            if have not in (None, t.name) and not region:
                raise MappingError(where, f"[files] 文件名「{n}」同时属于 {have} 与 {t.name}")
            claim(("file", norm(n)), t.name, f"[files] 文件名「{n}」同时属于 {{a}} 与 {{b}}")
            p.files[norm(n)] = t.name
            p.file_names[t.name].append(n)
    for table, cols in _section(where, doc, "columns").items():
        t = _table(where, f"[columns.{table}]", table)
        for col, headers in _section(where, {"x": cols}, "x", f"[columns.{table}]").items():
            c = _column(where, f"[columns.{table}] {col}", t, col)
            for h in _names(where, f"[columns.{table}] {col}", headers):
                have = p.headers[t.name].get(norm(h))
                if have not in (None, c.name) and not region:
                    raise MappingError(where, f"[columns.{table}] 表头「{h}」同时对应 {have} 与 {c.name}")
                claim(("col", t.name, norm(h)), c.name, f"[columns.{table}] 表头「{h}」同时对应 {{a}} 与 {{b}}")
                p.headers[t.name][norm(h)] = c.name
    for table, cols in _section(where, doc, "combine").items():
        t = _table(where, f"[combine.{table}]", table)
        for col, headers in _section(where, {"x": cols}, "x", f"[combine.{table}]").items():
            c = _column(where, f"[combine.{table}] {col}", t, col)
            if not c.is_list:
                raise MappingError(where, f"[combine.{table}] {col} 不是列表列（只有以 | 分隔的代码列可以合并）")
            p.combine.setdefault(t.name, {})[c.name] = _names(where, f"[combine.{table}] {col}", headers)
    values = _section(where, doc, "values")
    # column-wide entries first, then table-specific ones over them
    for key in sorted(values, key=lambda k: "." in k):
        words = _section(where, values, key, f"[values.{key}]")
        if "." in key:
            table, col = key.split(".", 1)
            t = _table(where, f"[values.\"{key}\"]", table)
            targets = [(t, _column(where, f"[values.\"{key}\"]", t, col))]
        else:
            targets = [(t, t.column(key)) for t in TABLES.values() if key in t.column_names]
            if not targets:
                raise MappingError(where, f"[values.{key}]：{key} 不是任何合同表的列")
        for code, ws in words.items():
            for t, c in targets:
                _check_code(where, f"[values.{key}] {code}", c, str(code))
                table_map = p.values.setdefault(t.name, {}).setdefault(c.name, {})
                for w in _names(where, f"[values.{key}] {code}", ws):
                    claim(("val", key, t.name, c.name, norm(w)), str(code),
                          f"[values.{key}] 「{w}」同时对应代码 {{a}} 与 {{b}}")
                    table_map[norm(w)] = str(code)
    lists = _section(where, doc, "lists")
    if "separators" in lists:
        for s in _names(where, "[lists] separators", lists["separators"]):
            if s not in p.separators:
                p.separators.append(s)


def _section(where: str, doc: dict, key: str, label: str | None = None) -> dict:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise MappingError(where, f"{label or '[' + key + ']'} 应为表（键 = 值），实际为 {value!r}")
    return value
