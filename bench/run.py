"""Benchmarks: generator and loader at N cases; writes the figures into docs/benchmarks.md.

Each phase runs in its own process so that its peak resident memory (ru_maxrss) is its own.
Usage: ``python bench/run.py --cases 1000000 [--keep DIR] [--no-write]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:foundation:begin -->", "<!-- bench:foundation:end -->"


def phase_synth(out: Path, cases: int) -> dict:
    from yibao.contract.standards import find_standards
    from yibao.synth import generate

    t0 = time.perf_counter()
    summary = generate(out, 1, cases, standards_dir=find_standards())
    secs = time.perf_counter() - t0
    rows = summary["tables"]
    return {"seconds": secs, "rows": rows, "rows_total": sum(rows.values()),
            "bytes": sum(p.stat().st_size for p in out.iterdir())}


def phase_load(region: Path, ws: Path) -> dict:
    from yibao.engine.loading import load_region

    t0 = time.perf_counter()
    report = load_region(region, ws)
    secs = time.perf_counter() - t0
    return {"seconds": secs, "rows_total": sum(t.read for t in report.tables),
            "rows": {t.table: t.read for t in report.tables},
            "quarantined": sum(t.quarantined for t in report.tables)}


def child(args: argparse.Namespace) -> None:
    if args.phase == "synth":
        result = phase_synth(Path(args.dir), args.cases)
    else:
        result = phase_load(Path(args.dir), Path(args.ws))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run_phase(*argv: str) -> dict:
    r = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"benchmark phase failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.machine()}, "
            f"Python {platform.python_version()}")


def commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
        return sha + (" (+ uncommitted changes)" if dirty else "")
    except OSError:
        return "unknown"


def render(cases: int, synth: dict, load: dict) -> str:
    lines = [
        BEGIN,
        f"### Foundation: generator and loader at {cases:,} cases",
        "",
        f"- Date: {dt.date.today().isoformat()}; commit {commit()}",
        f"- Machine: {machine()}",
        f"- Command: `make bench` (`python bench/run.py --cases {cases}`); each phase in its own process.",
        "",
        "| phase | rows | seconds | rows/s | peak RSS |",
        "|---|---:|---:|---:|---:|",
        f"| `yibao synth` (all tables, CSV, {synth['bytes'] / 2**20:,.0f} MiB written) | {synth['rows_total']:,} | "
        f"{synth['seconds']:.1f} | {synth['rows_total'] / synth['seconds']:,.0f} | {synth['peak_rss_mb']:,.0f} MiB |",
        f"| `yibao load` (read, validate, write; {load['quarantined']:,} quarantined) | {load['rows_total']:,} | "
        f"{load['seconds']:.1f} | {load['rows_total'] / load['seconds']:,.0f} | {load['peak_rss_mb']:,.0f} MiB |",
        "",
        "Rows per table: " + ", ".join(f"{k} {v:,}" for k, v in synth["rows"].items()) + ".",
        "",
        f"Target (issue 2): 1 M cases with fee lines generated in under 120 s — "
        f"{'met' if cases >= 1_000_000 and synth['seconds'] < 120 else 'see figures'}.",
        END,
    ]
    return "\n".join(lines)


def write_doc(block: str) -> None:
    text = (DOC.read_text(encoding="utf-8") if DOC.exists()
            else "# Benchmarks\n\nFigures are measured, never asserted in tests.\n\n")
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(text, encoding="utf-8")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cases", type=int, default=1_000_000)
    p.add_argument("--keep", help="keep the generated region and workspace here")
    p.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    p.add_argument("--phase", choices=["synth", "load"])
    p.add_argument("--dir")
    p.add_argument("--ws")
    args = p.parse_args()
    if args.phase:
        return child(args)
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="yibao-bench-"))
    region, ws = base / "region", base / "ws"
    synth = run_phase("--phase", "synth", "--dir", str(region), "--cases", str(args.cases))
    print(f"synth: {synth['rows_total']:,} rows in {synth['seconds']:.1f} s, peak {synth['peak_rss_mb']:,.0f} MiB")
    load = run_phase("--phase", "load", "--dir", str(region), "--ws", str(ws))
    print(f"load:  {load['rows_total']:,} rows in {load['seconds']:.1f} s, peak {load['peak_rss_mb']:,.0f} MiB")
    block = render(args.cases, synth, load)
    print(block)
    if not args.no_write:
        write_doc(block)
    if not args.keep:
        import shutil

        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
