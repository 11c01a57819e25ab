"""Validation: from original text to typed rows and quarantined rows, in set-based SQL.

For a table read by :mod:`yibao.contract.readers`, :func:`validate` builds one DuckDB query from
the table's schema (:mod:`yibao.contract.schema`): every column is checked and typed at once,
every failed check becomes an *issue* ``{code, msg}`` (reason code + Chinese message naming the
column and the evidence), then duplicate keys and unknown references are added. Rows with no
issue are accepted; every other row goes to the quarantine with its original text.
Nothing is dropped: ``read = accepted + quarantined`` is asserted for every table.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from yibao.contract.readers import ROW, RawTable
from yibao.contract.reasons import REASONS
from yibao.contract.schema import (
    CELL_MAX_CHARS,
    CODE_MAX_LENGTH,
    CODE_PATTERN,
    CONTROL_PATTERN,
    DATE_MAX,
    DATE_MIN,
    FORMATS,
    ICD9_PATTERN,
    ICD10_PATTERN,
    ICD10_PREFIX_PATTERN,
    INVISIBLE_CHARS,
    MONEY_PRECISION,
    NATIONAL_FORMAT_MIN_SHARE,
    QUANTITY_PRECISION,
    RATIO_PRECISION,
    Column,
    Table,
)

QUARANTINE_COLUMNS = (
    ("load_id", "BIGINT"),
    ("table_name", "VARCHAR"),
    ("source_file", "VARCHAR"),
    ("source_sha256", "VARCHAR"),
    ("source_row", "BIGINT"),
    ("reason_code", "VARCHAR"),
    ("reason_codes", "VARCHAR[]"),
    ("message", "VARCHAR"),
    ("original", "VARCHAR"),
)


@dataclass(frozen=True)
class Validated:
    """Where a validated table's rows went: temp tables in the connection, and the counts."""

    table: str
    accepted_relation: str
    quarantine_relation: str
    read: int
    accepted: int
    quarantined: int
    notes: tuple[str, ...] = ()  # e.g. a national code format not enforced because the file's codes are local


