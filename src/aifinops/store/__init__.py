"""Persistence: SQLAlchemy tables, the Store, and Alembic migrations shipped in the package."""

from aifinops.store.store import Store

__all__ = ["Store"]
