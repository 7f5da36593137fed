"""The Store: one SQLAlchemy engine, transactions that turn driver errors into StoreError, schema checks."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from aifinops.errors import SchemaOutdatedError, StoreDataError, StoreError, StoreUnavailableError
from aifinops.store.derived_reads import DerivedReads

__all__ = ["Store", "database_error", "dialect_insert", "normalize_url", "retrying"]

_T = TypeVar("_T")
_ATTEMPTS = 4
_BACKOFF = 0.05  # seconds, doubled per attempt, with jitter so that two deadlock victims do not meet again

_MIGRATIONS = Path(__file__).with_name("migrations")


#: The PostgreSQL advisory lock key `aifinops db upgrade` holds while it migrates ("aifinops" in ASCII).
_MIGRATION_LOCK = 0x6169666E6F7073


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs.

    >>> normalize_url("postgresql://u@h/db")
    'postgresql+psycopg://u@h/db'
    """
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


# SQLSTATE classes (PostgreSQL appendix A) that say "try again": connection exceptions, transaction rollback
# (serialization failure, deadlock), insufficient resources, operator intervention (shutdown, cancel).
_TRANSIENT_CLASSES = ("08", "40", "53", "57")
_TRANSIENT_STATES = frozenset({"55P03", "55006"})  # lock not available, object in use
# Data exceptions (22: out of range, too long, NUL) and integrity violations (23): the values are wrong.
_DATA_CLASSES = ("22", "23")
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy", "unable to open")
_DBAPI_DATA = ("DataError", "IntegrityError")
#: The connection was lost or the pool ran dry: a few seconds; a lock or deadlock: right away.
_RETRY_CONNECT, _RETRY_LOCK = 5, 1


def database_error(exc: BaseException, *, url: str) -> StoreError:
    """A driver error as the StoreError that says whether trying again can help.

    The message names the database (without password), the driver's error class and its first line: never
    the SQL statement nor its parameters (SQLAlchemy's text carries both, and they may hold user data).
    """
    orig = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the DBAPI error in .orig
    first = (str(orig).strip().splitlines() or [""])[0][:300]
    message = f"database error on {url}: {orig.__class__.__name__}: {first}"
    sqlstate = getattr(orig, "sqlstate", None) or ""
    name = orig.__class__.__name__
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return StoreUnavailableError(message, retry_after=_RETRY_CONNECT)
    if sqlstate.startswith(_TRANSIENT_CLASSES) or sqlstate in _TRANSIENT_STATES:
        retry = _RETRY_CONNECT if sqlstate.startswith(("08", "57")) else _RETRY_LOCK
        return StoreUnavailableError(message, retry_after=retry)
    if sqlstate.startswith(_DATA_CLASSES) or isinstance(orig, OverflowError) or name in _DBAPI_DATA:
        return StoreDataError(message, reason=first)
    if name == "OperationalError":  # no SQLSTATE: the connection failed, or SQLite is busy / locked
        lock = any(text in first for text in _SQLITE_BUSY)
        return StoreUnavailableError(message, retry_after=_RETRY_LOCK if lock else _RETRY_CONNECT)
    return StoreError(message)


def retrying(work: Callable[[], _T]) -> _T:
    """Run a whole write transaction again when the database aborted it or could not be reached (a deadlock
    between concurrent re-sends, a serialization failure, a lock timeout, a dropped connection); the last
    StoreUnavailableError is raised."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return work()
        except StoreUnavailableError:
            if attempt == _ATTEMPTS:
                raise
            time.sleep(_BACKOFF * 2 ** (attempt - 1) * (1 + random.random()))
    raise AssertionError("unreachable")  # pragma: no cover


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
        # SQLite has one writer at a time: the writers of this process queue on a lock and the next one starts
        # the moment the last one commits, instead of polling SQLite's busy handler, which sleeps up to 100 ms
        # between tries (other processes still meet the busy handler).
        self._write_lock = threading.RLock() if self.url.startswith("sqlite") else None
        self.derived = DerivedReads()  # costly reads kept with the version of the data they came from

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

    @property
    def driver_errors(self) -> tuple[type[BaseException], ...]:
        """What a database call can raise: SQLAlchemy's errors, the driver's own (raw cursors), and the
        OverflowError of sqlite3 binding an integer beyond 64 bits."""
        return (SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error, OverflowError)

    @contextmanager
    def session(self) -> Iterator[Connection]:
        """A connection in one transaction: committed on success, rolled back on error.

        Driver errors become :func:`database_error`: StoreUnavailableError, StoreDataError or StoreError.
        """
        try:
            with self._write_lock or contextlib.nullcontext(), self.engine.connect() as conn:
                conn.info["aifinops_write"] = True
                try:
                    with conn.begin():
                        yield conn
                finally:
                    conn.info.pop("aifinops_write", None)
        except self.driver_errors as exc:
            raise database_error(exc, url=self.safe_url) from exc

    @contextmanager
    def reader(self) -> Iterator[Connection]:
        """A connection for reads (no explicit transaction work); driver errors as in :meth:`session`."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except self.driver_errors as exc:
            raise database_error(exc, url=self.safe_url) from exc

    # --- schema -------------------------------------------------------------------------------
    def _alembic_config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        cfg.attributes["engine"] = self.engine
        return cfg

    def upgrade(self) -> list[str]:
        """Run every migration up to the latest heads; returns the heads now applied.

        On PostgreSQL an advisory lock makes replicas that all upgrade at start take turns: the later ones
        find the schema current.
        """
        try:
            with self.migration_lock():
                command.upgrade(self._alembic_config(), "heads")
        except SQLAlchemyError as exc:
            raise StoreError(f"migration failed on {self.safe_url}: {exc}") from exc
        return sorted(self.current_heads())

    @contextmanager
    def migration_lock(self) -> Iterator[None]:
        """Hold the PostgreSQL advisory lock of upgrades (re-entrant within this Store): what follows an
        upgrade and must not run twice at once (seeding an empty table) goes inside it too."""
        if self.dialect != "postgresql" or getattr(self, "_migration_locked", False):
            yield  # SQLite: one writer at a time already
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({_MIGRATION_LOCK})")
            conn.commit()
            self._migration_locked = True
            try:
                yield
            finally:
                self._migration_locked = False
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK})")
                conn.commit()

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