def q(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    """An SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _v(c: Column) -> str:
    return q(f"v:{c.name}")


def _label(c: Column) -> str:
    return f"{c.zh}（{c.name}）"


def _issue(code: str, msg_sql: str) -> str:
    return f"{{'code': {lit(code)}, 'msg': {msg_sql}}}"


def _shown(c: Column) -> str:
    """The cell as a message shows it: personal information masked (first 6 and last 4 characters kept)."""
    v = _v(c)
    if not c.personal:
        return v
    return (f"(CASE WHEN length({v}) > 10 THEN left({v}, 6) || repeat('*', length({v}) - 10) || right({v}, 4) "
            f"ELSE repeat('*', length({v})) END)")


def _value_msg(c: Column, code: str, extra: str = "") -> str:
    """Chinese message: 列名（column）「value」：reason[extra]."""
    tail = REASONS[code] + extra
    return f"{lit(_label(c) + '「')} || {_shown(c)} || {lit('」：' + tail)}"


def _expr_msg(c: Column, code: str, extra_sql: str | None = None, with_value: bool = True) -> str:
    """A ready-made message expression (marked with a leading NUL for :func:`column_checks`)."""
    head = f"{lit(_label(c) + '「')} || {_shown(c)} || {lit('」：' + REASONS[code])}" if with_value \
        else lit(_label(c) + '：' + REASONS[code])
    return "\x00" + (f"{head} || {extra_sql}" if extra_sql else head)


_INVISIBLE = "[" + INVISIBLE_CHARS + "]"


def _code_checks(c: Column, enforced: frozenset[str]) -> tuple[str, list[tuple[str, str, str]]]:
    """(valid, checks) of a code: the safe character set, then its national format where enforced."""
    v = _v(c)
    safe = f"(regexp_full_match({v}, {lit(CODE_PATTERN)}) AND NOT contains({v}, '..'))"
    point = f"'（U+' || printf('%04X', unicode(regexp_extract({v}, {lit(_INVISIBLE)}))) || '）'"
    checks = [(f"regexp_matches({v}, {lit(_INVISIBLE)})", "INVISIBLE_CHAR", _expr_msg(c, "INVISIBLE_CHAR", point)),
              (f"NOT {safe}", "UNSAFE_CODE", "")]
    valid = safe
    fmt = FORMATS.get(c.format) if c.format else None
    if fmt is not None and fmt.name == "id_number":
        shaped = f"regexp_full_match({v}, {lit(fmt.pattern)})"
        check = fmt.check.format(v=v)
        sci = f"regexp_full_match({v}, '[0-9]+(\\.[0-9]*)?[eE][+-]?[0-9]+|[0-9]{{15,}}\\.[0-9]*')"
        checks.insert(0, (sci, "BAD_ID_NUMBER", "（科学计数法或小数：被表格软件按数字保存过，末几位已丢失）"))
        checks.append(("TRUE", "BAD_ID_NUMBER", "（第 18 位校验码不符）"))
        valid = f"({safe} AND (NOT {shaped} OR coalesce({check}, FALSE)))"
    elif fmt is not None and (not fmt.majority or c.name in enforced):
        valid = f"({safe} AND regexp_full_match({v}, {lit(fmt.pattern)}))"
        checks.append(("TRUE", "BAD_CODE_FORMAT", f"（{fmt.zh}应为 {fmt.pattern.strip('^$')}）"))
    return valid, checks


def _text_checks(c: Column) -> tuple[str, list[tuple[str, str, str]]]:
    """(valid, checks) of a text cell: not too long, no control characters."""
    v = _v(c)
    valid = f"(length({v}) <= {CELL_MAX_CHARS} AND NOT regexp_matches({v}, {lit(CONTROL_PATTERN)}))"
    checks = [(f"length({v}) > {CELL_MAX_CHARS}", "CELL_TOO_LONG",
               _expr_msg(c, "CELL_TOO_LONG", f"'（' || length({v}) || ' 个字符）'", with_value=False)),
              (f"regexp_matches({v}, {lit(CONTROL_PATTERN)})", "CONTROL_CHAR",
               _expr_msg(c, "CONTROL_CHAR",
                         f"'（第 ' || (strpos(regexp_replace({v}, {lit(CONTROL_PATTERN)}, chr(1)), chr(1))) || ' 个字符）'",
                         with_value=False))]
    return valid, checks


def _list_pattern(element: str) -> str:
    """A whole-cell regex for ``|``-separated elements (blank elements and spaces allowed)."""
    e = element.lstrip("^").rstrip("$")
    return rf"\s*({e})?\s*(\|\s*({e})?\s*)*"


def column_checks(c: Column, key: tuple[str, ...], enforced: frozenset[str] = frozenset(),
                  proven: frozenset[str] = frozenset()) -> tuple[str, str, str]:
    """(ok, typed, issue) SQL for one column.

    ``ok`` is a cheap predicate, true when the cell is acceptable (blank included when the
    column is optional); ``typed`` converts an acceptable cell; ``issue`` names the first failed
    check as ``{code, msg}`` and is evaluated only for rows where ``ok`` is false.
    """
    v = _v(c)
    checks: list[tuple[str, str, str]] = []  # (condition, code, extra text), first match wins

    kind = c.kind
    if kind == "id" or c.format == "id_number":
        valid, checks = _code_checks(c, enforced)
        valid = "TRUE" if c.name in proven else valid
        typed = v
    elif kind == "text":
        valid, checks = _text_checks(c)
        valid = "TRUE" if c.name in proven else valid
        if c.pattern:
            valid = f"({valid} AND regexp_full_match({v}, {lit(c.pattern)}))"
            checks.append(("TRUE", "BAD_FORMAT", ""))
        typed = v
    elif kind == "enum":
        valid = f"{v} IN ({', '.join(lit(x) for x in c.values)})"
        typed = v
        checks.append(("TRUE", "BAD_ENUM", f"（允许：{'、'.join(c.values)}）"))
    elif kind == "date":
        shaped = f"(regexp_full_match({v}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') AND TRY_CAST({v} AS DATE) IS NOT NULL)"
        valid = (f"coalesce(regexp_full_match({v}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') AND "
                 f"TRY_CAST({v} AS DATE) BETWEEN DATE '{DATE_MIN}' AND DATE '{DATE_MAX}', FALSE)")
        valid = "TRUE" if c.name in proven else valid
        typed = f"CAST({v} AS DATE)"
        checks += [(shaped, "BAD_DATE_RANGE", f"（应在 {DATE_MIN} 至 {DATE_MAX} 之间；没有结束日期的请留空）"),
                   ("TRUE", "BAD_DATE", "")]
    elif kind in ("money", "quantity", "ratio"):
        places = {"money": 2, "quantity": 4, "ratio": 4}[kind]
        prec = {"money": MONEY_PRECISION, "quantity": QUANTITY_PRECISION, "ratio": RATIO_PRECISION}[kind]
        digits = prec - places
        if kind == "ratio":
            valid = f"regexp_full_match({v}, '(0(\\.[0-9]{{1,{places}}}0*)?|1(\\.0+)?)')"
        else:
            valid = f"regexp_full_match({v}, '[0-9]{{1,{digits}}}(\\.[0-9]{{1,{places}}}0*)?')"
        valid = "TRUE" if c.name in proven and kind != "ratio" else valid
        typed = f"CAST({v} AS {c.duckdb_type})"
        numeric = f"regexp_full_match({v}, '-?[0-9]+(\\.[0-9]+)?')"
        negative = f"regexp_full_match({v}, '-[0-9.]*[1-9][0-9.]*')"
        scale_bad = f"NOT regexp_full_match({v}, '-?[0-9]+(\\.[0-9]{{1,{places}}}0*)?')"
        if kind == "money":
            checks += [(f"NOT {numeric}", "MONEY_NOT_NUMERIC", ""), (negative, "MONEY_NEGATIVE", ""),
                       (scale_bad, "MONEY_TOO_MANY_DECIMALS", ""), ("TRUE", "BAD_RANGE", "")]
        else:
            upper = "（应在 0 与 1 之间）" if kind == "ratio" else ""
            checks += [(f"NOT {numeric}", "BAD_TYPE", "（应为数字）"), (negative, "BAD_RANGE", "（不能为负数）"),
                       (scale_bad, "BAD_FORMAT", f"（小数最多 {places} 位）"), ("TRUE", "BAD_RANGE", upper)]
    elif kind == "int":
        lo = -(2**31) if c.lo is None else c.lo
        hi = 2**31 - 1 if c.hi is None else c.hi
        is_int = f"regexp_full_match({v}, '-?[0-9]{{1,10}}')"
        valid = "TRUE" if c.name in proven else f"({is_int} AND TRY_CAST({v} AS BIGINT) BETWEEN {lo} AND {hi})"
        typed = f"CAST({v} AS INTEGER)"
        rng = f"（允许 {lo}–{hi}）" if c.lo is not None or c.hi is not None else ""
        checks += [(f"NOT {is_int}", "BAD_TYPE", "（应为整数）"), ("TRUE", "BAD_RANGE", rng)]
    elif kind == "flag":
        valid = f"{v} IN ('0', '1')"
        typed = f"{v} = '1'"
        checks.append(("TRUE", "BAD_ENUM", "（允许：1、0）"))
    elif kind in ("icd10", "icd9"):
        pattern = ICD10_PATTERN if kind == "icd10" else ICD9_PATTERN
        valid = f"regexp_full_match({v}, {lit(pattern)})"
        typed = v
        checks.append(("TRUE", "BAD_ICD10" if kind == "icd10" else "BAD_ICD9", ""))
    elif c.is_list:
        pattern, code = {
            "icd10_list": (ICD10_PATTERN, "BAD_ICD10"),
            "icd9_list": (ICD9_PATTERN, "BAD_ICD9"),
            "prefix_list": (ICD10_PREFIX_PATTERN, "BAD_ICD10"),
        }[kind]
        valid = f"regexp_full_match({v}, {lit(_list_pattern(pattern))})"
        elems = f"list_filter(list_transform(string_split({v}, '|'), lambda x: trim(x)), lambda x: x <> '')"
        typed = elems
        bad = f"list_filter({elems}, lambda x: NOT regexp_full_match(x, {lit(pattern)}))"
        msg = f"{lit(_label(c) + '「')} || array_to_string({bad}, '|') || {lit('」：' + REASONS[code])}"
        checks.append(("TRUE", code, "\x00" + msg))  # a ready-made message expression
    else:  # pragma: no cover - schema.KINDS is closed
        raise AssertionError(kind)

    required = c.required or c.name in key
    ok = f"({v} IS NOT NULL AND {valid})" if required else f"({v} IS NULL OR {valid})"
    typed = f"CASE WHEN {v} IS NOT NULL AND {valid} THEN {typed} END" if c.is_list else typed
    whens = []
    if required:
        code = "MISSING_KEY" if c.name in key else "MISSING_REQUIRED"
        whens.append(f"WHEN {v} IS NULL THEN {_issue(code, lit(_label(c) + '为空：' + REASONS[code]))}")
    for cond, code, extra in checks:
        msg = extra[1:] if extra.startswith("\x00") else _value_msg(c, code, extra)
        whens.append(f"WHEN {cond} THEN {_issue(code, msg)}")
    issue = f"CASE {' '.join(whens)} END"
    return ok, typed, issue


def cell_check_sql(t: Table, src: str, enforced: frozenset[str] = frozenset(),
                   proven: frozenset[str] = frozenset()) -> str:
    """Per-row SQL over the text table ``src``: ``_row``, every column typed, ``_issues``.

    ``_issues`` is NULL when every cell is acceptable, else the list of ``{code, msg}``. The
    common path is cheap: one predicate per cell; messages are built only for failing rows.
    ``enforced``: columns whose majority national format (:data:`schema.FORMATS`) is checked;
    ``proven``: code and text columns whose every cell :func:`proven_columns` already checked on its bytes.
    """
    vcols = ", ".join(f"NULLIF(trim({q(c.name)}), '') AS {_v(c)}" for c in t.columns)
    oks, typed_cols, issues = [], [], []
    for c in t.columns:
        ok, typed, issue = column_checks(c, t.key, enforced, proven)
        oks.append(f"{ok} AS {q('ok:' + c.name)}")
        typed_cols.append(f"CASE WHEN {q('ok:' + c.name)} THEN {typed} END AS {q(c.name)}")
        issues.append(f"CASE WHEN NOT {q('ok:' + c.name)} THEN {issue} END")
    all_ok = " AND ".join(q("ok:" + c.name) for c in t.columns)
    vnames = ", ".join(_v(c) for c in t.columns)
    return f"""
        WITH v AS (SELECT {ROW}, {vcols} FROM {src}),
             o AS MATERIALIZED (SELECT {ROW}, {vnames}, {', '.join(oks)} FROM v)
        SELECT {ROW}, {', '.join(typed_cols)},
               CASE WHEN NOT ({all_ok}) THEN list_filter([{', '.join(issues)}], lambda x: x IS NOT NULL) END AS _issues
        FROM o"""


CLEAN = "_issues IS NULL"


def row_rule_sql(t: Table, chk: str) -> str | None:
    """Cross-column checks on clean rows of ``chk``: ``_row, code, msg`` (None if the table has none)."""
    parts = []
    for rc in t.row_checks:
        parts.append(f"SELECT {ROW}, {lit(rc.reason)} AS code, {lit(REASONS[rc.reason] + '：')} || {rc.detail_sql} AS msg "
                     f"FROM {chk} WHERE {CLEAN} AND coalesce({rc.violation_sql}, FALSE)")
    return " UNION ALL ".join(parts) or None


def duplicate_key_sql(t: Table, chk: str) -> str:
    """Clean rows of ``chk`` whose key appeared on an earlier row: ``_row, code, msg``."""
    keys = ", ".join(q(k) for k in t.key)
    key_text = " || ',' || ".join(f"CAST({q(k)} AS VARCHAR)" for k in t.key)
    msg = (f"{lit(REASONS['DUPLICATE_KEY'] + '：' + ','.join(t.key) + '=「')} || {key_text} || "
           f"{lit('」，首次出现于第 ')} || first_row || {lit(' 行')}")
    return f"""
        SELECT {ROW}, 'DUPLICATE_KEY' AS code, {msg} AS msg FROM (
            SELECT {ROW}, {keys}, row_number() OVER (PARTITION BY {keys} ORDER BY {ROW}) AS n,
                   min({ROW}) OVER (PARTITION BY {keys}) AS first_row
            FROM {chk}
            WHERE {CLEAN} AND ({keys}) IN (SELECT ({keys}) FROM {chk} WHERE {CLEAN} GROUP BY ALL HAVING count(*) > 1)
        ) WHERE n > 1"""


def reference_sql(t: Table, chk: str, fk, ref: str) -> str:
    """Clean rows of ``chk`` whose reference is not among the keys in relation ``ref``."""
    col = t.column(fk.columns[0])
    msg = f"{lit(_label(col) + '「')} || {q(col.name)} || {lit('」：' + REASONS[fk.reason])}"
    return (f"SELECT {ROW}, {lit(fk.reason)} AS code, {msg} AS msg FROM {chk} WHERE {CLEAN} AND {q(col.name)} IS NOT NULL "
            f"AND {q(col.name)} NOT IN (SELECT {q(fk.ref_columns[0])} FROM {ref})")


def ref_check_sql(t: Table, chk: str, rc) -> str:
    """Clean rows of ``chk`` that contradict their referenced row in the workspace table ``main.{ref_table}``
    (rows accepted earlier in the same load are in it already: the loader inserts table by table)."""
    msg = f"{lit(REASONS[rc.reason] + '：')} || {rc.detail_sql}"
    return (f"SELECT {ROW}, {lit(rc.reason)} AS code, {msg} AS msg FROM {chk} JOIN main.{rc.ref_table} AS r "
            f"ON r.{q(rc.ref_column)} = {chk}.{q(rc.column)} WHERE {CLEAN} AND coalesce({rc.violation_sql}, FALSE)")


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ? "
                            "AND NOT temporary", [name]).fetchall()[0][0])


def validate(con: duckdb.DuckDBPyConnection, raw: RawTable, refs: dict[str, str],
             load_id: int = 0, prefix: str = "stage") -> Validated:
    """Validate ``raw`` into temp tables ``{prefix}_{table}`` and ``{prefix}_q_{table}``.

    ``raw`` holds its text as an Arrow table (``data``) or, staged by the loader, in the database table
    ``raw.relation`` with its proven columns computed batch by batch (the same SQL runs on either).

    ``refs`` maps a referenced table name to an SQL relation holding its known keys (existing
    workspace rows and rows accepted earlier in the same load). A foreign key whose referenced
    table is not in ``refs`` is not checked. Cross-column rules, duplicate keys and references
    are checked on rows whose cells are all acceptable, into a small side table ``_extra``.
    """
    t = raw.schema
    if raw.data is None and raw.relation:  # staged into the database batch by batch (engine.loading)
        src, registered = raw.relation, False
        proven, conforming = raw.proven, raw.conforming
    else:
        src, registered = f"_raw_{t.name}", True
        con.register(src, raw.data)
        proven, conforming = proven_columns(raw.data, t)
    acc, qua = f"{prefix}_{t.name}", f"{prefix}_q_{t.name}"
    enforced, notes = enforced_formats(con, t, src, conforming)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _chk AS {cell_check_sql(t, src, enforced, proven)}")
    parts = [p for p in (row_rule_sql(t, "_chk"), duplicate_key_sql(t, "_chk")) if p]
    parts += [reference_sql(t, "_chk", fk, refs[fk.ref_table]) for fk in t.foreign_keys if fk.ref_table in refs]
    parts += [ref_check_sql(t, "_chk", rc) for rc in t.ref_checks
              if rc.ref_table in refs and _has_table(con, rc.ref_table)]
    if raw.cell_issues:  # found by the reader (e.g. a numeric Excel cell in a code column), on any row
        con.register("_reader", pa.table({
            ROW: pa.array([i.row for i in raw.cell_issues], pa.int64()),
            "code": pa.array([i.code for i in raw.cell_issues], pa.string()),
            "msg": pa.array([f"{_label(t.column(i.column))}「{_mask(i.text) if t.column(i.column).personal else i.text}」："
                             f"{REASONS[i.code]}" for i in raw.cell_issues], pa.string()),
        }))
        parts.append(f"SELECT {ROW}, code, msg FROM _reader")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _extra AS
                    SELECT {ROW}, {{'code': code, 'msg': msg}} AS issue FROM ({' UNION ALL '.join(parts)})""")

    names = ", ".join(q(c.name) for c in t.columns)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {acc} AS SELECT {names} FROM _chk
                    WHERE {CLEAN} AND {ROW} NOT IN (SELECT {ROW} FROM _extra)""")
    original = "to_json({" + ", ".join(f"{lit(c.name)}: {_kept(f'r.{q(c.name)}')}" for c in t.columns) + "})"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {qua} AS
        WITH ex AS (SELECT {ROW}, list(issue ORDER BY issue.code) AS issues FROM _extra GROUP BY {ROW}),
        bad AS (
            SELECT {ROW}, _issues FROM _chk WHERE NOT {CLEAN} AND {ROW} NOT IN (SELECT {ROW} FROM ex)
            UNION ALL
            SELECT ex.{ROW}, CASE WHEN c._issues IS NULL THEN ex.issues ELSE list_concat(c._issues, ex.issues) END
            FROM ex JOIN _chk AS c ON c.{ROW} = ex.{ROW}
        )
        SELECT CAST({load_id} AS BIGINT) AS load_id, {lit(t.name)} AS table_name, {lit(str(raw.path))} AS source_file,
               {lit(raw.sha256)} AS source_sha256, b.{ROW} AS source_row,
               b._issues[1].code AS reason_code, list_transform(b._issues, lambda x: x.code) AS reason_codes,
               array_to_string(list_transform(b._issues, lambda x: x.msg), '；') AS message, {original} AS original
        FROM bad AS b JOIN {src} AS r ON r.{ROW} = b.{ROW}
        ORDER BY b.{ROW}
    """)
    if raw.shape_errors:
        shape = pa.table({
            "source_row": pa.array([e.row for e in raw.shape_errors], pa.int64()),
            "code": pa.array([e.code for e in raw.shape_errors], pa.string()),
            "message": pa.array([_shape_message(e) for e in raw.shape_errors]),
            "original": pa.array([e.text for e in raw.shape_errors]),
        })
        con.register("_shape", shape)
        con.execute(f"""
            INSERT INTO {qua}
            SELECT {load_id}, {lit(t.name)}, {lit(str(raw.path))}, {lit(raw.sha256)}, source_row,
                   code, [code], message, to_json({{'_text': original}})
            FROM _shape
        """)
        con.unregister("_shape")
    con.execute("DROP TABLE _chk; DROP TABLE _extra")
    if raw.cell_issues:
        con.unregister("_reader")
    accepted = con.execute(f"SELECT count(*) FROM {acc}").fetchall()[0][0]
    quarantined = con.execute(f"SELECT count(*) FROM {qua}").fetchall()[0][0]
    if registered:
        con.unregister(src)
    if accepted + quarantined != raw.read:  # conservation: no row may vanish or appear
        raise AssertionError(f"{t.name}: read {raw.read} != accepted {accepted} + quarantined {quarantined}")
    return Validated(t.name, acc, qua, raw.read, accepted, quarantined, notes)


