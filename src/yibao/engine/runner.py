"""Runners: one pipeline, two engines (see docs/adr/0001-engines.md).

A pipeline step is a pure function from Arrow tables to one Arrow table, written once as
DuckDB SQL. Its ``mode`` says how it may be split:

- ``rowwise``: every output row depends on one input row of ``main`` only (Spark: ``mapInArrow``).
- ``partitioned``: output rows depend only on the ``main`` rows sharing ``partition_by``
  (Spark: ``groupBy(partition_by).applyInArrow``).
- ``global``: needs all of ``main`` at once; meant for small inputs such as per-institution
  aggregates (Spark: collected and run once on the driver).

``broadcast`` inputs are small dimension tables every split sees whole. The local runner runs
the SQL once over whole tables with DuckDB; the Spark runner runs the very same SQL with
DuckDB inside each Spark task. Both sort the output by ``order_by`` (which must be a unique
key of the output) and cast it to ``schema``, so both give identical tables.

A step may instead carry an Arrow function ``fn`` (vectorised over whole columns: Arrow compute and
NumPy, never a Python loop per row; docs/adr/0004-arrow-steps.md). Its ``sql`` then only reads
``main`` — the rows and columns the function needs — and ``fn(tables, con)`` computes the result
from that Arrow table and the broadcast tables, using ``con`` (a DuckDB cursor) for any set-based
part; it returns its rows sorted by ``order_by``. Both runners call it the same way (the Spark runner
once per Arrow batch, through :meth:`Step.apply`).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol

import duckdb
import pyarrow as pa

MODES = ("rowwise", "partitioned", "global")


@dataclass(frozen=True)
class Step:
    name: str
    main: str
    sql: str
    schema: pa.Schema
    order_by: tuple[str, ...]
    mode: str = "global"
    partition_by: tuple[str, ...] = ()
    broadcast: tuple[str, ...] = ()
    doc: str = ""
    fn: "StepFn | None" = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"step {self.name}: unknown mode {self.mode!r}")
        if (self.mode == "partitioned") != bool(self.partition_by):
            raise ValueError(f"step {self.name}: partition_by goes with mode 'partitioned' only")
        missing = [c for c in self.order_by if c not in self.schema.names]
        if missing:
            raise ValueError(f"step {self.name}: order_by columns {missing} not in schema")

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.main, *self.broadcast)

    def apply(self, tables: Mapping[str, pa.Table]) -> pa.Table:
        """Run the step's SQL over Arrow tables in a private DuckDB cursor (the pure function)."""
        con = _apply_cursor()
        try:
            for name in self.inputs:
                con.register(name, tables[name])
            return self.finish(con, query_arrow(con, self.sql), tables)
        finally:
            con.close()

    def finish(self, con: duckdb.DuckDBPyConnection, result: pa.Table, tables: Mapping[str, object]) -> pa.Table:
        """The step's table from the result of its ``sql`` (with ``fn``: the function over the rows read; its
        broadcast inputs as Arrow — given so, or read from the view of that name in ``con``)."""
        if self.fn is None:
            return conform(result, self)
        small = {name: tables[name] if isinstance(tables[name], pa.Table) else query_arrow(con, f'SELECT * FROM "{name}"')
                 for name in self.broadcast}
        return conform(self.fn({self.main: result, **small}, con), self, presorted=True)


StepFn = Callable[[Mapping[str, pa.Table], duckdb.DuckDBPyConnection], pa.Table]


_apply_db: tuple[int, duckdb.DuckDBPyConnection] | None = None
_apply_lock = threading.Lock()


def _apply_cursor() -> duckdb.DuckDBPyConnection:
    """A fresh cursor on this process's single-threaded DuckDB database, for :meth:`Step.apply`.

    Opening a database costs ~35 ms and a cursor ~1 ms; a Spark task calls ``apply`` once per
    batch or bucket, so the database is opened once per process (a forked worker opens its own).
    A cursor's registered tables are private to it and dropped when it is closed.
    """
    global _apply_db
    with _apply_lock:
        if _apply_db is None or _apply_db[0] != os.getpid():
            db = duckdb.connect()
            db.execute("SET threads TO 1")  # inside a Spark task: one core per task
            _apply_db = (os.getpid(), db)
        return _apply_db[1].cursor()


