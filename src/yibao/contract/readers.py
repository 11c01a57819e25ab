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
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from yibao.contract.mapping import PART, Profile, is_code_column, load_profile
from yibao.contract.reasons import FatalLoadError
from yibao.contract.schema import CSV_MAX_UNCLOSED_QUOTES, XLSX_MAX_UNPACKED_BYTES, Table

FORMATS = (".csv", ".parquet", ".xlsx")
ROW = "_row"  # 1-based data row number in the source (header excluded)
_CHUNK = 1 << 24
STREAM_BLOCK = 1 << 24  # bytes of a CSV file parsed per batch by :func:`stream_table`


@dataclass
class ShapeError:
    """A line that is not a row: wrong number of fields, or an unclosed quote (``code``)."""

    row: int | None
    text: str
    expected: int
    actual: int
    code: str = "BAD_ROW_SHAPE"
    line: int | None = None  # physical line in the file (header = 1)
    lines: int = 1  # physical lines the record spans


@dataclass
class CellIssue:
    """A cell the reader found wrong (the text alone would not show it): quarantines its row."""

    row: int
    column: str
    code: str
    text: str


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
    cell_issues: list[CellIssue] = field(default_factory=list)
    mapped_columns: dict[str, str] = field(default_factory=dict)    # file header → contract column
    mapped_values: dict[str, int] = field(default_factory=dict)     # column → cells the profile translated
    numeric_code_cells: dict[str, int] = field(default_factory=dict)  # code column → numeric cells (Excel, Parquet)
    header_row: int = 1                                             # sheet row of the header (title rows above)
    rows: int = 0  # rows handed on so far by a streamed table (:func:`stream_table`), whose ``data`` is None
    relation: str | None = None  # a streamed table staged into the database: the table holding its text
    proven: frozenset[str] = frozenset()  # … and its proven / conforming columns (validate.proven_columns)
    conforming: frozenset[str] = frozenset()

    @property
    def read(self) -> int:
        return (self.data.num_rows if self.data is not None else self.rows) + len(self.shape_errors)


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


Batches = Iterator[tuple[pa.Table, bool]]  # (rows in the contract's columns + ``_row``, restart)


def stream_table(path: Path, schema: Table, profile: Profile | None = None) -> tuple[RawTable, Batches]:
    """:func:`read_table` in batches, so that a file of any size is read in bounded memory.

    Returns the table's description (``data`` is None; the header was checked already: a fatal error in it is
    raised here) and an iterator of ``(batch, restart)``: each batch holds the contract's columns as text plus
    ``_row``, exactly the rows :func:`read_table` would return, in file order. ``restart`` True means "forget
    the batches before, this one holds the whole table": a CSV file whose row count does not match its lines
    (a bad row, a value with a line break, an unclosed quote) is read again whole by the careful path, which
    sets ``shape_errors``. ``rows``, ``mapped_values``, ``missing_optional`` and ``numeric_code_cells`` are
    final once the iterator is exhausted; a fatal error while iterating is a :class:`FatalLoadError` too.
    """
    path = Path(path)
    ext = path.suffix.lower()
    profile = profile or shipped_profile()
    try:
        if ext == ".csv":
            raw, batches = _stream_csv(path, schema, profile)
        elif ext == ".parquet":
            raw, batches = _stream_parquet(path, schema, profile)
        elif ext == ".xlsx":  # cell by cell anyway, and meant for small tables: read whole
            raw = _read_xlsx(path, schema, profile)
            whole, raw.data, raw.rows = raw.data, None, raw.data.num_rows
            batches = iter([(whole, False)])
        else:
            raise FatalLoadError(str(path), f"不支持的文件格式 {ext}（支持 .csv、.parquet、.xlsx）")
    except FatalLoadError:
        raise
    except (OSError, pa.ArrowException, ValueError, KeyError, EOFError) as exc:
        raise FatalLoadError(str(path), f"无法读取：{_one_line(exc)}") from exc
    return raw, _guarded(path, batches)


def _guarded(path: Path, batches: Batches) -> Batches:
    try:
        yield from batches
    except FatalLoadError:
        raise
    except (OSError, pa.ArrowException, ValueError, KeyError, EOFError) as exc:
        raise FatalLoadError(str(path), f"无法读取：{_one_line(exc)}") from exc