def _mask(text: str) -> str:
    """Personal information in a message, as :func:`_shown` masks it in SQL."""
    return text[:6] + "*" * (len(text) - 10) + text[-4:] if len(text) > 10 else "*" * len(text)


def _kept(cell: str) -> str:
    """A cell as the quarantine keeps it: an over-long cell cut to its first 1,000 characters."""
    return (f"CASE WHEN length({cell}) > {CELL_MAX_CHARS} THEN left({cell}, 1000) || '…（截断，原长 ' || length({cell}) "
            f"|| ' 个字符）' ELSE {cell} END")


def _shape_message(e) -> str:
    where = f"第 {e.row if e.row is not None else '?'} 行"
    if e.line is not None:
        where += f"（文件第 {e.line} 行{f'至第 {e.line + e.lines - 1} 行' if e.lines > 1 else ''}）"
    if e.code == "UNCLOSED_QUOTE":
        return f"{where}：{REASONS['UNCLOSED_QUOTE']}"
    return f"{where}：{REASONS['BAD_ROW_SHAPE']}（应为 {e.expected} 个，实际 {e.actual} 个）"


def _lut(chars: str | bytes) -> np.ndarray:
    lut = np.zeros(256, dtype=bool)
    lut[np.frombuffer(chars.encode() if isinstance(chars, str) else chars, dtype=np.uint8)] = True
    return lut


