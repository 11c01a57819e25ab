"""Loading a region with Spark: the same rules as :mod:`yibao.engine.loading`, into partitioned Parquet.

``yibao load --engine spark DIR --out PARQUET_DIR`` (docs/scale.md §3). Every table of the region, in the
loader's dependency order:

1. **Read.** One Spark task per file streams it with the local loader's own reader
   (:func:`readers.stream_table`: encoding, header and mapping profile, ``_row`` numbers, the careful path
   for a CSV with a malformed line), so the text rows are exactly the local loader's. The rows are staged as
   Parquet (``PARQUET_DIR/_staging``, removed at the end); what the reader learnt about the file (hash,
   encoding, ignored and missing columns, shape errors, a fatal error) travels back in one extra row.
2. **Decide the national code formats** once over the whole file (``validate.enforced_formats``' rule: a
   format is enforced when ≥ NATIONAL_FORMAT_MIN_SHARE of the non-blank cells follow it), counted per Arrow
   batch in DuckDB and summed on the driver.
3. **References as Spark joins.** Each foreign key's text is joined (trimmed, as validation types it) to
   the keys accepted earlier in this load; each reference check (``ref_checks``, e.g. admission before
   birth) gets the referenced row's columns by a join too.
4. **Validate per key bucket.** Rows are hashed on the table's key (normalised as validation types it) into
   buckets — every duplicate of a key lands in one bucket — and each bucket runs the very same
   :func:`validate.validate` in DuckDB (``applyInArrow``): cell checks, row checks, duplicate keys, and the
   references against the values the join found. So reason codes, messages, ``source_row`` and ``original``
   are the local loader's by construction, not by a second implementation.
5. **Write.** Accepted rows as Parquet per table (``cases`` and ``fee_items`` partitioned by the case's
   settlement month, ``settle_month=YYYY-MM``), the quarantine beside them (``quarantine/table_name=…``),
   ``load.json`` with the counts, and the directory swapped in whole (:class:`outdir.OutputDir`). A table
   quarantined whole (or above ``--max-quarantine-share``) fails the load (exit 3) and writes nothing.

What differs from the local loader: there is no workspace to upsert into — the output holds this load only,
as a first load into an empty workspace would (references to tables that are not in the directory are
unknown, as they are there). Inputs must be paths every Spark executor can read (a shared file system).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Iterator

import duckdb
import pyarrow as pa

from yibao.contract.mapping import Profile, load_profile
from yibao.contract.optional import without
from yibao.contract.readers import ROW, CellIssue, RawTable, ShapeError, shipped_profile, stream_table
from yibao.contract.reasons import FatalLoadError
from yibao.contract.schema import FORMATS, LOAD_ORDER, NATIONAL_FORMAT_MIN_SHARE, TABLES, Table
from yibao.contract.validate import QUARANTINE_COLUMNS, lit, proven_columns, q, validate
from yibao.engine.loading import LoadProblem, LoadReport, TableReport, _discover, _problem, mask_text, parse_share
from yibao.engine.outdir import OutputDir
from yibao.engine.runner import query_arrow
from yibao.engine.spark import PARQUET_PARTITIONS, SparkRunner, arrow_schema, spark_schema, spark_session
from yibao.engine.workspace import PARQUET_REGION_FILE, PARQUET_REGION_FORMAT

try:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql import functions as F
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("Spark 引擎需要 pyspark：pip install 'yibao[spark]'") from exc

__all__ = ["load_region_spark", "levels", "arrow_of"]

PARTITIONS = PARQUET_PARTITIONS  # the derived column a table is partitioned by
QUARANTINE_DIR = "quarantine"
_META, _GEN, _PATH = "_yibao_meta", "_yibao_gen", "_yibao_path"
_ACC = "_yibao_accepted"
_BUCKET = "_yibao_bucket"
_QPREFIX = "q_"
_R_COL = re.compile(r"\br\.\"?([A-Za-z_][A-Za-z0-9_]*)")


# --- 1. read ---------------------------------------------------------------------------------

def _text_schema(t: Table) -> pa.Schema:
    return pa.schema([*(pa.field(c, pa.string()) for c in t.column_names), pa.field(ROW, pa.int64()),
                      pa.field(_GEN, pa.int32()), pa.field(_META, pa.string())])


def _reader_task(t: Table, profile: Profile):
    """The Spark task reading whole files (one path per input row) with the local loader's reader."""
    schema = _text_schema(t)
    names = t.column_names

    def rows(batch: pa.Table, gen: int) -> pa.RecordBatch:
        cols = [batch.column(c) for c in names] + [batch.column(ROW),
                                                   pa.array([gen] * batch.num_rows, pa.int32()),
                                                   pa.nulls(batch.num_rows, pa.string())]
        return pa.Table.from_arrays(cols, schema=schema).combine_chunks().to_batches()

    def meta(info: dict) -> pa.RecordBatch:
        cols = [pa.nulls(1, pa.string()) for _ in names] + [pa.array([-1], pa.int64()), pa.array([-1], pa.int32()),
                                                           pa.array([json.dumps(info, ensure_ascii=False)])]
        return pa.RecordBatch.from_arrays(cols, schema=schema)

    fmt_sql = _format_sql(t)

    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        con = duckdb.connect()
        for b in batches:
            for path in b.column(_PATH).to_pylist():
                gen = 0
                counts = [0] * (2 * len(_format_columns(t)))
                try:
                    raw, it = stream_table(Path(path), t, profile)
                    for batch, restart in it:
                        if restart:  # the careful path re-read the whole file: only this generation counts
                            gen += 1
                            counts = [0] * len(counts)
                        if fmt_sql is not None and batch.num_rows:
                            con.register("_batch", batch)
                            counts = [a + (b or 0) for a, b in zip(counts, con.execute(fmt_sql).fetchall()[0])]
                            con.unregister("_batch")
                        yield from rows(batch, gen)
                except FatalLoadError as exc:
                    yield meta({"fatal": [exc.path, exc.problem]})
                    continue
                yield meta({"gen": gen, "format_counts": counts, "encoding": raw.encoding, "sha256": raw.sha256, "rows": raw.rows,
                            "ignored_columns": raw.ignored_columns, "missing_optional": raw.missing_optional,
                            "shape_errors": [asdict(e) for e in raw.shape_errors],
                            "cell_issues": [asdict(i) for i in raw.cell_issues],
                            "mapped_columns": raw.mapped_columns, "mapped_values": raw.mapped_values,
                            "numeric_code_cells": raw.numeric_code_cells, "header_row": raw.header_row})

    return task