def _emit(raw: RawTable, data: pa.Table, profile: Profile, restart: bool) -> tuple[pa.Table, bool]:
    """One batch in the contract's columns; the counts the table's description keeps are summed on ``raw``."""
    out, changed, missing = _contract_columns(raw.schema, data, profile)
    if restart:
        raw.rows, raw.mapped_values = 0, {}
    raw.rows += out.num_rows
    for k, v in changed.items():
        raw.mapped_values[k] = raw.mapped_values.get(k, 0) + v
    raw.missing_optional = missing
    return out, restart


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


def _utf8_valid(path: Path) -> bool:
    """Whether the whole file is valid UTF-8, checked by Arrow's validator (no Python string is built).

    The file is cut after a line end (0x0A never occurs inside a multi-byte character), so no character is
    split between two pieces. Only the answer "valid" is used: an invalid file is decoded by Python's strict
    decoder to find the byte offset of the error (:func:`_first_undecodable`).
    """
    carry = b""
    with path.open("rb") as f:
        while True:
            chunk = f.read(_CHUNK)
            if not chunk:
                piece, carry = carry, b""
            else:
                cut = chunk.rfind(b"\n")
                if cut < 0:
                    carry += chunk
                    continue
                piece, carry = carry + chunk[:cut + 1], chunk[cut + 1:]
            if piece and not piece.isascii():
                arr = pa.Array.from_buffers(pa.binary(), 1, [None, pa.py_buffer(
                    np.array([0, len(piece)], dtype=np.int32).tobytes()), pa.py_buffer(piece)])
                try:
                    arr.cast(pa.string())
                except pa.ArrowInvalid:
                    return False
            if not chunk:
                return True


def _first_undecodable(path: Path, encoding: str) -> tuple[int, int] | None:
    """(byte offset, byte) of the first byte that does not decode, or None."""
    if encoding.startswith("utf-8") and _utf8_valid(path):
        return None
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


def _csv_preamble(path: Path, schema: Table, profile: Profile):
    """The whole-file checks before a CSV is read (read whole or streamed): encoding, header mapped to the
    contract's names, the byte scan (NUL, line count, hash). Returns (encoding, names, mapped, scan, the
    encoding's name for Arrow)."""
    encoding = detect_encoding(path)
    with path.open("r", encoding=encoding, newline="") as f:
        try:
            header = next(csv.reader(f))
        except StopIteration:
            raise FatalLoadError(str(path), "空文件（没有表头）") from None
        except csv.Error as exc:
            raise FatalLoadError(str(path), f"表头无法解析：{_one_line(exc)}") from exc
    names, mapped = _contract_header(path, [h.strip().lstrip("\ufeff") for h in header], schema, profile)
    scan = _scan(path)
    if scan.nul_offset is not None:
        raise FatalLoadError(str(path), f"不是文本文件：第 {scan.nul_offset} 字节处（第 {scan.nul_line} 行）为 "
                             "0x00（二进制数据）")
    arrow_encoding = "utf8" if encoding.startswith("utf-8") else encoding
    return encoding, names, mapped, scan, arrow_encoding


def _read_csv(path: Path, schema: Table, profile: Profile) -> RawTable:
    encoding, names, mapped, scan, arrow_encoding = _csv_preamble(path, schema, profile)
    shape_errors: list[ShapeError] = []

    def on_bad(row) -> str:
        line = row.number
        shape_errors.append(ShapeError(None if line is None else line - 1, row.text,
                                       row.expected_columns, row.actual_columns, line=line))
        return "skip"

    data = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(encoding=arrow_encoding, use_threads=True, column_names=names,
                                       skip_rows=1, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_bad, newlines_in_values=False),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                             strings_can_be_null=False, quoted_strings_can_be_null=False),
    )
    if not shape_errors and data.num_rows == scan.records:
        # the common case: one record per non-blank line, checked against the file's own line count
        rows = np.arange(1, data.num_rows + 1, dtype=np.int64)
        return _finish(path, schema, data.append_column(ROW, pa.array(rows, pa.int64())), encoding, [], names,
                       scan.sha256, profile=profile, mapped=mapped)
    # rare: a bad row, a value holding a line break, or an unclosed quote that swallowed lines
    data, shape_errors = _read_csv_by_lines(path, schema, names, arrow_encoding, encoding)
    return _finish(path, schema, data, encoding, shape_errors, names, scan.sha256, profile=profile, mapped=mapped)


