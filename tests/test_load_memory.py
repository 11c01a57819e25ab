"""The loader streams each file: its Arrow memory is bounded by the batch, not by the file, and the result is
exactly the result of reading the file in one piece (same rows, same quarantine, same counts)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import run_cli

from yibao.contract.schema import TABLES

SRC = Path(__file__).resolve().parents[1] / "src"

LOAD = """
import json, sys
import pyarrow as pa
import yibao.contract.readers as readers
readers.STREAM_BLOCK = int(sys.argv[3])
from yibao.engine.loading import load_region
rep = load_region(sys.argv[1], sys.argv[2])
print(json.dumps({"peak": pa.default_memory_pool().max_memory(),
                  "tables": {t.table: [t.read, t.accepted, t.quarantined] for t in rep.tables}}))
"""


def load_with_block(region: Path, ws: Path, block: int) -> dict:
    """Load in a fresh process (the Arrow pool's peak is per process) with CSV batches of ``block`` bytes."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    r = subprocess.run([sys.executable, "-c", LOAD, str(region), str(ws), str(block)], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def snapshot(ws: Path) -> str:
    """Every contract table and the quarantine (without the load's path and time columns)."""
    con = duckdb.connect(str(ws / "yibao.duckdb"), read_only=True)
    try:
        h = hashlib.sha256()
        for name in TABLES:
            h.update(f"{name}:{con.execute(f'SELECT * FROM {name} ORDER BY ALL').fetchall()!r}".encode())
        q = con.execute("SELECT table_name, source_sha256, source_row, reason_code, reason_codes, message, original "
                        "FROM quarantine ORDER BY ALL").fetchall()
        h.update(repr(q).encode())
        return h.hexdigest()
    finally:
        con.close()


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("memory") / "region"
    r = run_cli("synth", "--cases", "1500", "--seed", "11", "--out", out)
    assert r.returncode == 0, r.stderr
    return out


def test_arrow_memory_is_bounded_by_the_batch_not_the_file(region: Path, tmp_path: Path) -> None:
    fee = (region / "fee_items.csv").stat().st_size
    assert fee > 1_500_000  # the file is many batches long
    small = load_with_block(region, tmp_path / "small", 1 << 13)
    whole = load_with_block(region, tmp_path / "whole", 1 << 26)
    assert small["tables"] == whole["tables"]
    read, accepted, quarantined = small["tables"]["fee_items"]
    assert read == accepted + quarantined and read > 15_000
    assert whole["peak"] > fee  # in one piece, the fee lines' text is all in memory at once …
    assert small["peak"] < fee / 3  # … streamed, only the batches in flight (8 KiB each, read ahead)
    assert snapshot(tmp_path / "small") == snapshot(tmp_path / "whole")


def test_bad_row_late_in_a_streamed_file_rereads_it_carefully(region: Path, tmp_path: Path) -> None:
    """A row with an extra field after many batches: the batches staged so far are discarded, the careful
    path quarantines that one row (BAD_ROW_SHAPE, its line) and every other row is loaded as before."""
    bad = tmp_path / "region"
    bad.mkdir()
    for p in region.iterdir():
        (bad / p.name).write_bytes(p.read_bytes())
    lines = (bad / "fee_items.csv").read_bytes().split(b"\n")
    k = len(lines) - 10
    lines[k] = lines[k] + b",extra"
    (bad / "fee_items.csv").write_bytes(b"\n".join(lines))
    small = load_with_block(bad, tmp_path / "small", 1 << 16)
    whole = load_with_block(bad, tmp_path / "whole", 1 << 26)
    assert small["tables"] == whole["tables"]
    read, accepted, quarantined = small["tables"]["fee_items"]
    assert quarantined >= 1 and read == accepted + quarantined
    assert snapshot(tmp_path / "small") == snapshot(tmp_path / "whole")
    con = duckdb.connect(str(tmp_path / "small" / "yibao.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT source_row, message FROM quarantine WHERE table_name = 'fee_items' "
                           "AND reason_code = 'BAD_ROW_SHAPE'").fetchall()
    finally:
        con.close()
    assert rows == [(k, f"第 {k} 行（文件第 {k + 1} 行）：字段个数与表头不符（应为 {len(lines[0].split(b','))} 个，"
                        f"实际 {len(lines[0].split(b',')) + 1} 个）")]


def test_memory_limit_option_is_checked(tmp_path: Path, region: Path) -> None:
    r = run_cli("load", region, "--workspace", tmp_path / "ws", "--memory-limit", "lots")
    assert r.returncode == 2 and "--memory-limit lots" in r.stderr and "内存上限无法识别" in r.stderr
    assert not (tmp_path / "ws").exists()
    r = run_cli("load", region, "--workspace", tmp_path / "ws", "--memory-limit", "256MB")
    assert r.returncode == 0, r.stderr
    assert any(ln.startswith("fee_items ") for ln in r.stdout.splitlines())