def _read(spark: SparkSession, t: Table, path: Path, profile: Profile,
          staging: Path) -> tuple[DataFrame, RawTable, frozenset[str]]:
    """The file's text rows (staged as Parquet), the reader's description of it (``data`` None) and the columns
    whose national code format is enforced."""
    files = spark.createDataFrame([(str(path),)], f"{_PATH} string").repartition(1)
    staged = staging / f"raw_{t.name}"
    files.mapInArrow(_reader_task(t, profile), spark_schema(_text_schema(t))).write.parquet(str(staged))
    df = spark.read.parquet(str(staged))
    info = json.loads(df.filter(F.col(_META).isNotNull()).select(_META).collect()[0][0])
    if "fatal" in info:
        raise FatalLoadError(*info["fatal"])
    raw = RawTable(t, path, None, info["encoding"], info["sha256"], info["ignored_columns"], info["missing_optional"],
                   [ShapeError(**e) for e in info["shape_errors"]], [CellIssue(**i) for i in info["cell_issues"]],
                   info["mapped_columns"], info["mapped_values"], info["numeric_code_cells"], info["header_row"],
                   rows=info["rows"])
    text = df.filter(F.col(_META).isNull() & (F.col(_GEN) == info["gen"])).drop(_META, _GEN)
    return text, raw, _enforced(t, info["format_counts"])


# --- 2. national code formats ----------------------------------------------------------------

def _format_columns(t: Table) -> list:
    return [c for c in t.columns if c.format and FORMATS[c.format].majority]


