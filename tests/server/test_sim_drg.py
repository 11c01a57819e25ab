"""The DRG simulation page (政策模拟 DRG): the form from the DRG parameter table, baseline and scenario side by
side per scheme and per institution — each equal to a `yibao drg settle` run of its own policy — and the real
results untouched (every file of the workspace byte-identical, the store's findings and periods unchanged)."""

from __future__ import annotations

import csv
import hashlib
import html
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import regions
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from yibao.contract.standards import find_standards
from yibao.server.app import Settings, create_app
from yibao.server.simulate import drg_fields, drg_scenario
from yibao.store.db import open_store
from yibao.store.schema import findings
from yibao.store.users import add_user

PW = "simdrg-password-1"
SRC = Path(__file__).resolve().parents[2] / "src"


def cli(*args) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-m", "yibao.cli", *map(str, args)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr


def _digest(ws: Path) -> dict[str, str]:
    return {str(p.relative_to(ws)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(ws.rglob("*"))
            if p.is_file() and not p.name.startswith("store.sqlite3")}


def _entitled(path: Path) -> dict[tuple[str, str], str]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return {(r["险种"], r["机构编码"]): r["年度应付"] for r in csv.DictReader(f) if r["结算方式"] == "按 DRG"}


def _login(client, user: str, path: str) -> str:
    nonce = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"username": user, "password": PW, "csrf": nonce})
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)


def test_the_scenario_policy_of_the_form():
    text, changed = drg_scenario({"payment__high_ratio": "2.5", "level__3": "1.2", "payment__long_stay_days": ""}, None)
    assert '[payment]\n"high_ratio" = "2.5"' in text
    assert '[payment.level_coefficient]\n"3" = "1.2"\n"2" = "1"\n"1" = "1"\n"0" = "1"' in text  # written complete
    assert len(changed) == 2
    keys = {f["key"] for f in drg_fields()}
    assert {"payment.high_ratio", "payment.low_ratio", "payment.deposit_rate", "payment.level_coefficient.0"} <= keys
    from yibao.server.pages import PageError

    with pytest.raises(PageError) as e:  # below the parameter's range: the policy loader's own message
        drg_scenario({"payment__high_ratio": "0.5"}, None)
    assert e.value.status == 422 and "high_ratio" in e.value.message
    with pytest.raises(PageError):
        drg_scenario({}, None)


def test_a_drg_scenario_beside_the_baseline_without_touching_real_results(tmp_path_factory):
    std = find_standards()
    if std is None:
        pytest.skip("CHS-DRG standards absent")
    base = tmp_path_factory.mktemp("simdrg")
    ws = regions.generated_workspace(base, seed=5, cases=1500)
    (ws / "budget_policy.toml").write_bytes((base / "region" / "budget_policy.toml").read_bytes())
    store = open_store(ws)
    add_user(store, "jingban", "agency", PW, None, actor="test")
    add_user(store, "yiyuan", "hospital", PW, "H44020300101", actor="test")
    with store.begin() as con:
        n_findings = con.execute(select(func.count()).select_from(findings)).scalar_one()
    before = _digest(ws)
    with TestClient(create_app(Settings(store=store, workspace=ws))) as client:
        csrf = _login(client, "jingban", "/simulate/drg")
        form = client.get("/simulate/drg").text
        ids = re.findall(r'<input id="([^"]+)"', form)
        assert ids and all(f'<label for="{i}">' in form for i in ids)  # every input labelled
        r = client.post("/simulate/drg", data={"csrf": csrf, "payment__high_ratio": "2", "level__3": "1.2"})
        assert r.status_code == 200, r.text[-3000:]
        main = r.text[r.text.index("<main"):]
        body = main[main.index('id="simdrg-rows"'):]
        cells = [[html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr)]
                 for tr in re.findall(r"<tr>(<td>.*?)</tr>", body, re.S)]
        assert cells and all(len(c) == 9 for c in cells)
        assert client.post("/simulate/drg", data={"csrf": csrf, "payment__high_ratio": "x"}).status_code == 422
        assert client.post("/simulate/drg", data={"csrf": "forged", "payment__high_ratio": "2"}).status_code == 403
        client.cookies.clear()
        _login(client, "yiyuan", "/")
        assert client.get("/simulate/drg").status_code == 403  # a hospital does not simulate the region's policy
    assert _digest(ws) == before  # nothing of the real results changed
    with store.begin() as con:
        assert con.execute(select(func.count()).select_from(findings)).scalar_one() == n_findings
    from yibao.store import audit

    assert any(e["action"] == "simulate.drg" for e in audit.events(store, 10))
    store.close()
    # each side equals a `drg settle` of its own policy, institution by institution
    pol = base / "scen.toml"
    pol.write_text('[payment]\nhigh_ratio = "2"\n[payment.level_coefficient]\n"3" = "1.2"\n"2" = "1"\n"1" = "1"\n"0" = "1"\n',
                   encoding="utf-8")
    cli("drg", "settle", "-w", ws, "--standards", std, "--budget-policy", ws / "budget_policy.toml", "--out",
        base / "b", "--no-statements")
    cli("drg", "settle", "-w", ws, "--standards", std, "--budget-policy", ws / "budget_policy.toml", "--out",
        base / "s", "--no-statements", "--policy", pol)
    want_b, want_s = _entitled(base / "b" / "clearing.csv"), _entitled(base / "s" / "clearing.csv")
    got = {}
    for c in cells:
        inst = c[1].rsplit(" ", 1)[-1]
        got[(c[0], inst)] = (c[5], c[6], c[7])
    assert {k: v[0] for k, v in got.items()} == want_b
    assert {k: v[1] for k, v in got.items()} == want_s
    assert all(Decimal(s) - Decimal(b) == Decimal(d) for b, s, d in got.values())
    assert want_b != want_s  # the scenario moved money between institutions
