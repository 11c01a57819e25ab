"""The demo year of settlement periods through the server, over HTTP (issue 15 §2, docs/periods.md).

    PYTHONPATH=src python bench/periods_demo.py [--workspace /work/data/ws20k] \
        [--budget-policy /work/data/region20k/budget_policy.toml] [--out /tmp/periods-demo] [--year 2025]

The workspace is only read: the DIP catalogue, the scored cases, the store (SQLite) and the
comparison year are written under ``--out``. Steps: ``yibao dip build`` / ``score``; three users
(two agency staff, one hospital); ``yibao serve --port 0``; then over HTTP, for the 职工住院 pot,
the twelve months run (``POST /api/periods`` → job), checked and issued by the other agency user;
a second run of March (expected 409); March corrected as version 2; the clearing; each
institution's twelve months + clearing compared with ``yibao dip settle`` on the whole year (to
the fen); the hospital's statement as PDF; ``yibao audit verify`` and ``yibao period list``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "demo-password-1"


def yibao(*args, stdin: str | None = None) -> str:
    r = subprocess.run([sys.executable, "-m", "yibao.cli", *map(str, args)], input=stdin, capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise SystemExit(f"yibao {' '.join(map(str, args))} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout


class Api:
    def __init__(self, base: str) -> None:
        self.base = base

    def call(self, method: str, path: str, body: dict | None = None, token: str | None = None):
        req = urllib.request.Request(self.base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                data = r.read()
                return r.status, (json.loads(data) if r.headers.get_content_type() == "application/json" else data)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def login(self, user: str) -> str:
        status, body = self.call("POST", "/api/login", {"username": user, "password": PASSWORD})
        assert status == 200, body
        return body["token"]

    def job(self, answer, token: str) -> dict:
        status, body = answer
        assert status == 202, (status, body)
        jid = body["job"]["job_id"]
        while True:
            _, j = self.call("GET", f"/api/jobs/{jid}", token=token)
            if j["status"] in ("done", "failed"):
                assert j["status"] == "done", j
                return j["result"]
            time.sleep(0.2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workspace", type=Path, default=Path("/work/data/ws20k"))
    ap.add_argument("--budget-policy", type=Path, default=Path("/work/data/region20k/budget_policy.toml"))
    ap.add_argument("--policy", type=Path, default=ROOT / "examples" / "dip-demo.toml")
    ap.add_argument("--out", type=Path, default=Path("/tmp/periods-demo"))
    ap.add_argument("--year", type=int, default=2025)
    a = ap.parse_args()
    out = a.out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    store = f"sqlite:///{out / 'store.sqlite3'}"
    t0 = time.monotonic()
    yibao("dip", "build", "-w", a.workspace, "--policy", a.policy, "--out", out / "cat")
    yibao("dip", "score", "-w", a.workspace, "--policy", a.policy, "--catalogue", out / "cat", "--out", out / "s")
    yibao("dip", "settle", "-w", a.workspace, "--policy", a.policy, "--scored", out / "s", "--budget-policy",
          a.budget_policy, "--out", out / "year", "--no-statements")
    pre = list(csv.DictReader((out / "year" / "clearing.csv").open(encoding="utf-8-sig")))
    hospital = sorted(r["机构编码"] for r in pre if r["险种"] == "职工" and r["结算方式"] == "按病种分值")[0]
    for user, role, inst in (("jingban1", "agency", None), ("jingban2", "agency", None),
                             ("yiyuan", "hospital", hospital)):
        yibao("users", "add", user, "--role", role, *(["--institution", inst] if inst else []), "-w", a.workspace,
              "--store", store, stdin=PASSWORD + "\n")
    srv = subprocess.Popen([sys.executable, "-m", "yibao.cli", "serve", "--workspace", str(a.workspace), "--store",
                            store, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        api = Api(srv.stdout.readline().strip())
        print(f"server {api.base}")
        g1, g2, h = api.login("jingban1"), api.login("jingban2"), api.login("yiyuan")
        body = {"year": a.year, "scheme": "employee", "setting": "inpatient", "scored": str(out / "s"),
                "budget_policy": str(a.budget_policy), "policy": str(a.policy)}
        ids = {}
        for m in range(1, 13):
            p = api.job(api.call("POST", "/api/periods", {**body, "kind": "month", "month": m}, g1), g1)
            assert api.call("POST", f"/api/periods/{p['period_id']}/check", token=g1)[0] == 409  # four eyes
            assert api.call("POST", f"/api/periods/{p['period_id']}/check", token=g2)[0] == 200
            s, p = api.call("POST", f"/api/periods/{p['period_id']}/issue", {"issue_date": f"{a.year}-{m:02d}-28"}, g2)
            assert s == 200, p
            ids[m] = p["period_id"]
            print(f"{p['label']}：第 {p['version']} 版 {p['status_zh']}，{p['statements']} 家机构，本期拨付合计 {p['total']}")
        s, e = api.call("POST", "/api/periods", {**body, "kind": "month", "month": 3}, g1)
        print(f"second run of March: HTTP {s} {e['error']['message']}")
        assert s == 409
        v2 = api.job(api.call("POST", f"/api/periods/{ids[3]}/correct", {"reason": "演示：更正 3 月"}, g1), g1)
        api.call("POST", f"/api/periods/{v2['period_id']}/check", token=g2)
        _, v2 = api.call("POST", f"/api/periods/{v2['period_id']}/issue", {"issue_date": f"{a.year}-04-15"}, g2)
        print(f"correction: {v2['label']} 第 {v2['version']} 版（取代编号 {v2['replaces_id']}）{v2['status_zh']}")
        c = api.job(api.call("POST", "/api/periods", {**body, "kind": "clearing"}, g1), g1)
        api.call("POST", f"/api/periods/{c['period_id']}/check", token=g2)
        _, c = api.call("POST", f"/api/periods/{c['period_id']}/issue", {"issue_date": f"{a.year + 1}-02-10"}, g2)
        print(f"{c['label']}：{c['status_zh']}，{c['statements']} 家机构，清算拨付合计 {c['total']}")
        # per institution: the statements of record of the year against `dip settle` on the whole year
        _, lst = api.call("GET", f"/api/periods?year={a.year}&status=issued", token=g1)
        got: dict[str, Decimal] = {}
        n = 0
        for p in lst["periods"]:
            _, full = api.call("GET", f"/api/periods/{p['period_id']}", token=g1)
            for st in full["statements"]:
                got[st["institution_id"]] = got.get(st["institution_id"], Decimal(0)) + Decimal(st["amount"])
                n += 1
        want: dict[str, Decimal] = {}
        for r in pre:
            if r["险种"] == "职工" and r["结算方式"] == "按病种分值":
                want[r["机构编码"]] = want.get(r["机构编码"], Decimal(0)) + Decimal(r["年度应付"])
        for r in csv.DictReader((out / "year" / "bed_day.csv").open(encoding="utf-8-sig")):
            if r["险种"] == "职工":
                want[r["机构编码"]] = want.get(r["机构编码"], Decimal(0)) + Decimal(r["实际应付（超出床日预算时按比例）"])
        diff = {i for i in set(got) | set(want) if got.get(i, Decimal(0)) != want.get(i, Decimal(0))}
        print(f"{len(lst['periods'])} issued periods, {n} statements of record, {len(got)} institutions; "
              f"Σ of the year {sum(got.values())} vs dip settle {sum(want.values())}; institutions differing: {len(diff)}")
        _, mine = api.call("GET", f"/api/periods/{c['period_id']}", token=h)
        sid = mine["statements"][0]["statement_id"]
        s, pdf = api.call("GET", f"/api/statements/{sid}.pdf", token=h)
        (out / "statement.pdf").write_bytes(pdf)
        print(f"hospital {hospital}: clearing statement {mine['statements'][0]['number']} as PDF ({len(pdf)} bytes) "
              f"→ {out / 'statement.pdf'}")
    finally:
        srv.terminate()
        srv.wait()
    print(yibao("audit", "verify", "-w", a.workspace, "--store", store).strip())
    print("\n".join(yibao("period", "list", "-w", a.workspace, "--store", store, "--year", a.year).splitlines()[-4:]))
    print(f"done in {time.monotonic() - t0:.0f} s")
    assert not diff


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(ROOT / "src"))
    main()
