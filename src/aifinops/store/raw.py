"""Reading big results through the database driver's own cursor, as plain tuples.

SQLAlchemy's per-row result processing costs more than the database itself when a month of cost records or
usage drivers is read (hundreds of thousands of rows). Queries are still built with SQLAlchemy Core and
compiled for the connection's dialect; bound values go through their types' bind processors (a date
becomes SQLite's ISO text), so the SQL is the one SQLAlchemy would have run. What comes back is the
driver's raw value: callers convert what the driver leaves as text (SQLite dates).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from aifinops.store.store import database_error

__all__ = ["day_parser", "raw_batches", "statement"]


def statement(dialect: sa.Dialect, query: sa.ClauseElement) -> tuple[str, Any]:
    """``query`` as the SQL text and parameters the driver of ``dialect`` takes."""
    compiled: Any = query.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    values = dict(compiled.params)
    for name, bind in compiled.binds.items():
        if name in values:
            process = bind.type.bind_processor(dialect)
            if process is not None:
                values[name] = process(values[name])
    if compiled.positiontup is not None:
        return str(compiled), tuple(values[name] for name in compiled.positiontup)
    return str(compiled), values


def raw_batches(
    conn: sa.Connection, query: sa.ClauseElement, size: int = 20_000
) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of ``query`` in lists of up to ``size`` driver tuples; driver errors: database_error."""
    sql, params = statement(conn.dialect, query)
    dbapi = conn.connection.driver_connection
    error: Any = conn.dialect.loaded_dbapi.Error
    try:
        cursor = dbapi.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, params)
            while batch := cursor.fetchmany(size):
                yield batch
        finally:
            cursor.close()
    except error as exc:
        raise database_error(exc, url=conn.engine.url.render_as_string(hide_password=True)) from exc


def day_parser() -> Any:
    """A function turning a driver's date value (``date``, or SQLite's ISO text) into a ``date``, cached."""
    seen: dict[Any, dt.date] = {}

    def day(value: Any) -> dt.date:
        found = seen.get(value)
        if found is None:
            found = seen[value] = value if isinstance(value, dt.date) else dt.date.fromisoformat(value)
        return found

    return day
