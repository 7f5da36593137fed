"""The Store: one SQLAlchemy engine, transactions that turn driver errors into StoreError, schema checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from aifinops.errors import SchemaOutdatedError, StoreError

__all__ = ["Store", "dialect_insert", "normalize_url"]

_MIGRATIONS = Path(__file__).with_name("migrations")


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs.

    >>> normalize_url("postgresql://u@h/db")
    'postgresql+psycopg://u@h/db'
    """
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _sqlite_begin(conn: Connection) -> None:
    # Writers take the write lock up front (BEGIN IMMEDIATE), so a read-then-write transaction such as
    # "which of these event ids are new?" cannot be overtaken by another writer between its two steps.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("aifinops_write") else "BEGIN")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _sqlite_begin)
    # WAL lets readers (API, /metrics) run while ingest writes; NORMAL sync is durable in WAL mode
    # except for the last transactions on power loss, the usual trade-off for an embedded default.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA cache_size=-65536")
    cur.close()


def dialect_insert(conn: Connection, table: Table) -> Any:
    """An INSERT that supports ``on_conflict_*`` on the connection's database."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class Store:
    """Access to the aifinops database. Domain objects in and out; no ORM rows leak."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.engine: Engine = self._create_engine(echo)

    @classmethod
    def from_settings(cls, settings: Any) -> Store:
        return cls(settings.database_url)

    def _create_engine(self, echo: bool) -> Engine:
        if self.url.startswith("sqlite"):
            if self.url not in ("sqlite://", "sqlite:///:memory:"):
                Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                self.url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}
            )
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        try:
            return create_engine(self.url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10)
        except SQLAlchemyError as exc:  # pragma: no cover - bad URL shapes are caught in config
            raise StoreError(f"cannot open database {self.safe_url}: {exc}") from exc

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Connection]:
        """A connection in one transaction: committed on success, rolled back on error."""
        try:
            with self.engine.connect() as conn:
                conn.info["aifinops_write"] = True
                try:
                    with conn.begin():
                        yield conn
                finally:
                    conn.info.pop("aifinops_write", None)
        except SQLAlchemyError as exc:
            raise StoreError(f"database error on {self.safe_url}: {exc.__class__.__name__}: {exc}") from exc

    @contextmanager
    def reader(self) -> Iterator[Connection]:
        """A connection for reads (no explicit transaction work)."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"database error on {self.safe_url}: {exc.__class__.__name__}: {exc}") from exc

    # --- schema -------------------------------------------------------------------------------
    def _alembic_config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        cfg.attributes["engine"] = self.engine
        return cfg

    def upgrade(self) -> list[str]:
        """Run every migration up to the latest heads; returns the heads now applied."""
        try:
            command.upgrade(self._alembic_config(), "heads")
        except SQLAlchemyError as exc:
            raise StoreError(f"migration failed on {self.safe_url}: {exc}") from exc
        return sorted(self.current_heads())

    def current_heads(self) -> set[str]:
        with self.reader() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())

    def expected_heads(self) -> set[str]:
        return set(ScriptDirectory.from_config(self._alembic_config()).get_heads())

    def check_schema(self) -> None:
        """Raise SchemaOutdatedError naming the fix when the database is behind the code."""
        current, expected = self.current_heads(), self.expected_heads()
        if current != expected:
            raise SchemaOutdatedError(
                f"database schema at {self.safe_url} is {sorted(current) or 'empty'}, code expects "
                f"{sorted(expected)}; run `aifinops db upgrade` (AIFINOPS_DATABASE_URL={self.safe_url})"
            )

    def dispose(self) -> None:
        self.engine.dispose()
