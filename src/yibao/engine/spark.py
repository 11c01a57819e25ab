"""Spark runner: the same steps as :class:`~yibao.engine.runner.LocalRunner`, split over Spark tasks.

Each task runs the step's own pure function (:meth:`Step.apply`, DuckDB SQL over Arrow) on its
share of ``main``; broadcast tables travel whole in the task closure:

- ``rowwise``: ``mapInArrow``, one call per Arrow batch.
- ``partitioned``: rows are hashed on ``partition_by`` into ``buckets`` groups and each group is
  handed whole to one call through ``groupBy(bucket).applyInArrow``. Every partition key lands
  in exactly one bucket, so a step that aggregates within its key gives the same rows as over
  the whole table, at one DuckDB call per bucket instead of one per key (measured in
  ``docs/adr/0001-engines.md``).
- ``global``: ``main`` is collected (``toArrow``) and the step runs once on the driver.

Results come back as Arrow tables conformed exactly as the local runner's (:func:`conform`).
Needs the ``spark`` extra (pyspark ≥ 4.0 with pandas) and a Java 17+ runtime.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

import pyarrow as pa

from yibao.contract.schema import TABLES
from yibao.engine.runner import Pipeline, Step, conform

try:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("Spark 引擎需要 pyspark：pip install 'yibao[spark]'") from exc

BUCKET = "__yibao_bucket"
PARQUET_PARTITIONS = {"cases": "settle_month", "fee_items": "settle_month"}  # a Parquet region's partition columns


# --- Arrow ↔ Spark types ---------------------------------------------------------------------

_SIMPLE: tuple[tuple[pa.DataType, T.DataType], ...] = (
    (pa.string(), T.StringType()),
    (pa.bool_(), T.BooleanType()),
    (pa.int8(), T.ByteType()),
    (pa.int16(), T.ShortType()),
    (pa.int32(), T.IntegerType()),
    (pa.int64(), T.LongType()),
    (pa.date32(), T.DateType()),
)


def spark_type(t: pa.DataType) -> T.DataType:
    """The Spark type holding Arrow type ``t`` without loss. Floating point is refused (money rule)."""
    if pa.types.is_decimal128(t):
        return T.DecimalType(t.precision, t.scale)
    if pa.types.is_large_string(t):
        return T.StringType()
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return T.ArrayType(spark_type(t.value_type), containsNull=True)
    if pa.types.is_struct(t):
        return T.StructType([T.StructField(f.name, spark_type(f.type), nullable=True) for f in t])
    for arrow, spark in _SIMPLE:
        if t == arrow:
            return spark
    raise TypeError(f"Spark 引擎不支持列类型 {t}（金额用 decimal128，不用浮点）")


def arrow_type(t: T.DataType) -> pa.DataType:
    """The Arrow type of Spark type ``t`` (inverse of :func:`spark_type`)."""
    if isinstance(t, T.DecimalType):
        return pa.decimal128(t.precision, t.scale)
    if isinstance(t, T.ArrayType):
        return pa.list_(arrow_type(t.elementType))
    if isinstance(t, T.StructType):
        return pa.struct([pa.field(f.name, arrow_type(f.dataType)) for f in t.fields])
    for arrow, spark in _SIMPLE:
        if t == spark:
            return arrow
    raise TypeError(f"Spark 引擎不支持列类型 {t.simpleString()}")


def spark_schema(schema: pa.Schema) -> T.StructType:
    return spark_type(pa.struct(list(schema)))


def arrow_schema(schema: T.StructType) -> pa.Schema:
    return pa.schema(list(arrow_type(schema)))


# --- session ---------------------------------------------------------------------------------

def java_home() -> str:
    """A usable JAVA_HOME: the environment's if it has ``bin/java``, else the ``java`` found on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return home
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("未找到 Java 运行环境（需要 JDK/JRE 17 及以上）：请安装 openjdk-17-jre-headless 或设置 JAVA_HOME")
    return str(Path(java).resolve().parent.parent)


