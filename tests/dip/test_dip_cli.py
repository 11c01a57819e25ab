"""`yibao dip build` and `yibao dip score` on a generated region, as a user runs them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from conftest import run_cli
from regions import generated_workspace


def test_build_and_score_a_generated_region(tmp_path: Path) -> None:
    generated_workspace(tmp_path, seed=5, cases=6000)
    r = run_cli("dip", "build", "--workspace", tmp_path / "ws", "--out", tmp_path / "cat")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "cat" / "manifest.json").read_text(encoding="utf-8"))
    assert m["threshold"]["by_share"] and float(m["threshold"]["core_share"]) >= 0.85
    assert (tmp_path / "cat" / "catalogue.xlsx").is_file() and (tmp_path / "cat" / "catalogue.parquet").is_file()
    again = run_cli("dip", "build", "--workspace", tmp_path / "ws", "--out", tmp_path / "cat2")
    assert again.returncode == 0
    for name in ("catalogue.csv", "catalogue.parquet", "catalogue.xlsx", "manifest.json"):
        assert (tmp_path / "cat" / name).read_bytes() == (tmp_path / "cat2" / name).read_bytes(), name

    r = run_cli("dip", "score", "--workspace", tmp_path / "ws", "--catalogue", tmp_path / "cat", "--out", tmp_path / "s")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader((tmp_path / "s" / "scored_cases.csv").open(encoding="utf-8-sig")))
    assert rows and {"case_id", "institution_id", "group_id", "group_kind", "score", "ratio", "deviation",
                     "coefficient", "points", "status", "reason"} <= set(rows[0])
    assert all(x["points"] == "" for x in rows if x["status"] == "ungroupable")
    assert (tmp_path / "s" / "review_queue.csv").is_file()


def test_bad_policy_is_one_line(tmp_path: Path) -> None:
    p = tmp_path / "dip.toml"
    p.write_text('[catalogue]\ncore_share = "2"\n', encoding="utf-8")
    r = run_cli("dip", "build", "--workspace", tmp_path / "ws", "--policy", p, "--out", tmp_path / "cat")
    assert r.returncode == 2
    assert "catalogue.core_share" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("dip", "score", "--workspace", tmp_path / "ws", "--catalogue", tmp_path / "nope", "--out", tmp_path / "o")
    assert r.returncode == 2 and "Traceback" not in r.stderr
