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
import pyarrow as pa

from yibao.contract.readers import ROW, RawTable
from yibao.contract.reasons import REASONS
from yibao.contract.schema import (
    ICD9_PATTERN, ICD10_PATTERN, ICD10_PREFIX_PATTERN, MONEY_PRECISION, QUANTITY_PRECISION,
    RATIO_PRECISION, Column, Table,
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


def _value_msg(c: Column, code: str, extra: str = "") -> str:
    """Chinese message: 列名（column）「value」：reason[extra]."""
    tail = REASONS[code] + extra
    return f"{lit(_label(c) + '「')} || {_v(c)} || {lit('」：' + tail)}"


def column_checks(c: Column, key: tuple[str, ...]) -> tuple[str, list[str]]:
    """(typed SQL expression, list of issue SQL expressions that are NULL when fine)."""
    v = _v(c)
    issues: list[str] = []
    if c.required or c.name in key:
        code = "MISSING_KEY" if c.name in key else "MISSING_REQUIRED"
        issues.append(f"CASE WHEN {v} IS NULL THEN {_issue(code, lit(_label(c) + '为空：' + REASONS[code]))} END")

    def when(cond: str, code: str, extra: str = "") -> None:
        issues.append(f"CASE WHEN {v} IS NOT NULL AND ({cond}) THEN {_issue(code, _value_msg(c, code, extra))} END")

    kind = c.kind
    if kind in ("id", "text"):
        typed = v
        if c.pattern:
            when(f"NOT regexp_full_match({v}, {lit(c.pattern)})", "BAD_FORMAT")
    elif kind == "enum":
        typed = v
        allowed = ", ".join(lit(x) for x in c.values)
        when(f"{v} NOT IN ({allowed})", "BAD_ENUM", f"（允许：{'、'.join(c.values)}）")
    elif kind == "date":
        ok = f"(regexp_full_match({v}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') AND try_strptime({v}, '%Y-%m-%d') IS NOT NULL)"
        typed = f"CASE WHEN {ok} THEN CAST({v} AS DATE) END"
        when(f"NOT {ok}", "BAD_DATE")
    elif kind in ("money", "quantity", "ratio"):
        places = {"money": 2, "quantity": 4, "ratio": 4}[kind]
        prec = {"money": MONEY_PRECISION, "quantity": QUANTITY_PRECISION, "ratio": RATIO_PRECISION}[kind]
        numeric = f"regexp_full_match({v}, '-?[0-9]+(\\.[0-9]+)?')"
        too_big = f"length(split_part(ltrim({v}, '-'), '.', 1)) > {prec - places}"
        negative = f"(starts_with({v}, '-') AND regexp_full_match({v}, '-[0-9.]*[1-9][0-9.]*'))"
        scale_ok = f"regexp_full_match({v}, '-?[0-9]+(\\.[0-9]{{1,{places}}}0*)?')"
        over_one = f"TRY_CAST({v} AS DECIMAL(38,10)) > 1" if kind == "ratio" else "FALSE"
        if kind == "money":
            when(f"NOT {numeric}", "MONEY_NOT_NUMERIC")
            when(f"{numeric} AND {negative}", "MONEY_NEGATIVE")
            when(f"{numeric} AND NOT {negative} AND NOT {scale_ok}", "MONEY_TOO_MANY_DECIMALS")
            when(f"{numeric} AND NOT {negative} AND {scale_ok} AND {too_big}", "BAD_RANGE")
        else:
            when(f"NOT {numeric}", "BAD_TYPE", "（应为数字）")
            when(f"{numeric} AND {negative}", "BAD_RANGE", "（不能为负数）")
            when(f"{numeric} AND NOT {negative} AND NOT {scale_ok}", "BAD_FORMAT", f"（小数最多 {places} 位）")
            when(f"{numeric} AND NOT {negative} AND {scale_ok} AND ({too_big} OR {over_one})", "BAD_RANGE")
        ok = f"({numeric} AND NOT {negative} AND {scale_ok} AND NOT {too_big} AND NOT ({over_one}))"
        typed = f"CASE WHEN {ok} THEN CAST({v} AS {c.duckdb_type}) END"
    elif kind == "int":
        is_int = f"regexp_full_match({v}, '-?[0-9]{{1,10}}')"
        lo = -(2**31) if c.lo is None else c.lo
        hi = 2**31 - 1 if c.hi is None else c.hi
        in_range = f"CAST({v} AS BIGINT) BETWEEN {lo} AND {hi}"
        when(f"NOT {is_int}", "BAD_TYPE", "（应为整数）")
        rng = f"（允许 {lo}–{hi}）" if c.lo is not None or c.hi is not None else ""
        when(f"{is_int} AND NOT ({in_range})", "BAD_RANGE", rng)
        typed = f"CASE WHEN {is_int} AND {in_range} THEN CAST({v} AS INTEGER) END"
    elif kind == "flag":
        when(f"{v} NOT IN ('0', '1')", "BAD_ENUM", "（允许：1、0）")
        typed = f"CASE WHEN {v} = '1' THEN TRUE WHEN {v} = '0' THEN FALSE END"
    elif kind in ("icd10", "icd9"):
        pattern = ICD10_PATTERN if kind == "icd10" else ICD9_PATTERN
        code = "BAD_ICD10" if kind == "icd10" else "BAD_ICD9"
        typed = v
        when(f"NOT regexp_full_match({v}, {lit(pattern)})", code)
    elif c.is_list:
        pattern, code = {
            "icd10_list": (ICD10_PATTERN, "BAD_ICD10"),
            "icd9_list": (ICD9_PATTERN, "BAD_ICD9"),
            "prefix_list": (ICD10_PREFIX_PATTERN, "BAD_ICD10"),
        }[kind]
        elems = f"list_filter(list_transform(string_split(coalesce({v}, ''), '|'), lambda x: trim(x)), lambda x: x <> '')"
        bad = f"list_filter({elems}, lambda x: NOT regexp_full_match(x, {lit(pattern)}))"
        msg = f"{lit(_label(c) + '「')} || array_to_string({bad}, '|') || {lit('」：' + REASONS[code])}"
        issues.append(f"CASE WHEN {v} IS NOT NULL AND len({bad}) > 0 THEN {_issue(code, msg)} END")
        typed = f"CASE WHEN len({bad}) = 0 THEN {elems} END"
    else:  # pragma: no cover - schema.KINDS is closed
        raise AssertionError(kind)
    return typed, issues


def validate(con: duckdb.DuckDBPyConnection, raw: RawTable, refs: dict[str, str],
             load_id: int = 0, prefix: str = "stage") -> Validated:
    """Validate ``raw`` into temp tables ``{prefix}_{table}`` and ``{prefix}_q_{table}``.

    ``refs`` maps a referenced table name to an SQL relation holding its known keys (existing
    workspace rows and rows accepted earlier in the same load). A foreign key whose referenced
    table is not in ``refs`` is not checked.
    """
    t = raw.schema
    src = f"_raw_{t.name}"
    con.register(src, raw.data)
    acc, qua = f"{prefix}_{t.name}", f"{prefix}_q_{t.name}"

    vcols = ", ".join(
        f"{q(c.name)} AS {q('raw:' + c.name)}, NULLIF(trim({q(c.name)}), '') AS {_v(c)}" for c in t.columns
    )
    typed_cols, issue_exprs = [], []
    for c in t.columns:
        typed, issues = column_checks(c, t.key)
        typed_cols.append(f"{typed} AS {q(c.name)}")
        issue_exprs.extend(issues)
    raw_cols = ", ".join(q("raw:" + c.name) for c in t.columns)
    issue_list = f"list_filter([{', '.join(issue_exprs)}], lambda x: x IS NOT NULL)"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _chk AS
        SELECT {ROW}, {raw_cols}, {', '.join(typed_cols)}, {issue_list} AS _issues
        FROM (SELECT {ROW}, {vcols} FROM {src})
    """)

    # cross-column checks run on rows whose own columns typed cleanly
    extra: list[str] = []
    for rc in t.row_checks:
        msg = f"{lit(REASONS[rc.reason] + '：')} || {rc.detail_sql}"
        extra.append(f"CASE WHEN len(_issues) = 0 AND coalesce({rc.violation_sql}, FALSE) THEN {_issue(rc.reason, msg)} END")
    keys = ", ".join(q(k) for k in t.key)
    key_text = " || ',' || ".join(f"CAST({q(k)} AS VARCHAR)" for k in t.key)
    part = f"PARTITION BY {keys}, len(_issues) = 0"
    dup_msg = (f"{lit(REASONS['DUPLICATE_KEY'] + '：' + ','.join(t.key) + '=「')} || {key_text} || "
               f"{lit('」，首次出现于第 ')} || min({ROW}) OVER ({part}) || {lit(' 行')}")
    extra.append(
        f"CASE WHEN len(_issues) = 0 AND row_number() OVER ({part} ORDER BY {ROW}) > 1 "
        f"THEN {_issue('DUPLICATE_KEY', dup_msg)} END"
    )
    for fk in t.foreign_keys:
        if fk.ref_table not in refs:
            continue
        col = t.column(fk.columns[0])
        cond = f"{q(col.name)} IS NOT NULL AND {q(col.name)} NOT IN (SELECT {q(fk.ref_columns[0])} FROM {refs[fk.ref_table]})"
        msg = f"{lit(_label(col) + '「')} || {q(col.name)} || {lit('」：' + REASONS[fk.reason])}"
        extra.append(f"CASE WHEN {cond} THEN {_issue(fk.reason, msg)} END")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _chk2 AS
        SELECT * EXCLUDE (_issues), list_concat(_issues, list_filter([{', '.join(extra)}], lambda x: x IS NOT NULL)) AS _issues
        FROM _chk
    """)
    names = ", ".join(q(c.name) for c in t.columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {acc} AS SELECT {names} FROM _chk2 WHERE len(_issues) = 0 ORDER BY {ROW}")
    original = "to_json({" + ", ".join(f"{lit(c.name)}: {q('raw:' + c.name)}" for c in t.columns) + "})"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {qua} AS
        SELECT CAST({load_id} AS BIGINT) AS load_id, {lit(t.name)} AS table_name, {lit(str(raw.path))} AS source_file,
               {lit(raw.sha256)} AS source_sha256, {ROW} AS source_row,
               _issues[1].code AS reason_code, list_transform(_issues, lambda x: x.code) AS reason_codes,
               array_to_string(list_transform(_issues, lambda x: x.msg), '；') AS message, {original} AS original
        FROM _chk2 WHERE len(_issues) > 0
        ORDER BY {ROW}
    """)
    if raw.shape_errors:
        shape = pa.table({
            "source_row": pa.array([e.row for e in raw.shape_errors], pa.int64()),
            "message": pa.array([
                f"第 {e.row if e.row is not None else '?'} 行：{REASONS['BAD_ROW_SHAPE']}（应为 {e.expected} 个，实际 {e.actual} 个）"
                for e in raw.shape_errors
            ]),
            "original": pa.array([e.text for e in raw.shape_errors]),
        })
        con.register("_shape", shape)
        con.execute(f"""
            INSERT INTO {qua}
            SELECT {load_id}, {lit(t.name)}, {lit(str(raw.path))}, {lit(raw.sha256)}, source_row,
                   'BAD_ROW_SHAPE', ['BAD_ROW_SHAPE'], message, to_json({{'_text': original}})
            FROM _shape
        """)
        con.unregister("_shape")
    con.execute("DROP TABLE _chk; DROP TABLE _chk2")
    con.unregister(src)
    accepted = con.execute(f"SELECT count(*) FROM {acc}").fetchone()[0]
    quarantined = con.execute(f"SELECT count(*) FROM {qua}").fetchone()[0]
    if accepted + quarantined != raw.read:  # conservation: no row may vanish or appear
        raise AssertionError(f"{t.name}: read {raw.read} != accepted {accepted} + quarantined {quarantined}")
    return Validated(t.name, acc, qua, raw.read, accepted, quarantined)