# Errors only. The gateway logger's level is what pyspark compares with the root level before
# printing its "Setting default log level" banner; equal levels keep it quiet.
_LOG4J = """\
rootLogger.level = error
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""


# What yibao sets even under spark-submit (docs/scale.md §3): the Arrow exchange the runner relies on (no silent
# non-Arrow path, no large var types, the batch-size check off) and UTC. Everything else — master, memory,
# shuffle partitions, directories — is the cluster's, given to spark-submit.
SUBMIT_SETTINGS = frozenset({
    "spark.app.name", "spark.sql.session.timeZone", "spark.sql.execution.arrow.pyspark.enabled",
    "spark.sql.execution.arrow.pyspark.fallback.enabled", "spark.sql.execution.arrow.useLargeVarTypes",
    "spark.sql.execution.arrow.maxRecordsPerBatch", "spark.sql.execution.arrow.maxBytesPerBatch",
})


def spark_session(master: str = "local[2]", shuffle_partitions: int = 4, driver_memory: str = "2g",
                  conf: Mapping[str, str] | None = None) -> SparkSession:
    """A local SparkSession for tests and small machines (UI off, Arrow on, UTC, quiet logs).

    Scratch space (warehouse, spill, logging config) lives in a temporary directory removed at
    exit, so nothing is written into the working tree. ``conf`` adds or overrides settings.
    An already running session is returned as it is. Under ``spark-submit`` only :data:`SUBMIT_SETTINGS` are set
    (the scratch directory then stays empty): the master, resources and directories are the submitter's.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ["JAVA_HOME"] = java_home()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers: this interpreter, with yibao
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    scratch = Path(tempfile.mkdtemp(prefix="yibao-spark-"))
    atexit.register(shutil.rmtree, scratch, True)
    (scratch / "log4j2.properties").write_text(_LOG4J)
    settings = {
        "spark.app.name": "yibao",
        "spark.master": master,
        "spark.driver.memory": driver_memory,
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.extraJavaOptions":
            f"-Dlog4j2.configurationFile=file:{scratch}/log4j2.properties -Dderby.system.home={scratch}",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.default.parallelism": str(shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",  # never a silent non-Arrow path
        "spark.sql.execution.arrow.useLargeVarTypes": "false",
        "spark.sql.execution.arrow.maxRecordsPerBatch": "50000",
        # INT_MAX switches off the per-row batch-size check that Spark 4.x's grouped Arrow input
        # makes, which grows with the batch (list columns): 17 s → 2.3 s for person_year on 200 k rows.
        "spark.sql.execution.arrow.maxBytesPerBatch": "2147483647",
        "spark.python.worker.reuse": "true",
        "spark.sql.warehouse.dir": str(scratch / "warehouse"),
        "spark.local.dir": str(scratch / "local"),
        "spark.sql.catalogImplementation": "in-memory",
        **(conf or {}),
    }
    if os.environ.get("PYSPARK_GATEWAY_PORT"):  # started by spark-submit: its --master and --conf decide the rest
        settings = {k: v for k, v in settings.items() if k in SUBMIT_SETTINGS}
    builder = SparkSession.builder
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


# --- runner ----------------------------------------------------------------------------------

