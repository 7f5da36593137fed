"""Version counters of stored data, bumped by its writers in their own transaction.

A read kept in the process (:class:`aifinops.store.derived_reads.DerivedReads`) is served again only while the
versions of its inputs are unchanged. ``task_outcomes`` has one: every outcome upsert moves it (outcomes
arrive after their events and replace earlier ones, so nothing in the events tells that they changed).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, String, Table, select

from aifinops.store.store import dialect_insert
from aifinops.store.tables import metadata

__all__ = ["OUTCOMES", "bump", "data_versions", "read_version"]

#: The version of the stored task outcomes.
OUTCOMES = "task_outcomes"

data_versions = Table(
    "data_versions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("version", BigInteger, nullable=False),
)


def bump(conn: Connection, name: str) -> None:
    """Move ``name``'s version on, in the caller's write transaction (the row is made when missing)."""
    stmt = dialect_insert(conn, data_versions).values(name=name, version=1)
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["name"], set_={"version": data_versions.c.version + 1})
    )


def read_version(conn: Connection, name: str) -> int:
    """``name``'s version: 0 before its first write."""
    value = conn.execute(select(data_versions.c.version).where(data_versions.c.name == name)).scalar()
    return int(value or 0)
