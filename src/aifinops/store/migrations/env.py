"""Alembic environment: runs migrations on the Store's own engine (passed in the config attributes)."""

from __future__ import annotations

from alembic import context

from aifinops.store.tables import metadata

_engine = context.config.attributes["engine"]

with _engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