def _stream_csv(path: Path, schema: Table, profile: Profile) -> tuple[RawTable, Batches]:
    """:func:`_read_csv` by blocks of the file (Arrow's streaming reader), same checks, same rows."""
    encoding, names, mapped, scan, arrow_encoding = _csv_preamble(path, schema, profile)
    ignored = [n for n in names if n not in schema.column_names and n and PART not in n]
    raw = RawTable(schema, path, None, encoding, scan.sha256, ignored, [], [], [], mapped or {}, {}, {})

    def batches() -> Batches:
        bad: list[int] = []

        def on_bad(row) -> str:
            bad.append(1)
            return "skip"

        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(encoding=arrow_encoding, use_threads=True, column_names=names,
                                           skip_rows=1, block_size=STREAM_BLOCK),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_bad, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
        n = 0
        for batch in reader:
            if bad or n + batch.num_rows > scan.records:
                break  # not one record per line: the careful path below reads the file again
            t = pa.Table.from_batches([batch])
            rows = np.arange(n + 1, n + t.num_rows + 1, dtype=np.int64)
            n += t.num_rows
            yield _emit(raw, t.append_column(ROW, pa.array(rows, pa.int64())), profile, False)
        else:
            if not bad and n == scan.records:  # the common case, checked against the file's own line count
                if n == 0:
                    empty = pa.table({**{c: pa.array([], pa.string()) for c in names}, ROW: pa.array([], pa.int64())})
                    yield _emit(raw, empty, profile, False)
                return
        reader.close()
        # rare: a bad row, a value holding a line break, or an unclosed quote that swallowed lines (whole file)
        data, raw.shape_errors = _read_csv_by_lines(path, schema, names, arrow_encoding, encoding)
        yield _emit(raw, data, profile, True)

    return raw, batches()


def _stream_parquet(path: Path, schema: Table, profile: Profile) -> tuple[RawTable, Batches]:
    """:func:`_read_parquet` by row groups' batches."""
    broken = "无法读取 Parquet 文件（可能已截断或损坏）："
    try:
        pf = pq.ParquetFile(path)
        arrow_schema = pf.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise FatalLoadError(str(path), f"{broken}{_one_line(exc)}") from exc
    names, mapped = _contract_header(path, [n.strip() for n in arrow_schema.names], schema, profile)
    for n, f in zip(names, arrow_schema):
        if n in schema.column_names:
            _check_parquet_type(path, schema.column(n), f.type)
    ignored = [n for n in names if n not in schema.column_names and n and PART not in n]
    raw = RawTable(schema, path, None, "parquet", _sha256(path), ignored, [], [], [], mapped or {}, {}, {})

    def batches() -> Batches:
        n = 0
        try:
            for batch in pf.iter_batches(batch_size=max(STREAM_BLOCK >> 7, 1024)):
                data = pa.Table.from_batches([batch])
                for k, v in _numeric_code_columns(schema, names, data).items():
                    raw.numeric_code_cells[k] = raw.numeric_code_cells.get(k, 0) + v
                text = pa.table([_arrow_to_text(col) for col in data.columns], names=names)
                rows = np.arange(n + 1, n + text.num_rows + 1, dtype=np.int64)
                n += text.num_rows
                yield _emit(raw, text.append_column(ROW, pa.array(rows, pa.int64())), profile, False)
        except (pa.ArrowException, OSError) as exc:
            raise FatalLoadError(str(path), f"{broken}{_one_line(exc)}") from exc
        if n == 0:
            empty = pa.table({**{c: pa.array([], pa.string()) for c in names}, ROW: pa.array([], pa.int64())})
            yield _emit(raw, empty, profile, False)

    return raw, batches()


