"""Fixtures of the server and store tests: a tiny loaded workspace, a store on SQLite and on PostgreSQL.

PostgreSQL: ``YIBAO_TEST_PG_URL`` (a server where the test may create databases), else a throwaway
cluster made with Debian's ``initdb``/``pg_ctl`` (``/usr/lib/postgresql/*/bin``) in a temporary
directory on a free port, run as ``nobody`` when the tests run as root. Tests that need it are
skipped, with the reason, only when neither is available.
"""

from __future__ import annotations

import copy
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
import regions

# The tiny region of tests/regions.py, with one more line over its daily quantity at the second
# hospital (H002): C0002 line 1, 阿莫西林胶囊 9 × 1.25 with at most 6 a day → 3 × 1.25 = 3.75 rejected.
FEE_ITEMS = copy.deepcopy(regions.FEE_ITEMS)
FEE_ITEMS[2] = ["C0002", "1", "XJ01CAA040A001010100839", "阿莫西林胶囊", "drug", "western_drug", "2024-04-02",
                "9", "1.25", "11.25", "D440203000003"]
TABLES = {**regions.ROWS, "fee_items": FEE_ITEMS}

PERSON = {"C0001": ("张伟", "440203196501012317"), "C0002": ("王芳", "440203199003154420")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def region_dir(tmp_path_factory) -> Path:
    return regions.write_region(tmp_path_factory.mktemp("srv-region") / "region", TABLES)


@pytest.fixture(scope="session")
def loaded_ws(tmp_path_factory, region_dir) -> Path:
    from yibao.engine.loading import load_region

    ws = tmp_path_factory.mktemp("srv-ws") / "ws"
    load_region(region_dir, ws)
    return ws


@pytest.fixture
def workspace(tmp_path, loaded_ws) -> Path:
    """A private copy of the loaded tiny workspace (no store yet)."""
    ws = tmp_path / "ws"
    shutil.copytree(loaded_ws, ws)
    return ws


# --- PostgreSQL -----------------------------------------------------------------------------------------

def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="session")
def pg_server():
    """A base URL of a PostgreSQL server (``…/postgres``), or skip with the reason."""
    url = os.environ.get("YIBAO_TEST_PG_URL")
    if url:
        yield url
        return
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL absent: no /usr/lib/postgresql/*/bin/initdb and no YIBAO_TEST_PG_URL")
    tmp = Path(tempfile.mkdtemp(prefix="yibao-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(tmp, "nobody")
        as_user = ["runuser", "-u", "nobody", "--"]
    port = free_port()
    data = tmp / "data"
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "yibao", "-A", "trust",
                    "--no-sync", "-E", "UTF8", "--locale=C"], check=True, capture_output=True)
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(tmp / "log"), "-w", "-o",
                    f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://yibao@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh, empty database on the PostgreSQL server (dropped afterwards)."""
    import psycopg

    name = "yibao_test_" + uuid.uuid4().hex[:12]
    plain = pg_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    yield pg_server.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(plain, autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, workspace) -> str | None:
    """None (the SQLite file inside the workspace) or a fresh PostgreSQL database URL."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("pg_url")


# --- a populated store: one user per role (two hospitals) and one recorded review run -------------------------

PASSWORD = "correct-horse-1"
USERS = [("admin1", "admin", None), ("agency1", "agency", None), ("super1", "supervisor", None),
         ("hosp1", "hospital", "H001"), ("hosp2", "hospital", "H002"), ("audit1", "auditor", None)]
ROLE_USER = {"admin": "admin1", "agency": "agency1", "supervisor": "super1", "hospital": "hosp1",
             "auditor": "audit1"}


_REVIEWS: dict = {}


def review_result(workspace: Path):
    """The review of the tiny workspace (computed once: every copy of it gives the same findings)."""
    from yibao.review.ruleset import load_rules
    from yibao.review.run import run_workspace
    from yibao.staff import periods_from_workspace

    if "res" not in _REVIEWS:
        # The tiny region lists a few sample lines per case, not the whole bill: its cases' totals are not itemised,
        # so the completeness rules (C31–C33, tested in tests/review/test_completeness.py) are off here.
        rs = load_rules(None)
        rs = rs.only(*(r.id for r in rs.enabled if r.id not in ("C31", "C32", "C33")))
        _REVIEWS["res"] = run_workspace(workspace, rs, periods_from_workspace(workspace))
    return _REVIEWS["res"]


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch):
    """argon2id with small parameters in tests (the defaults cost ~0.1 s of CPU per hash, by design)."""
    from argon2 import PasswordHasher

    from yibao.store import users

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def record_review_run(store, workspace: Path) -> int:
    from yibao.store.db import now_iso
    from yibao.store.findings import record_run

    started = now_iso()
    res = review_result(workspace)
    return record_run(store, res.findings, res.cases, workspace=str(workspace), rules_digest="test",
                      started_at=started, actor="tester", cases=res.counts["cases"])


@pytest.fixture
def store(workspace, store_url):
    """The workspace's store (SQLite or PostgreSQL) with USERS and one review run recorded."""
    from yibao.store.db import open_store
    from yibao.store.users import add_user

    st = open_store(workspace, store_url)
    for name, role, inst in USERS:
        add_user(st, name, role, PASSWORD, inst, actor="tester")
    record_review_run(st, workspace)
    yield st
    st.close()


def finding_id(case_id: str, line_no: int | None, rule_id: str) -> str:
    import hashlib

    return "F" + hashlib.sha256(f"{case_id}|{'' if line_no is None else line_no}|{rule_id}".encode()).hexdigest()[:16]


# The findings of the tiny region (checked by hand against its rows, see tests/review):
F_H001_REJECT = finding_id("C0001", 1, "L05")    # 床位费 5 × 50.00 with at most 1 a day: 4 × 50.00 = 200.00
F_H001_WARN = finding_id("C0001", None, "C05")   # 挂床住院 warning on C0001's fund share 9000.25
F_H002_REJECT = finding_id("C0002", 1, "L05")    # 阿莫西林 9 with at most 6: 3 × 1.25 = 3.75