def _format_sql(t: Table) -> str | None:
    """The counts behind ``validate.enforced_formats`` (its SQL: non-blank cells, cells in the format) for one
    batch ``_batch``, so that they can be summed over the whole file."""
    parts = []
    for c in _format_columns(t):
        x = f"NULLIF(trim({q(c.name)}), '')"
        parts += [f"CAST(count({x}) AS BIGINT)",
                  f"CAST(count_if(regexp_full_match({x}, {lit(FORMATS[c.format].pattern)})) AS BIGINT)"]
    return f"SELECT {', '.join(parts)} FROM _batch" if parts else None


def _enforced(t: Table, counts: list[int]) -> frozenset[str]:
    """Columns whose majority national format is enforced over the whole file (the rule of
    ``validate.enforced_formats``: at least NATIONAL_FORMAT_MIN_SHARE of the non-blank cells follow it)."""
    enforced = set()
    for i, c in enumerate(_format_columns(t)):
        total, good = counts[2 * i], counts[2 * i + 1]
        if total and good >= NATIONAL_FORMAT_MIN_SHARE * total:
            enforced.add(c.name)
    return frozenset(enforced)


# --- 3. references as joins ------------------------------------------------------------------

def _key_text(col: str) -> object:
    """A code cell as validation types it (``NULLIF(trim(x), '')``): DuckDB's and Spark's ``trim`` both strip spaces."""
    return F.trim(F.col(col))


def _ref_flag(i: int) -> str:
    return f"_yibao_ref{i}"


def _rc_col(j: int, name: str) -> str:
    return f"_yibao_rc{j}_{name}"


def _ref_columns(rc) -> list[str]:
    cols = [rc.ref_column]
    for name in _R_COL.findall(rc.violation_sql + " " + rc.detail_sql):
        if name not in cols:
            cols.append(name)
    return cols


def _joined(text: DataFrame, t: Table, accepted: dict[str, DataFrame]) -> tuple[DataFrame, list, list]:
    """The text rows with, per foreign key, whether the referenced key exists (``_yibao_ref{i}``), and per
    reference check the referenced row's columns; (frame, the foreign keys checked, the ref checks made)."""
    fks = list(t.foreign_keys)
    for i, fk in enumerate(fks):
        ref = fk.ref_columns[0]
        keys = accepted.get(fk.ref_table)
        if keys is None:  # the referenced table is not in this load: every reference is unknown (as in a fresh workspace)
            text = text.withColumn(_ref_flag(i), F.lit(False))
            continue
        k = keys.select(F.col(ref).alias("_yibao_k")).distinct().withColumn("_yibao_found", F.lit(True))
        text = (text.join(k, _key_text(fk.columns[0]) == F.col("_yibao_k"), "left")
                .withColumn(_ref_flag(i), F.coalesce(F.col("_yibao_found"), F.lit(False)))
                .drop("_yibao_k", "_yibao_found"))
    checks = []
    for j, rc in enumerate(t.ref_checks):
        if rc.ref_table not in {fk.ref_table for fk in fks} or rc.ref_table not in accepted:
            continue  # as the local loader: checked where the referenced table is held
        cols = _ref_columns(rc)
        r = accepted[rc.ref_table].select([F.col(c).alias(_rc_col(j, c)) for c in cols])
        text = text.join(r, _key_text(rc.column) == F.col(_rc_col(j, rc.ref_column)), "left")
        checks.append((j, rc, cols))
    return text, fks, checks


# --- 4. validate per key bucket --------------------------------------------------------------

def _bucket_key(t: Table) -> list:
    """The key as validation types it: an integer key by value (``01`` = ``1``), any other as trimmed text."""
    out = []
    for k in t.key:
        c = t.column(k)
        out.append(F.trim(F.col(k)).cast("long") if c.kind == "int" else F.trim(F.col(k)))
    return out


def _out_schema(t: Table) -> pa.Schema:
    qtypes = {"BIGINT": pa.int64(), "VARCHAR": pa.string(), "VARCHAR[]": pa.list_(pa.string())}
    return pa.schema([*t.arrow_schema(), *(pa.field(_QPREFIX + n, qtypes[ty]) for n, ty in QUARANTINE_COLUMNS),
                      pa.field(_ACC, pa.bool_())])


