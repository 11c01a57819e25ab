"""Loading a region directory into a workspace: stream, stage, then validate and switch in one transaction.

1. Every contract file present in the directory is streamed in batches (:func:`readers.stream_table`) into a
   temp table of the workspace's connection (stage), in memory bounded by DuckDB's limit (``--memory-limit``)
   plus a few batches (docs/scale.md §1). A file that cannot be read stops the load here, before the
   workspace's tables are touched.
2. In one transaction, tables are validated in dependency order (institutions before staff
   before cases before fee lines …), so a reference is checked against the workspace's rows
   plus the rows accepted earlier in the same load.
3. Accepted rows replace workspace rows with the same key (upsert): loading the same directory
   twice leaves the same rows; a corrected resubmission replaces the old version.
   Quarantined rows replace the quarantine rows that came from the same file content.
4. ``loads``, ``load_files`` and the audit log record who loaded what, when, with the counts.

Any exception or interrupt before the commit rolls everything back.

Nothing is lost without a word (issue 13 §2): files are found by name case-insensitively and
through the mapping profile (:mod:`yibao.contract.mapping`), a file that is not recognised is
listed with a hint, a missing optional column is reported with what it disables
(:mod:`yibao.contract.optional`), and a non-empty table whose rows are *all* quarantined — or,
with ``max_quarantine_share``, more than that share of them — fails the whole load
(:class:`LoadProblem`, exit 3) with the workspace as it was. Other row errors never fail a load.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Callable

import pyarrow as pa

from yibao import __version__
from yibao.contract.errors import BadOption, ProblemReported
from yibao.contract.mapping import Profile, load_profile
from yibao.contract.optional import without
from yibao.contract.readers import ROW, RawTable, discover, read_table, shipped_profile, stream_table
from yibao.contract.reasons import REASONS, FatalLoadError
from yibao.contract.schema import LOAD_ORDER, TABLES
from yibao.contract.validate import proven_columns, q, validate
from yibao.engine.workspace import DB_FILE, Workspace, actor, now, private_files

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
    missing_optional: dict[str, str] = field(default_factory=dict)  # column → what its absence disables
    mapped_columns: dict[str, str] = field(default_factory=dict)    # file header → contract column
    mapped_values: dict[str, int] = field(default_factory=dict)     # column → cells translated by the profile
    numeric_code_cells: dict[str, int] = field(default_factory=dict)
    header_row: int = 1
    example: str = ""  # the first row's message for the top reason (personal data masked)

    def line(self) -> str:
        return (f"{self.table:<13} read {self.read:>10,}  accepted {self.accepted:>10,}  "
                f"quarantined {self.quarantined:>8,}")

    @property
    def top_reason(self) -> tuple[str, int] | None:
        return next(iter(self.reasons.items()), None)

    def notes(self) -> list[str]:
        """What a person must know about this file beyond the counts, one Chinese line each."""
        name = Path(self.file).name
        out = []
        if self.header_row > 1:
            out.append(f"{self.table}（{name}）表头在第 {self.header_row} 行，上方 {self.header_row - 1} 行标题已跳过")
        if self.mapped_columns:
            out.append(f"{self.table}（{name}）按映射识别 {len(self.mapped_columns)} 列："
                       + "，".join(f"{k}→{v.split(chr(31))[0]}" for k, v in self.mapped_columns.items()))
        if self.mapped_values:
            out.append(f"{self.table}（{name}）代码值按映射转换："
                       + "，".join(f"{k} {v:,} 格" for k, v in self.mapped_values.items()))
        for col, effect in self.missing_optional.items():
            out.append(f"{self.table}（{name}）缺少可选列 {col}：{effect}")
        for col, n in self.numeric_code_cells.items():
            out.append(f"{self.table}（{name}）代码列 {col} 有 {n:,} 个单元格存为数字，前导零（如 0301 的 0）可能已丢失："
                       "请把该列设为文本后重新导出")
        if self.reasons:
            out.append(f"{self.table} 隔离原因：" + "，".join(f"{k} {v:,}" for k, v in self.reasons.items()))
        if self.ignored_columns:
            out.append(f"{self.table} 忽略的非合同列：{', '.join(self.ignored_columns)}")
        return out


@dataclass
class LoadReport:
    load_id: int
    source_dir: str
    workspace: str
    tables: list[TableReport]
    skipped: list[str]
    seconds: float = 0.0
    unrecognised: list[tuple[str, str]] = field(default_factory=list)  # (file name, hint)
    mapping: list[str] = field(default_factory=list)  # the profiles applied, shipped first


class LoadProblem(ProblemReported):
    """A load stopped because a table's rows were all (or too many) quarantined: exit 3, nothing changed."""

    def __init__(self, message: str, tables: list[TableReport], unrecognised: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.tables = tables
        self.unrecognised = unrecognised


def parse_share(value: str | Decimal | None) -> Decimal | None:
    """``--max-quarantine-share``: a share in [0, 1] (``0.05``) or a percentage (``5%``)."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        share = Decimal(text[:-1]) / 100 if text.endswith("%") else Decimal(text)
    except InvalidOperation:
        raise BadOption(f"--max-quarantine-share {text}: 应为 0 到 1 之间的比例（如 0.05）或百分数（如 5%）") from None
    if not share.is_finite() or not Decimal(0) <= share <= Decimal(1):
        raise BadOption(f"--max-quarantine-share {text}: 应在 0 与 1（100%）之间")
    return share


Progress = Callable[[str, str, int], None]  # (table, phase, rows)


def read_region(directory: Path, progress: Progress | None = None,
                profile: Profile | None = None) -> dict[str, RawTable]:
    """Read every contract file in ``directory``; fatal errors name the file."""
    return _read_region(directory, progress, profile or shipped_profile())[0]


def _read_region(directory: Path, progress: Progress | None,
                 profile: Profile) -> tuple[dict[str, RawTable], list[tuple[str, str]]]:
    directory = Path(directory)
    if not directory.is_dir():
        raise FatalLoadError(str(directory), "目录不存在")
    found = discover(directory, profile)
    raws: dict[str, RawTable] = {}
    for name in LOAD_ORDER:
        path = found.files.get(name)
        if path is None:
            continue
        if progress:
            progress(name, "read", 0)
        raws[name] = read_table(path, TABLES[name], profile)
        if progress:
            progress(name, "read", raws[name].read)
    if not raws:
        expected = "、".join(f"{n}.csv" for n in LOAD_ORDER)
        listed = "；".join(f"{f}：{h}" for f, h in found.unrecognised[:5])
        raise FatalLoadError(str(directory), f"目录中没有任何数据表文件（应为 {expected} 等，或 .parquet/.xlsx；"
                                             f"中文文件名见映射配置）" + (f"。未识别的文件：{listed}" if listed else ""))
    return raws, found.unrecognised


def load_region(directory: Path, workspace: Path, progress: Progress | None = None, *,
                mapping: Path | None = None, max_quarantine_share: str | Decimal | None = None,
                memory_limit: str | None = None) -> LoadReport:
    """Load ``directory`` into ``workspace``; see the module docstring for what fails a load.

    ``memory_limit`` (DuckDB's, e.g. ``2GB``; default :data:`DEFAULT_MEMORY_LIMIT`) bounds the database's
    memory: the staged text and the validation spill to disk beyond it.
    """
    import time

    t0 = time.perf_counter()
    share = parse_share(max_quarantine_share)
    limit = parse_memory_limit(memory_limit)
    profile = load_profile(Path(mapping)) if mapping is not None else shipped_profile()
    files, unrecognised = _discover(directory, profile)
    ws_dir = Path(workspace)
    created_dir, created_db = not ws_dir.exists(), not (ws_dir / DB_FILE).exists()
    try:
        with private_files():  # the staged text and DuckDB's spill files hold personal data
            report = _load(directory, workspace, files, unrecognised, profile, share, progress, limit)
    except BaseException:
        _remove_new_workspace(ws_dir, created_dir, created_db)
        raise
    report.seconds = time.perf_counter() - t0
    return report


DEFAULT_MEMORY_LIMIT = "2GB"  # the loader's DuckDB memory: peak RSS stays ~1 GB above it whatever the region's size
_MEMORY = re.compile(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)")


def parse_memory_limit(value: str | None) -> str:
    """``--memory-limit``: a DuckDB memory size such as ``2GB`` or ``512MiB``."""
    if value is None:
        return DEFAULT_MEMORY_LIMIT
    text = str(value).strip()
    if not _MEMORY.fullmatch(text):
        raise BadOption(f"--memory-limit {text}: 内存上限无法识别（例如 4GB、512MB）")
    return text


def _discover(directory: Path, profile: Profile) -> tuple[dict[str, Path], list[tuple[str, str]]]:
    directory = Path(directory)
    if not directory.is_dir():
        raise FatalLoadError(str(directory), "目录不存在")
    found = discover(directory, profile)
    files = {name: found.files[name] for name in LOAD_ORDER if name in found.files}
    if not files:
        expected = "、".join(f"{n}.csv" for n in LOAD_ORDER)
        listed = "；".join(f"{f}：{h}" for f, h in found.unrecognised[:5])
        raise FatalLoadError(str(directory), f"目录中没有任何数据表文件（应为 {expected} 等，或 .parquet/.xlsx；"
                                             f"中文文件名见映射配置）" + (f"。未识别的文件：{listed}" if listed else ""))
    return files, found.unrecognised


def _stage(con, name: str, path: Path, profile: Profile, progress: Progress | None) -> RawTable:
    """Stream one file into the temp table ``_raw_{name}`` (text + ``_row``) batch by batch; its proven columns.

    Memory holds a few batches (16 MiB of the file each) at a time: DuckDB pulls them from an Arrow stream
    into the table, keeps the staged text within its memory limit and spills the rest to its temp directory.
    A file that cannot be read raises FatalLoadError here (the error of the reader, not DuckDB's).
    """
    t = TABLES[name]
    rel = f"_raw_{name}"
    raw, batches = stream_table(path, t, profile)
    schema = pa.schema([*(pa.field(c, pa.string()) for c in t.column_names), pa.field(ROW, pa.int64())])
    state: dict = {"proven": None, "conforming": None, "error": None, "whole": None}

    def checked(batch: pa.Table) -> None:
        p, c = proven_columns(batch, t)
        state["proven"] = p if state["proven"] is None else state["proven"] & p
        state["conforming"] = c if state["conforming"] is None else state["conforming"] & c

    def stream():
        try:
            for batch, restart in batches:
                if restart:  # the careful path re-read the whole file: staged after the stream, see below
                    state["whole"] = batch
                    return
                checked(batch)
                yield from batch.cast(schema).to_batches()
                if progress:
                    progress(name, "read", raw.rows)
        except BaseException as exc:  # noqa: BLE001 - re-raised below as it was, not as DuckDB's error
            state["error"] = exc

    con.register("_stream", pa.RecordBatchReader.from_batches(schema, stream()))
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {rel} AS SELECT * FROM _stream")
    except Exception:
        if state["error"] is None:
            raise
    finally:
        con.unregister("_stream")
    if state["error"] is not None:
        raise state["error"]
    if state["whole"] is not None:
        whole = state["whole"].cast(schema)
        state["proven"] = state["conforming"] = None
        checked(whole)
        con.execute(f"DELETE FROM {rel}")
        con.register("_whole", whole)
        con.execute(f"INSERT INTO {rel} SELECT * FROM _whole")
        con.unregister("_whole")
    raw.relation, raw.proven, raw.conforming = rel, state["proven"] or frozenset(), state["conforming"] or frozenset()
    return raw


def _remove_new_workspace(ws_dir: Path, created_dir: bool, created_db: bool) -> None:
    """A load that failed into a workspace it created leaves no empty workspace behind."""
    if not created_db:
        return
    for name in (DB_FILE, DB_FILE + ".wal"):
        try:
            (ws_dir / name).unlink()
        except FileNotFoundError:
            pass
    if created_dir:
        try:
            ws_dir.rmdir()
        except OSError:
            pass


def _load(directory: Path, workspace: Path, files: dict[str, Path], unrecognised: list[tuple[str, str]],
          profile: Profile, share: Decimal | None, progress: Progress | None, memory_limit: str) -> LoadReport:
    ws = Workspace(workspace)
    con = ws.con
    raws: dict[str, RawTable] = {}
    try:
        con.execute(f"SET memory_limit = '{memory_limit}'")
        # 1. stage: every file streamed into a temp table; the workspace's tables are not touched yet
        for name, path in files.items():
            if progress:
                progress(name, "read", 0)
            raws[name] = _stage(con, name, path, profile, progress)
        # 2. switch: validate and upsert table by table, in one transaction
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
                con.execute(f"DROP TABLE IF EXISTS {raws[name].relation}")  # typed in the workspace or quarantined now
                staged.add(name)
                if progress:
                    progress(name, "done", reports[-1].read)
                if os.environ.get(FAULT_ENV) == name:
                    os._exit(86)  # simulate a crash mid-load (tests only)
            problem = _problem(reports, share, [f for f, _ in unrecognised])
            if problem:
                raise LoadProblem(problem, reports, unrecognised)  # rolls the transaction back
            con.execute("UPDATE loads SET finished_at = ? WHERE load_id = ?", [now(), load_id])
            ws.log_event("load", {
                "load_id": load_id, "source_dir": str(Path(directory).resolve()),
                "tables": {r.table: [r.read, r.accepted, r.quarantined] for r in reports},
                "mapping": list(profile.sources),
                "missing_optional": {r.table: list(r.missing_optional) for r in reports if r.missing_optional},
            })
        return LoadReport(load_id, str(directory), str(workspace), reports, [f for f, _ in unrecognised],
                          unrecognised=unrecognised, mapping=list(profile.sources))
    finally:
        ws.close()


def _plain(d: Decimal) -> str:
    """0.30 → 0.3, 1E+0 → 1: a share as a person writes it."""
    text = format(d.normalize(), "f")
    return text


def _problem(reports: list[TableReport], share: Decimal | None, unrecognised: list[str]) -> str:
    """The one-line reason a load must fail (all rows, or more than ``share``, quarantined), or ''."""
    bad = []
    for r in reports:
        if r.read == 0 or r.quarantined == 0:
            continue
        over = share is not None and Decimal(r.quarantined) > share * Decimal(r.read)
        if r.accepted == 0 or over:
            code, n = r.top_reason or ("BAD_ROW_SHAPE", r.quarantined)
            what = (f" {r.read:,} 行全部被隔离" if r.accepted == 0 else
                    f"隔离 {r.quarantined:,}/{r.read:,} 行（{Decimal(100 * r.quarantined) / r.read:.1f}%），"
                    f"超过 --max-quarantine-share {_plain(share)}")
            example = f"，如{r.example}" if r.example else ""
            orphan = ""
            if code.startswith("UNKNOWN_") and unrecognised:  # the referenced table may sit in a file not recognised
                orphan = f"（目录中有未识别的文件：{'、'.join(unrecognised[:3])}{' 等' if len(unrecognised) > 3 else ''}）"
            bad.append(f"{Path(r.file).name}：{r.table}（{TABLES[r.table].zh}）表{what}，"
                       f"主要原因 {code}（{REASONS.get(code, code)}）{n:,} 行{orphan}{example}")
    if not bad:
        return ""
    return "；".join(bad) + "。本次装载未生效，工作区保持不变"


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
    example = ""
    if reasons:
        first = con.execute(f"SELECT source_row, message FROM {v.quarantine_relation} WHERE reason_code = ? "
                            "ORDER BY source_row LIMIT 1", [next(iter(reasons))]).fetchall()
        if first:
            example = mask_text(f"第 {first[0][0]} 行「{first[0][1]}」")
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
                       v.accepted - replaced, replaced, raw.ignored_columns, reasons,
                       {c: without(t.name, c) for c in raw.missing_optional}, dict(raw.mapped_columns),
                       dict(raw.mapped_values), dict(raw.numeric_code_cells), raw.header_row, example)


_ID_NUMBER = re.compile(r"(?<![0-9])([0-9]{6})[0-9]{5,8}([0-9]{3}[0-9Xx])(?![0-9A-Za-z])")


def mask_text(text: str) -> str:
    """Text for a message or log: anything shaped like a 身份证号 keeps its first 6 and last 4 characters."""
    return _ID_NUMBER.sub(lambda m: m.group(1) + "*" * (len(m.group(0)) - 10) + m.group(2), text)
