"""The quarantine (隔离表) as a person reads it: counts by table and reason, and the export to send back.

The export (``yibao quarantine --out FILE``) holds the rows' original text. Personal data is
masked by default, in SQL over the whole table: a 身份证号 keeps its first 6 and last 4
characters with ``*`` for each one between (``110101********0066``), a name its first character
(``张**``) — the same rule as the server's auditor view. It is applied to the personal columns
(``Column.personal``) inside the original row, to the same values where a message quotes them,
to anything shaped like an id number in any message or row, and, for a row that could not be
split into columns (``BAD_ROW_SHAPE``) of a table holding personal data, to every run of Chinese
characters. ``masked=False`` (``--unmasked``) writes the clear text; the command says so.
The file is created readable by its owner only (0600).
"""

from __future__ import annotations

import os
from pathlib import Path

from yibao.contract.errors import BadOption
from yibao.contract.schema import TABLES
from yibao.contract.validate import lit
from yibao.engine.csvfile import rows_csv
from yibao.engine.workspace import Workspace

# a 15- or 18-character id number anywhere in a text
ID_PATTERN = r"([^0-9]|^)([0-9]{6})[0-9]{5,8}([0-9]{3}[0-9Xx])([^0-9A-Za-z]|$)"


def mask_id_sql(x: str) -> str:
    return (f"CASE WHEN {x} IS NULL OR {x} = '' THEN {x} WHEN length({x}) > 10 "
            f"THEN left({x}, 6) || repeat('*', length({x}) - 10) || right({x}, 4) ELSE repeat('*', length({x})) END")


def mask_name_sql(x: str) -> str:
    return f"CASE WHEN {x} IS NULL OR {x} = '' THEN {x} ELSE left({x}, 1) || repeat('*', length({x}) - 1) END"


def _mask_ids_in(x: str) -> str:
    return f"regexp_replace({x}, {lit(ID_PATTERN)}, '\\1\\2********\\3\\4', 'g')"


def _personal() -> dict[str, list[str]]:
    return {t.name: [c.name for c in t.columns if c.personal] for t in TABLES.values() if any(c.personal for c in t.columns)}


def masked_select(where: str) -> str:
    """The export's rows with personal data masked: the same columns as the clear export."""
    personal = _personal()
    patch_cases, msg = [], "message"
    for table, cols in personal.items():
        pairs = ", ".join(f"{lit(c)}, "
                          f"{mask_id_sql(f'original->>{lit(c)}') if c == 'id_number' else mask_name_sql(f'original->>{lit(c)}')}"
                          for c in cols)
        patch_cases.append(f"WHEN table_name = {lit(table)} AND original->>'_text' IS NULL "
                           f"THEN CAST(json_merge_patch(original, json_object({pairs})) AS VARCHAR)")
        patch_cases.append(f"WHEN table_name = {lit(table)} "
                           f"THEN regexp_replace(original, '(\\p{{Han}})\\p{{Han}}+', '\\1**', 'g')")
        for c in cols:
            v = f"original->>{lit(c)}"
            m = mask_id_sql(v) if c == "id_number" else mask_name_sql(v)
            msg = (f"CASE WHEN table_name = {lit(table)} AND coalesce({v}, '') <> '' "
                   f"THEN replace({msg}, {v}, {m}) ELSE {msg} END")
    original = f"CASE {' '.join(patch_cases)} ELSE original END" if patch_cases else "original"
    return f"""
        SELECT load_id AS 装载批次, table_name AS 表, source_file AS 来源文件, source_row AS 行号,
               reason_code AS 原因代码, {_mask_ids_in(msg)} AS 原因说明, {_mask_ids_in(original)} AS 原始内容
        FROM quarantine {where} ORDER BY load_id, table_name, source_file, source_row"""


CLEAR_SELECT = """
        SELECT load_id AS 装载批次, table_name AS 表, source_file AS 来源文件, source_row AS 行号,
               reason_code AS 原因代码, message AS 原因说明, original AS 原始内容
        FROM quarantine {where} ORDER BY load_id, table_name, source_file, source_row"""


def quarantine_counts(workspace: Path, table: str | None = None) -> list[tuple[str, str, int]]:
    """(table, reason code, rows) of the quarantine, optionally of one table."""
    _check_table(table)
    ws = Workspace(workspace, read_only=True)
    try:
        where, params = ("WHERE table_name = ?", [table]) if table else ("", [])
        return ws.con.execute(f"SELECT table_name, reason_code, count(*) FROM quarantine {where} "
                              "GROUP BY ALL ORDER BY 1, 3 DESC, 2", params).fetchall()
    finally:
        ws.close()


def export_quarantine(workspace: Path, out_file: Path, table: str | None = None, *, masked: bool = True) -> int:
    """Write the quarantined rows to ``out_file`` (CSV, UTF-8 with BOM, mode 0600); the row count."""
    _check_table(table)
    out_file = Path(out_file)
    if out_file.is_dir():
        raise BadOption(f"--out {out_file}: 是目录，应为要写入的 CSV 文件名")
    if not out_file.parent.is_dir():
        raise BadOption(f"--out {out_file}: 所在目录 {out_file.parent} 不存在")
    ws = Workspace(workspace, read_only=True)
    try:
        where, params = ("WHERE table_name = ?", [table]) if table else ("", [])
        sql = masked_select(where) if masked else CLEAR_SELECT.format(where=where)
        rel = ws.con.execute(sql, params)
        header = [d[0] for d in rel.description]
        rows = rel.fetchall()
    finally:
        ws.close()
    tmp = out_file.with_name(f".{out_file.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:  # through the one CSV writer (BOM; text a spreadsheet would run is escaped)
        f.write(rows_csv(header, rows))
    os.replace(tmp, out_file)
    return len(rows)


def _check_table(table: str | None) -> None:
    if table is not None and table not in TABLES:
        raise BadOption(f"--table {table}: 不是数据合同中的表（可选：{', '.join(TABLES)}）")