@dataclass
class _Scan:
    records: int  # non-blank lines after the header: the rows a file without line breaks in values holds
    sha256: str
    nul_offset: int | None = None
    nul_line: int | None = None


def _scan(path: Path) -> _Scan:
    """One pass over the bytes, by chunks: non-blank lines, the first NUL byte, the sha256.

    A blank line (nothing, or only ``\r``) is skipped by the CSV parser; every other line is a row,
    unless a quoted value holds a line break. (0x0A and 0x00 never occur inside a multi-byte UTF-8 or
    GB18030 character, so counting bytes is exact for every accepted encoding.) Counting runs at memory
    speed (numpy over each chunk's bytes).
    """
    h = hashlib.sha256()
    lines = blank = 0
    tail = b""  # the last two bytes of the previous chunk
    pending = False  # a non-blank line has begun since the last line end
    nul = nul_line = None
    offset = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            if nul is None and (i := chunk.find(b"\x00")) >= 0:
                nul, nul_line = offset + i, lines + chunk.count(b"\n", 0, i) + 1  # (before this chunk's lines)
            head = tail + chunk
            a = np.frombuffer(head, dtype=np.uint8)
            nl = a == 10
            t = len(tail)  # count what ends in this chunk only
            lines += int(np.count_nonzero(nl[t:]))
            blank += int(np.count_nonzero(nl[max(t - 1, 0):-1] & nl[max(t, 1):]))  # "\n\n"
            if b"\r" in head:  # "\n\r\n"
                blank += int(np.count_nonzero(nl[max(t - 2, 0):-2] & (a[max(t - 1, 1):-1] == 13) & nl[max(t, 2):]))
            r = chunk.rfind(b"\n")
            pending = bool(chunk[r + 1:].strip(b"\r")) if r >= 0 else (pending or bool(chunk.strip(b"\r")))
            tail = head[-2:]
            offset += len(chunk)
    if pending:
        lines += 1  # a last line without a line end
    return _Scan(max(lines - blank - 1, 0), h.hexdigest(), nul, nul_line)


_LINE = "\x00line"  # the physical line number put in front of every line on the careful path


