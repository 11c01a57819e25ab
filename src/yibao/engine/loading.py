"""Loading a region directory into a workspace: read all, validate, then swap in one transaction.

1. Every contract file present in the directory is read first (:mod:`yibao.contract.readers`).
   A file that cannot be read stops the load here, before the workspace is touched.
2. In one transaction, tables are validated in dependency order (institutions before staff
   before cases before fee lines …), so a reference is checked against the workspace's rows
   plus the rows accepted earlier in the same load.
3. Accepted rows replace workspace rows with the same key (upsert): loading the same directory
   twice leaves the same rows; a corrected resubmission replaces the old version.
   Quarantined rows replace the quarantine rows that came from the same file content.
4. ``loads``, ``load_files`` and the audit log record who loaded what, when, with the counts.

Any exception or interrupt before the commit rolls everything back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from yibao import __version__
from yibao.contract.readers import RawTable, find_file, read_table
from yibao.contract.reasons import FatalLoadError
from yibao.contract.schema import LOAD_ORDER, TABLES
from yibao.contract.validate import q, validate
from yibao.engine.workspace import Workspace, actor, now

FAULT_ENV = "YIBAO_FAULT_AFTER_TABLE"  # test hook: die hard after staging this table


@dataclass
class TableReport:
    table: str
    file: str
    encoding: str
    read: int
    accepted: int
    quarantined: int
    inserted: int
    replaced: int
    ignored_columns: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        return (f"{self.table:<13} read {self.read:>10,}  accepted {self.accepted:>10,}  "
                f"quarantined {self.quarantined:>8,}")


@dataclass
class LoadReport:
    load_id: int
    source_dir: str
    workspace: str
    tables: list[TableReport]
    skipped: list[str]
    seconds: float = 0.0


Progress = Callable[[str, str, int], None]  # (table, phase, rows)


def read_region(directory: Path, progress: Progress | None = None) -> dict[str, RawTable]:
    """Read every contract file in ``directory``; fatal errors name the file."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FatalLoadError(str(directory), "目录不存在")
    raws: dict[str, RawTable] = {}
    for name in LOAD_ORDER:
        path = find_file(directory, name)
        if path is None:
            continue
        if progress:
            progress(name, "read", 0)
        raws[name] = read_table(path, TABLES[name])
        if progress:
            progress(name, "read", raws[name].read)
    if not raws:
        expected = "、".join(f"{n}.csv" for n in LOAD_ORDER)
        raise FatalLoadError(str(directory), f"目录中没有任何数据表文件（应为 {expected} 等，或 .parquet/.xlsx）")
    return raws


def load_region(directory: Path, workspace: Path, progress: Progress | None = None) -> LoadReport:
    import time

    t0 = time.perf_counter()
    raws = read_region(directory, progress)
    ws = Workspace(workspace)
    try:
        reports: list[TableReport] = []
        with ws.transaction() as con:
            load_id = ws.next_id("loads", "load_id")
            con.execute("INSERT INTO loads VALUES (?, ?, ?, ?, NULL, ?)",
                        [load_id, str(Path(directory).resolve()), actor(), now(), __version__])
            staged: set[str] = set()
            for name in LOAD_ORDER:
                if name not in raws:
                    continue
                reports.append(_load_table(con, raws[name], load_id, staged))
                raws[name].data = None  # the text is in the quarantine or typed in the workspace now
                staged.add(name)
                if progress:
                    progress(name, "done", reports[-1].read)
                if os.environ.get(FAULT_ENV) == name:
                    os._exit(86)  # simulate a crash mid-load (tests only)
            con.execute("UPDATE loads SET finished_at = ? WHERE load_id = ?", [now(), load_id])
            ws.log_event("load", {
                "load_id": load_id, "source_dir": str(Path(directory).resolve()),
                "tables": {r.table: [r.read, r.accepted, r.quarantined] for r in reports},
            })
        skipped = [p.name for p in sorted(Path(directory).iterdir())
                   if p.is_file() and p.stem not in raws and not p.name.startswith(".")]
        return LoadReport(load_id, str(directory), str(workspace), reports, skipped, time.perf_counter() - t0)
    finally:
        ws.close()


def _load_table(con, raw: RawTable, load_id: int, staged: set[str]) -> TableReport:
    t = raw.schema
    refs = {}
    for fk in t.foreign_keys:
        col = q(fk.ref_columns[0])
        rel = f"SELECT {col} FROM main.{fk.ref_table}"
        if fk.ref_table in staged:
            rel += f" UNION ALL SELECT {col} FROM stage_{fk.ref_table}"
        refs[fk.ref_table] = f"({rel})"
    v = validate(con, raw, refs, load_id)
    match = " AND ".join(f"t.{q(k)} = s.{q(k)}" for k in t.key)
    replaced = con.execute(
        f"SELECT count(*) FROM main.{t.name} AS t JOIN {v.accepted_relation} AS s ON {match}").fetchall()[0][0]
    if replaced:
        con.execute(f"DELETE FROM main.{t.name} AS t USING {v.accepted_relation} AS s WHERE {match}")
    names = ", ".join(q(c) for c in t.column_names)
    con.execute(f"INSERT INTO main.{t.name} ({names}) SELECT {names} FROM {v.accepted_relation}")
    con.execute("DELETE FROM quarantine WHERE table_name = ? AND source_sha256 = ?", [t.name, raw.sha256])
    con.execute(f"INSERT INTO quarantine SELECT * FROM {v.quarantine_relation}")
    reasons = dict(con.execute(
        f"SELECT reason_code, count(*) FROM {v.quarantine_relation} GROUP BY 1 ORDER BY 2 DESC, 1").fetchall())
    con.execute(
        "INSERT INTO load_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [load_id, t.name, str(raw.path), raw.sha256, raw.encoding, v.read, v.accepted, v.quarantined,
         v.accepted - replaced, replaced, raw.ignored_columns, raw.missing_optional],
    )
    # keep only what later tables need: the keys they reference
    referenced = sorted({fk.ref_columns[0] for other in TABLES.values() for fk in other.foreign_keys
                         if fk.ref_table == t.name})
    if referenced:
        cols = ", ".join(q(c) for c in referenced)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {v.accepted_relation} AS SELECT {cols} FROM {v.accepted_relation}")
    else:
        con.execute(f"DROP TABLE {v.accepted_relation}")
    con.execute(f"DROP TABLE {v.quarantine_relation}")
    return TableReport(t.name, str(raw.path), raw.encoding, v.read, v.accepted, v.quarantined,
                       v.accepted - replaced, replaced, raw.ignored_columns, reasons)
