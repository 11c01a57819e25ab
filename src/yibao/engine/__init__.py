"""The engine (执行层): workspaces, runners (DuckDB, Spark), pipelines and the writers every capability shares.

Modules: ``runner`` (Pipeline, Step, the local DuckDB runner, query_arrow), ``select`` (runner_for: a runner by
the name a user gives), ``spark`` (the Spark runner, optional), ``workspace`` (the workspace and its tables as
runner sources), ``wslock`` (who may write), ``loading`` / ``quarantine`` (yibao load and its quarantine),
``registry`` (every capability's registered pipelines), ``csvfile`` (the one CSV writer), ``excel`` (workbooks),
``outdir`` (atomic output directories), ``money`` / ``sqlmoney`` (exact money in Python and SQL), ``columns``.

Nothing is imported here eagerly (``yibao -h`` imports ``engine.outdir`` alone); the names below are the
public ones, loaded on first use.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "Pipeline": "runner", "Step": "runner", "LocalRunner": "runner", "Runner": "runner", "query_arrow": "runner",
    "runner_for": "select", "ENGINES": "select", "Workspace": "workspace", "DB_FILE": "workspace",
    "register": "registry", "pipelines": "registry", "rows_csv": "csvfile", "rows_csv_text": "csvfile",
    "csv_bytes": "csvfile", "write_workbook": "excel", "atomic_file": "outdir", "load_region": "loading",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> object:
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"yibao.engine.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module 'yibao.engine' has no attribute {name!r}")
