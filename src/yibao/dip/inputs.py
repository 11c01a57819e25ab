"""What the DIP commands read besides their policy: the workspace (as runner sources), the institutions' levels
and the scored cases of ``yibao dip score`` — each with the one-line message the user sees when it is missing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from yibao.dip.errors import BadFile, HospitalError, MissingData, at
from yibao.engine.runner import Runner
from yibao.engine.workspace import Workspace, is_parquet_region, parquet_sources

__all__ = ["workspace_sources", "read_levels", "read_scored", "read_scored_for_settlement"]


@contextmanager
def workspace_sources(workspace: Path, names: tuple[str, ...], engine: str = "duckdb") \
        -> Iterator[tuple[dict[str, object], Runner]]:
    """``with workspace_sources(ws, ("cases",), engine) as (sources, runner):`` — the workspace's tables as runner
    sources (:meth:`Workspace.sources`; DuckDB reads them in place), the workspace open until the block ends.
    A Parquet region (``yibao load --engine spark``) is read by Spark (:func:`parquet_sources`)."""
    if is_parquet_region(workspace):
        yield parquet_sources(workspace, names, engine)
        return
    if not (Path(workspace) / "yibao.duckdb").exists():
        raise MissingData(at(workspace, "不是 yibao 工作区（缺少 yibao.duckdb），请先运行 yibao load"))
    ws = Workspace(workspace, read_only=True)
    try:
        yield ws.sources(names, engine)
    finally:
        ws.close()


def read_levels(workspace: Path | None) -> pa.Table:
    """``institution_id, level, name`` from a workspace (empty without one: no peer column)."""
    schema = pa.schema([("institution_id", pa.string()), ("level", pa.int64()), ("name", pa.string())])
    if workspace is None:
        return schema.empty_table()
    if not (Path(workspace) / "yibao.duckdb").exists():
        raise HospitalError(str(workspace), "不是 yibao 工作区（缺少 yibao.duckdb）")
    with Workspace(workspace, read_only=True) as ws:
        rows = ws.con.execute("SELECT institution_id, CAST(level AS BIGINT), name FROM main.institutions "
                              "ORDER BY institution_id").fetchall()
    return pa.table({"institution_id": [r[0] for r in rows], "level": [r[1] for r in rows],
                     "name": [r[2] for r in rows]}, schema=schema)


def read_scored(scored_dir: Path) -> pa.Table:
    """``scored_cases.parquet`` of a scored directory (the hospital view and the indicators)."""
    p = Path(scored_dir) / "scored_cases.parquet"
    if not p.exists():
        raise HospitalError(str(scored_dir), "不是病例赋分目录（缺少 scored_cases.parquet），请先运行 yibao dip score")
    return pq.read_table(p)


def read_scored_for_settlement(scored: Path) -> pa.Table:
    """The scored cases a settlement reads: they must carry the settlement fields (scheme, settle_year …)."""
    path = Path(scored) / "scored_cases.parquet"
    if not path.exists():
        raise MissingData(at(path, "缺少病例赋分结果，请先运行 yibao dip score"))
    table = pq.read_table(path)
    if "settle_year" not in table.column_names:
        raise BadFile(at(path, "赋分结果缺少结算字段（scheme、settle_year…），请用当前版本重新运行 yibao dip score"))
    return table
