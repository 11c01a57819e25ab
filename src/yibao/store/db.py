"""Opening the store of record: URL, engine, migrations, the per-store secret."""

from __future__ import annotations

import re
import secrets
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from sqlalchemy import Connection, create_engine, event, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError

from yibao.contract.errors import BadOption
from yibao.store.schema import settings

STORE_FILE = "store.sqlite3"
MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_MS = 30_000  # how long a writer waits for another one before giving up


def now_iso() -> str:
    """The store's time stamp: ISO 8601 UTC with microseconds (sorts as text, hashes the same everywhere)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def store_url(workspace: Path | str, url: str | None = None) -> str:
    """``url`` as given (``postgresql://`` meaning psycopg 3), else the SQLite file inside the workspace."""
    if url:
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url
    return f"sqlite:///{(Path(workspace) / STORE_FILE).resolve()}"


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


class Store:
    """An open store: one SQLAlchemy engine, migrated to the newest schema."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            u = make_url(url)
        except ArgumentError:
            raise BadOption(f"记录库地址无法识别：{safe_url(url)}（SQLite 文件或 postgresql+psycopg://…）") from None
        self.dialect = u.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise BadOption(f"记录库只支持 SQLite 与 PostgreSQL：{safe_url(url)}")
        if self.dialect == "postgresql" and u.get_driver_name() != "psycopg":
            raise BadOption(f"PostgreSQL 记录库请使用 postgresql+psycopg://…：{safe_url(url)}")
        self.engine = _engine(url, self.dialect)
        self.lock = threading.RLock()  # one writer per process at a time (the database serialises processes)
        try:
            migrate(self)
            self.secret = _secret(self)
        except OperationalError as exc:
            self.engine.dispose()
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise BadOption(f"无法打开记录库 {safe_url(url)}：{first}") from None

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction (on SQLite ``BEGIN IMMEDIATE``: writers queue instead of failing)."""
        with self.lock, self.engine.begin() as con:
            yield con

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _engine(url: str, dialect: str) -> Engine:
    if dialect == "sqlite":
        path = make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        eng = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_MS / 1000})

        @event.listens_for(eng, "connect")
        def _on_connect(dbapi_con, _rec) -> None:  # pragma: no cover - driver hook
            dbapi_con.isolation_level = None  # the driver does not open transactions; "begin" below does
            cur = dbapi_con.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
            cur.close()

        @event.listens_for(eng, "begin")
        def _on_begin(con) -> None:  # pragma: no cover - driver hook
            con.exec_driver_sql("BEGIN IMMEDIATE")

        return eng
    return create_engine(url, pool_pre_ping=True)


def migrate(store: Store) -> None:
    """Upgrade the store to the newest migration (Alembic ``upgrade head``), serialised between processes."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.begin() as con:
        if store.dialect == "postgresql":
            con.exec_driver_sql("SELECT pg_advisory_xact_lock(7206150001)")
        cfg.attributes["connection"] = con
        command.upgrade(cfg, "head")


def _secret(store: Store) -> bytes:
    """The per-store signing key of tokens and session cookies (made once, kept in the store)."""
    while True:
        try:
            with store.begin() as con:
                row = con.execute(select(settings.c.value).where(settings.c.key == "token_secret")).first()
                if row:
                    return bytes.fromhex(row[0])
                con.execute(settings.insert().values(key="token_secret", value=secrets.token_hex(32)))
        except IntegrityError:  # another process made it first: read theirs
            continue


def open_store(workspace: Path | str, url: str | None = None) -> Store:
    """The store of record of a workspace (created and migrated when needed)."""
    return Store(store_url(workspace, url))
