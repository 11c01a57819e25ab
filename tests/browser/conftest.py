"""Browser tests: a real ``yibao serve`` on a free port, driven by Debian's chromium through Playwright.

The site (session-scoped, built once in a temporary directory, seconds):

- a synthetic region (``yibao synth --seed 5 --cases 2000``) loaded into a workspace;
- ``yibao review --workspace`` (the run recorded in the store, findings ``open``);
- when the CHS-DRG standards are found: ``yibao dip build`` + ``dip score`` into ``WS/results/dip`` and
  ``yibao drg settle`` into ``WS/results/drg`` (what the hospital's own view reads);
- one user per role — two hospital users, of the two institutions with the most reject findings;
- ``yibao serve --workspace WS --port 0`` as a subprocess (the URL read from its stdout).

Fixtures for other page tests: ``site`` (:class:`Site`), ``browser`` (a launched chromium), ``page_as``
(``page_as("supervisor")`` → a logged-in page in a fresh context) and ``shot(page, name)`` (a full-page
screenshot under ``test-artefacts/browser/``; with ``YIBAO_DOC_SHOTS=1`` also into ``docs/zh/img/``).

The tests that drive the browser are skipped, with the reason, when ``playwright`` (pip) or a chromium
executable is absent (the HTTP tests of the pages still run); ``.ci/run`` installs both, so CI runs them. Never
``playwright install``: no browser download here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTEFACTS = REPO / "test-artefacts" / "browser"
DOC_IMG = REPO / "docs" / "zh" / "img"
PASSWORD = "browser-test-pw-1"
# the screenshots the user manual (docs/zh/操作手册.md) shows, refreshed with YIBAO_DOC_SHOTS=1
DOC_SHOTS = frozenset({"登录", "首页-supervisor", "审核疑点工作台", "批量复审决定", "申诉-填写", "复审决定", "病例",
                       "本院病例-DIP", "本院病例-DRG", "本院结算单", "结算单-对账确认", "结算单-异议", "政策模拟-DRG-结果"})
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def chromium_path() -> str | None:
    env = os.environ.get("YIBAO_CHROMIUM")
    if env and Path(env).exists():
        return env
    return next((p for p in CHROMIUM_CANDIDATES if Path(p).exists()), None)


def _skip_reason() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (pip) absent: pip install playwright (the test extra); never `playwright install`"
    if chromium_path() is None:
        return "chromium absent: apt-get install chromium fonts-noto-cjk (.ci/run does)"
    return None


BROWSER_FIXTURES = {"browser", "page_as"}


def pytest_collection_modifyitems(config, items):
    """Tests that drive the browser are skipped, with the reason, without playwright or chromium; the HTTP
    tests of the pages (``site`` alone) run anyway."""
    reason = _skip_reason()
    if reason:
        for item in items:
            if "tests/browser" in str(item.fspath).replace(os.sep, "/") and \
                    BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
                item.add_marker(pytest.mark.skip(reason=reason))


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-m", "yibao.cli", *args], capture_output=True, text=True, env=env,
                       cwd=REPO, check=False)
    if check and r.returncode != 0:
        raise AssertionError(f"yibao {' '.join(args)} → {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


@dataclass
class Site:
    url: str
    workspace: Path
    region: Path
    users: dict[str, str]                 # role → username ("hospital" and "hospital2" the two hospitals)
    institutions: dict[str, str]          # username → institution_id of the hospital users
    password: str = PASSWORD
    has_payment: bool = False             # DIP/DRG results were made (standards found)
    log: list[str] = field(default_factory=list)

    def login_api(self, role: str) -> dict:
        import httpx

        r = httpx.post(self.url + "/api/login", json={"username": self.users[role], "password": self.password})
        r.raise_for_status()
        return {"Authorization": "Bearer " + r.json()["token"]}

    def api(self, role: str, path: str, **params):
        import httpx

        return httpx.get(self.url + path, params=params, headers=self.login_api(role))


def _build(tmp: Path) -> tuple[Path, Path, bool]:
    region, ws = tmp / "region", tmp / "ws"
    cli("synth", "--out", str(region), "--seed", "5", "--cases", "2000")
    cli("load", str(region), "--workspace", str(ws))
    cli("review", "--workspace", str(ws), "--out", str(tmp / "review"))
    from yibao.contract.standards import find_standards

    std = find_standards()
    if std is None:
        return region, ws, False
    res = ws / "results"
    cli("dip", "build", "-w", str(ws), "--out", str(res / "dip-catalogue"), "--standards", str(std))
    cli("dip", "score", "-w", str(ws), "--catalogue", str(res / "dip-catalogue"), "--out", str(res / "dip"))
    cli("drg", "settle", "-w", str(ws), "--standards", str(std), "--budget-policy", str(region / "budget_policy.toml"),
        "--out", str(res / "drg"), "--no-statements")
    return region, ws, True


def _hospitals(ws: Path) -> list[str]:
    """The two institutions with the most reject findings of record (ties by id)."""
    from sqlalchemy import func, select

    from yibao.store.db import open_store
    from yibao.store.schema import findings

    with open_store(ws) as st, st.begin() as con:
        rows = con.execute(select(findings.c.institution_id, func.count()).where(findings.c.severity == "reject")
                           .group_by(findings.c.institution_id)
                           .order_by(func.count().desc(), findings.c.institution_id)).all()
    return [r[0] for r in rows[:2]]


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Site:
    from yibao.store.db import open_store
    from yibao.store.users import add_user

    tmp = tmp_path_factory.mktemp("browser-site")
    region, ws, paid = _build(tmp)
    h1, h2 = _hospitals(ws)
    users = {"admin": "admin", "agency": "jingban", "supervisor": "jianguan", "hospital": "yibaoban1",
             "hospital2": "yibaoban2", "auditor": "shenji"}
    inst = {"yibaoban1": h1, "yibaoban2": h2}
    with open_store(ws) as st:
        for role, name in users.items():
            add_user(st, name, "hospital" if role.startswith("hospital") else role, PASSWORD, inst.get(name),
                     actor="browser-test")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "yibao.cli", "serve", "--workspace", str(ws), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise AssertionError(f"yibao serve did not start: {url}\n{proc.stderr.read()}")
    log: list[str] = []
    threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True).start()
    try:
        yield Site(url, ws, region, users, inst, has_payment=paid, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def browser(site):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu", "--lang=zh-CN"])
        yield b
        b.close()


def login(page, site: Site, role: str) -> None:
    page.goto(site.url + "/login")
    page.get_by_label("用户名").fill(site.users[role])
    page.get_by_label("密码").fill(site.password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(site.url + "/")


@pytest.fixture
def page_as(browser, site):
    """``page_as(role)``: a page logged in as that role's user (each call a fresh browser context)."""
    contexts = []

    def make(role: str):
        ctx = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
        contexts.append(ctx)
        page = ctx.new_page()
        login(page, site, role)
        return page

    yield make
    for c in contexts:
        c.close()


def _shrink(path: Path) -> None:
    """A palette PNG (64 colours) for the committed manual images: a third of the size, text still sharp."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=64)
    small.save(path, optimize=True)


@pytest.fixture(scope="session")
def shot():
    """``shot(page, name)``: a full-page PNG under test-artefacts/browser/ (not committed); with
    ``YIBAO_DOC_SHOTS=1`` a viewport-sized copy of the manual's (:data:`DOC_SHOTS`) into docs/zh/img/."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = ARTEFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if os.environ.get("YIBAO_DOC_SHOTS") == "1" and name in DOC_SHOTS:
            DOC_IMG.mkdir(parents=True, exist_ok=True)
            doc = DOC_IMG / f"{name}.png"
            page.screenshot(path=str(doc), full_page=False)
            _shrink(doc)
        return path

    return take


__all__ = ["Site", "chromium_path", "cli", "login"]
