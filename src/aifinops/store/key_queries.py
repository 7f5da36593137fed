"""Reading API keys back: one key, the active key of a secret, all keys (written by ``store/keys.py``)."""

from __future__ import annotations

from sqlalchemy import select

from aifinops.store.keys import ApiKey, api_key, fetch_key, hash_secret
from aifinops.store.store import Store
from aifinops.store.tables import api_keys

__all__ = ["any_active_key", "any_key_created", "list_keys", "read_key", "verify_key"]


def read_key(store: Store, key_id: str) -> ApiKey:
    """The key ``key_id``; ValidationError naming the fix when there is none."""
    with store.reader() as conn:
        return fetch_key(conn, key_id)


def verify_key(store: Store, secret: str) -> ApiKey | None:
    """The active key with this secret, or None."""
    with store.reader() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.secret_hash == hash_secret(secret))).first()
    if row is None or row.revoked_at is not None:
        return None
    return api_key(row)


def list_keys(store: Store) -> list[ApiKey]:
    """Every key, revoked ones too, oldest first."""
    with store.reader() as conn:
        return [api_key(r) for r in conn.execute(select(api_keys).order_by(api_keys.c.created_at))]


def any_active_key(store: Store) -> bool:
    """Whether any key is not revoked (then the API requires keys)."""
    with store.reader() as conn:
        found = conn.execute(select(api_keys.c.key_id).where(api_keys.c.revoked_at.is_(None)).limit(1))
        return found.first() is not None


def any_key_created(store: Store) -> bool:
    """Whether any key was ever created, revoked ones included (then the API never runs without keys)."""
    with store.reader() as conn:
        return conn.execute(select(api_keys.c.key_id).limit(1)).first() is not None
