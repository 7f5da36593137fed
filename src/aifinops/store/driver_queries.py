"""Usage drivers of an allocation run, computed on the second core while the caller reads cost records.

The drivers of a month are one GROUP BY over ``usage_daily`` (hundreds of thousands of rows): database
work. When the period holds many rollup rows, its first two thirds of days are computed in the background
(groups include the day, so the parts never overlap) and the rest by the caller once it has read the
records. On an SQLite file the background part runs in a small worker process (``_driver_worker.py``):
two threads of one process working SQLite slow each other down about twice. On PostgreSQL a thread
suffices, since the server does the work while the client waits.

The rollups carry deployments, not resources: each deployment's resource (from ``allocation_deployments``)
is given a small number in a temporary table, and the GROUP BY uses the number. Sorting by a number is
cheaper than by resource ids hundreds of characters long, and the ids are put back when the rows are read.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import pickle
import subprocess
import sys
import threading
from collections.abc import Collection, Container, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import sqlalchemy as sa

from aifinops.domain import DIMENSIONS
from aifinops.engine.allocation_rules import AllocationRule
from aifinops.engine.drivers.kind import UsageSum
from aifinops.engine.drivers.registry import USAGE_SUMS
from aifinops.engine.drivers.usage_filter import DRIVER_FIELDS, FilterKey, UsageFilter, filter_key
from aifinops.engine.drivers.usage_index import Driver
from aifinops.engine.usage_buckets import from_day, to_day
from aifinops.errors import StoreError, ValidationError
from aifinops.store.allocation_queries import deployment_resources
from aifinops.store.raw import statement
from aifinops.store.rollups import rolled_up
from aifinops.store.store import Store, database_error
from aifinops.store.tables import DIM_LEN, ROLLUP_SUMS, usage_daily

__all__ = ["BACKGROUND_ROWS", "EXTRA_FIELDS", "DriverRead", "DriverSet", "start_driver_read"]

#: The driver fields a usage filter may need beyond the dimensions, in ``Driver`` order.
EXTRA_FIELDS = ("kind", "deployment", "model")
_log = logging.getLogger(__name__)
_WORKER = Path(__file__).with_name("_driver_worker.py")
#: Below this many rollup rows the whole read runs in the caller: starting a helper would cost more.
BACKGROUND_ROWS = 20_000
_numbers = sa.Table(
    "aifinops_deployment_numbers",
    sa.MetaData(),
    sa.Column("deployment", sa.String(DIM_LEN), primary_key=True),
    sa.Column("number", sa.Integer, nullable=False),
    prefixes=["TEMPORARY"],
)


def _sum_column(usage: UsageSum) -> sa.ColumnElement[Any]:
    """A usage sum of a rollup row: its fields added."""
    u = usage_daily.c
    unknown = [f for f in usage.fields if f not in ROLLUP_SUMS]
    if unknown:
        raise StoreError(f"usage sum {usage.name!r} adds {unknown}, which the rollup does not keep")
    column: sa.ColumnElement[Any] = u[usage.fields[0]]
    for name in usage.fields[1:]:
        column = column + u[name]
    return column


def _sums(where: Mapping[str, Sequence[str]] | None, needed: Container[str]) -> list[sa.ColumnElement[Any]]:
    """The :data:`USAGE_SUMS` of the rows ``where`` keeps (all rows when None); 0 for those not needed."""
    u = usage_daily.c
    columns = [_sum_column(s) if s.name in needed else None for s in USAGE_SUMS]
    if where is not None:
        kept = sa.and_(*(u[name].in_(list(values)) for name, values in sorted(where.items())))
        columns = [None if c is None else sa.case((kept, c), else_=0) for c in columns]
    zero = sa.literal_column("0", sa.BigInteger)
    return [zero if c is None else sa.cast(sa.func.sum(c), sa.BigInteger) for c in columns]


def _query(
    start: dt.date,
    end: dt.date,
    dimensions: Sequence[str],
    fields: Iterable[str],
    filters: Sequence[Mapping[str, Sequence[str]]],
    *,
    needed: Container[str],
) -> sa.Select[Any]:
    """Rows ``(day, dims…, usage sums…, currency, kind, deployment, model, resource number, then the usage
    sums of each filter)``."""
    u, n = usage_daily.c, _numbers.c
    wanted = set(fields)
    number = sa.func.coalesce(n.number, 0)
    extras = [u[name] if name in wanted else sa.literal("") for name in EXTRA_FIELDS]
    keys = [
        u.day,
        *(u[d] for d in dimensions),
        number,
        *(u[e] for e in EXTRA_FIELDS if e in wanted),
        u.currency,
    ]
    filtered = [column for where in filters for column in _sums(where, needed)]
    return (
        sa.select(
            u.day, *(u[d] for d in dimensions), *_sums(None, needed), u.currency, *extras, number, *filtered
        )
        .select_from(usage_daily.outerjoin(_numbers, n.deployment == u.deployment))
        .where(u.day >= to_day(start), u.day < to_day(end))
        .group_by(*keys)
    )


class DriverSet(NamedTuple):
    """Every driver, and per usage filter pushed down to the database the drivers it keeps."""

    all: list[Driver]
    filtered: dict[FilterKey, list[Driver]]


def _rollup_rows(store: Store, start: dt.date, end: dt.date) -> int:
    u = usage_daily.c
    query = sa.select(sa.func.count()).where(u.day >= to_day(start), u.day < to_day(end))
    with store.reader() as conn:
        return int(conn.execute(query).scalar() or 0)


class _Helper:
    """A part of the drivers computed in the background: a worker process (SQLite file) or a thread.

    The worker is only a way to use the second core: when it cannot start, dies or reports an error,
    :meth:`rows` says why and the caller computes that part itself (a real database error then shows there).
    """

    def __init__(
        self,
        store: Store,
        setup: list[tuple[str, list[Any]]],
        query: tuple[str, Any],
        worker: Sequence[str] | None,
    ) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._rows: list[tuple[Any, ...]] = []
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._failed = ""
        database = store.engine.url.database if store.dialect == "sqlite" else None
        if database and database != ":memory:" and not database.startswith("file:"):
            request = {"database": database, "setup": setup, "query": list(query)}
            command = list(worker or (sys.executable, str(_WORKER)))
            try:
                self._process = subprocess.Popen(
                    command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
                )
                assert self._process.stdin is not None
                with self._process.stdin:
                    self._process.stdin.write(json.dumps(request).encode())
            except OSError as exc:
                self._failed = f"the drivers worker {command[0]} could not start: {exc}"
                if self._process is not None:
                    self.cancel()
                    self._process = None
        else:
            self._thread = threading.Thread(
                target=self._run, args=(store, setup, query), name="aifinops-drivers", daemon=True
            )
            self._thread.start()

    def _run(self, store: Store, setup: list[tuple[str, list[Any]]], query: tuple[str, Any]) -> None:
        try:
            self._rows = _read(store, setup, query)
        except BaseException as exc:  # handed to the caller by rows()
            self._error = exc

    def cancel(self) -> None:
        """Stop the worker (its result is not wanted) or wait for the thread to end."""
        if self._process is not None:
            self._process.kill()
            self._collect(self._process)
        elif self._thread is not None:
            self._thread.join()

    @staticmethod
    def _collect(process: subprocess.Popen[bytes]) -> tuple[bytes, bytes, int]:
        """The worker's output, errors and exit status; its pipes closed."""
        assert process.stdout is not None and process.stderr is not None
        with process.stdout, process.stderr:
            out, err = process.stdout.read(), process.stderr.read()
        return out, err, process.wait()

    def rows(self) -> list[tuple[Any, ...]] | str:
        """The rows, or why the worker gave none (the caller then reads them itself)."""
        if self._failed:
            return self._failed
        if self._process is not None:
            out, err, status = self._collect(self._process)
            if status != 0:
                why = err.decode(errors="replace").strip() or f"exit status {status}"
                return f"the drivers worker failed: {why}"
            try:
                rows: list[tuple[Any, ...]] = pickle.loads(out)  # our own worker's output
            except (pickle.UnpicklingError, EOFError, ValueError) as exc:
                return f"the drivers worker's output is unreadable: {exc}"
            return rows
        assert self._thread is not None
        self._thread.join()
        if self._error is not None:
            raise StoreError(f"reading usage drivers failed: {self._error}") from self._error
        return self._rows


