"""The simulation page (政策模拟): a scenario from the form, baseline and scenario side by side, and the real
results untouched (every file of the workspace byte-identical, the store's findings unchanged)."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import regions
from fastapi.testclient import TestClient

from yibao.server.app import Settings, create_app
from yibao.server.simulate import scenario_toml
from yibao.store.db import open_store
from yibao.store.users import add_user

PW = "sim-password-1"
SRC = Path(__file__).resolve().parents[2] / "src"


def cli(*args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-m", "yibao.cli", *args], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture(scope="module")
def sim_ws(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("sim")
    ws = regions.generated_workspace(base, seed=5, cases=1500)
    cli("dip", "build", "-w", str(ws), "--out", str(ws / "results" / "dip-catalogue"))
    (ws / "budget_policy.toml").write_bytes((base / "region" / "budget_policy.toml").read_bytes())
    return ws


def _digest(ws: Path) -> dict[str, str]:
    return {str(p.relative_to(ws)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(ws.rglob("*"))
            if p.is_file() and not p.name.startswith("store.sqlite3")}


def _login(client, user: str) -> str:
    nonce = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"username": user, "password": PW, "csrf": nonce})
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/simulate").text).group(1)


def test_a_budget_scenario_beside_the_baseline_without_touching_real_results(sim_ws):
    store = open_store(sim_ws)
    add_user(store, "jingban", "agency", PW, None, actor="test")
    add_user(store, "yiyuan", "hospital", PW, "H44020300101", actor="test")
    before = _digest(sim_ws)
    with TestClient(create_app(Settings(store=store, workspace=sim_ws))) as client:
        csrf = _login(client, "jingban")
        r = client.post("/simulate", data={"csrf": csrf, "name": "预算增加一成", "inpatient_factor": "1.1"})
        assert r.status_code == 200, r.text[-3000:]
        main = r.text[r.text.index("<main"):]
        totals = re.findall(r'<td>(基准|情景)</td><td class="num">([0-9.]+)</td>', main)
        assert len(totals) >= 2
        base, scen = Decimal(totals[0][1]), Decimal(totals[1][1])
        assert scen == (base * Decimal("1.1")).quantize(Decimal("0.01"), ROUND_HALF_UP)  # the budget × 1.1
        assert 'id="sim-rows"' in main
        assert client.post("/simulate", data={"csrf": csrf, "high_ratio": "abc"}).status_code == 422
        client.cookies.clear()
        nonce = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
        client.post("/login", data={"username": "yiyuan", "password": PW, "csrf": nonce})
        assert client.get("/simulate").status_code == 403  # a hospital does not simulate the region's policy
    assert _digest(sim_ws) == before  # nothing of the real results changed
    store.close()


def test_the_scenario_file_of_the_form():
    text, changed = scenario_toml({"name": "甲", "high_ratio": "2.5", "level_3": "1.1", "inpatient_factor": ""})
    assert text == 'name = "甲"\n\n[dip.scoring]\n"high_ratio" = "2.5"\n\n[dip.scoring.level_coefficient]\n"3" = "1.1"\n'
    assert len(changed) == 2