def _validator(t: Table, raw: RawTable, enforced: frozenset[str], fks: list, checks: list, load_id: int):
    """The Spark task validating one bucket with :func:`validate.validate` (accepted and quarantined rows in one
    frame, ``_yibao_accepted`` telling them apart)."""
    out = _out_schema(t)
    text_cols = [*t.column_names, ROW]
    format_cols = {c.name for c in _format_columns(t)}
    path, encoding, sha, cell_issues = raw.path, raw.encoding, raw.sha256, raw.cell_issues

    def task(group: pa.Table) -> pa.Table:
        con = duckdb.connect()
        try:
            data = group.select(text_cols)
            con.register("_bucket", group)
            rel = f"_raw_{t.name}"
            con.execute(f"CREATE TEMP TABLE {rel} AS SELECT {', '.join(q(c) for c in text_cols)} FROM _bucket")
            refs: dict[str, list[str]] = {}
            for i, fk in enumerate(fks):  # the values of this bucket the join found among the referenced keys
                refs.setdefault(fk.ref_table, []).append(
                    f"SELECT NULLIF(trim({q(fk.columns[0])}), '') AS {q(fk.ref_columns[0])} FROM _bucket "
                    f"WHERE {q(_ref_flag(i))}")
            for j, rc, cols in checks:  # the referenced rows, as a workspace table of that name
                sel = ", ".join(f"{q(_rc_col(j, c))} AS {q(c)}" for c in cols)
                con.execute(f"CREATE TABLE {rc.ref_table} AS SELECT DISTINCT {sel} FROM _bucket "
                            f"WHERE {q(_rc_col(j, rc.ref_column))} IS NOT NULL")
            proven, _ = proven_columns(data, t)
            part = RawTable(t, path, None, encoding, sha, cell_issues=cell_issues, rows=data.num_rows,
                            relation=rel, proven=proven, conforming=enforced)
            v = validate(con, part, {k: "(" + " UNION ALL ".join(s) + ")" for k, s in refs.items()}, load_id)
            for c in sorted(format_cols - enforced):  # not enforced over the file: not in a bucket either
                noted = any(note.startswith(f"{t.name}.{c}：") for note in v.notes)
                if not noted and con.execute(f"SELECT count(NULLIF(trim({q(c)}), '')) FROM {rel}").fetchall()[0][0]:
                    raise RuntimeError(f"{t.name}.{c}: a bucket reached the national-format share the whole file "
                                       "does not; its rows would be checked differently (docs/scale.md §3.1)")
            acc = query_arrow(con, f"SELECT * FROM {v.accepted_relation}")
            qua = query_arrow(con, f"SELECT * FROM {v.quarantine_relation}")
        finally:
            con.close()
        n, m = acc.num_rows, qua.num_rows
        cols = []
        for f in out:
            if f.name == _ACC:
                cols.append(pa.array([True] * n + [False] * m, pa.bool_()))
            elif f.name.startswith(_QPREFIX) and f.name[len(_QPREFIX):] in qua.column_names:
                cols.append(pa.concat_arrays([pa.nulls(n, f.type),
                                              qua.column(f.name[len(_QPREFIX):]).cast(f.type).combine_chunks()]))
            else:
                cols.append(pa.concat_arrays([acc.column(f.name).cast(f.type).combine_chunks(), pa.nulls(m, f.type)]))
        return pa.Table.from_arrays(cols, schema=out)

    return task


def _shape_quarantine(raw: RawTable, load_id: int) -> pa.Table:
    """The quarantine rows of the lines that are not rows (shape errors): :func:`validate` over no data row."""
    t = raw.schema
    empty = pa.table({**{c: pa.array([], pa.string()) for c in t.column_names}, ROW: pa.array([], pa.int64())})
    part = RawTable(t, raw.path, empty, raw.encoding, raw.sha256, shape_errors=raw.shape_errors)
    con = duckdb.connect()
    try:
        v = validate(con, part, {}, load_id)
        return query_arrow(con, f"SELECT * FROM {v.quarantine_relation}")
    finally:
        con.close()


# --- 5. the load -----------------------------------------------------------------------------

@dataclass
class SparkLoadReport(LoadReport):
    out: str = ""
    partitions: dict[str, str] = field(default_factory=dict)


