"""The error shape of every ``yibao`` command, as a reusable check (``tests/test_error_shape.py`` holds the table).

A refused command (exit 2) or a command stopped with a problem (exit 3) prints exactly one line on
stderr, starting with ``错误``, without a traceback, and changes nothing: the workspace's files keep
their bytes and modification times, and the ``--out`` target is not created (or, when it existed,
is unchanged).

Another table of cases (e.g. load errors) reuses this module::

    from errorshape import ErrorCase, check_case
    CASES = [ErrorCase("load-all-quarantined", ("load", "{tmp}/bad", "-w", "{ws}"), 3, "cases")]

    @pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
    def test_load_errors(case, shape_env):   # the fixture below: a dict of the paths named in {…}
        check_case(case, shape_env)

(import ``shape_env`` into the test module too, or add the rows to ``CASES`` in test_error_shape.py).

Placeholders in ``args`` are filled from the environment dict (``str.format``); ``setup`` gets the
dict and may add to it, and may return a function that undoes what it started (a process holding
the workspace, say).
"""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pytest
from conftest import run_cli, standards_dir

Setup = Callable[[dict], Optional[Callable[[], None]]]


@dataclass(frozen=True)
class ErrorCase:
    id: str
    args: tuple[str, ...]       # the command line after ``yibao``, with {placeholders}
    exit_code: int              # 2 refused input, 3 a problem the user must see
    needle: str = ""            # a part of the message the user needs (the file, the option …)
    setup: Optional[Setup] = None
    out: str = "out"            # the key of the environment naming the --out target (default {tmp}/out-<id>)
    workspace: str = "ws"       # the key of the environment naming the workspace


@pytest.fixture(scope="module")
def shape_env(tmp_path_factory) -> dict:
    """A small generated region, its workspace, DIP catalogue and scores, and helper files."""
    from regions import generated_workspace

    base = tmp_path_factory.mktemp("errorshape")
    generated_workspace(base, seed=5, cases=1500)
    for args in (("build", "--out", base / "cat"), ("score", "--catalogue", base / "cat", "--out", base / "scored")):
        r = run_cli("dip", *args, "-w", base / "ws")
        assert r.returncode == 0, r.stderr
    policy = base / "region" / "budget_policy.toml"
    text = policy.read_text(encoding="utf-8")
    assert "\nyear = 2025\n" in text
    (base / "policy2035.toml").write_text(text.replace("\nyear = 2025\n", "\nyear = 2035\n"), encoding="utf-8")
    (base / "adir").mkdir()
    (base / "scenario.toml").write_text('name = "x"\n[budget]\nscale = "0.9"\n', encoding="utf-8")
    std = standards_dir()
    return {"tmp": str(base), "ws": str(base / "ws"), "region": str(base / "region"), "cat": str(base / "cat"),
            "scored": str(base / "scored"), "policy": str(policy), "policy2035": str(base / "policy2035.toml"),
            "dir": str(base / "adir"), "scenario": str(base / "scenario.toml"),
            "standards": str(std) if std else ""}


def snapshot(path: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``path`` (or ``path`` itself) → (sha256, mtime_ns); {} when absent."""
    path = Path(path)
    if not path.exists():
        return {}
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p.relative_to(path) if p != path else p.name): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                                               p.stat().st_mtime_ns) for p in files}


def assert_error_shape(result, exit_code: int, needle: str = "") -> str:
    """One line on stderr starting with 错误, no traceback, the expected code; returns the line."""
    what = f"stdout={result.stdout!r} stderr={result.stderr!r}"
    assert result.returncode == exit_code, what
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, what
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and result.stderr.endswith("\n"), what
    assert lines[0].startswith("错误："), what
    assert needle in lines[0], what
    return lines[0]


def check_case(case: ErrorCase, env: dict, **run_kw) -> str:
    """Run ``case`` in ``env``: the error shape, and the workspace and the --out target unchanged."""
    env = dict(env)
    env.setdefault("out", os.fspath(Path(env["tmp"]) / f"out-{case.id}"))
    undo = case.setup(env) if case.setup is not None else None
    try:
        args = [a.format(**env) for a in case.args]
        ws = Path(env[case.workspace]) if case.workspace in env else None
        out = Path(env[case.out]) if case.out in env else None
        before_ws = snapshot(ws) if ws else {}
        before_out = snapshot(out) if out else {}
        out_existed = out.exists() if out else False
        result = run_cli(*args, **run_kw)
        line = assert_error_shape(result, case.exit_code, case.needle.format(**env))
        if ws is not None:
            assert snapshot(ws) == before_ws, f"{case.id}: the workspace changed"
        if out is not None:
            assert out.exists() == out_existed, f"{case.id}: --out {out} was created"
            assert snapshot(out) == before_out, f"{case.id}: --out {out} changed"
        return line
    finally:
        if undo is not None:
            undo()


def gb18030_file(name: str, rows: list[list[str]]):
    """Setup: a CSV saved as Excel does in China (GB18030, no BOM) at {tmp}/name, as env[name]."""
    def setup(env: dict):
        path = Path(env["tmp"]) / name
        with path.open("w", encoding="gb18030", newline="") as f:
            csv.writer(f).writerows(rows)
        env[name.split(".")[0]] = str(path)
    return setup


def hold_workspace(env: dict):
    """Setup: another process holds the workspace open for writing (as a running ``yibao load`` does)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time\n"
         f"con = duckdb.connect({str(Path(env['ws']) / 'yibao.duckdb')!r})\nprint('ready', flush=True)\ntime.sleep(120)"],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "ready"
    before = os.environ.get("YIBAO_LOCK_WAIT")
    os.environ["YIBAO_LOCK_WAIT"] = "2"  # a writer waits for the workspace this long (yibao.engine.wslock), then says so

    def undo() -> None:
        holder.kill()
        holder.wait()
        if before is None:
            os.environ.pop("YIBAO_LOCK_WAIT", None)
        else:
            os.environ["YIBAO_LOCK_WAIT"] = before
    return undo


def existing_out(env: dict):
    """Setup: the --out directory exists already, holding an earlier run's file (which must survive untouched)."""
    out = Path(env["out"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "earlier.csv").write_text("institution_id,amount\nH0001,1.00\n", encoding="utf-8")
    # an earlier yibao output (a directory yibao may replace), so that the command's own refusal is what stops it
    (out / "manifest.json").write_text('{"format": "yibao-output/1", "outputs": []}\n', encoding="utf-8")