_SAFE_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
_CONTROL = _lut(bytes([*range(0, 9), 11, 12, *range(14, 32), 127]))


def _only(data: np.ndarray, allowed: bytes) -> bool:
    """Every byte of ``data`` is one of ``allowed`` (``bytes.translate`` runs at memory speed)."""
    return not data.tobytes().translate(None, allowed)


def _chunks(col: pa.ChunkedArray):
    """(lengths, data) of each chunk of a string column, as numpy views of its buffers."""
    for arr in col.chunks:
        if len(arr) == 0:
            continue
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset:arr.offset + len(arr) + 1]
        data = arr.buffers()[2]
        data = np.frombuffer(data, dtype=np.uint8)[offsets[0]:offsets[-1]] if data is not None else np.zeros(0, np.uint8)
        yield offsets - offsets[0], data


def _bytes_safe_code(col: pa.ChunkedArray) -> bool:
    for offsets, data in _chunks(col):
        lengths = np.diff(offsets)
        if lengths.size and lengths.max() > CODE_MAX_LENGTH or not _only(data, _SAFE_BYTES):
            return False
        if np.any(data[offsets[:-1][lengths > 0]] == 46) or b".." in data.tobytes():
            return False  # a leading '.' or a '..' (perhaps across two cells: then SQL decides)
    return True