def query_arrow(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """Run ``sql`` and fetch the result as an Arrow table (DuckDB 1.x and 2.x spell this differently)."""
    rel = con.sql(sql)
    return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.fetch_arrow_table()


def conform(result: pa.Table, step: Step, presorted: bool = False, combine: bool = True) -> pa.Table:
    """Select, cast and sort a step's raw result to its declared schema and order (``presorted``: the SQL did).
    ``combine``: one chunk per column (a copy when DuckDB handed over several batches); without it the table is
    equal, only chunked — files written from it are byte-identical either way (Parquet row groups and CSV
    text do not depend on chunks)."""
    names = step.schema.names
    missing = [n for n in names if n not in result.column_names]
    if missing:
        raise ValueError(f"step {step.name}: SQL result lacks columns {missing}")
    result = result.select(names).cast(step.schema)
    if step.order_by and result.num_rows and not presorted:
        result = result.sort_by([(c, "ascending") for c in step.order_by])
    return result.combine_chunks() if combine else result


@dataclass(frozen=True)
class Pipeline:
    """Steps in execution order; a step's output is available to later steps under its name."""

    name: str
    steps: tuple[Step, ...]
    doc: str = ""

    @property
    def sources(self) -> tuple[str, ...]:
        produced: set[str] = set()
        needed: list[str] = []
        for s in self.steps:
            for i in s.inputs:
                if i not in produced and i not in needed:
                    needed.append(i)
            produced.add(s.name)
        return tuple(needed)


class Runner(Protocol):
    name: str

    def run(self, step: Step, tables: Mapping[str, object]) -> pa.Table: ...

    def run_pipeline(self, pipeline: Pipeline, sources: Mapping[str, object]) -> dict[str, pa.Table]: ...


@dataclass
class LocalRunner:
    """The embedded default: DuckDB in-process over whole tables.

    ``tables`` values may be Arrow tables or names of tables/views already in ``con``
    (e.g. the workspace's loaded tables), so large inputs are never copied out of DuckDB.
    """

    con: duckdb.DuckDBPyConnection | None = None
    name: str = "duckdb"
    _owns: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if self.con is None:
            self.con = duckdb.connect()
            self._owns = True

    def run(self, step: Step, tables: Mapping[str, object]) -> pa.Table:
        con = self.con.cursor()  # own cursor: registrations stay private to this call
        try:
            for name in step.inputs:
                src = tables[name]
                if isinstance(src, str):
                    con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS SELECT * FROM {src}')
                else:
                    con.register(name, src)
            return step.finish(con, query_arrow(con, step.sql), tables)
        finally:
            con.close()

    def run_pipeline(self, pipeline: Pipeline, sources: Mapping[str, object]) -> dict[str, pa.Table]:
        return run_steps(self, pipeline, sources)

    def run_final(self, pipeline: Pipeline, sources: Mapping[str, object]) -> pa.Table:
        """The pipeline's last step only, as one fused DuckDB query (see :func:`fused_sql`).

        Intermediate steps become CTEs cast to their declared schemas, so nothing crosses into Arrow
        or gets sorted until the end; the result equals ``run_pipeline(...)[last]`` (tested for
        every registered pipeline).
        """
        last = pipeline.steps[-1]
        if last.fn is not None and set(last.broadcast) & {s.name for s in pipeline.steps[:-1]}:
            return run_steps(self, pipeline, sources)[last.name]  # its broadcast inputs would be CTEs: step by step
        sql = fused_sql(pipeline)
        if last.order_by and last.fn is None:  # sorted by DuckDB (parallel, spills to disk) rather than copied by Arrow's sort
            sql = f"SELECT * FROM ({sql}) AS _fused ORDER BY " + ", ".join(f'"{c}" ASC NULLS LAST' for c in last.order_by)
        con = self.con.cursor()
        try:
            for name in pipeline.sources:
                src = sources[name]
                if isinstance(src, str):
                    con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS SELECT * FROM {src}')
                else:
                    con.register(name, src)
            if last.fn is not None:  # the fused query reads the function's input
                return last.finish(con, query_arrow(con, sql), sources)
            return conform(query_arrow(con, sql), last, presorted=True, combine=False)
        finally:
            con.close()

    def close(self) -> None:
        if self._owns and self.con is not None:
            self.con.close()


def duck_type(t: pa.DataType) -> str:
    """The DuckDB type a step's declared Arrow type is cast to inside a fused query."""
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision}, {t.scale})"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return duck_type(t.value_type) + "[]"
    if pa.types.is_struct(t):
        return "STRUCT(" + ", ".join(f'"{f.name}" {duck_type(f.type)}' for f in t) + ")"
    simple = {pa.string(): "VARCHAR", pa.large_string(): "VARCHAR", pa.int32(): "INTEGER", pa.int64(): "BIGINT",
              pa.int16(): "SMALLINT", pa.int8(): "TINYINT", pa.bool_(): "BOOLEAN", pa.date32(): "DATE",
              pa.float64(): "DOUBLE", pa.float32(): "FLOAT"}
    if t in simple:
        return simple[t]
    raise ValueError(f"no DuckDB type for {t}")


def fused_sql(pipeline: Pipeline) -> str:
    """One SQL statement for the whole pipeline: each earlier step a CTE, cast to its schema (the last
    step may be an Arrow-function step: the statement then reads its input)."""
    ctes = []
    for step in pipeline.steps[:-1]:
        if step.fn is not None:
            raise ValueError(f"step {step.name}: an Arrow-function step can only be a pipeline's last step")
        cols = ", ".join(f'CAST("{f.name}" AS {duck_type(f.type)}) AS "{f.name}"' for f in step.schema)
        ctes.append(f'"{step.name}" AS (SELECT {cols} FROM ({step.sql}) AS _step)')
    last = f"SELECT * FROM ({pipeline.steps[-1].sql}) AS _step"
    return (f"WITH {', '.join(ctes)} {last}") if ctes else last


def run_final(runner: "Runner", pipeline: Pipeline, sources: Mapping[str, object]) -> pa.Table:
    """The last step's table: fused on DuckDB, step by step on engines without fusion (Spark)."""
    fused = getattr(runner, "run_final", None)
    if fused is not None:
        return fused(pipeline, sources)
    return runner.run_pipeline(pipeline, sources)[pipeline.steps[-1].name]


def run_steps(runner: Runner, pipeline: Pipeline, sources: Mapping[str, object],
              on_step: Callable[[Step, pa.Table], None] | None = None) -> dict[str, pa.Table]:
    env: dict[str, object] = dict(sources)
    out: dict[str, pa.Table] = {}
    for step in pipeline.steps:
        result = runner.run(step, env)
        env[step.name] = result
        out[step.name] = result
        if on_step:
            on_step(step, result)
    return out


def tables_equal(a: pa.Table, b: pa.Table) -> bool:
    return a.schema.equals(b.schema) and a.equals(b)