def _read_csv_by_lines(path: Path, schema: Table, names: list[str], arrow_encoding: str,
                       encoding: str) -> tuple[pa.Table, list[ShapeError]]:
    """Parse with each line's number in front, so every record knows the lines it spans.

    A record spanning several lines is a value with a line break — allowed in free text only — or an
    unclosed quote that swallowed the lines after it: then the line holding the quote is quarantined
    alone (``UNCLOSED_QUOTE``, with its line number) and the file is parsed again from the next line.
    At the end every line of the file is a row, a quarantined row, or blank; otherwise the file is refused.
    """
    buf = path.read_bytes()
    a = np.frombuffer(buf, dtype=np.uint8)
    cr = np.flatnonzero(a == 13)
    bare = cr[(cr + 1 >= len(a)) | (a[np.minimum(cr + 1, len(a) - 1)] != 10)]
    if bare.size and not np.any(a == 10):  # lines end in CR alone (the old Mac format): count those
        buf = buf.replace(b"\r", b"\n")
        a = np.frombuffer(buf, dtype=np.uint8)
    elif bare.size:  # the parser ends a line at a lone CR too: mixed with LF, lines could not be checked
        raise FatalLoadError(str(path), f"第 {int(bare[0])} 字节处是单独的回车符（CR），其他行以 LF 结尾：无法核对行数，"
                                        "请另存为 CRLF 或 LF 换行的 CSV")
    nl = np.flatnonzero(a == 10)
    starts = np.concatenate(([0], nl + 1)).astype(np.int64)
    if starts[-1] == len(buf):
        starts = starts[:-1]
    ends = np.concatenate((starts[1:], [len(buf)])).astype(np.int64)
    content = ends - starts - (a[np.maximum(ends - 1, 0)] == 10)
    content = content - ((content > 0) & (a[np.maximum(starts + content - 1, 0)] == 13))
    blank = content <= 0
    n_lines = len(starts)
    offsets = np.concatenate((starts, [len(buf)])).astype(np.int64)
    lines = pa.LargeBinaryArray.from_buffers(pa.large_binary(), n_lines, [None, pa.py_buffer(offsets), pa.py_buffer(buf)])
    number = pc.cast(pa.array(np.arange(1, n_lines + 1, dtype=np.int64)), pa.string())
    prefix = pc.if_else(pa.array(blank), pa.scalar("", pa.string()),
                        pc.binary_join_element_wise(number, pa.scalar(","), pa.scalar("")))
    numbered = pc.binary_join_element_wise(pc.cast(prefix, pa.large_binary()), lines, pa.scalar(b"", pa.large_binary()))
    free = [n for n in names if n in schema.column_names and schema.column(n).free_text]
    others = [n for n in names if n not in free]
    swallowed = "\n[^\n]*" + "(,[^\n]*)" * max(len(names) - 1, 1)  # a whole row inside a value
    pieces: list[pa.Table] = []
    errors: list[ShapeError] = []
    first = 1  # index of the first data line still to parse (line 0 is the header)
    for _ in range(CSV_MAX_UNCLOSED_QUOTES + 1):
        part = numbered.slice(first)
        if len(part) == 0:
            break
        o = np.frombuffer(part.buffers()[1], dtype=np.int64)[part.offset:part.offset + len(part) + 1]
        body = part.buffers()[2][int(o[0]):int(o[-1])]
        t, errs = _parse_numbered(body, names, arrow_encoding)
        line = pc.cast(t.column(_LINE), pa.int64())
        span = pa.array(np.ones(t.num_rows, dtype=np.int64))
        bad_here = pa.array(np.zeros(t.num_rows, dtype=bool))
        cols = {}
        for n in names:
            col = t.column(n)
            if pc.any(pc.match_substring(col, "\n")).as_py():
                col = pc.replace_substring_regex(col, "\n[0-9]+,", "\n")
                k = pc.count_substring(col, "\n")
                span = pc.add(span, pc.cast(k, pa.int64()))
                broken = pc.greater(k, 0) if n in others else pc.match_substring_regex(col, swallowed)
                bad_here = pc.or_(bad_here, broken)
            cols[n] = col
        t = pa.table({**{n: cols[n] for n in names}, _LINE: line})
        cut = None  # physical line of the first unclosed quote in this part
        bad_lines = pc.filter(line, pc.fill_null(bad_here, False))
        if len(bad_lines):
            cut = int(pc.min(bad_lines).as_py())
        for e in errs:
            if e.lines > 1 and (cut is None or e.line < cut):
                cut = e.line
        if cut is None:
            pieces.append(t.append_column("_span", span))
            errors += errs
            break
        keep = pc.less(line, cut)
        pieces.append(t.filter(keep).append_column("_span", pc.filter(span, keep)))
        errors += [e for e in errs if e.line < cut]
        i = cut - 1
        text = buf[starts[i]:starts[i] + max(int(content[i]), 0)].decode(encoding, errors="replace")
        errors.append(ShapeError(cut - 1, text, len(names), 0, code="UNCLOSED_QUOTE", line=cut, lines=1))
        first = cut  # parse again from the line after the quote
    else:
        raise FatalLoadError(str(path), f"超过 {CSV_MAX_UNCLOSED_QUOTES} 行有未闭合的引号，文件不是按 CSV 规则加引号的"
                                        "（单元格内的双引号应写成两个双引号 \"\"）")
    data = pa.concat_tables(pieces) if pieces else pa.table({**{n: pa.array([], pa.string()) for n in names},
                                                             _LINE: pa.array([], pa.int64()),
                                                             "_span": pa.array([], pa.int64())})
    _check_lines(path, data.column(_LINE), data.column("_span"), errors, blank)
    rows = pc.subtract(data.column(_LINE), 1)
    data = data.drop_columns([_LINE, "_span"]).append_column(ROW, rows)
    errors.sort(key=lambda e: e.line)
    return data, errors