@dataclass
class SparkRunner:
    """Runs steps on Spark. ``tables`` values may be Arrow tables, Spark DataFrames or names of
    tables in the session (as the local runner takes names of DuckDB tables).

    ``buckets``: how many groups a partitioned step's rows are hashed into (default: the
    session's ``spark.sql.shuffle.partitions``); each group is one DuckDB call in one task.
    """

    spark: SparkSession | None = None
    buckets: int | None = None
    name: str = "spark"

    def __post_init__(self) -> None:
        if self.spark is None:
            self.spark = spark_session()
        if self.buckets is None:
            self.buckets = int(self.spark.conf.get("spark.sql.shuffle.partitions"))

    def run(self, step: Step, tables: Mapping[str, object]) -> pa.Table:
        return conform(self._arrow(self._execute(step, tables)), step)

    def run_pipeline(self, pipeline: Pipeline, sources: Mapping[str, object]) -> dict[str, pa.Table]:
        """Run the steps in order; a distributed step's output stays in Spark (checkpointed) for later steps."""
        env: dict[str, object] = dict(sources)
        out: dict[str, pa.Table] = {}
        for step in pipeline.steps:
            result = self._execute(step, env)
            if isinstance(result, DataFrame):
                result = result.localCheckpoint()  # computed once, reused by the collect and later steps
            out[step.name] = conform(self._arrow(result), step)
            env[step.name] = result
        return out

    def _execute(self, step: Step, tables: Mapping[str, object]) -> DataFrame | pa.Table:
        """The step's result: a lazy DataFrame for distributed modes, an Arrow table for ``global``."""
        small = {name: self._arrow(tables[name]) for name in step.broadcast}
        if step.mode == "global":
            return step.apply({step.main: self._arrow(tables[step.main]), **small})
        main = self._frame(tables[step.main])
        out_schema = spark_schema(step.schema)
        if step.mode == "rowwise":
            def per_batch(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
                for batch in batches:
                    yield from step.apply({step.main: pa.Table.from_batches([batch]), **small}).to_batches()

            return main.mapInArrow(per_batch, out_schema)

        def per_bucket(group: pa.Table) -> pa.Table:
            return step.apply({step.main: group.drop_columns([BUCKET]), **small})

        bucket = F.pmod(F.xxhash64(*step.partition_by), F.lit(self.buckets))
        return main.withColumn(BUCKET, bucket).groupBy(BUCKET).applyInArrow(per_bucket, out_schema)

    def parquet_table(self, dataset: Path, name: str) -> DataFrame:
        """Table ``name`` of a Parquet region (``yibao load --engine spark``) as a DataFrame in the contract's schema,
        read by Spark where the files are; an empty frame when the load had no file for it. A partition column
        (``settle_month``) is dropped."""
        t = TABLES[name]
        schema = spark_schema(t.arrow_schema())
        d = Path(dataset) / name
        if not d.exists():
            return self.spark.createDataFrame([], schema)
        full = schema
        part = PARQUET_PARTITIONS.get(name)
        if part is not None:
            full = T.StructType([*schema.fields, T.StructField(part, T.StringType())])
        df = self.spark.read.schema(full).option("basePath", str(d)).parquet(str(d))
        return df.select([F.col(c).cast(f.dataType).alias(c) for c, f in zip(t.column_names, schema.fields)])

    def to_arrow(self, table: object) -> pa.Table:
        """An Arrow table, a DataFrame or a session table's name as an Arrow table (collected: small tables only)."""
        return self._arrow(table)

    def semi_join(self, table: object, keys: pa.Table) -> pa.Table:
        """The rows of ``table`` whose values in ``keys``' columns appear in ``keys`` (a few rows), as Arrow: a
        large table filtered by Spark before anything is collected."""
        k = self._frame(keys.drop_null()).distinct()
        return self._arrow(self._frame(table).join(k, keys.column_names, "left_semi"))

    def _frame(self, table: object) -> DataFrame:
        """A DataFrame from a DataFrame, an Arrow table, or the name of a table in the session."""
        if isinstance(table, DataFrame):
            return table
        if isinstance(table, pa.Table):
            return self.spark.createDataFrame(table, schema=spark_schema(table.schema))
        if isinstance(table, str):
            return self.spark.table(table)
        raise TypeError(f"SparkRunner: expected an Arrow table, a DataFrame or a table name, got {type(table).__name__}")

    def _arrow(self, table: object) -> pa.Table:
        if isinstance(table, pa.Table):
            return table
        df = self._frame(table)
        return df.toArrow().cast(arrow_schema(df.schema))
