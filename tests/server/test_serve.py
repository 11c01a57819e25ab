"""``yibao serve`` as a user starts it: a subprocess on a free port, the contract over real HTTP; the CLI's
``users add``, ``review --workspace`` and ``audit verify``; a ``yibao load`` while the server answers."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from conftest import run_cli

from .conftest import F_H001_REJECT, F_H002_REJECT, free_port

PW = "server-pass-1"


def cli(*args, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    if stdin is None:
        return run_cli(*args, env=env)
    return subprocess.run([sys.executable, "-m", "yibao.cli", *map(str, args)], input=stdin, capture_output=True,
                          text=True, env={**os.environ, **(env or {})})


@contextmanager
def serving(workspace: Path, store_url: str | None):
    port = free_port()
    args = [sys.executable, "-m", "yibao.cli", "serve", "--workspace", str(workspace), "--port", str(port)]
    if store_url:
        args += ["--store", store_url]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(60)
    try:
        assert line and line[0].strip() == f"http://127.0.0.1:{port}", (line, proc.poll())
        yield line[0].strip()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def add_users_in_process(workspace: Path) -> None:
    from yibao.store.db import open_store
    from yibao.store.users import add_user

    with open_store(workspace) as st:
        for name, role, inst in [("admin", "admin", None), ("h1", "hospital", "H001")]:
            add_user(st, name, role, PW, inst, actor="tester")


def add_users(workspace: Path, store_url: str | None) -> None:
    """Through the command, as the contract says (password on the first line of stdin)."""
    extra = ["--store", store_url] if store_url else []
    for name, role, inst in [("admin", "admin", None), ("sup", "supervisor", None), ("h1", "hospital", "H001"),
                             ("h2", "hospital", "H002"), ("aud", "auditor", None)]:
        r = cli("users", "add", name, "--role", role, *(["--institution", inst] if inst else []),
                "--workspace", workspace, *extra, stdin=PW + "\n")
        assert r.returncode == 0, r.stderr


@pytest.mark.slow
def test_contract_over_http(workspace, store_url, tmp_path):
    extra = ["--store", store_url] if store_url else []
    add_users(workspace, store_url)
    r = cli("review", "--workspace", workspace, "--out", tmp_path / "rev", *extra)
    assert r.returncode == 0, r.stderr
    assert "审核批次 1" in r.stdout
    with serving(workspace, store_url) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/api/health").json() == {"status": "ok"}
        assert http.post("/api/login", json={"username": "admin", "password": "nope"}).status_code == 401
        assert http.post("/api/login", json={"username": "who", "password": PW}).status_code == 401

        def login(u):
            r = http.post("/api/login", json={"username": u, "password": PW})
            assert r.status_code == 200
            return {"Authorization": "Bearer " + r.json()["token"]}

        admin, sup, h1, h2, aud = (login(u) for u in ("admin", "sup", "h1", "h2", "aud"))
        assert http.get("/api/cases/C0001").status_code == 401
        c = http.get("/api/cases/C0001", headers=admin).json()
        assert (c["case_id"], c["person_name"], c["person_id_number"]) == ("C0001", "张伟", "440203196501012317")
        assert http.get("/api/cases/C0001", headers=h2).status_code == 404
        assert http.get("/api/cases/C0001", headers=h1).json()["person_name"] == "张伟"
        m = http.get("/api/cases/C0001", headers=aud).json()
        assert (m["person_name"], m["person_id_number"]) == ("张*", "440203********2317")

        assert http.get("/api/audit?limit=5", headers=h1).status_code == 403
        ev = http.get("/api/audit?limit=5", headers=admin).json()["events"]
        assert (ev[0]["actor"], ev[0]["action"]) == ("aud", "case.read") and "C0001" in ev[0]["object"]
        fails = [e for e in http.get("/api/audit?limit=100", headers=aud).json()["events"]
                 if e["action"] == "login.failure"]
        assert {e["actor"] for e in fails} == {"admin", "who"}

        f = http.get("/api/findings?institution_id=H001", headers=sup).json()["findings"]
        assert {x["finding_id"] for x in f if x["severity"] == "reject"} == {F_H001_REJECT}
        assert all(x["status"] == "open" for x in f)
        assert http.get("/api/findings?institution_id=H001", headers=h2).json()["findings"] == []

        assert http.post(f"/api/findings/{F_H001_REJECT}/appeal", json={"reason": "r"}, headers=h2).status_code == 404
        assert http.post(f"/api/findings/{F_H001_REJECT}/appeal", json={"reason": "r"}, headers=sup).status_code == 403
        r = http.post(f"/api/findings/{F_H001_REJECT}/appeal", json={"reason": "实际住院 5 日"}, headers=h1)
        assert (r.status_code, r.json()["status"]) == (200, "appealed")
        assert http.post(f"/api/findings/{F_H001_REJECT}/decision", json={"decision": "upheld", "reason": "r"},
                         headers=h1).status_code == 403
        r = http.post(f"/api/findings/{F_H001_REJECT}/decision", json={"decision": "upheld", "reason": "证据充分"},
                      headers=sup)
        assert (r.status_code, r.json()["status"]) == (200, "upheld")
        r = http.post(f"/api/findings/{F_H002_REJECT}/decision", json={"decision": "overturned", "reason": "误判"},
                      headers=sup)
        assert (r.status_code, r.json()["status"]) == (200, "overturned")

        d = http.get("/api/deductions?institution_id=H001&year=2024", headers=admin).json()
        assert (d["institution_id"], d["year"], d["total"], d["by_status"]["upheld"]) == ("H001", 2024, "200.00",
                                                                                          "200.00")
        assert http.get("/api/deductions?institution_id=H002&year=2024", headers=admin).json()["total"] == "0.00"
        assert http.get("/api/deductions?institution_id=H002&year=2024", headers=h1).status_code == 404
        assert "/api/findings/{finding_id}/appeal" in http.get("/openapi.json").json()["paths"]
    r = cli("audit", "verify", "--workspace", workspace, *extra)
    assert r.returncode == 0 and "校验通过" in r.stdout, r.stderr


@pytest.mark.slow
def test_audit_verify_fails_after_an_entry_is_edited_in_the_file(workspace):
    add_users_in_process(workspace)
    r = cli("audit", "verify", "--workspace", workspace)
    assert r.returncode == 0 and "共 2 条" in r.stdout
    db = sqlite3.connect(workspace / "store.sqlite3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE audit_log SET detail = '{\"role\": \"admin\"}' WHERE seq = 2")
    db.execute("DROP TRIGGER audit_log_no_update")
    db.execute("UPDATE audit_log SET detail = '{\"role\": \"admin\"}' WHERE seq = 2")
    db.commit()
    db.close()
    r = cli("audit", "verify", "--workspace", workspace)
    assert r.returncode == 3
    assert r.stderr.strip().startswith("错误：审计日志校验失败：第 2 条") and "Traceback" not in r.stderr


@pytest.mark.parametrize("args,message", [
    (["users", "add", "x", "--role", "hospital"], "--institution"),
    (["users", "add", "x", "--role", "king"], "未知角色"),
    (["users", "add", "x", "--role", "admin", "--institution", "H001"], "--institution"),
    (["users", "add", "bad name", "--role", "admin"], "用户名"),
])
def test_users_add_refuses_bad_input(workspace, args, message):
    r = cli(*args, "--workspace", workspace, stdin=PW + "\n")
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_users_add_refuses_an_empty_password_and_a_second_user_of_the_same_name(workspace):
    r = cli("users", "add", "x", "--role", "admin", "--workspace", workspace, stdin="\n")
    assert r.returncode == 2 and "密码为空" in r.stderr
    assert cli("users", "add", "x", "--role", "admin", "--workspace", workspace, stdin=PW + "\n").returncode == 0
    r = cli("users", "add", "x", "--role", "agency", "--workspace", workspace, stdin=PW + "\n")
    assert r.returncode == 2 and "已存在" in r.stderr


@pytest.mark.slow
def test_a_load_while_the_server_answers(workspace, region_dir):
    """`yibao load` writes the workspace while requests read it: neither fails (engine/wslock.py)."""
    add_users_in_process(workspace)
    with serving(workspace, None) as url, httpx.Client(base_url=url, timeout=60) as http:
        h = {"Authorization": "Bearer " + http.post("/api/login", json={"username": "admin", "password": PW})
             .json()["token"]}
        statuses: list[int] = []
        stop = threading.Event()

        def hammer():
            while not stop.is_set():
                statuses.append(http.get("/api/cases/C0002", headers=h).status_code)

        t = threading.Thread(target=hammer)
        t.start()
        try:
            time.sleep(0.5)
            loads = [cli("load", region_dir, "--workspace", workspace) for _ in range(2)]
        finally:
            stop.set()
            t.join(60)
    assert [r.returncode for r in loads] == [0, 0], [r.stderr for r in loads]
    assert "quarantined" in loads[1].stdout
    assert len(statuses) > 5 and set(statuses) == {200}


def test_serve_on_a_busy_port_says_so(workspace):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = cli("serve", "--workspace", workspace, "--port", port)
    assert r.returncode == 2 and f"无法在 127.0.0.1:{port} 上启动服务" in r.stderr and r.stdout == ""


def test_serve_refuses_a_missing_workspace_and_an_unknown_store(tmp_path, workspace):
    r = cli("serve", "--workspace", tmp_path / "nowhere")
    assert r.returncode == 2 and "工作区目录不存在" in r.stderr
    r = cli("serve", "--workspace", workspace, "--store", "postgresql://u:secretpw@127.0.0.1:1/db")
    assert r.returncode == 2 and "无法打开记录库" in r.stderr and "secretpw" not in r.stderr