def levels(names: list[str]) -> list[list[str]]:
    """The tables in groups that can be validated at the same time: a table comes after every table its foreign
    keys and reference checks read (in the loader's order within a group)."""
    out: list[list[str]] = []
    rest = [n for n in LOAD_ORDER if n in names]
    while rest:
        ready = [n for n in rest if all(fk.ref_table not in rest or fk.ref_table == n for fk in TABLES[n].foreign_keys)]
        out.append(ready)
        rest = [n for n in rest if n not in ready]
    return out


def _load_table(spark: SparkSession, name: str, path: Path, profile: Profile, staging: Path, tmp: Path,
                accepted: dict[str, DataFrame], load_id: int) -> tuple[TableReport, DataFrame, DataFrame]:
    """One table: read, join, validate per bucket, write its accepted rows; (report, accepted, quarantine)."""
    t = TABLES[name]
    text, raw, enforced = _read(spark, t, path, profile, staging)
    joined, fks, checks = _joined(text, t, accepted)
    bucket = F.pmod(F.xxhash64(*_bucket_key(t)), F.lit(int(spark.conf.get("spark.sql.shuffle.partitions"))))
    result = joined.withColumn(_BUCKET, bucket).groupBy(_BUCKET).applyInArrow(
        _validator(t, raw, enforced, fks, checks, load_id), spark_schema(_out_schema(t)))
    stage = staging / f"valid_{name}"
    result.write.parquet(str(stage))
    result = spark.read.parquet(str(stage))
    acc = result.filter(F.col(_ACC)).select(t.column_names)
    qua = result.filter(~F.col(_ACC)).select([F.col(_QPREFIX + n).alias(n) for n, _ in QUARANTINE_COLUMNS])
    stats = result.groupBy(_ACC, F.col(_QPREFIX + "reason_code").alias("code")).agg(
        F.count(F.lit(1)).alias("n"),
        F.min(F.struct(F.col(_QPREFIX + "source_row"), F.col(_QPREFIX + "message"))).alias("first")).collect()
    shape = _shape_quarantine(raw, load_id)
    if shape.num_rows:
        qua = qua.unionByName(spark.createDataFrame(shape, schema=qua.schema))
    n_acc = sum(r["n"] for r in stats if r[_ACC])
    counts: dict[str, int] = {}
    first: dict[str, tuple[int, str]] = {}
    for r in stats:
        if not r[_ACC]:
            counts[r["code"]] = counts.get(r["code"], 0) + r["n"]
            first[r["code"]] = min(first.get(r["code"], (r["first"][0], r["first"][1])), (r["first"][0], r["first"][1]))
    for row, code, message in zip(shape.column("source_row").to_pylist(), shape.column("reason_code").to_pylist(),
                                  shape.column("message").to_pylist()):
        counts[code] = counts.get(code, 0) + 1
        if code not in first or (row is not None and (first[code][0] is None or row < first[code][0])):
            first[code] = (row, message)
    n_qua = sum(counts.values())
    if n_acc + n_qua != raw.read:  # conservation: no row may vanish or appear
        raise AssertionError(f"{name}: read {raw.read} != accepted {n_acc} + quarantined {n_qua}")
    reasons = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    example = ""
    if reasons:
        row, message = first[next(iter(reasons))]
        example = mask_text(f"第 {row} 行「{message}」")
    report = TableReport(name, str(raw.path), raw.encoding, raw.read, n_acc, n_qua, n_acc, 0, raw.ignored_columns,
                         reasons, {c: without(name, c) for c in raw.missing_optional}, dict(raw.mapped_columns),
                         dict(raw.mapped_values), dict(raw.numeric_code_cells), raw.header_row, example)
    report.sha256 = raw.sha256  # type: ignore[attr-defined]  (for load.json)
    return report, _write_accepted(acc, name, tmp, accepted), qua