def _bytes_fixed_format(col: pa.ChunkedArray, fixed: tuple[tuple[str, int], ...]) -> bool:
    width = sum(n for _, n in fixed)
    for offsets, data in _chunks(col):
        lengths = np.diff(offsets)
        if np.any((lengths != 0) & (lengths != width)):
            return False
        if (lengths != 0).sum() == 0:
            continue
        cells = data.reshape(-1, width)  # every non-blank cell has the width, blank cells hold no bytes
        pos = 0
        for chars, n in fixed:
            if not _only(cells[:, pos:pos + n], chars.encode()):
                return False
            pos += n
    return True


def _bytes_clean_text(col: pa.ChunkedArray) -> bool:
    for offsets, data in _chunks(col):
        if np.diff(offsets).max(initial=0) > CELL_MAX_CHARS:
            return False
        if data.size and (data.min() < 32 or b"\x7f" in data.tobytes()):  # tab or line end: look closer
            if np.bincount(data, minlength=256)[_CONTROL].any():
                return False
    return True


_DIGITS = b"0123456789"
_DATE_FIXED = ((_DIGITS.decode(), 4), ("-", 1), (_DIGITS.decode(), 2), ("-", 1), (_DIGITS.decode(), 2))


def _bytes_decimal(col: pa.ChunkedArray, digits: int, places: int) -> bool:
    """Every non-blank cell is ``[0-9]{1,digits}(\\.[0-9]{1,places})?`` (the money/quantity check, trailing zeros
    beyond ``places`` left to SQL), proven over the bytes: digits and at most one point per cell."""
    for offsets, data in _chunks(col):
        if not _only(data, _DIGITS + b"."):
            return False
        lengths = np.diff(offsets)
        dots = np.flatnonzero(data == 46)
        cell = np.searchsorted(offsets, dots, side="right") - 1
        if cell.size and np.any(np.diff(cell) == 0):
            return False  # two points in one cell
        whole = lengths.copy()  # the integer part's length
        whole[cell] = dots - offsets[cell]
        frac = lengths[cell] - whole[cell] - 1
        if np.any((lengths > 0) & ((whole < 1) | (whole > digits))) or np.any((frac < 1) | (frac > places)):
            return False
    return True


