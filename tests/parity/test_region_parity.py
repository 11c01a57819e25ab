"""End to end on a generated region: synth → load → profile, identical on every engine."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from regions import generated_workspace

from yibao.profile.pipelines import PROFILE
from yibao.profile.report import run_profile

from .test_runner_parity import csv_bytes, parquet_bytes


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_workspace(tmp_path_factory.mktemp("region"), seed=7, cases=4000)


@pytest.fixture(scope="module")
def reference(workspace: Path) -> dict[str, pa.Table]:
    """The profile computed by DuckDB directly over the workspace tables (no Arrow copy)."""
    return run_profile(workspace, "duckdb")


def test_profile_of_a_generated_region_is_identical(runner, workspace: Path, reference: dict[str, pa.Table]) -> None:
    import duckdb

    con = duckdb.connect(str(workspace / "yibao.duckdb"), read_only=True)
    try:
        sources = {n: con.sql(f"SELECT * FROM {n}").to_arrow_table() for n in PROFILE.sources}
    finally:
        con.close()
    got = runner.run_pipeline(PROFILE, sources)
    for name, table in reference.items():
        assert got[name].schema.equals(table.schema), name
        assert got[name].equals(table), name
        assert csv_bytes(got[name]) == csv_bytes(table), name
        assert parquet_bytes(got[name]) == parquet_bytes(table), name


def test_profile_totals_add_up_to_the_cases(workspace: Path, reference: dict[str, pa.Table]) -> None:
    """No fen appears or vanishes between the cases and the profile."""
    import duckdb

    con = duckdb.connect(str(workspace / "yibao.duckdb"), read_only=True)
    try:
        cases, cost, fund = con.execute(
            "SELECT count(*), sum(total_cost), sum(fund_paid) FROM cases").fetchall()[0]
    finally:
        con.close()
    region = reference["region_year"]
    assert sum(region.column("cases").to_pylist()) == cases
    assert sum(region.column("total_cost").to_pylist()) == cost
    assert sum(region.column("fund_paid").to_pylist()) == fund
    month = reference["institution_month"]
    assert sum(month.column("total_cost").to_pylist()) == cost


@pytest.mark.spark
def test_summary_on_spark_reads_the_workspace_and_agrees(spark, workspace: Path, reference: dict[str, pa.Table]) -> None:
    """`yibao summary --engine spark`: the workspace tables go to Spark and come back identical."""
    got = run_profile(workspace, "spark")
    assert all(got[name].equals(table) for name, table in reference.items())