def load_region_spark(directory: Path, out: Path, spark: SparkSession | None = None, *,
                      mapping: Path | None = None, max_quarantine_share: str | Decimal | None = None,
                      command: str = "yibao load --engine spark", options: dict | None = None) -> SparkLoadReport:
    """Validate the region in ``directory`` with Spark into the Parquet directory ``out`` (module docstring)."""
    t0 = time.perf_counter()
    share = parse_share(max_quarantine_share)
    profile = load_profile(Path(mapping)) if mapping is not None else shipped_profile()
    files, unrecognised = _discover(directory, profile)
    spark = spark or spark_session()
    load_id = 1
    od = OutputDir(Path(out), command=command, options=options or {}, inputs={"directory": Path(directory)})
    with od as tmp:
        staging = tmp / "_staging"
        accepted: dict[str, DataFrame] = {}
        done: dict[str, tuple[TableReport, DataFrame]] = {}
        with ThreadPoolExecutor(max_workers=4) as pool:  # Spark runs the jobs of independent tables side by side
            for group in levels(list(files)):
                futures = {n: pool.submit(_load_table, spark, n, files[n], profile, staging, tmp, dict(accepted),
                                          load_id) for n in group}
                for n in group:
                    report, acc, qua = futures[n].result()
                    accepted[n] = acc
                    done[n] = (report, qua)
        reports = [done[n][0] for n in LOAD_ORDER if n in done]
        problem = _problem(reports, share, [f for f, _ in unrecognised])
        if problem:
            raise LoadProblem(problem, reports, unrecognised)  # nothing is put in place
        quarantines = [done[n][1] for n in LOAD_ORDER if n in done]
        if quarantines:
            qall = quarantines[0]
            for other in quarantines[1:]:
                qall = qall.unionByName(other)
            qall.repartition(1).sortWithinPartitions("table_name", "source_row") \
                .write.partitionBy("table_name").parquet(str(tmp / QUARANTINE_DIR))
        shutil.rmtree(staging, ignore_errors=True)
        _clean_markers(tmp)
        report = SparkLoadReport(load_id, str(directory), str(out), reports, [f for f, _ in unrecognised],
                                 unrecognised=unrecognised, mapping=list(profile.sources), out=str(out),
                                 partitions={k: v for k, v in PARTITIONS.items() if k in files})
        report.seconds = time.perf_counter() - t0
        (tmp / PARQUET_REGION_FILE).write_text(json.dumps({
            "format": PARQUET_REGION_FORMAT, "source_dir": str(Path(directory).resolve()),
            "partitions": report.partitions, "quarantine": QUARANTINE_DIR,
            "tables": {r.table: {"file": Path(r.file).name, "sha256": r.sha256, "encoding": r.encoding,
                                 "read": r.read, "accepted": r.accepted, "quarantined": r.quarantined,
                                 "reasons": r.reasons} for r in reports},
        }, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return report


def _write_accepted(acc: DataFrame, name: str, tmp: Path, accepted: dict[str, DataFrame]) -> DataFrame:
    """Accepted rows of ``name`` as Parquet (partitioned where :data:`PARTITIONS` says), read back for the
    references of later tables."""
    target = str(tmp / name)
    part = PARTITIONS.get(name)
    key = [F.col(k) for k in TABLES[name].key]
    if part is None:
        acc.coalesce(1).sortWithinPartitions(*key).write.parquet(target)
    else:
        if name == "cases":
            acc = acc.withColumn(part, F.date_format("settle_date", "yyyy-MM"))
        else:  # fee lines: their case's settlement month (every accepted line's case is accepted: UNKNOWN_CASE)
            if "cases" in accepted:
                months = accepted["cases"].select("case_id", F.date_format("settle_date", "yyyy-MM").alias(part))
                acc = acc.join(months, "case_id", "left").select(*TABLES[name].column_names, part)
            else:
                acc = acc.withColumn(part, F.lit(None).cast("string"))
        acc.repartition(F.col(part)).sortWithinPartitions(*key).write.partitionBy(part).parquet(target)
    return SparkRunner(acc.sparkSession).parquet_table(tmp, name)


def _clean_markers(directory: Path) -> None:
    """Spark's ``_SUCCESS`` markers and checksum files are not part of the dataset."""
    for p in list(directory.rglob("_SUCCESS")) + list(directory.rglob(".*.crc")):
        p.unlink()


def arrow_of(df: DataFrame) -> pa.Table:
    """A DataFrame as an Arrow table in its own types (tests, small tables)."""
    return df.toArrow().cast(arrow_schema(df.schema))