def _bytes_int(col: pa.ChunkedArray, lo: int, hi: int) -> bool:
    """Every non-blank cell is ``[0-9]{1,10}`` with its value in [lo, hi] (the int check), proven over the bytes."""
    for offsets, data in _chunks(col):
        lengths = np.diff(offsets)
        if lengths.max(initial=0) > 10 or not _only(data, _DIGITS):
            return False
    cells = pc.drop_null(pc.if_else(pc.equal(pc.utf8_length(col), 0), None, col))
    if len(cells) == 0:
        return True
    values = pc.cast(cells, pa.int64())
    return lo <= pc.min(values).as_py() and pc.max(values).as_py() <= hi


def _bytes_date(col: pa.ChunkedArray) -> bool:
    """Every non-blank cell is a real ``YYYY-MM-DD`` date within [DATE_MIN, DATE_MAX], proven column-wise."""
    if not _bytes_fixed_format(col, _DATE_FIXED):
        return False
    cells = pc.drop_null(pc.if_else(pc.equal(pc.utf8_length(col), 0), None, col))
    if len(cells) == 0:
        return True
    try:
        stamps = pc.strptime(cells, format="%Y-%m-%d", unit="s")
    except (pa.ArrowInvalid, OverflowError):  # not a date at all: SQL names it
        return False
    # the parser lets a day that does not exist through (2023-02-30): written back, it would differ
    if not pc.all(pc.equal(pc.strftime(stamps, format="%Y-%m-%d"), cells)).as_py():
        return False
    bounds = pc.min_max(cells)  # fixed-width YYYY-MM-DD: text order is date order (and year 0000 stays text)
    return bounds["min"].as_py() >= DATE_MIN and bounds["max"].as_py() <= DATE_MAX


