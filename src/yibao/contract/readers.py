"""Read a contract table from CSV, Parquet or .xlsx into an all-text Arrow table.

Every reader returns the *original text* of each cell (blank = ``""``), so validation can
judge it and the quarantine can keep it as it came. Typing happens later, in SQL
(:mod:`yibao.contract.validate`).

A file that cannot be read at all raises :class:`FatalLoadError` with one line naming the file
and the problem (wrong or missing columns, undecodable bytes with their offset, binary data,
a truncated Parquet file, a broken workbook).

File discovery (:func:`discover`) and the mapping of headers and code words to the contract
(:mod:`yibao.contract.mapping`) are applied here too, set-based: a file named ``结算清单.csv`` with
the settlement list's field names and ``职工``/``住院`` reads as the contract's ``cases`` table.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from yibao.contract.mapping import PART, Profile, is_code_column, load_profile
from yibao.contract.reasons import FatalLoadError
from yibao.contract.schema import Table

FORMATS = (".csv", ".parquet", ".xlsx")
ROW = "_row"  # 1-based data row number in the source (header excluded)
_CHUNK = 1 << 24


@dataclass
class ShapeError:
    row: int | None
    text: str
    expected: int
    actual: int


@dataclass
class RawTable:
    """A table as read: text cells of the contract columns plus ``_row``."""

    schema: Table
    path: Path
    data: pa.Table
    encoding: str
    sha256: str
    ignored_columns: list[str] = field(default_factory=list)
    missing_optional: list[str] = field(default_factory=list)
    shape_errors: list[ShapeError] = field(default_factory=list)
    mapped_columns: dict[str, str] = field(default_factory=dict)    # file header → contract column
    mapped_values: dict[str, int] = field(default_factory=dict)     # column → cells the profile translated
    numeric_code_cells: dict[str, int] = field(default_factory=dict)  # code column → numeric cells (Excel, Parquet)
    header_row: int = 1                                             # sheet row of the header (title rows above)

    @property
    def read(self) -> int:
        return self.data.num_rows + len(self.shape_errors)


@dataclass
class Discovered:
    """The files of a region directory: one per recognised table, and the rest with a hint each."""

    files: dict[str, Path]
    unrecognised: list[tuple[str, str]]  # (file name, Chinese hint)


def discover(directory: Path, profile: Profile | None = None) -> Discovered:
    """Which file holds which table: names compared case-insensitively (``Cases.CSV``), Chinese
    names (``结算清单.csv``) through the mapping profile; two files for one table is an error."""
    profile = profile or shipped_profile()
    found: dict[str, list[Path]] = {}
    other: list[tuple[str, str]] = []
    for p in sorted(Path(directory).iterdir()):
        if not p.is_file() or p.name.startswith((".", "~$")):
            continue
        table = profile.table_for_file(p) if p.suffix.lower() in FORMATS else None
        if table is None:
            other.append((p.name, profile.hint(p)))
        else:
            found.setdefault(table, []).append(p)
    for table, paths in found.items():
        if len(paths) > 1:
            raise FatalLoadError(str(directory),
                                 f"表 {table} 有多个文件（{', '.join(p.name for p in paths)}），只能保留一个")
    return Discovered({t: ps[0] for t, ps in found.items()}, other)


def find_file(directory: Path, name: str, profile: Profile | None = None) -> Path | None:
    """The file holding table ``name`` in a region directory, or None; two files is an error."""
    return discover(directory, profile).files.get(name)


_SHIPPED: list[Profile] = []


def shipped_profile() -> Profile:
    """The shipped mapping profile (read once per process)."""
    if not _SHIPPED:
        _SHIPPED.append(load_profile())
    return _SHIPPED[0]


def read_table(path: Path, schema: Table, profile: Profile | None = None) -> RawTable:
    path = Path(path)
    ext = path.suffix.lower()
    profile = profile or shipped_profile()
    try:
        if ext == ".csv":
            return _read_csv(path, schema, profile)
        if ext == ".parquet":
            return _read_parquet(path, schema, profile)
        if ext == ".xlsx":
            return _read_xlsx(path, schema, profile)
    except FatalLoadError:
        raise
    except (OSError, pa.ArrowException, ValueError, KeyError, EOFError) as exc:
        raise FatalLoadError(str(path), f"无法读取：{_one_line(exc)}") from exc
    raise FatalLoadError(str(path), f"不支持的文件格式 {ext}（支持 .csv、.parquet、.xlsx）")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:300] + "…") if len(text) > 300 else text or type(exc).__name__


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- CSV

def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` (BOM), ``utf-8`` or ``gb18030``; otherwise a fatal error with the byte offset."""
    with path.open("rb") as f:
        head = f.read(65536)
    if not head:
        raise FatalLoadError(str(path), "空文件（没有表头）")
    if b"\x00" in head:
        nul = head.index(0)
        raise FatalLoadError(str(path), f"不是文本文件：第 {nul} 字节处为 0x00（二进制数据）")
    if head.startswith(codecs.BOM_UTF8):
        bad = _first_undecodable(path, "utf-8-sig")
        if bad is not None:
            raise FatalLoadError(str(path), f"文件以 UTF-8 BOM 开头，但第 {bad[0]} 字节处 (0x{bad[1]:02X}) 不是合法 UTF-8")
        return "utf-8-sig"
    bad_utf8 = _first_undecodable(path, "utf-8")
    if bad_utf8 is None:
        return "utf-8"
    bad_gb = _first_undecodable(path, "gb18030")
    if bad_gb is None:
        return "gb18030"
    raise FatalLoadError(
        str(path),
        f"无法识别的文本编码：第 {bad_utf8[0]} 字节处 (0x{bad_utf8[1]:02X}) 不是合法 UTF-8，"
        f"第 {bad_gb[0]} 字节处 (0x{bad_gb[1]:02X}) 不是合法 GB18030",
    )


