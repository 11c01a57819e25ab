"""Issue 13 §4: `yibao dip build` without a policy builds from the years before the settlement year and says which;
a catalogue that includes the year being settled is warned about at `dip score` and `dip settle`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli
from regions import generated_workspace


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    b = tmp_path_factory.mktemp("years")
    generated_workspace(b, seed=7, cases=3000)  # discharge years 2023–2025 (a few settled in 2026)
    return b


def test_build_without_a_policy_uses_the_years_before_the_settlement_year(base: Path) -> None:
    r = run_cli("dip", "build", "-w", base / "ws", "--out", base / "cat")
    assert r.returncode == 0, r.stderr
    m = json.loads((base / "cat" / "manifest.json").read_text(encoding="utf-8"))
    # the default year_weights are 1, 2, 7 (oldest first); two history years take the newest two: 2 and 7
    assert m["parameters"]["years"] == [2023, 2024] and m["settle_year"] == 2025
    assert [str(float(w)) for w in m["parameters"]["year_weights"]] == ["2.0", "7.0"]
    assert "历史年度 2023、2024（结算年度 2025 之前的 2 个年度" in r.stdout and "年度权重 2:7" in r.stdout
    assert "注意" not in r.stderr


def test_a_catalogue_including_the_settled_year_is_warned_about(base: Path) -> None:
    r = run_cli("dip", "build", "-w", base / "ws", "--out", base / "cat26", "--year", "2026")
    assert r.returncode == 0, r.stderr
    assert "历史年度 2023、2024、2025（结算年度 2026 之前的 3 个年度" in r.stdout
    r = run_cli("dip", "score", "-w", base / "ws", "--catalogue", base / "cat26", "--out", base / "s26")
    assert r.returncode == 0, r.stderr
    assert "包含结算年度 2025" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli("dip", "settle", "-w", base / "ws", "--scored", base / "s26", "--budget-policy",
                base / "region" / "budget_policy.toml", "--out", base / "y26", "--no-statements")
    assert r.returncode == 0, r.stderr
    assert "包含结算年度 2025" in r.stderr
    # the catalogue built for 2025 gives no warning
    r = run_cli("dip", "score", "-w", base / "ws", "--catalogue", base / "cat", "--out", base / "s25")
    assert r.returncode == 0 and "注意" not in r.stderr, r.stderr
