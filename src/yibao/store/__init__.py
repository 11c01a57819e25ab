"""The store of record (记录库): users, the audit log, review runs and findings with their status.

An interfaces-side component (docs/adr/0006-system-of-record.md): the CLI and the server use it;
capabilities (budget, dip, drg, review, staff, …) never import it. SQLAlchemy 2 Core over SQLite
(a file inside the workspace, the default) or PostgreSQL (``--store postgresql+psycopg://…``);
the schema is created and upgraded by Alembic migrations each time a store is opened.

- :func:`yibao.store.db.open_store` — open (and migrate) the store of a workspace
- :mod:`yibao.store.audit` — the append-only, hash-chained audit log and its verification
- :mod:`yibao.store.users` — users, roles, password hashes, failed-login limits
- :mod:`yibao.store.findings` — review runs, findings and their state machine, deductions
"""

# the public pieces live in their modules (imported on use: SQLAlchemy loads with them)
__all__ = ["db", "audit", "users", "findings", "periods", "rectification", "workdays"]
