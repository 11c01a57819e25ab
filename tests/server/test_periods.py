"""Settlement periods of record on a small generated region: a year run month by month (twelve issued
months and the clearing summing, per institution, to the year of ``yibao dip settle`` to the fen), the
lock (409), a correction as version 2; the API's role matrix, background jobs, a load meanwhile."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from yibao.server import periods as sp
from yibao.server.app import Settings, create_app
from yibao.store import audit
from yibao.store import periods as per
from yibao.store.db import Store
from yibao.store.users import add_user

from .conftest import PASSWORD

YEAR = 2025
PREP = per.Actor("agency1", "agency")
CHK = per.Actor("agency2", "agency")


def _csv(path: Path) -> list[dict]:
    return list(csv.DictReader(path.open(encoding="utf-8-sig")))


@pytest.fixture(scope="module")
def region(tmp_path_factory) -> Path:
    """A 3,000-case region, its DIP catalogue (2023–2024) and scored cases, and the full year of `dip settle`."""
    from conftest import run_cli
    from regions import generated_workspace

    base = tmp_path_factory.mktemp("periods")
    generated_workspace(base, seed=11, cases=3000)
    (base / "dip.toml").write_text('[catalogue]\nyears = [2023, 2024]\nyear_weights = ["3", "7"]\n', encoding="utf-8")
    for args in (("build", "--out", base / "cat"), ("score", "--catalogue", base / "cat", "--out", base / "s")):
        r = run_cli("dip", *args, "-w", base / "ws", "--policy", base / "dip.toml")
        assert r.returncode == 0, r.stderr
    r = run_cli("dip", "settle", "-w", base / "ws", "--scored", base / "s", "--policy", base / "dip.toml",
                "--budget-policy", base / "region" / "budget_policy.toml", "--out", base / "year", "--no-statements")
    assert r.returncode == 0, r.stderr
    return base


def _inputs(region: Path) -> sp.PeriodInputs:
    return sp.PeriodInputs(region / "s", region / "region" / "budget_policy.toml", region / "dip.toml")


def _store(tmp_path: Path) -> Store:
    st = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    for name, role, inst in (("admin1", "admin", None), ("agency1", "agency", None), ("agency2", "agency", None),
                             ("super1", "supervisor", None), ("audit1", "auditor", None)):
        add_user(st, name, role, PASSWORD, inst, actor="tester")
    return st


def _run(st, region, month, **kw):
    return sp.run_period(st, region / "ws", year=YEAR, month=month, scheme="employee", setting="inpatient",
                         inputs=_inputs(region), actor=PREP, **kw)


def _issue(st, pid, day):
    per.check(st, pid, CHK)
    return sp.issue_period(st, pid, CHK, day)


def test_a_year_month_by_month_sums_to_the_year_to_the_fen(region: Path, tmp_path: Path) -> None:
    st = _store(tmp_path)
    year_pre = [r for r in _csv(region / "year" / "prepayments.csv") if r["结算方式"] == "按病种分值" and r["险种"] == "职工"]
    for m in range(1, 13):
        p = _run(st, region, m)
        # month m's prepayments = the full-year run's month m, institution by institution
        mine = {s["institution_id"]: Decimal(s["amount"]) for s in per.period_statements(st, p["period_id"])}
        assert mine == {r["机构编码"]: Decimal(r["实际拨付"]) for r in year_pre if int(r["月份"]) == m}, m
        _issue(st, p["period_id"], dt.date(YEAR, m, 28))
    # a second run of an issued month: refused
    with pytest.raises(per.PeriodRefused) as e:
        _run(st, region, 3)
    assert e.value.status == 409
    # a correction of March: version 2, replacing version 1 (same data: same amounts)
    march = per.of_record(st, "employee.inpatient", YEAR, 3)
    v2 = sp.correct_period(st, region / "ws", march["period_id"], "复核发现 3 月病例需重新赋分", PREP)
    assert (v2["version"], v2["replaces_id"], v2["status"]) == (2, march["period_id"], "draft")
    _issue(st, v2["period_id"], dt.date(YEAR, 4, 15))
    s = per.get_statement(st, per.period_statements(st, v2["period_id"])[0]["statement_id"])
    assert (s["period"]["version"], s["replaces"]["version"]) == (2, 1)
    assert per.get_period(st, march["period_id"])["status"] == "superseded"
    # the clearing: the year's entitlement less the issued months
    c = _run(st, region, None)
    _issue(st, c["period_id"], dt.date(YEAR + 1, 2, 10))
    year = per.year_of_record(st, "employee.inpatient", YEAR)
    clr = [r for r in _csv(region / "year" / "clearing.csv") if r["结算方式"] == "按病种分值" and r["险种"] == "职工"]
    beds = [r for r in _csv(region / "year" / "bed_day.csv") if r["险种"] == "职工"]
    want = {r["机构编码"]: Decimal(r["年度应付"]) for r in clr}
    for b in beds:
        want[b["机构编码"]] = want.get(b["机构编码"], Decimal(0)) + Decimal(b["实际应付（超出床日预算时按比例）"])
    got = {i: sum(d.values(), Decimal(0)) for i, d in year.items()}
    assert got == want  # per institution: Σ twelve issued months + the clearing transfer = the year, to the fen
    assert all("clearing" in d for d in year.values())
    assert sum(len(d) for d in year.values()) == sum(
        p["statements"] for p in per.list_periods(st, year=YEAR, status="issued"))  # one statement per period
    assert len(per.list_periods(st, year=YEAR, status="issued")) == 13
    assert audit.verify(st).ok


def test_clearing_needs_the_twelve_months_and_dip_settle_warns_on_a_partial_year(region: Path, tmp_path: Path) -> None:
    from conftest import run_cli

    st = _store(tmp_path)
    p = _run(st, region, 1)
    _issue(st, p["period_id"], dt.date(YEAR, 1, 28))
    with pytest.raises(per.PeriodRefused) as e:
        _run(st, region, None)
    assert e.value.status == 409 and "2、3、4、5、6、7、8、9、10、11、12 月尚未签发" in e.value.message
    with pytest.raises(per.PeriodRefused):
        per.check(st, _run(st, region, 2)["period_id"], PREP)  # four eyes through the runner's draft too
    # `dip settle` on a part of the year: the clearing it writes is flagged
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    part = tmp_path / "s3"
    part.mkdir()
    t = pq.read_table(region / "s" / "scored_cases.parquet")
    keep = pc.or_(pc.less(t["settle_year"], YEAR), pc.less_equal(t["settle_month"], 3))
    pq.write_table(t.filter(keep), part / "scored_cases.parquet")
    r = run_cli("dip", "settle", "-w", region / "ws", "--scored", part, "--policy", region / "dip.toml",
                "--budget-policy", region / "region" / "budget_policy.toml", "--out", tmp_path / "y3", "--no-statements")
    assert r.returncode == 0, r.stderr
    assert "警告：2025 年度只有 1、2、3 月的病例（不足 12 个月）" in r.stderr


# --- the API ----------------------------------------------------------------------------------------------

def _token(c, user):
    r = c.post("/api/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": "Bearer " + r.json()["token"]}


def _wait(c, h, job_id, timeout=120):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        j = c.get(f"/api/jobs/{job_id}", headers=h).json()
        if j["status"] in ("done", "failed"):
            return j
        time.sleep(0.1)
    raise AssertionError("job did not finish")


@pytest.fixture
def api(region, tmp_path):
    st = _store(tmp_path)
    app = create_app(Settings(store=st, workspace=region / "ws", today=lambda: dt.date(YEAR, 8, 1)))
    with TestClient(app) as c:
        yield c, st
    st.close()


def _body(region, month, kind="month"):
    return {"year": YEAR, "kind": kind, "month": month, "scheme": "employee", "setting": "inpatient",
            "scored": str(region / "s"), "budget_policy": str(region / "region" / "budget_policy.toml"),
            "policy": str(region / "dip.toml")}


ROLE_USER = {"admin": "admin1", "agency": "agency2", "supervisor": "super1", "hospital": "hosp1", "auditor": "audit1"}
A, G, S, H, U = ROLE_USER
EVERY = {A: 200, G: 200, S: 200, H: 200, U: 200}


def test_role_matrix_every_role_every_period_endpoint(api, region) -> None:
    c, st = api
    # a month with two institutions or more (issued; hosp1 is the first one's user), another month a draft
    pre = [r for r in _csv(region / "year" / "prepayments.csv") if r["结算方式"] == "按病种分值" and r["险种"] == "职工"]
    by_month: dict[int, list[str]] = {}
    for r in pre:
        by_month.setdefault(int(r["月份"]), []).append(r["机构编码"])
    m7 = next(m for m in sorted(by_month) if len(by_month[m]) >= 2)
    m9 = next(m for m in sorted(by_month) if m != m7)
    mine = sorted(by_month[m7])[0]
    add_user(st, "hosp1", "hospital", PASSWORD, mine, actor="tester")
    g1 = _token(c, "agency1")
    r = c.post("/api/periods", json=_body(region, m7), headers=g1)
    assert r.status_code == 202, r.text
    job = _wait(c, g1, r.json()["job"]["job_id"])
    assert job["status"] == "done", job
    p7 = job["result"]["period_id"]
    assert c.post(f"/api/periods/{p7}/check", headers=g1).status_code == 409  # four eyes over HTTP
    g2 = _token(c, "agency2")
    assert c.post(f"/api/periods/{p7}/check", headers=g2).status_code == 200
    assert c.post(f"/api/periods/{p7}/issue", json={"issue_date": "2025-08-01"}, headers=g2).status_code == 200
    p9 = _wait(c, g1, c.post("/api/periods", json=_body(region, m9), headers=g1).json()["job"]["job_id"])["result"]
    stm = {s["institution_id"]: s["statement_id"] for s in c.get(f"/api/periods/{p7}", headers=g1).json()["statements"]}
    own, other = stm.pop(mine), stm.popitem()[1]
    jid = job["job_id"]
    matrix = [
        ("GET", "/api/periods", None, EVERY),
        ("GET", f"/api/periods/{p7}", None, EVERY),
        ("GET", f"/api/periods/{p9['period_id']}", None, {**EVERY, H: 404}),   # a draft: not the hospital's
        ("GET", "/api/periods/99999", None, {**EVERY, A: 404, G: 404, S: 404, H: 404, U: 404}),
        ("GET", f"/api/statements/{own}", None, EVERY),
        ("GET", f"/api/statements/{other}", None, {**EVERY, H: 404}),         # another institution's: 404
        ("GET", f"/api/statements/{own}.xlsx", None, EVERY),
        ("GET", f"/api/statements/{own}.pdf", None, EVERY),
        ("GET", f"/api/statements/{other}.pdf", None, {**EVERY, H: 404}),
        ("GET", "/api/disputes", None, {**EVERY, H: 403}),
        ("GET", f"/api/jobs/{jid}", None, {A: 200, G: 200, S: 403, H: 403, U: 403}),
        ("GET", "/api/jobs/nosuch", None, {A: 404, G: 404, S: 403, H: 403, U: 403}),
        ("POST", f"/api/statements/{other}/dispute", {"reason": "不符"}, {A: 403, G: 403, S: 403, H: 404, U: 403}),
        ("POST", f"/api/statements/{own}/dispute", {"reason": "病例数不符"}, {A: 403, G: 403, S: 403, H: 200, U: 403}),
        ("POST", f"/api/statements/{own}/confirm", None, {A: 403, G: 403, S: 403, H: 409, U: 403}),  # replied
        ("POST", f"/api/periods/{p9['period_id']}/check", None, {A: 403, G: 200, S: 403, H: 403, U: 403}),
        ("POST", f"/api/periods/{p9['period_id']}/issue", {}, {A: 403, G: 200, S: 403, H: 403, U: 403}),
        ("POST", "/api/periods", _body(region, m7), {A: 403, G: 409, S: 403, H: 403, U: 403}),  # issued: locked
        ("POST", "/api/periods", _body(region, 7, "clearing"), {A: 403, G: 422, S: 403, H: 403, U: 403}),
        ("POST", f"/api/periods/{p7}/correct", {"reason": "更正"}, {A: 403, G: 202, S: 403, H: 403, U: 403}),
    ]
    heads = {role: _token(c, user) for role, user in ROLE_USER.items()}
    for method, url, body, want in matrix:
        for role in (A, S, H, U, G):
            r = c.request(method, url, json=body, headers=heads[role])
            assert r.status_code == want[role], (method, url, role, r.status_code, r.text)
            if r.status_code >= 400:
                assert set(r.json()["error"]) == {"code", "message"}
    # what the rows did: the dispute listed for the agency, the September period issued, a correction job
    d = c.get("/api/disputes", headers=g1).json()["disputes"]
    assert [(x["institution_id"], x["reply_reason"]) for x in d] == [(mine, "病例数不符")]
    assert c.get(f"/api/periods/{p9['period_id']}", headers=g1).json()["status"] == "issued"
    corr = [p for p in c.get("/api/periods", headers=g1).json()["periods"] if p["replaces_id"] == p7]
    assert len(corr) == 1 or _wait(c, g1, jid)  # the job may still be running
    time.sleep(0.1)
    listed = c.get("/api/periods", headers=heads[H]).json()["periods"]
    assert {p["period_id"] for p in listed} == {p7}  # the hospital: only issued periods with its statement
    pdf = c.get(f"/api/statements/{own}.pdf", headers=heads[H])
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    assert any(e["action"] == "statement.export" for e in audit.events(st, 200))
    _drain(c, g1)
    # the CLI, without the server, reports what the server issued as of record
    from conftest import run_cli

    r = run_cli("period", "list", "-w", region / "ws", "--store", st.url, "--year", YEAR)
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith(f"结算期 {p7}："))
    assert "第 1 版" in line and "已签发（记录版本 of record）" in line  # its correction is a draft still


def _drain(c, h) -> None:
    """Wait for every job of the app before the store closes."""
    jobs = c.app.state.jobs
    for j in list(jobs._jobs.values()):
        _wait(c, h, j.job_id)


def test_a_run_is_a_background_job_and_the_server_keeps_answering(api, region, monkeypatch) -> None:
    c, st = api
    release, started = threading.Event(), threading.Event()

    def slow(*a, progress=None, **kw):
        progress(0.5, "汇总病例并计算（DIP）")
        started.set()
        assert release.wait(30)
        return {"period_id": 42}

    monkeypatch.setattr(sp, "run_period", slow)
    g1 = _token(c, "agency1")
    r = c.post("/api/periods", json=_body(region, 4), headers=g1)
    assert r.status_code == 202 and r.headers["location"].startswith("/api/jobs/")
    assert started.wait(30)
    t0 = time.monotonic()
    assert c.get("/api/health").status_code == 200
    assert c.get("/api/periods", headers=g1).status_code == 200
    assert time.monotonic() - t0 < 5
    j = c.get(r.headers["location"], headers=g1).json()
    assert (j["status"], j["progress"], j["step"]) == ("running", 0.5, "汇总病例并计算（DIP）")
    release.set()
    assert _wait(c, g1, j["job_id"])["result"] == {"period_id": 42}


def test_a_failed_run_reports_the_refusal_in_the_job(api, region) -> None:
    c, _ = api
    g1 = _token(c, "agency1")
    body = {**_body(region, 5), "budget_policy": str(region / "no-such.toml")}
    j = _wait(c, g1, c.post("/api/periods", json=body, headers=g1).json()["job"]["job_id"])
    assert j["status"] == "failed" and "no-such.toml" in j["error"]["message"]


def test_a_run_waits_for_a_load_and_a_load_waits_for_a_run(region: Path, tmp_path: Path, monkeypatch) -> None:
    """The workspace lock (engine.wslock): a run waits while a load is announced; a load started while a run
    reads the workspace waits until the run has closed it, then succeeds."""
    import os
    import subprocess
    import sys

    from yibao.engine.workspace import Workspace
    from yibao.engine.wslock import WRITER_FILE

    ws = tmp_path / "ws"
    shutil.copytree(region / "ws", ws)
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # a live "loader"
    try:
        (ws / WRITER_FILE).write_text(str(writer.pid))
        threading.Timer(0.6, lambda: (ws / WRITER_FILE).unlink()).start()
        t0 = time.monotonic()
        sp._wait_for_writer(ws)
        assert time.monotonic() - t0 >= 0.5
    finally:
        writer.kill()
        writer.wait()
    # a run holds the workspace read-only for 3 s; a load started meanwhile waits, then succeeds
    held = Workspace(ws, read_only=True)
    threading.Timer(3.0, held.close).start()
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "yibao.cli", "load", str(region / "region"), "--workspace", str(ws)],
                       capture_output=True, text=True, env={**os.environ, "YIBAO_LOCK_WAIT": "60"})
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 >= 2.5


@pytest.mark.skipif(sp.drg_settle_year is None,
                    reason="yibao.drg.settlement.settle_year arrives with issue 14's DRG refactor (h/drg14)")
def test_drg_periods_sum_to_the_drg_year(region: Path, tmp_path: Path, standards: Path) -> None:
    from yibao.budget.policy import load_policy
    from yibao.budget.year import settlement_pots
    from yibao.drg.standards import load_standards

    st = _store(tmp_path)
    (tmp_path / "periods.toml").write_text('[methods]\ninpatient = "drg"\n', encoding="utf-8")
    inputs = sp.PeriodInputs(None, region / "region" / "budget_policy.toml", None, None, tmp_path / "periods.toml",
                             standards)
    for m in range(1, 13):
        p = sp.run_period(st, region / "ws", year=YEAR, month=m, scheme="employee", setting="inpatient",
                          inputs=inputs, actor=PREP)
        assert p["method"] == "drg"
        _issue(st, p["period_id"], dt.date(YEAR, m, 28))
    c = sp.run_period(st, region / "ws", year=YEAR, month=None, scheme="employee", setting="inpatient",
                      inputs=inputs, actor=PREP)
    _issue(st, c["period_id"], dt.date(YEAR + 1, 2, 10))
    bp = load_policy(region / "region" / "budget_policy.toml")
    year = sp.drg_settle_year(region / "ws", load_standards(standards), settlement_pots(bp), bp.sections.clearing,
                              None, YEAR).year.drg["employee"]
    got = {i: sum(d.values(), Decimal(0)) for i, d in per.year_of_record(st, "employee.inpatient", YEAR).items()}
    assert got == {c.institution_id: c.entitlement for c in year.clearing}


def test_jobs_survive_a_restart_of_yibao_serve_and_a_running_one_is_interrupted(region: Path, tmp_path: Path) -> None:
    """A real `yibao serve` on a free port: a failed job, a job running (held by a load announced in the
    workspace) and a queued one; the server stops (SIGINT), then is killed (SIGKILL) in a second round;
    after each restart `GET /api/jobs/{id}` answers from the store: failed as it was, the others 中断."""
    import signal
    import subprocess
    import sys

    import httpx

    from yibao.engine.wslock import WRITER_FILE

    from .conftest import free_port

    ws = tmp_path / "ws"
    shutil.copytree(region / "ws", ws, ignore=shutil.ignore_patterns("store.sqlite3*"))
    st = Store(f"sqlite:///{ws / 'store.sqlite3'}")
    add_user(st, "agency1", "agency", PASSWORD, None, actor="tester")
    st.close()

    def start():
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "yibao.cli", "serve", "--workspace", str(ws), "--port",
                                 str(port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        url = proc.stdout.readline().strip()
        assert url == f"http://127.0.0.1:{port}", proc.poll()
        http = httpx.Client(base_url=url, timeout=60)
        tok = http.post("/api/login", json={"username": "agency1", "password": PASSWORD}).json()["token"]
        http.headers["Authorization"] = "Bearer " + tok
        return proc, http

    def wait(http, job_id, until):
        deadline = time.monotonic() + 180  # generous: a shared machine may be slow
        while time.monotonic() < deadline:
            j = http.get(f"/api/jobs/{job_id}").json()
            if until(j):
                return j
            time.sleep(0.1)
        raise AssertionError(j)

    def hold_and_submit(http):
        """A live "loader" announced in the workspace: the run waits for it (step 等待工作区…), the next queues."""
        (ws / WRITER_FILE).write_text(str(loader.pid))
        running = http.post("/api/periods", json=_body(region, 2)).json()["job"]["job_id"]
        queued = http.post("/api/periods", json=_body(region, 3)).json()["job"]["job_id"]
        j = wait(http, running, lambda j: j["step"].startswith("等待工作区"))
        assert j["status"] == "running" and j["progress"] == 0.15
        assert http.get(f"/api/jobs/{queued}").json()["status"] == "queued"
        return running, queued

    loader = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(900)"])  # killed at the end
    try:
        proc, http = start()
        bad = {**_body(region, 1), "budget_policy": str(region / "no-such.toml")}
        failed = http.post("/api/periods", json=bad).json()["job"]["job_id"]
        wait(http, failed, lambda j: j["status"] == "failed")
        running, queued = hold_and_submit(http)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)  # an orderly stop does not wait for the run
        # 130: stopped by Ctrl-C; well before the run would end (it waits up to 120 s for the "loader")
        assert proc.wait(90) in (0, 130) and time.monotonic() - t0 < 60
        http.close()
        (ws / WRITER_FILE).unlink()

        proc, http = start()
        f = http.get(f"/api/jobs/{failed}").json()
        assert f["status"] == "failed" and "no-such.toml" in f["error"]["message"]
        for jid in (running, queued):
            j = http.get(f"/api/jobs/{jid}").json()
            assert (j["status"], j["status_zh"], j["error"]["code"]) == ("interrupted", "中断", "interrupted"), j
            assert "任务已中断" in j["error"]["message"]
        assert http.get(f"/api/jobs/{running}").json()["progress"] == 0.15  # how far it got
        assert http.get("/api/periods").json()["periods"] == []  # nothing half-recorded
        # second round: the server is killed (no orderly stop); the next start marks its jobs interrupted
        running2, queued2 = hold_and_submit(http)
        proc.kill()
        proc.wait(30)
        http.close()
        (ws / WRITER_FILE).unlink()
        proc, http = start()
        for jid in (running2, queued2):
            assert http.get(f"/api/jobs/{jid}").json()["status"] == "interrupted"
        # and the server runs jobs as before
        ok = http.post("/api/periods", json=_body(region, 1)).json()["job"]["job_id"]
        assert wait(http, ok, lambda j: j["status"] != "queued" and j["status"] != "running")["status"] == "done"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(90) in (0, 130)
        http.close()
    finally:
        loader.kill()
        loader.wait()
        if proc.poll() is None:
            proc.kill()


def _dip_year_entitlement(region: Path) -> dict[str, Decimal]:
    """Per institution, the year's entitlement of `dip settle` (职工 DIP clearing + bed days)."""
    clr = [r for r in _csv(region / "year" / "clearing.csv") if r["结算方式"] == "按病种分值" and r["险种"] == "职工"]
    want = {r["机构编码"]: Decimal(r["年度应付"]) for r in clr}
    for b in (r for r in _csv(region / "year" / "bed_day.csv") if r["险种"] == "职工"):
        want[b["机构编码"]] = want.get(b["机构编码"], Decimal(0)) + Decimal(b["实际应付（超出床日预算时按比例）"])
    return want