def _first_undecodable(path: Path, encoding: str) -> tuple[int, int] | None:
    """(byte offset, byte) of the first byte that does not decode, or None."""
    dec = codecs.getincrementaldecoder(encoding)("strict")
    offset = 0
    with path.open("rb") as f:
        while True:
            chunk = f.read(_CHUNK)
            final = not chunk
            try:
                dec.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                # offsets in the exception are relative to the decoder's buffer + this chunk
                buffered = len(exc.object) - len(chunk)
                pos = offset - buffered + exc.start
                return pos, exc.object[exc.start]
            if final:
                return None
            offset += len(chunk)


def _read_csv(path: Path, schema: Table, profile: Profile) -> RawTable:
    encoding = detect_encoding(path)
    with path.open("r", encoding=encoding, newline="") as f:
        try:
            header = next(csv.reader(f))
        except StopIteration:
            raise FatalLoadError(str(path), "空文件（没有表头）") from None
        except csv.Error as exc:
            raise FatalLoadError(str(path), f"表头无法解析：{_one_line(exc)}") from exc
    names, mapped = _contract_header(path, [h.strip().lstrip("\ufeff") for h in header], schema, profile)

    def parse(use_threads: bool, sink: list[ShapeError]) -> pa.Table:
        def on_bad(row) -> str:
            line = row.number
            sink.append(ShapeError(None if line is None else line - 1, row.text,
                                   row.expected_columns, row.actual_columns))
            return "skip"

        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                encoding="utf8" if encoding.startswith("utf-8") else encoding,
                use_threads=use_threads, column_names=names, skip_rows=1, block_size=1 << 24,
            ),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_bad, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False, quoted_strings_can_be_null=False,
            ),
        )

    shape_errors: list[ShapeError] = []
    data = parse(True, shape_errors)
    if shape_errors:
        # rare: parse again on one thread, which reports line numbers of the bad rows
        shape_errors = []
        data = parse(False, shape_errors)
    rows = _row_numbers(data.num_rows, [e.row for e in shape_errors if e.row is not None])
    return _finish(path, schema, data.append_column(ROW, pa.array(rows, pa.int64())), encoding, shape_errors, names,
                   profile, mapped)