def proven_columns(data: pa.Table, t: Table) -> tuple[frozenset[str], frozenset[str]]:
    """Columns whose cells pass the code or text checks, proven over their bytes with numpy (no regex per cell).

    Returns (proven, conforming): ``proven`` code columns are safe codes (and follow their majority national
    format, when they have one), ``proven`` text columns hold no control character and no over-long cell;
    ``conforming`` columns follow their majority national format in every non-blank cell. A column that
    fails the byte check is not wrong for that: SQL then checks it cell by cell (cells with spaces to trim,
    a ``..`` across two cells …).
    """
    proven, conforming = set(), set()
    for c in t.columns:
        if c.name not in data.column_names or not pa.types.is_string(data.schema.field(c.name).type):
            continue
        col = data.column(c.name)
        if c.kind == "id":
            fmt = FORMATS.get(c.format) if c.format else None
            if fmt is not None and fmt.majority and fmt.fixed and _bytes_fixed_format(col, fmt.fixed):
                conforming.add(c.name)
                proven.add(c.name)
            elif (fmt is None or not fmt.majority) and _bytes_safe_code(col):
                proven.add(c.name)
        elif c.kind == "text" and c.format is None and _bytes_clean_text(col):
            proven.add(c.name)
        elif c.kind in ("money", "quantity"):
            places = 2 if c.kind == "money" else 4
            prec = MONEY_PRECISION if c.kind == "money" else QUANTITY_PRECISION
            if _bytes_decimal(col, prec - places, places):
                proven.add(c.name)
        elif c.kind == "int":
            lo = -(2**31) if c.lo is None else c.lo
            hi = 2**31 - 1 if c.hi is None else c.hi
            if _bytes_int(col, lo, hi):
                proven.add(c.name)
        elif c.kind == "date" and _bytes_date(col):
            proven.add(c.name)
    return frozenset(proven), frozenset(conforming)