def test_a_month_corrected_after_the_clearing_marks_it_and_its_correction_restores_the_year(region: Path,
                                                                                         tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from conftest import run_cli

    from yibao.store.statements import head_lines

    st = _store(tmp_path)
    for m in range(1, 13):
        _issue(st, _run(st, region, m)["period_id"], dt.date(YEAR, m, 28))
    c1 = _run(st, region, None)
    _issue(st, c1["period_id"], dt.date(YEAR + 1, 2, 10))
    assert per.get_period(st, c1["period_id"])["needs_new_version"] is False
    march = per.of_record(st, "employee.inpatient", YEAR, 3)
    v1 = {s["institution_id"]: Decimal(s["amount"]) for s in per.period_statements(st, march["period_id"])}
    # March corrected from re-scored data: half of one institution's March cases dropped
    t = pq.read_table(region / "s" / "scored_cases.parquet")
    mar = t.filter(pc.and_(pc.equal(t["settle_year"], YEAR), pc.equal(t["settle_month"], 3)))
    inst = sorted(set(mar["institution_id"].to_pylist()))[0]
    drop = set(mar.filter(pc.equal(mar["institution_id"], inst))["case_id"].to_pylist()[::2])
    assert drop
    shutil.copytree(region / "s", tmp_path / "s2")
    pq.write_table(t.filter(pc.invert(pc.is_in(t["case_id"], pa.array(sorted(drop))))),
                   tmp_path / "s2" / "scored_cases.parquet")
    fixed = sp.PeriodInputs(tmp_path / "s2", region / "region" / "budget_policy.toml", region / "dip.toml")
    m2 = sp.correct_period(st, region / "ws", march["period_id"], "3 月病例重新赋分", PREP, inputs=fixed)
    _issue(st, m2["period_id"], dt.date(YEAR + 1, 3, 2))
    v2 = {s["institution_id"]: Decimal(s["amount"]) for s in per.period_statements(st, m2["period_id"])}
    assert v2 != v1 and sum(v2.values()) == sum(v1.values())  # the month's budget shared again, to the fen
    # the clearing is still the issued version, but needs a new one: API view, list, statement, CLI
    c = per.get_period(st, c1["period_id"])
    assert (c["status"], c["needs_new_version"]) == ("issued", True)
    assert c["stale_months"] == [{"month": 3, "was_period_id": march["period_id"], "period_id": m2["period_id"],
                                  "version": 2}]
    assert c["notice"].startswith("须重新清算：本清算签发后，3 月（现为第 2 版") and \
        f"yibao period correct {c1['period_id']}" in c["notice"]
    row = next(p for p in per.list_periods(st, year=YEAR) if p["period_id"] == c1["period_id"])
    assert row["needs_new_version"] and row["notice"] == c["notice"]
    s1 = per.get_statement(st, per.period_statements(st, c1["period_id"])[0]["statement_id"])
    head = dict(head_lines(s1))
    assert head["提示"] == c["notice"] and "须重新清算" in head["状态"]
    for args in (("list", "--year", str(YEAR)), ("show", str(c1["period_id"]))):
        r = run_cli("period", *args, "-w", region / "ws", "--store", f"sqlite:///{tmp_path / 'store.sqlite3'}")
        assert r.returncode == 0, r.stderr
        assert "（记录版本 of record，须重新清算）" in r.stdout and "提示：须重新清算" in r.stdout
    # the correction of the clearing: one action, from the months of record, naming the version it replaces
    c2 = sp.correct_period(st, region / "ws", c1["period_id"], "3 月预付已更正，按记录版本重新清算", PREP)
    assert (c2["version"], c2["replaces_id"], c2["reason"]) == (2, c1["period_id"], "3 月预付已更正，按记录版本重新清算")
    _issue(st, c2["period_id"], dt.date(YEAR + 1, 3, 10))
    assert per.get_period(st, c1["period_id"])["status"] == "superseded"
    assert per.get_period(st, c2["period_id"])["needs_new_version"] is False
    assert c2["summary"]["months_of_record"]["3"] == m2["period_id"]
    s2 = per.get_statement(st, per.period_statements(st, c2["period_id"])[0]["statement_id"])
    assert s2["replaces"]["version"] == 1 and \
        dict(s2["items"])["所依据的月度预付"] == "1–12 月已签发的记录版本（其中 3 月第 2 版，为更正版本）"
    # Σ twelve months of record + the corrected clearing = the year's entitlement, per institution, to the fen;
    # the clearing moved by exactly what March moved
    got = {i: sum(d.values(), Decimal(0)) for i, d in per.year_of_record(st, "employee.inpatient", YEAR).items()}
    assert got == _dip_year_entitlement(region)
    old = {s["institution_id"]: Decimal(s["amount"]) for s in per.period_statements(st, c1["period_id"])}
    new = {s["institution_id"]: Decimal(s["amount"]) for s in per.period_statements(st, c2["period_id"])}
    for i in new:
        assert new[i] - old.get(i, Decimal(0)) == v1.get(i, Decimal(0)) - v2.get(i, Decimal(0)), i
    assert audit.verify(st).ok
