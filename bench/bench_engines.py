"""Engine timings behind docs/adr/0001-engines.md (not collected by pytest).

    .venv/bin/python bench/bench_engines.py [rows]   # default 2 000 000 case rows

Builds a ``cases`` table with the full contract schema from numpy (≈ rows/5 persons, 500
institutions) and times the region-profile pipeline on DuckDB, on Spark local[2] through
:class:`SparkRunner`, the partitioned step with one ``applyInArrow`` call per key instead of per
bucket, and a Spark-SQL-native version of ``institution_month`` for comparison.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from datetime import date

import numpy as np
import pyarrow as pa

from yibao.contract.schema import CASES, INSTITUTIONS
from yibao.engine.runner import LocalRunner, conform, tables_equal
from yibao.profile.pipelines import INSTITUTION_MONTH, PROFILE


@contextmanager
def timed(label: str, figures: dict[str, float]):
    start = time.perf_counter()
    yield
    figures[label] = time.perf_counter() - start
    print(f"{label:<58} {figures[label]:8.2f} s", flush=True)


def ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    return pa.array(np.char.add(prefix, np.char.zfill(numbers.astype(str), width)).astype(object), pa.string())


def money(fen: np.ndarray) -> pa.Array:
    """Whole fen → decimal128(18,2) yuan, built from the unscaled 128-bit integers (no float)."""
    unscaled = np.zeros((len(fen), 2), np.int64)
    unscaled[:, 0] = fen
    unscaled[:, 1] = np.where(fen < 0, -1, 0)
    return pa.Array.from_buffers(pa.decimal128(18, 2), len(fen), [None, pa.py_buffer(unscaled)])


def generate(rows: int, seed: int = 7) -> dict[str, pa.Table]:
    rng = np.random.default_rng(seed)
    n_inst, n_person = 500, max(rows // 5, 1)
    inst_no = np.arange(n_inst)
    kinds = np.where(inst_no < 60, "hospital", np.where(inst_no < 350, "primary", "pharmacy"))
    institutions = pa.table({
        "institution_id": ids("I", inst_no, 5), "name": ids("机构", inst_no, 5),
        "kind": pa.array(kinds.astype(object)),
        "level": pa.array(np.where(inst_no < 20, 3, np.where(inst_no < 60, 2, inst_no % 2)), pa.int32()),
        "category": pa.array(["general"] * n_inst), "region_code": pa.array(["330102"] * n_inst),
        "agreement_start": pa.array([date(2020, 1, 1)] * n_inst, pa.date32()),
        "agreement_end": pa.nulls(n_inst, pa.date32()),
    }, schema=INSTITUTIONS.arrow_schema())

    inst = rng.integers(0, n_inst, rows)
    inpatient = (inst < 60) & (rng.random(rows) < 0.3)
    admit = rng.integers(0, 730, rows) + (date(2023, 1, 1) - date(1970, 1, 1)).days
    stay = np.where(inpatient, rng.integers(0, 20, rows), 0)
    total = np.where(inpatient, rng.integers(200_000, 5_000_000, rows), rng.integers(0, 60_000, rows))
    excluded = total * rng.choice([0, 0, 3, 8], rows) // 100
    self_pay = (total - excluded) * rng.choice([10, 15, 25, 30], rows) // 100
    nulls = rng.random(rows) < 0.1
    offsets = np.concatenate([[0], np.cumsum(rng.integers(0, 3, rows))])
    dx = pa.array(np.array(["J18.900", "I10.x00", "K80.100", "E11.900"], dtype=object)[rng.integers(0, 4, offsets[-1])])
    person = rng.integers(0, n_person, rows)
    columns = {
        "case_id": ids("C", np.arange(rows), 9), "person_id": ids("R", person, 8),
        "institution_id": ids("I", inst, 5),
        "scheme": pa.array(np.where(person % 3 == 0, "employee", "resident").astype(object)),
        "sex": pa.array(np.where(person % 2 == 0, "1", "2").astype(object), mask=nulls),
        "age_years": pa.array(rng.integers(0, 100, rows).astype(np.int32), mask=nulls),
        "setting": pa.array(np.where(inpatient, "inpatient", "outpatient").astype(object)),
        "admit_date": pa.array(admit.astype(np.int32), pa.int32()).cast(pa.date32()),
        "discharge_date": pa.array((admit + stay).astype(np.int32), pa.int32()).cast(pa.date32()),
        "dept_code": pa.array(["A03"] * rows), "attending_staff_id": pa.nulls(rows, pa.string()),
        "principal_dx": dx.take(pa.array(rng.integers(0, len(dx), rows))),
        "secondary_dx": pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), dx),
        "procedures": pa.nulls(rows, pa.list_(pa.string())),
        "discharge_mode": pa.array(np.where(inpatient, "1", None).astype(object)),
        "newborn_age_days": pa.nulls(rows, pa.int32()), "newborn_weight_g": pa.nulls(rows, pa.int32()),
        "emergency": pa.array(rng.random(rows) < 0.05),
        "total_cost": money(total), "fund_paid": money(total - excluded - self_pay),
        "self_pay": money(self_pay), "out_of_pocket_excluded": money(excluded),
        "settle_date": pa.array((admit + stay + rng.integers(0, 3, rows)).astype(np.int32), pa.int32()).cast(pa.date32()),
    }
    return {"cases": pa.table(columns, schema=CASES.arrow_schema()), "institutions": institutions}


def spark_native_institution_month(df):
    """``institution_month`` in Spark SQL functions (no Python): sums, distinct count, exact averages."""
    from pyspark.sql import functions as F

    c = (df.withColumn("year_month", F.date_format("settle_date", "yyyy-MM"))
         .withColumn("los_days", F.when(F.col("setting") == "inpatient",
                                        F.greatest(F.datediff("discharge_date", "admit_date"), F.lit(1)))))
    money_cols = ("total_cost", "fund_paid", "self_pay", "out_of_pocket_excluded")
    return (c.groupBy("institution_id", "year_month", "scheme", "setting").agg(
        F.count("*").alias("cases"), F.countDistinct("person_id").alias("persons"),
        *[F.sum(m).cast("decimal(18,2)").alias(m) for m in money_cols],
        F.round(F.avg("total_cost"), 2).cast("decimal(18,2)").alias("avg_cost"),  # decimal avg, HALF_UP
        F.sum("los_days").alias("inpatient_days"),
        F.round(F.sum("los_days").cast("decimal(38,0)") / F.count("los_days"), 2).cast("decimal(18,2)").alias("avg_los"),
    ))


def main(rows: int) -> None:
    figures: dict[str, float] = {}
    with timed(f"generate {rows:,} case rows (numpy → Arrow)", figures):
        src = generate(rows)
    local = LocalRunner()
    with timed("duckdb: region_profile pipeline (3 steps)", figures):
        expected = local.run_pipeline(PROFILE, src)
    for step in PROFILE.steps:
        with timed(f"duckdb:   step {step.name}", figures):
            local.run(step, {**src, **expected})

    from yibao.engine.spark import SparkRunner, spark_schema, spark_session

    with timed("spark: start local[2] session", figures):
        spark = spark_session()
    runner = SparkRunner(spark)
    with timed("spark: Arrow → DataFrame (createDataFrame, cached)", figures):
        cases = spark.createDataFrame(src["cases"], schema=spark_schema(src["cases"].schema)).cache()
        cases.count()
    sources = {"cases": cases, "institutions": src["institutions"]}
    runner.run_pipeline(PROFILE, {"cases": cases.limit(1000), "institutions": src["institutions"]})  # warm workers
    with timed(f"spark: region_profile pipeline, SparkRunner ({runner.buckets} buckets)", figures):
        got = runner.run_pipeline(PROFILE, sources)
    assert all(tables_equal(expected[k], got[k]) for k in expected), "Spark result differs from DuckDB"
    with timed("spark:   step institution_month (bucketed applyInArrow)", figures):
        runner.run(INSTITUTION_MONTH, sources)
    with timed("spark:   step person_year (bucketed applyInArrow)", figures):
        runner.run(PROFILE.steps[1], sources)
    wide = SparkRunner(spark, buckets=16)
    with timed("spark:   step person_year (16 buckets)", figures):
        wide.run(PROFILE.steps[1], sources)

    step = INSTITUTION_MONTH
    with timed("spark:   step institution_month, one applyInArrow call per key", figures):
        per_key = cases.groupBy(*step.partition_by).applyInArrow(
            lambda t: step.apply({"cases": t}), spark_schema(step.schema)).toArrow()
    with timed("spark:   step institution_month, Spark SQL native", figures):
        native = spark_native_institution_month(cases).toArrow()
    print("per-key equal:", tables_equal(conform(per_key, step), expected[step.name]),
          "| native equal:", tables_equal(conform(native, step), expected[step.name]))
    sample = cases.limit(min(rows // 20, 5_000))
    person_step = PROFILE.steps[1]
    with timed(f"spark:   step person_year on {min(rows // 20, 5_000):,} rows, one call per person", figures):
        sample.groupBy("person_id").applyInArrow(
            lambda t: person_step.apply({"cases": t}), spark_schema(person_step.schema)).count()
    with timed(f"spark:   step person_year on {min(rows // 20, 5_000):,} rows, bucketed", figures):
        runner._execute(person_step, {"cases": sample}).count()
    spark.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000)