def _row_numbers(n: int, skipped: list[int]) -> np.ndarray:
    """Data-row numbers of the ``n`` parsed rows, given the numbers of the skipped rows."""
    if not skipped:
        return np.arange(1, n + 1, dtype=np.int64)
    every = np.arange(1, n + len(skipped) + 1, dtype=np.int64)
    return np.setdiff1d(every, np.asarray(skipped, dtype=np.int64), assume_unique=True)


# --------------------------------------------------------------------------- Parquet

def _read_parquet(path: Path, schema: Table, profile: Profile) -> RawTable:
    try:
        data = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise FatalLoadError(str(path), f"无法读取 Parquet 文件（可能已截断或损坏）：{_one_line(exc)}") from exc
    names, mapped = _contract_header(path, [n.strip() for n in data.column_names], schema, profile)
    numeric = _numeric_code_columns(schema, names, data)
    cols = [_arrow_to_text(col) for col in data.columns]
    text = pa.table(cols, names=names)
    text = text.append_column(ROW, pa.array(np.arange(1, text.num_rows + 1, dtype=np.int64)))
    return _finish(path, schema, text, "parquet", [], names, profile, mapped, numeric)


def _arrow_to_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A typed column as the text a CSV would have held (lists joined with ``|``, flags 1/0)."""
    t = col.type
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        flat = pc.cast(col, pa.list_(pa.string()))
        out = pc.binary_join(flat, "|")
    elif pa.types.is_boolean(t):
        out = pc.if_else(col, "1", "0")
    elif pa.types.is_timestamp(t):
        out = pc.cast(pc.cast(col, pa.date32()), pa.string())
    elif pa.types.is_dictionary(t):
        out = pc.cast(pc.cast(col, t.value_type), pa.string())
    else:
        out = pc.cast(col, pa.string())
    return pc.fill_null(out, "")


# --------------------------------------------------------------------------- Excel

def _read_xlsx(path: Path, schema: Table, profile: Profile) -> RawTable:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, OSError, KeyError) as exc:
        raise FatalLoadError(str(path), f"无法读取 Excel 文件（不是有效的 .xlsx）：{_one_line(exc)}") from exc
    try:
        ws = wb.worksheets[0]
        rows, header_row, header = _xlsx_header(ws.iter_rows(values_only=True), schema, profile)
        if header is None:
            raise FatalLoadError(str(path), "第一个工作表为空（没有表头）")
        names = [("" if h is None else str(h)).strip() for h in header]
        while names and names[-1] == "":
            names.pop()
        names, mapped = _contract_header(path, names, schema, profile)
        width = len(names)
        columns: list[list[str]] = [[] for _ in names]
        code_idx = [i for i, n in enumerate(names) if n.split(PART)[0] in schema.column_names
                    and is_code_column(schema.column(n.split(PART)[0]))]
        numeric_at = [0] * width
        for values in rows:  # openpyxl is cell-by-cell; .xlsx files are small by nature
            cells = [_cell_text(v) for v in values[:width]]
            if not any(cells):
                continue  # trailing empty rows Excel keeps
            for i in code_idx:  # a code typed as a number in Excel: its leading zeros are gone
                if i < len(values) and type(values[i]) in (int, float):
                    numeric_at[i] += 1
            cells += [""] * (width - len(cells))
            for i, c in enumerate(cells):
                columns[i].append(c)
    finally:
        wb.close()
    text = pa.table([pa.array(c, pa.string()) for c in columns], names=names)
    text = text.append_column(ROW, pa.array(np.arange(1, text.num_rows + 1, dtype=np.int64)))
    numeric = {names[i].split(PART)[0]: n for i, n in enumerate(numeric_at) if n}
    raw = _finish(path, schema, text, "xlsx", [], names, profile, mapped, numeric)
    raw.header_row = header_row
    return raw


def _cell_text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time() else v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, Decimal):
        return format(v, "f")
    return str(v)


# --------------------------------------------------------------------------- shared

def _check_header(path: Path, names: list[str], schema: Table) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1 and n})
    if dupes:
        raise FatalLoadError(str(path), f"表头列名重复：{', '.join(dupes)}")
    missing = [c for c in schema.required_columns if c not in names]
    if missing:
        raise FatalLoadError(
            str(path),
            f"不是 {schema.name}（{schema.zh}）表：缺少必需列 {', '.join(missing)}；文件表头为 {','.join(names)[:200]}",
        )


def _finish(path: Path, schema: Table, data: pa.Table, encoding: str,
            shape_errors: list[ShapeError], names: list[str], profile: Profile | None = None,
            mapped: dict[str, str] | None = None, numeric: dict[str, int] | None = None) -> RawTable:
    changed: dict[str, int] = {}
    if profile is not None:
        data, changed = profile.apply(schema, data)
    n = data.num_rows
    cols, missing = [], []
    for c in schema.columns:
        if c.name in data.column_names:
            cols.append(data.column(c.name))
        else:
            missing.append(c.name)
            cols.append(pa.chunked_array([pa.array([""] * n, pa.string())]) if n else pa.chunked_array([], pa.string()))
    out = pa.table(cols + [data.column(ROW)], names=schema.column_names + [ROW])
    ignored = [n for n in names if n not in schema.column_names and n and PART not in n]
    return RawTable(schema, path, out, encoding, _sha256(path), ignored, missing, shape_errors,
                    mapped or {}, changed, numeric or {})


# --------------------------------------------------------------------------- mapping

HEADER_SCAN_ROWS = 30  # title rows above a sheet's header: how far down to look for it


def _contract_header(path: Path, names: list[str], schema: Table, profile: Profile) -> tuple[list[str], dict[str, str]]:
    """Header cells renamed to contract columns by the profile, checked; and {header: column}."""
    renamed, mapped = profile.rename(schema.name, names)
    by_target: dict[str, list[str]] = {}
    for orig, new in zip(names, renamed):
        if new in schema.column_names:
            by_target.setdefault(new, []).append(orig)
    clash = {t: hs for t, hs in by_target.items() if len(hs) > 1 and len(set(hs)) == len(hs)}
    if clash:
        t, hs = sorted(clash.items())[0]
        raise FatalLoadError(str(path), f"表头 {'、'.join(hs)} 都对应合同列 {t}，只能保留一列（或在映射文件中去掉其一）")
    _check_header(path, renamed, schema)
    return renamed, mapped


def _xlsx_header(rows, schema: Table, profile: Profile):
    """(remaining rows, 1-based sheet row of the header, header cells): the header is the first of
    the top rows holding every required column (by the profile), else the one matching most."""
    import itertools

    head = list(itertools.islice(rows, HEADER_SCAN_ROWS))
    if not head:
        return rows, 1, None
    best, best_score = 0, (-1, -1)
    for i, values in enumerate(head):
        cells = [("" if v is None else str(v)).strip() for v in values]
        score = profile.header_score(schema, cells)
        if score[0] == len(schema.required_columns):
            best = i
            break
        if score > best_score:
            best, best_score = i, score
    return itertools.chain(head[best + 1:], rows), best + 1, head[best]


def _numeric_code_columns(schema: Table, names: list[str], data: pa.Table) -> dict[str, int]:
    """Code columns stored as numbers in a Parquet file: {column: non-blank cells}."""
    out = {}
    for name, col in zip(names, data.columns):
        base = name.split(PART)[0]
        if base in schema.column_names and is_code_column(schema.column(base)) and (
                pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_decimal(col.type)):
            n = len(col) - col.null_count
            if n:
                out[base] = n
    return out
