"""Monthly range partitions of ``usage_events`` on PostgreSQL (SQLite keeps one plain table).

A partition holds one UTC calendar month of events (``usage_events_y2026m11``). Partitions are created ahead
(this month and the next ones) and on demand before an insert that reaches a month without one, each in its
own short transaction so that ingest never holds the parent's DDL lock. Retention drops whole partitions.

A unique constraint on a partitioned table must contain the partition key, and an event's identity is its
``event_id`` alone: a re-send may carry another ``ts``. So on PostgreSQL ``usage_event_ids`` (unpartitioned)
holds every stored event id: the BEFORE INSERT trigger of the table claims the id there (ON CONFLICT DO
NOTHING) and skips the row when the id was already taken, so every insert path (executemany, COPY, a
hand-written INSERT) stays idempotent, and a concurrent writer of the same id waits for the first to commit.
"""

from __future__ import annotations

import datetime as dt
import re
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection

__all__ = [
    "MONTHS_AHEAD",
    "Month",
    "create_partitions",
    "ensure_partitions",
    "forget_partitions",
    "known_partitions",
    "month_of",
    "months_ahead",
    "partition_name",
    "partitions",
    "schema_compare_filter",
]

#: Partitions kept ready beyond the current month.
MONTHS_AHEAD = 2
#: A month as (year, month).
Month = tuple[int, int]

_NAME = re.compile(r"^usage_events_y(\d{4})m(\d{2})$")
_LOCK = "aifinops.usage_events.partitions"
#: Per store, the months this process knows to have a partition.
_KNOWN: weakref.WeakKeyDictionary[Any, set[Month]] = weakref.WeakKeyDictionary()


def month_of(ts: dt.datetime) -> Month:
    """The UTC month of a timestamp.

    >>> month_of(dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2))))
    (2026, 12)
    """
    t = ts.astimezone(dt.UTC)
    return t.year, t.month


def _next(month: Month) -> Month:
    year, m = month
    return (year + 1, 1) if m == 12 else (year, m + 1)


def _start(month: Month) -> str:
    return f"{month[0]:04d}-{month[1]:02d}-01 00:00:00+00"


def months_ahead(now: dt.datetime, ahead: int = MONTHS_AHEAD) -> list[Month]:
    """This UTC month and the ``ahead`` next ones.

    >>> months_ahead(dt.datetime(2026, 11, 5, tzinfo=dt.UTC))
    [(2026, 11), (2026, 12), (2027, 1)]
    """
    months = [month_of(now)]
    for _ in range(ahead):
        months.append(_next(months[-1]))
    return months


def partition_name(month: Month) -> str:
    """The partition of a month.

    >>> partition_name((2026, 1))
    'usage_events_y2026m01'
    """
    return f"usage_events_y{month[0]:04d}m{month[1]:02d}"


def partitions(conn: Connection) -> dict[Month, str]:
    """The partitions of ``usage_events`` by month (empty on SQLite, where the table is not partitioned)."""
    if conn.dialect.name != "postgresql":
        return {}
    rows = conn.exec_driver_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass('usage_events')"
    ).all()
    found: dict[Month, str] = {}
    for (name,) in rows:
        if match := _NAME.match(name):
            found[(int(match[1]), int(match[2]))] = name
    return found


def create_partitions(conn: Connection, months: Iterable[Month]) -> list[str]:
    """Create the partitions of ``months`` that do not exist yet; returns the names created.

    Creators take one transaction-level advisory lock, so two processes never race on the same name.
    """
    wanted = sorted(set(months))
    if conn.dialect.name != "postgresql" or not wanted:
        return []
    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (_LOCK,))
    existing = partitions(conn)
    created = []
    for month in wanted:
        if month in existing:
            continue
        name = partition_name(month)
        conn.exec_driver_sql(
            f"CREATE TABLE {name} PARTITION OF usage_events "
            f"FOR VALUES FROM ('{_start(month)}') TO ('{_start(_next(month))}')"
        )
        created.append(name)
    return created


def ensure_partitions(store: Any, months: Iterable[Month]) -> list[str]:
    """Create any missing partition of ``months`` in its own short transaction (PostgreSQL only).

    ``store`` is a :class:`~aifinops.store.store.Store`; a process remembers the months it has seen so that
    the insert path asks the catalog only for a month new to it.
    """
    if store.dialect != "postgresql":
        return []
    known = _KNOWN.setdefault(store, set())
    missing = set(months) - known
    if not missing:
        return []
    with store.session() as conn:
        created = create_partitions(conn, missing)
    known.update(missing)
    return created


def known_partitions(store: Any) -> set[Month]:
    """The months this process knows to have a partition in ``store`` (a copy)."""
    return set(_KNOWN.get(store, ()))


def forget_partitions(store: Any) -> None:
    """Drop the process's memory of existing partitions (after retention dropped some)."""
    _KNOWN.pop(store, None)


def schema_compare_filter(dialect: str) -> Callable[..., bool]:
    """An Alembic ``include_object`` for comparing the migrated schema with the code's tables.

    The partitions of ``usage_events`` are PostgreSQL's storage, not tables of their own; and on PostgreSQL
    the uniqueness of ``event_id`` lives in ``usage_event_ids`` (see the module docstring), not on the table.
    """

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table" and reflected and name and _NAME.match(name):
            return False
        return not (
            dialect == "postgresql" and type_ == "unique_constraint" and name == "uq_usage_events_event_id"
        )

    return include
