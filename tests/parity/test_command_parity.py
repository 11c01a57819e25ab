"""Command parity (命令级一致性): a capability command on DuckDB from the workspace and on Spark from the Parquet
region of the same data write the same CSV files, byte for byte.

The Parquet region is written here from the loaded workspace in the layout ``yibao load --engine spark`` writes
(``cases`` and ``fee_items`` partitioned by ``settle_month``, ``load.json``), by DuckDB, so that this module
costs no Spark load; that the Spark loader's rows equal the workspace's is tested in ``test_spark_load.py``.
One small region, one Spark session (the suite's), each command run in process.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from regions import generated_workspace

from yibao.cli._common import run
from yibao.contract.schema import TABLES
from yibao.engine.spark import PARQUET_PARTITIONS
from yibao.engine.workspace import PARQUET_REGION_FILE, PARQUET_REGION_FORMAT, is_parquet_region

pytestmark = pytest.mark.spark


def parquet_region(ws: Path, out: Path) -> Path:
    """The workspace's tables as a Parquet region (the Spark loader's layout)."""
    out.mkdir()
    con = duckdb.connect(str(ws / "yibao.duckdb"), read_only=True)
    try:
        for name in TABLES:
            part = PARQUET_PARTITIONS.get(name)
            target = str(out / name)
            if part is None:
                (out / name).mkdir()
                con.execute(f"COPY (SELECT * FROM main.{name}) TO '{target}/part-0.parquet' (FORMAT parquet)")
                continue
            month = ("strftime(settle_date, '%Y-%m')" if name == "cases" else
                     "(SELECT strftime(c.settle_date, '%Y-%m') FROM main.cases c WHERE c.case_id = l.case_id)")
            con.execute(f"COPY (SELECT l.*, {month} AS {part} FROM main.{name} l) TO '{target}' "
                        f"(FORMAT parquet, PARTITION_BY ({part}))")
    finally:
        con.close()
    (out / PARQUET_REGION_FILE).write_text(json.dumps({"format": PARQUET_REGION_FORMAT}), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory, spark) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("commands")
    ws = generated_workspace(base, seed=5, cases=600)
    pq = parquet_region(ws, base / "parquet")
    assert is_parquet_region(pq)
    assert run(["dip", "build", "--workspace", str(ws), "--out", str(base / "cat")]) == 0
    return base, ws, pq


def _csvs(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*.csv"))}


def _same_csvs(a: Path, b: Path) -> None:
    left, right = _csvs(a), _csvs(b)
    assert left and sorted(left) == sorted(right)
    for name in left:
        assert left[name] == right[name], name


def test_dip_score(region) -> None:
    base, ws, pq = region
    cat = base / "cat"
    assert run(["dip", "score", "-w", str(ws), "--catalogue", str(cat), "--out", str(base / "score-duckdb")]) == 0
    assert run(["dip", "score", "-w", str(pq), "--catalogue", str(cat), "--out", str(base / "score-spark"),
                "--engine", "spark"]) == 0
    _same_csvs(base / "score-duckdb", base / "score-spark")
    assert (base / "score-spark" / "scored_cases.csv").read_bytes().count(b"\n") > 10


def test_review(region) -> None:
    base, ws, pq = region
    assert run(["review", "-w", str(ws), "--out", str(base / "review-duckdb")]) == 0
    assert run(["review", "-w", str(pq), "--out", str(base / "review-spark"), "--engine", "spark"]) == 0
    _same_csvs(base / "review-duckdb", base / "review-spark")
    assert (base / "review-spark" / "findings.csv").read_bytes().count(b"\n") > 1
    assert not (pq / "store.sqlite3").exists()  # a Parquet region holds no store of record


def test_a_parquet_region_needs_the_spark_engine(region, capsys) -> None:
    base, _, pq = region
    assert run(["review", "-w", str(pq), "--out", str(base / "review-refused")]) == 2
    assert "--engine spark" in capsys.readouterr().err
    assert run(["dip", "score", "-w", str(pq), "--catalogue", str(base / "cat"), "--out", str(base / "x")]) == 2
