"""Alembic environment of the store of record: always run from :func:`yibao.store.db.migrate`,
which hands in an open connection (``config.attributes["connection"]``)."""

from __future__ import annotations

from alembic import context

from yibao.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