def _parse_numbered(body, names: list[str], arrow_encoding: str) -> tuple[pa.Table, list[ShapeError]]:
    errs: list[ShapeError] = []

    def on_bad(row) -> str:
        number, _, text = row.text.partition(",")
        if not number.isdigit():  # pragma: no cover - every non-blank line carries its number
            raise FatalLoadError("", "无法核对行号")
        text = re.sub("\n[0-9]+,", "\n", text)
        line = int(number)
        errs.append(ShapeError(line - 1, text, row.expected_columns - 1, row.actual_columns - 1, line=line,
                               lines=1 + text.count("\n")))
        return "skip"

    t = pacsv.read_csv(
        pa.BufferReader(body),
        read_options=pacsv.ReadOptions(encoding=arrow_encoding, use_threads=True, column_names=[_LINE, *names],
                                       block_size=1 << 24),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_bad, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in [_LINE, *names]},
                                             strings_can_be_null=False, quoted_strings_can_be_null=False),
    )
    return t, errs


def _ints(col: pa.ChunkedArray) -> np.ndarray:
    return np.concatenate([c.to_numpy(zero_copy_only=False) for c in col.chunks] or [np.zeros(0)]).astype(np.int64)


def _check_lines(path: Path, line: pa.ChunkedArray, span: pa.ChunkedArray, errors: list[ShapeError],
                 blank: np.ndarray) -> None:
    """Every non-blank data line is covered by exactly one row or quarantined line — or the file is refused."""
    n = len(blank)
    starts = np.concatenate([_ints(line), np.array([e.line for e in errors], dtype=np.int64)]) - 1
    spans = np.concatenate([_ints(span), np.array([e.lines for e in errors], dtype=np.int64)])
    cover = np.zeros(n + 1, dtype=np.int64)
    np.add.at(cover, starts, 1)
    np.add.at(cover, np.minimum(starts + spans, n), -1)
    cover = np.cumsum(cover)[:n]
    cover[0] = 1  # the header
    wrong = np.flatnonzero((cover > 1) | ((cover == 0) & ~blank))
    if wrong.size:
        raise FatalLoadError(str(path), f"行数核对不符：文件第 {int(wrong[0]) + 1} 行既不是数据行也不是隔离行"
                                        f"（共 {int(wrong.size):,} 行），文件未装载")


# --------------------------------------------------------------------------- Parquet

def _read_parquet(path: Path, schema: Table, profile: Profile) -> RawTable:
    try:
        data = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise FatalLoadError(str(path), f"无法读取 Parquet 文件（可能已截断或损坏）：{_one_line(exc)}") from exc
    names, mapped = _contract_header(path, [n.strip() for n in data.column_names], schema, profile)
    numeric = _numeric_code_columns(schema, names, data)
    for n, col in zip(names, data.columns):
        if n in schema.column_names:
            _check_parquet_type(path, schema.column(n), col.type)
    cols = [_arrow_to_text(col) for col in data.columns]
    text = pa.table(cols, names=names)
    text = text.append_column(ROW, pa.array(np.arange(1, text.num_rows + 1, dtype=np.int64)))
    return _finish(path, schema, text, "parquet", [], names, profile=profile, mapped=mapped, numeric=numeric)


def _check_parquet_type(path: Path, c, t: pa.DataType) -> None:
    """Refuse a column whose Parquet type cannot hold the contract's text: nested data outside a list column
    (a list in a name column used to become blank), or a floating-point code (an 18-digit id number as a
    double has lost its last digits)."""
    nested = pa.types.is_nested(t) or pa.types.is_dictionary(t) and pa.types.is_nested(t.value_type)
    if nested and not (c.is_list and (pa.types.is_list(t) or pa.types.is_large_list(t))):
        raise FatalLoadError(str(path), f"列 {c.name}（{c.zh}）是 Parquet 嵌套类型 {t}，"
                             f"合同要求{'编码' if c.is_code else '文本或数值'}"
                                        "（只有诊断、手术等列表列可为 list）")
    if c.is_code and (pa.types.is_floating(t) or pa.types.is_decimal(t)):
        raise FatalLoadError(str(path), f"列 {c.name}（{c.zh}）是 Parquet 数值类型 {t}：编码必须存为文本"
                                        "（超过 15 位的数字已丢失末位，前导零已丢失）")


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

