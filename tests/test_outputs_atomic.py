"""Output directories (yibao.engine.outdir): whole or not at all, replaced whole, refused when not yibao's,
file names from data kept inside, CSV text that a spreadsheet would run escaped.

The kill test runs ``yibao review``, ``yibao dip score`` and ``yibao dip settle`` in a subprocess on a small generated region,
kills them with SIGKILL at seeded random moments (some while they compute, some while their temporary directory is
being written) and checks after each kill that ``--out`` is the complete old output (its manifest lists exactly
its files, with their sizes and hashes) or the complete new one — never a mix, never a cut-short file.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from conftest import run_cli

from yibao.contract.errors import BadOption
from yibao.engine.csvfile import escape_text, rows_csv
from yibao.engine.outdir import OutputDir, inside, safe_id, safe_name


@pytest.fixture(scope="module")
def region(tmp_path_factory) -> Path:
    from regions import generated_workspace

    base = tmp_path_factory.mktemp("outputs")
    generated_workspace(base, seed=5, cases=3000)
    (base / "dip.toml").write_text('[catalogue]\nyears = [2023, 2024]\nyear_weights = ["3", "7"]\n', encoding="utf-8")
    r = run_cli("dip", "build", "-w", base / "ws", "--policy", base / "dip.toml", "--out", base / "cat")
    assert r.returncode == 0, r.stderr
    r = run_cli("dip", "score", "-w", base / "ws", "--catalogue", base / "cat", "--out", base / "scored")
    assert r.returncode == 0, r.stderr
    return base


def _complete(out: Path) -> dict:
    """The manifest of ``out`` after checking that it lists exactly the files there, with their sizes and hashes."""
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    listed = {f["path"]: f for f in m["outputs"]}
    present = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {"manifest.json"}
    assert present == set(listed), f"files not in the manifest: {present ^ set(listed)}"
    for rel, f in listed.items():
        data = (out / rel).read_bytes()
        assert len(data) == f["size"] and hashlib.sha256(data).hexdigest() == f["sha256"], rel
    return m


def _cmd(region: Path, which: str, out: Path, variant: bool) -> list[str]:
    if which == "review":
        args = ["review", "-w", region / "ws", "--out", out]
        if variant:  # the old output differs from the new one: a mix would show
            (region / "rules.toml").write_text("[rules.L01]\nenabled = false\n", encoding="utf-8")
            args += ["--rules", region / "rules.toml"]
    elif which == "dip score":
        args = ["dip", "score", "-w", region / "ws", "--catalogue", region / "cat", "--out", out]
        args += ["--year", "2024"] if variant else []
    else:
        args = ["dip", "settle", "-w", region / "ws", "--scored", region / "scored", "--out", out,
                "--budget-policy", region / "region" / "budget_policy.toml"]
        args += ["--no-statements"] if variant else []
    return [sys.executable, "-m", "yibao.cli", *map(str, args)]


@pytest.mark.parametrize("which", ["review", "dip score", "dip settle"])
def test_kill_9_never_leaves_a_mixed_or_torn_output(region: Path, tmp_path: Path, which: str) -> None:
    out = tmp_path / "out"
    old = subprocess.run(_cmd(region, which, out, variant=True), capture_output=True, text=True)
    assert old.returncode == 0, old.stderr
    old_manifest = _complete(out)
    t0 = time.perf_counter()
    new = subprocess.run(_cmd(region, which, tmp_path / "ref", variant=False), capture_output=True, text=True)
    full = time.perf_counter() - t0
    assert new.returncode == 0, new.stderr
    new_outputs = _complete(tmp_path / "ref")["outputs"]
    assert new_outputs != old_manifest["outputs"]
    rng = random.Random(13)
    seen = {"old": 0, "new": 0, "absent": 0}
    mid_write = 0  # kills that left a half-written temporary directory beside --out
    for k in range(8):
        before = {q.name for q in tmp_path.iterdir()}
        p = subprocess.Popen(_cmd(region, which, out, variant=False), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        if k % 2 == 0:  # any moment of the run
            time.sleep(rng.uniform(0.2, full * 1.1))
        else:  # while the temporary directory is being written
            deadline = time.perf_counter() + full * 3
            while not any(".yibao-new-" in q.name and q.name not in before for q in tmp_path.iterdir()) \
                    and time.perf_counter() < deadline \
                    and p.poll() is None:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.3))
        p.send_signal(signal.SIGKILL)
        p.wait()
        mid_write += any(".yibao-new-" in q.name and q.name not in before for q in tmp_path.iterdir())
        if not out.exists():
            seen["absent"] += 1
            continue
        m = _complete(out)
        if m["outputs"] == old_manifest["outputs"]:
            seen["old"] += 1
        else:
            assert m["outputs"] == new_outputs  # the complete new output, nothing else
            seen["new"] += 1
            # next kill: back to the old output, so that every kill tests a replacement
            r = subprocess.run(_cmd(region, which, out, variant=True), capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            old_manifest = _complete(out)
    assert sum(seen.values()) == 8, (seen, mid_write)
    # a later run cleans what the killed ones left beside --out and puts the new output in place
    r = subprocess.run(_cmd(region, which, out, variant=False), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert _complete(out)["outputs"] == new_outputs
    assert sorted(q.name for q in tmp_path.iterdir()) == ["out", "ref"]


def test_rerun_replaces_the_directory_whole_and_the_manifest_says_what_was_done(region: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = run_cli("budget", "--policy", region / "region" / "budget_policy.toml", "-w", region / "ws", "--out", out)
    assert r.returncode == 0, r.stderr
    m = _complete(out)
    statements = sorted(p.name for p in (out / "statements" / "机构").iterdir())
    assert len(statements) >= 5
    stale = out / "statements" / "机构" / "H_OLD_上次的结算单.xlsx"
    stale.write_bytes(b"from an earlier run")
    r = run_cli("budget", "--policy", region / "region" / "budget_policy.toml", "-w", region / "ws", "--out", out)
    assert r.returncode == 0, r.stderr
    assert not stale.exists() and sorted(p.name for p in (out / "statements" / "机构").iterdir()) == statements
    m2 = _complete(out)
    assert m2["outputs"] == m["outputs"]  # deterministic
    assert m2["format"] == "yibao-output/1" and m2["command"] == "yibao budget" and m2["yibao_version"]
    policy = region / "region" / "budget_policy.toml"
    assert m2["inputs"]["policy"]["sha256"] == hashlib.sha256(policy.read_bytes()).hexdigest()
    assert m2["options"]["engine"] == "duckdb" and "out_dir" not in m2["options"]  # (same bytes wherever --out is)
    assert m2["workspace"]["last_load_id"] == 1 and m2["workspace"]["loads"] == 1
    assert {"path": "totals.csv", "size": (out / "totals.csv").stat().st_size,
            "sha256": hashlib.sha256((out / "totals.csv").read_bytes()).hexdigest()} in m2["outputs"]
    assert sorted(q.name for q in tmp_path.iterdir()) == ["out"]


def test_dip_build_keeps_its_catalogue_manifest_and_adds_the_output_fields(region: Path) -> None:
    m = _complete(region / "cat")
    assert m["version"].startswith("DIP-") and m["files"]["catalogue.csv"]  # the catalogue's own keys
    assert m["command"] == "yibao dip build" and m["inputs"]["policy"]["path"] == str((region / "dip.toml").resolve())


@pytest.mark.parametrize("setup", ["home", "file", "data"])
def test_a_directory_that_is_not_a_yibao_output_is_refused(region: Path, tmp_path: Path, setup: str) -> None:
    if setup == "home":  # like --out ~: someone's files, no manifest
        target = tmp_path / "home"
        (target / "文档").mkdir(parents=True)
        (target / "文档" / "论文.docx").write_bytes(b"precious")
        (target / ".bashrc").write_text("x", encoding="utf-8")
    elif setup == "file":
        target = tmp_path / "a.txt"
        target.write_text("x", encoding="utf-8")
    else:
        target = region / "region"  # a data directory
    before = sorted((p.relative_to(target.parent).as_posix(), p.stat().st_size) for p in [target, *target.rglob("*")])
    r = run_cli("review", "-w", region / "ws", "--out", target)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("错误：") and "Traceback" not in r.stderr
    assert "不会覆盖" in r.stderr or "不是目录" in r.stderr
    after = sorted((p.relative_to(target.parent).as_posix(), p.stat().st_size) for p in [target, *target.rglob("*")])
    assert after == before


def test_a_failing_command_leaves_the_old_output(region: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = run_cli("dip", "score", "-w", region / "ws", "--catalogue", region / "cat", "--out", out)
    assert r.returncode == 0, r.stderr
    m = _complete(out)
    with pytest.raises(RuntimeError):
        with OutputDir(out, command="test") as tmp:
            (tmp / "scored_cases.csv").write_text("half", encoding="utf-8")
            raise RuntimeError("boom")
    assert _complete(out) == m and sorted(q.name for q in tmp_path.iterdir()) == ["out"]


def test_a_crash_between_the_two_renames_is_repaired_by_the_next_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with OutputDir(out, command="test") as tmp:
        (tmp / "a.csv").write_text("old", encoding="utf-8")
    # what a run killed after renaming the old output away (fallback swap) leaves: a backup of a dead process
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    backup = tmp_path / f".out.yibao-old-{int(dead.stdout)}-0badc0de"
    os.rename(out, backup)
    (tmp_path / f".out.yibao-new-{int(dead.stdout)}-0badc0de").mkdir()
    with pytest.raises(RuntimeError):
        with OutputDir(out, command="test") as tmp:  # starting puts the old output back
            assert (out / "a.csv").read_text(encoding="utf-8") == "old"
            raise RuntimeError("boom")
    assert (out / "a.csv").read_text(encoding="utf-8") == "old"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["out"]


def test_safe_names() -> None:
    assert safe_name("H001") == "H001" and safe_name("市第一人民医院（分院）") == "市第一人民医院（分院）"
    assert safe_name("../../../escaped") == "_.._.._escaped" and "/" not in safe_name("/etc/passwd")
    for bad in ("..", ".", "", None, "/", "\\", "\0", ". ."):
        n = safe_name(bad)
        assert n and n not in (".", "..") and not n.startswith(".") and "/" not in n
    assert safe_id("a/b") != safe_id("a_b") == "a_b" and safe_id("a/b").startswith("a_b_")
    with pytest.raises(BadOption):
        inside(Path("/tmp/x"), Path("/tmp/x/../y"))


def _inject(ws: Path, new_id: str) -> str:
    """Give one inpatient institution the id ``new_id`` straight in the workspace tables (no loader check)."""
    con = duckdb.connect(str(ws / "yibao.duckdb"))
    try:
        old = con.execute("SELECT institution_id FROM cases WHERE setting = 'inpatient' AND institution_id NOT LIKE "
                          "'%escaped%' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchall()[0][0]
        for table in ("institutions", "cases", "staff", "sanctions"):
            cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
            if "institution_id" in cols:
                con.execute(f"UPDATE {table} SET institution_id = ? WHERE institution_id = ?", [new_id, old])
    finally:
        con.close()
    return old


def test_ids_that_look_like_paths_never_place_a_file_outside_out(region: Path, tmp_path: Path, standards: Path) -> None:
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(region / "ws", ws)
    rel, absolute = "../../../escaped_rel", str(tmp_path / "abs" / "escaped_abs")
    _inject(ws, rel)
    _inject(ws, absolute)
    work = tmp_path / "a" / "b" / "c"
    work.mkdir(parents=True)
    bp = region / "region" / "budget_policy.toml"
    runs = [("dip", "score", "-w", ws, "--catalogue", region / "cat", "--out", work / "scored"),
            ("dip", "settle", "-w", ws, "--scored", work / "scored", "--budget-policy", bp, "--out", work / "dip"),
            ("drg", "settle", "-w", ws, "--standards", standards, "--budget-policy", bp, "--out", work / "drg"),
            ("dip", "hospital", "--scored", work / "scored", "--institution", rel, "--out", work / "h1"),
            ("dip", "hospital", "--scored", work / "scored", "--institution", absolute, "--out", work / "h2")]
    src = str(Path(__file__).resolve().parent.parent / "src")  # (run from deep inside: ../../../ is the test dir)
    for args in runs:
        r = run_cli(*args, cwd=work, env={"PYTHONPATH": src})
        assert r.returncode == 0, (args, r.stderr)
    inside_files = {p for p in tmp_path.rglob("*") if p.is_file() and "escaped" in p.name}
    assert inside_files and all(work in p.parents for p in inside_files), inside_files
    assert not (tmp_path / "abs").exists() and not list(tmp_path.glob("escaped*"))
    for d in ("dip", "drg"):
        names = {p.name for p in (work / d / "statements").iterdir()}
        assert safe_id(rel) + ".xlsx" in names and safe_id(absolute) + ".xlsx" in names
    assert (work / "h1" / f"{safe_id(rel)}_病种分值.xlsx").is_file()
    assert len([p for p in (work / "h2").iterdir() if p.name.startswith(safe_id(absolute))]) == 4


def test_formula_text_is_escaped_in_csv_and_numbers_are_not() -> None:
    for text in ("=HYPERLINK(\"http://x\"&A1,\"点击\")", "+1+1", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)", "\tx", "\rx"):
        assert escape_text(text) == "'" + text
    for text in ("-12.50", "+3", "-1,234.56", "-5%", "1E-05", "市第一人民医院", "", "H001", "2024-01-01"):
        assert escape_text(text) == text
    data = rows_csv(["机构名称", "金额"], [["=1+2", "-12.50"], ["-医院", -3]]).decode("utf-8")
    assert data == "\ufeff机构名称,金额\n'=1+2,-12.50\n'-医院,-3\n"


def test_names_starting_with_formula_characters_are_escaped_in_the_written_csvs(region: Path, tmp_path: Path) -> None:
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(region / "ws", ws)
    con = duckdb.connect(str(ws / "yibao.duckdb"))
    try:
        con.execute("UPDATE institutions SET name = '=HYPERLINK(\"http://x\",\"医院\")'")
    finally:
        con.close()
    out = tmp_path / "budget"
    r = run_cli("budget", "--policy", region / "region" / "budget_policy.toml", "-w", ws, "--out", out)
    assert r.returncode == 0, r.stderr
    cells = []
    for p in out.rglob("*.csv"):
        with p.open(encoding="utf-8-sig", newline="") as f:
            cells += [c for row in csv.reader(f) for c in row]
    assert '\'=HYPERLINK("http://x","医院")' in cells
    assert not [c for c in cells if c[:1] in ("=", "@")]
    assert any(c.startswith("-") and c[1:2].isdigit() for c in cells)  # negative amounts stay numbers


def test_an_output_that_would_swallow_an_input_directory_or_the_workspace_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "s"
    with OutputDir(out, command="yibao dip score") as tmp:
        (tmp / "scored_cases.parquet").write_bytes(b"x")
    (out / "ws").mkdir()
    with pytest.raises(BadOption, match="输入目录"):  # dip hospital --scored s --out s would delete its input
        OutputDir(out, command="yibao dip hospital", inputs={"scored": out})
    with pytest.raises(BadOption, match="工作区"):
        OutputDir(out, command="yibao review", workspace=out / "ws")
    with OutputDir(out, command="yibao dip score", inputs={"review": out / "scored_cases.parquet"}) as tmp:
        (tmp / "scored_cases.parquet").write_bytes(b"y")  # a file input inside is read first: allowed
    assert (out / "scored_cases.parquet").read_bytes() == b"y" and not (out / "ws").exists()