def enforced_formats(con: duckdb.DuckDBPyConnection, t: Table, src: str,
                     conforming: frozenset[str] = frozenset()) -> tuple[frozenset[str], tuple[str, ...]]:
    """Columns of ``src`` whose majority national format is enforced, and a note for each that is not.

    A format is enforced when at least NATIONAL_FORMAT_MIN_SHARE of the column's non-blank cells follow it
    (a real export: the odd one out is quarantined); a column of local codes is checked for the safe
    character set only, and the note says so.
    """
    cols = [c for c in t.columns if c.format and FORMATS[c.format].majority and c.name not in conforming]
    if not cols:
        return frozenset(conforming), ()
    parts = []
    for c in cols:
        x = f"NULLIF(trim({q(c.name)}), '')"
        parts.append(f"count({x})")
        parts.append(f"count_if(regexp_full_match({x}, {lit(FORMATS[c.format].pattern)}))")
    row = con.execute(f"SELECT {', '.join(parts)} FROM {src}").fetchall()[0]
    enforced, notes = set(conforming), []
    for i, c in enumerate(cols):
        total, good = row[2 * i], row[2 * i + 1]
        if total and good >= NATIONAL_FORMAT_MIN_SHARE * total:
            enforced.add(c.name)
        elif total:
            f = FORMATS[c.format]
            notes.append(f"{t.name}.{c.name}：{total - good:,} / {total:,} 个编码不是{f.zh}格式"
                         f"（{f.pattern.strip('^$')}），按本地编码装载，只校验字符集")
    return frozenset(enforced), tuple(notes)