def _read(store: Store, setup: list[tuple[str, list[Any]]], query: tuple[str, Any]) -> list[tuple[Any, ...]]:
    """Run ``setup`` then ``query`` on a pooled connection of ``store``; its temporary tables are dropped."""
    error: Any = store.engine.dialect.loaded_dbapi.Error
    try:
        raw: Any = store.engine.raw_connection()
    except (error, sa.exc.SQLAlchemyError) as exc:
        raise database_error(exc, url=store.safe_url) from exc
    sqlite = store.dialect == "sqlite"
    try:
        cursor = raw.driver_connection.cursor()
        if sqlite:  # a pooled SQLite connection may keep it from a run that failed
            cursor.execute(f"DROP TABLE IF EXISTS temp.{_numbers.name}")
        for sql, rows in setup:
            if rows:
                cursor.executemany(sql if sqlite else sql.replace("?", "%s"), rows)
            else:
                cursor.execute(sql)
        rows_out: list[tuple[Any, ...]] = cursor.execute(*query).fetchall()
        if sqlite:
            cursor.execute(f"DROP TABLE IF EXISTS temp.{_numbers.name}")
        else:  # made in this transaction: rolling back drops it
            raw.rollback()
        return rows_out
    except Exception as exc:
        raw.invalidate()  # a connection in an unknown state is not given back to the pool
        if isinstance(exc, error):
            raise database_error(exc, url=store.safe_url) from exc
        raise
    finally:
        raw.close()


