"""Read a ``cases`` file for grouping (病例读取), and write the grouping results.

``yibao group drg`` reads a ``cases`` table in the contract's layout, or the reduced layout of
the reference sample: only ``case_id`` is required; ``sex, age_years, newborn_age_days,
newborn_weight_g, principal_dx, secondary_dx, procedures`` and ``admit_date, discharge_date``
(the length of stay, for versions with length-of-stay rules) are read when present (an absent one
counts as blank in every row) and ``setting`` is used to skip outpatient rows; other columns are
ignored. Unlike ``yibao load``, nothing is refused here: a malformed code simply matches no rule
and the grouping status says why the case was not grouped.

Cells are read as text and typed in DuckDB: codes trimmed, lists split at ``|`` with blanks
dropped, numbers as DOUBLE (a number that does not parse counts as missing and is reported).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from yibao.contract.readers import detect_encoding
from yibao.contract.reasons import FatalLoadError
from yibao.contract.vocab import sql_str
from yibao.drg.explain import group_one
from yibao.drg.grouper import CONTRACT_COLUMNS, NAME_COLUMNS, add_names, group_table
from yibao.drg.labels import STATUS_SHORT_ZH
from yibao.engine.outdir import atomic_file
from yibao.engine.runner import query_arrow

NUMERIC = ("age_years", "newborn_age_days", "newborn_weight_g")
TEXT = ("sex", "principal_dx", "setting")
LISTS = ("secondary_dx", "procedures")
DATES = ("admit_date", "discharge_date")
USED = ("case_id", *TEXT, *NUMERIC, *LISTS, *DATES)


@dataclass
class CasesFile:
    table: pa.Table                      # typed: the columns the grouper reads
    rows: int                            # data rows read
    outpatient: int                      # rows skipped as outpatient
    absent: list[str] = field(default_factory=list)   # used columns the file lacks
    unparsed: dict[str, int] = field(default_factory=dict)  # numeric column → cells that did not parse


def read_cases(path: Path | str) -> CasesFile:
    """The cases of ``path`` typed for the grouper (:class:`CasesFile`); a file naming a case twice is refused.

    One pass of Arrow's multi-threaded CSV reader (every used column as text), one DuckDB query that types
    them, and whole-column Arrow kernels for the counts (no query per column, no Python per row)."""
    cf = _read_typed(Path(path))
    dup = _duplicates(cf.table.column("case_id"))
    if dup is not None:
        raise FatalLoadError(str(path), dup)
    return cf


def _read_typed(path: Path) -> CasesFile:
    """:func:`read_cases` without the duplicate check (:func:`group_file` makes it on the sorted result)."""
    if not path.is_file():
        raise FatalLoadError(str(path), "文件不存在")
    encoding = detect_encoding(path)
    try:
        raw = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding="utf8" if encoding.startswith("utf-8") else encoding,
                                           block_size=1 << 24),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in USED},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False,
                                                 auto_dict_encode=False))
    except pa.ArrowInvalid as exc:
        raise FatalLoadError(str(path), f"无法读取 CSV：{' '.join(str(exc).split())[:300]}") from None
    names = [n.strip().lstrip("\ufeff") for n in raw.column_names]
    raw = raw.rename_columns(names)
    if "case_id" not in names:
        raise FatalLoadError(str(path), f"缺少列 case_id（表头：{','.join(names)}）")
    absent = [c for c in USED if c not in names and c != "setting"]
    present = [c for c in USED if c in names]
    raw = raw.select(present)
    padded = {c: _padded(raw.column(c)) for c in present}  # some value starts or ends with a space
    # each typed column: by Arrow where the text needs nothing but a blank → null (no copy through DuckDB),
    # otherwise a DuckDB expression over the raw text
    arrow: dict[str, pa.ChunkedArray] = {}
    sql: dict[str, str] = {}
    for c in USED:
        v = f"trim({c})" if padded.get(c) else c
        if c not in names:
            arrow[c] = pa.nulls(raw.num_rows, TYPED.field(c).type)
        elif c in NUMERIC:
            sql[c] = f"TRY_CAST(nullif({v}, '') AS DOUBLE)"
        elif c in DATES:
            sql[c] = f"TRY_CAST(nullif({v}, '') AS DATE)"
        elif c in LISTS:
            split = None if padded[c] else _plain_split(raw.column(c))
            if split is not None:
                arrow[c] = split
            else:
                sql[c] = f"list_filter(list_transform(string_split({v}, '|'), lambda x: trim(x)), lambda x: x <> '')"
        elif padded[c]:
            sql[c] = v if c in ("case_id", "setting") else f"nullif({v}, '')"
        else:
            arrow[c] = raw.column(c) if c in ("case_id", "setting") else _blank_null(raw.column(c))
    if "secondary_dx" not in names:
        arrow["secondary_dx"] = _empty_lists(raw.num_rows)
    if "procedures" not in names:
        arrow["procedures"] = _empty_lists(raw.num_rows)
    if sql:
        con = duckdb.connect()
        try:
            con.register("raw", raw)
            got = query_arrow(con, "SELECT " + ", ".join(f"{e} AS {c}" for c, e in sql.items()) + " FROM raw")
        finally:
            con.close()
        arrow |= {c: got.column(c) for c in sql}
    typed = pa.table({c: arrow[c] for c in TYPED.names}).cast(TYPED)
    unparsed = {}
    for c in (*NUMERIC, *DATES):  # typed missing = blank (after the trim) or not a number/date
        if c in names:
            n = typed.column(c).null_count - _blanks(raw.column(c), padded[c])
            if n:
                unparsed[c] = n
    outpatient = pc.sum(pc.equal(typed.column("setting"), "outpatient")).as_py() or 0 if "setting" in names else 0
    return CasesFile(typed, raw.num_rows, outpatient, absent, unparsed)


TYPED = pa.schema([
    ("case_id", pa.string()), ("setting", pa.string()), ("sex", pa.string()), ("age_years", pa.float64()),
    ("newborn_age_days", pa.float64()), ("newborn_weight_g", pa.float64()), ("principal_dx", pa.string()),
    ("secondary_dx", pa.list_(pa.string())), ("procedures", pa.list_(pa.string())),
    ("admit_date", pa.date32()), ("discharge_date", pa.date32()),
])


def _padded(text: pa.ChunkedArray) -> bool:
    """Whether some value of the text column starts or ends with a space (DuckDB's ``trim`` removes spaces
    only): when none does, ``trim`` would return every value unchanged and the query leaves it out."""
    return bool(pc.any(pc.starts_with(text, " ")).as_py() or pc.any(pc.ends_with(text, " ")).as_py())


def _blanks(text: pa.ChunkedArray, padded: bool) -> int:
    """How many values of the text column are blank (empty after the trim of spaces)."""
    if padded:
        text = pc.utf8_trim(text, characters=" ")
    return pc.sum(pc.equal(text, "")).as_py() or 0


def _blank_null(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """The text column with its empty values as nulls (``nullif(x, '')``)."""
    empty = pc.equal(text, "")
    return pc.if_else(empty, pa.scalar(None, pa.string()), text) if pc.any(empty).as_py() else text


def _empty_lists(n: int) -> pa.Array:
    """``n`` empty lists (a list column the file lacks)."""
    return pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], pa.string()))


def _plain_split(text: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """A ``|``-separated list column split by Arrow — when no value holds a space, an empty item (``||``) or
    a leading or trailing ``|``: then the items need no trim and none is blank, and the split equals the query's
    (items trimmed, blank items dropped) with an empty cell as the empty list. None when a value needs that
    cleaning (the query does it)."""
    if (_bytes_may_hold(text, b" ") or _bytes_may_hold(text, b"||")
            or pc.any(pc.starts_with(text, "|")).as_py() or pc.any(pc.ends_with(text, "|")).as_py()):
        return None
    chunks = []
    for chunk in text.chunks:
        lists = pc.split_pattern(chunk, "|")
        empty = pc.equal(chunk, "").to_numpy(zero_copy_only=False)
        if empty.any():  # an empty cell splits into one empty item: drop it
            lengths = pc.list_value_length(lists).to_numpy() - empty
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
            flat = pc.list_flatten(lists)
            lists = pa.ListArray.from_arrays(pa.array(offsets), flat.filter(pc.not_equal(flat, "")))
        chunks.append(lists)
    return pa.chunked_array(chunks, pa.list_(pa.string()))


def _bytes_may_hold(text: pa.ChunkedArray, needle: bytes) -> bool:
    """Whether the text column's character data hold ``needle`` (one or two bytes), scanned as one byte array per
    chunk — a thousand times faster than a substring search per value. It may say yes where no value holds it
    (two values side by side, bytes outside a slice): the caller then takes the exact, slower way."""
    for chunk in text.chunks:
        data = chunk.buffers()[2]
        if data is None:
            continue
        b = np.frombuffer(data, dtype=np.uint8)
        hit = b == needle[0]
        if len(needle) == 2:
            hit = hit[:-1] & (b[1:] == needle[1])
        if hit.any():
            return True
    return False


def _duplicates(case_id: pa.ChunkedArray | pa.Array) -> str | None:
    """The refusal of a file naming a case twice (the first such case id in file order, how many), or None."""
    counts = pc.value_counts(case_id)
    dup = counts.filter(pc.greater(counts.field("counts"), 1))
    if not len(dup):  # one result per case: the grouper keys its steps by case_id
        return None
    first = dup[0]["values"].as_py()
    return f"case_id 重复：{first}（共 {len(dup)} 个编号重复出现），每个病例只能有一行"


def _adjacent_equal(sorted_ids: pa.ChunkedArray | pa.Array) -> bool:
    """Whether two neighbours of a sorted column are equal (a repeated value, when sorted, has one)."""
    n = len(sorted_ids)
    return n > 1 and bool(pc.any(pc.equal(sorted_ids.slice(1), sorted_ids.slice(0, n - 1))).as_py())


def write_results(result: pa.Table, path: Path | str, columns: tuple[str, ...] = CONTRACT_COLUMNS) -> None:
    """The results as CSV (UTF-8, header row, quotes only where needed, blank where not reached);
    written to a temporary file first, so a failure never leaves half a file."""
    with atomic_file(Path(path)) as tmp:
        con = duckdb.connect()
        try:
            con.register("result", result.select(list(columns)))
            con.execute(f"COPY (SELECT * FROM result) TO {sql_str(tmp)} (FORMAT csv, HEADER true)")
        finally:
            con.close()


@dataclass
class GroupedFile:
    """What :func:`group_file` did: the cases read, the grouping result, the summary line, the explanations."""

    cases: CasesFile
    result: pa.Table
    summary: str
    explanations: list[str] = field(default_factory=list)


def group_file(cases_csv: Path | str, out_csv: Path | str, standards, *, map_codes: bool = False,
               explain: str | None = None, notify: Callable[[str], None] = lambda line: None) -> GroupedFile:
    """``yibao group drg``: read a cases CSV, group it, write the contract's columns and the names to
    ``out_csv``. ``notify`` gets the notices about the file (absent columns, numbers that did not parse, an
    ``explain`` case not in the file) as they come; ``explain``: a case id whose trail is returned too."""
    std = standards
    cf = _read_typed(Path(cases_csv))
    if map_codes or cf.outpatient:  # (the mapped or the outpatient rows are not all in the sorted result)
        dup = _duplicates(cf.table.column("case_id"))
        if dup is not None:
            raise FatalLoadError(str(cases_csv), dup)
    notices = []
    absent = [c for c in cf.absent if c not in ("admit_date", "discharge_date") or "LOS" in std.rule_variables]
    if absent:
        notices.append(f"提示：{cases_csv} 没有列 {', '.join(absent)}，按空白处理"
                       + ("（该版本按住院天数细分 DRG，需要入院、出院日期）"
                          if {"admit_date", "discharge_date"} & set(absent) else ""))
    for col, n in cf.unparsed.items():
        notices.append(f"提示：{cases_csv} 列 {col} 有 {n} 个值不是数字，按缺失处理")
    try:
        result = group_table(cf.table, std, map_codes=map_codes)
    except BaseException:
        for line in notices:
            notify(line)
        raise
    if _adjacent_equal(result.column("case_id")):  # sorted by case_id: a case named twice has a neighbour
        raise FatalLoadError(str(cases_csv), _duplicates(cf.table.column("case_id")))
    for line in notices:  # (after the duplicate check: a refused file shows the refusal alone, as it always did)
        notify(line)
    write_results(add_names(result, std), out_csv, (*CONTRACT_COLUMNS, *NAME_COLUMNS))
    counts = pc.value_counts(result.column("status"))
    counts = dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()))
    parts = [f"{STATUS_SHORT_ZH.get(s, s)}（{s}）{n:,}" for s, n in
             sorted(counts.items(), key=lambda kv: (kv[0] != "ok", -kv[1], kv[0]))]
    skipped = f"，跳过门诊 {cf.outpatient:,} 行" if cf.outpatient else ""
    summary = (f"DRG 分组：{result.num_rows:,} 例{skipped}；{'，'.join(parts) or '无病例'}；"
               f"分组标准 {Path(std.source).name} 版本 {std.short_version}；已写入 {out_csv}")
    texts = []
    if explain:
        rows = cf.table.filter(pc.equal(cf.table.column("case_id"), explain)).to_pylist()
        if not rows:
            notify(f"提示：病例 {explain} 不在 {cases_csv} 中")
        texts = [group_one(row, std, map_codes=map_codes).explain() for row in rows]
    return GroupedFile(cf, result, summary, texts)