def _check_zip(path: Path) -> None:
    """Refuse a workbook whose members declare more than XLSX_MAX_UNPACKED_BYTES unpacked, before opening it.

    (Python's zipfile never inflates a member past its declared size: the check cannot be lied to.)
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            total = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise FatalLoadError(str(path), f"无法读取 Excel 文件（不是有效的 .xlsx）：{_one_line(exc)}") from exc
    if total > XLSX_MAX_UNPACKED_BYTES:
        raise FatalLoadError(str(path), f"Excel 文件解压后为 {total / 2**20:,.0f} MiB，超过上限 "
                                        f"{XLSX_MAX_UNPACKED_BYTES / 2**20:,.0f} MiB（可能是压缩炸弹；大表请用 CSV 或 Parquet）")


def _read_xlsx(path: Path, schema: Table, profile: Profile) -> RawTable:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    _check_zip(path)
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, OSError, KeyError) as exc:
        raise FatalLoadError(str(path), f"无法读取 Excel 文件（不是有效的 .xlsx）：{_one_line(exc)}") from exc
    issues: list[CellIssue] = []
    try:
        ws = wb.worksheets[0]
        # read-only mode trusts the sheet's <dimension> tag, which writers leave stale (A1:A1 over 200
        # rows loaded 0 of them): forget it and read every row the sheet holds
        ws.reset_dimensions()
        rows, header_row, header = _xlsx_header(ws.iter_rows(values_only=True), schema, profile)
        if header is None:
            raise FatalLoadError(str(path), "第一个工作表为空（没有表头）")
        names = [("" if h is None else str(h)).strip() for h in header]
        while names and names[-1] == "":
            names.pop()
        names, mapped = _contract_header(path, names, schema, profile)
        width = len(names)
        codes = [i for i, n in enumerate(names) if n.split(PART)[0] in schema.column_names
                 and is_code_column(schema.column(n.split(PART)[0]))]
        numeric_at = [0] * width
        columns: list[list[str]] = [[] for _ in names]
        numbers: list[int] = []
        for sheet_row, values in enumerate(rows, start=header_row + 1):  # openpyxl is cell-by-cell; .xlsx are small
            cells = [_cell_text(v) for v in values[:width]]
            if not any(cells):
                continue  # empty rows Excel keeps
            cells += [""] * (width - len(cells))
            for i, c in enumerate(cells):
                columns[i].append(c)
            numbers.append(sheet_row - header_row)
            for i in codes:  # a code typed as a number in Excel: its leading zeros are gone
                v = values[i] if i < len(values) else None
                if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool):
                    numeric_at[i] += 1
                    issues.append(CellIssue(sheet_row - header_row, names[i].split(PART)[0], "NUMERIC_CODE_CELL",
                                            cells[i]))
    finally:
        wb.close()
    text = pa.table([pa.array(c, pa.string()) for c in columns], names=names)
    text = text.append_column(ROW, pa.array(np.asarray(numbers, dtype=np.int64), pa.int64()))
    numeric = {names[i].split(PART)[0]: n for i, n in enumerate(numeric_at) if n}
    raw = _finish(path, schema, text, "xlsx", [], names, cell_issues=issues, profile=profile, mapped=mapped,
                  numeric=numeric)
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


def _contract_columns(schema: Table, data: pa.Table,
                      profile: Profile | None) -> tuple[pa.Table, dict[str, int], list[str]]:
    """The contract's columns (absent ones blank) + ``_row``, the profile applied; (table, changed, missing)."""
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
    return pa.table(cols + [data.column(ROW)], names=schema.column_names + [ROW]), changed, missing


def _finish(path: Path, schema: Table, data: pa.Table, encoding: str,
            shape_errors: list[ShapeError], names: list[str], sha256: str | None = None,
            cell_issues: list[CellIssue] | None = None, profile: Profile | None = None,
            mapped: dict[str, str] | None = None, numeric: dict[str, int] | None = None) -> RawTable:
    out, changed, missing = _contract_columns(schema, data, profile)
    ignored = [n for n in names if n not in schema.column_names and n and PART not in n]
    return RawTable(schema, path, out, encoding, sha256 or _sha256(path), ignored, missing, shape_errors,
                    cell_issues or [], mapped or {}, changed, numeric or {})


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