class DriverRead:
    """The drivers of ``[start, end)``, started at construction; :meth:`drivers` finishes and returns them
    (or :meth:`cancel` gives them up).

    ``resources`` maps each deployment to its resource id ('' when unknown or ambiguous); ``sums`` names the
    usage sums to read (default: all of :data:`USAGE_SUMS`; the others read as 0); ``worker`` is the
    command of the worker process (default: this Python running ``_driver_worker.py``).
    """

    def __init__(
        self,
        store: Store,
        start: dt.date,
        end: dt.date,
        *,
        dimensions: Sequence[str],
        fields: Iterable[str],
        resources: Mapping[str, str],
        filters: Sequence[Mapping[str, Sequence[str]]] = (),
        sums: Collection[str] | None = None,
        background_rows: int = BACKGROUND_ROWS,
        worker: Sequence[str] | None = None,
    ) -> None:
        self._store = store
        self._width = len(dimensions)
        self._filters = [filter_key(UsageFilter(where={k: tuple(v) for k, v in w.items()})) for w in filters]
        ids = sorted({r for r in resources.values() if r})
        self._resources = ["", *ids]  # number → resource id; 0 is "none"
        number = {r: i for i, r in enumerate(self._resources)}
        dialect = store.engine.dialect
        self._setup: list[tuple[str, list[Any]]] = [
            (str(sa.schema.CreateTable(_numbers).compile(dialect=dialect)), [])
        ]
        numbered = [[d, number[r]] for d, r in resources.items() if r]
        if numbered:
            self._setup.append((f"INSERT INTO {_numbers.name} (deployment, number) VALUES (?, ?)", numbered))
        fields = list(fields)
        needed = {s.name for s in USAGE_SUMS} if sums is None else set(sums)
        split = start
        days = (end - start).days
        if days >= 3 and (background_rows <= 0 or _rollup_rows(store, start, end) >= background_rows):
            split = start + dt.timedelta(days=(2 * days) // 3)
        self._local = statement(dialect, _query(split, end, dimensions, fields, filters, needed=needed))
        self._helper = None
        self._background = statement(
            dialect, _query(start, split, dimensions, fields, filters, needed=needed)
        )
        if split > start:
            self._helper = _Helper(store, self._setup, self._background, worker)

    def drivers(self) -> DriverSet:
        """Compute the caller's part, wait for the background part, and return every driver."""
        try:
            rows = _read(self._store, self._setup, self._local)
        except BaseException:
            self.cancel()
            raise
        if self._helper is not None:
            found = self._helper.rows()
            if isinstance(found, str):
                _log.warning("%s; reading those drivers here instead", found)
                found = _read(self._store, self._setup, self._background)
            rows = found + rows
        return self._build(rows)

    def cancel(self) -> None:
        """Give up the read (the caller failed): stop the background part."""
        if self._helper is not None:
            self._helper.cancel()

    def _build(self, rows: Sequence[tuple[Any, ...]]) -> DriverSet:
        days: dict[int, dt.date] = {}
        resources, n, k, new = self._resources, self._width, len(USAGE_SUMS), tuple.__new__
        # A row: day, dims (n), usage sums (k), currency, kind, deployment, model, resource number, then the
        # usage sums per filter.
        base = 1 + n + k
        fixed = slice(base, base + 4)  # currency and the grouped fields
        out: list[Driver] = []
        filtered: dict[FilterKey, list[Driver]] = {key: [] for key in self._filters}
        lists = [(filtered[key], base + 5 + k * i) for i, key in enumerate(self._filters)]
        append = out.append
        for row in rows:
            day = days.get(row[0]) or days.setdefault(row[0], from_day(row[0]))
            dims, resource = row[1 : 1 + n], resources[row[base + 4]]
            append(new(Driver, (day, dims, row[1 + n : base], *row[fixed], resource)))
            for kept, at in lists:
                sums = row[at : at + k]
                if any(sums):
                    kept.append(new(Driver, (day, dims, sums, *row[fixed], resource)))
        return DriverSet(out, filtered)


def _needs(
    rules: Sequence[AllocationRule], dimensions: Sequence[str]
) -> tuple[set[str], list[Mapping[str, Sequence[str]]]]:
    """The driver fields to group by and the usage filters to sum in SQL, for ``rules`` over ``dimensions``.

    Filters on the run's dimensions and on kind, deployment or model become conditional sums in the drivers'
    SQL; the rest (resource id) are grouped by and filtered by the engine.
    """
    pushable = {*dimensions, *EXTRA_FIELDS}
    filters = {filter_key(r.usage): r.usage.where for r in rules if set(r.usage.where) <= pushable}
    filters.pop((), None)
    fields = {
        name
        for rule in rules
        if filter_key(rule.usage) not in filters
        for name in rule.usage.where
        if name in DRIVER_FIELDS
    }
    return fields, list(filters.values())


def start_driver_read(
    store: Store,
    start: dt.date,
    end: dt.date,
    *,
    dimensions: Sequence[str],
    rules: Sequence[AllocationRule],
    background_rows: int = BACKGROUND_ROWS,
) -> DriverRead:
    """Start reading the drivers ``rules`` need over ``dimensions`` for ``[start, end)`` in the background.

    The deployment → resource map is read as it stands (refresh it first:
    :meth:`aifinops.store.allocations.AllocationStore.refresh_deployments`).
    """
    rolled_up(store)
    unknown = [d for d in dimensions if d not in DIMENSIONS]
    if unknown:
        raise ValidationError(
            f"unknown allocation dimension(s) {unknown}; choose from {list(DIMENSIONS)}",
            field="dimensions",
        )
    fields, filters = _needs(rules, dimensions)
    return DriverRead(
        store,
        start,
        end,
        dimensions=dimensions,
        fields=fields,
        resources=deployment_resources(store, start, end),
        filters=filters,
        sums={s.name for rule in rules for s in rule.usage_sums},
        background_rows=background_rows,
    )
