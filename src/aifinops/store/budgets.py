"""Budgets in the store: definitions (CRUD), alert state that survives restarts, deliveries, spend per scope.

Estimated spend comes from ``usage_rollup`` summed in SQL per local day of the budget's zone and per value
of the scoped dimensions (one query per zone and currency, not per budget). Billed spend comes from
:class:`aifinops.store.costs.CostStore`; a billing day counts as complete once a later day has data in
every collected scope.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa

from aifinops.domain import Basis, from_nanos, to_nanos
from aifinops.engine.budgets import (
    Alert,
    Budget,
    BudgetStatus,
    budget_from_dict,
    budget_to_dict,
)
from aifinops.engine.nowcast import budget_status
from aifinops.engine.periods import Period, local_date, zone
from aifinops.errors import ValidationError
from aifinops.store.budget_tables import alert_deliveries, budget_alerts, budgets
from aifinops.store.costs import CostStore
from aifinops.store.store import Store, dialect_insert
from aifinops.store.tables import usage_rollup

__all__ = [
    "AlertRecord",
    "BudgetStore",
    "DeliveryRecord",
    "EstimatedSpend",
    "SpendReader",
    "StoredBudget",
    "evaluate_budgets",
    "parse_budget",
    "scope_key",
]

_EPOCH = dt.date(1970, 1, 1)
_INSERT_CHUNK = 500  # rows per multi-row INSERT: 12 columns stay far below SQLite's bound-parameter limit
_FIELD = re.compile(r"^(?:budget '[^']*': )?([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+)?)")
ScopeKey = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class StoredBudget:
    budget: Budget
    origin: str  # "config" | "api"
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    channel: str
    kind: str
    status: str
    attempts: int
    http_status: int | None
    error: str | None
    finished_at: dt.datetime


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """A fired threshold as stored, with every delivery attempt made for it."""

    id: int
    budget: str
    threshold: str
    period_key: str
    fired_at: dt.datetime
    observed_nanos: int
    amount_nanos: int
    currency: str
    basis: Basis
    ratio: str
    summary: str
    payload: Mapping[str, Any]
    deliveries: tuple[DeliveryRecord, ...]

    @property
    def delivery_status(self) -> str:
        """``delivered`` when every channel got it, ``failed`` when one did not, ``none`` without channels."""
        if not self.deliveries:
            return "none"
        return "failed" if any(d.status != "delivered" for d in self.deliveries) else "delivered"


def parse_budget(data: Mapping[str, Any]) -> Budget:
    """A Budget from its JSON form; ValidationError naming the field (config files and the API)."""
    try:
        return budget_from_dict(data)
    except ValueError as exc:
        match = _FIELD.match(str(exc))
        raise ValidationError(str(exc), field=match.group(1) if match else "budget") from exc


def _alert_row(alert: Alert, payload: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "budget": alert.budget,
        "threshold": alert.threshold.key,
        "period_key": alert.period_key,
        "fired_at": alert.fired_at,
        "observed_nanos": to_nanos(alert.observed.amount),
        "amount_nanos": to_nanos(alert.amount.amount),
        "currency": alert.observed.currency,
        "basis": alert.observed.basis.value,
        "ratio": str(alert.ratio),
        "summary": alert.summary[:512],
        "payload": orjson.dumps(dict(payload)).decode(),
    }


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stored(row: sa.RowMapping) -> StoredBudget:
    return StoredBudget(
        budget_from_dict(orjson.loads(row["spec"])),
        row["origin"],
        int(row["version"]),
        row["created_at"],
        row["updated_at"],
    )


class BudgetStore:
    """Budget definitions, the fired-threshold state and alert deliveries."""

    def __init__(self, store: Store, *, clock: Callable[[], dt.datetime] = _now) -> None:
        self.store, self.clock = store, clock

    # --- definitions -----------------------------------------------------------------------------------
    def list_all(self) -> list[StoredBudget]:
        with self.store.reader() as conn:
            rows = conn.execute(sa.select(budgets).order_by(budgets.c.name)).mappings().all()
        return [_stored(r) for r in rows]

    def get(self, name: str) -> StoredBudget | None:
        with self.store.reader() as conn:
            row = conn.execute(sa.select(budgets).where(budgets.c.name == name)).mappings().first()
        return _stored(row) if row else None

    def create(self, budget: Budget) -> StoredBudget:
        """Add a budget through the API; ValidationError when the name is taken."""
        now = self.clock()
        with self.store.session() as conn:
            # RETURNING, not rowcount: psycopg reports -1 rows for INSERT … ON CONFLICT DO NOTHING.
            inserted = conn.execute(
                dialect_insert(conn, budgets)
                .values(
                    name=budget.name,
                    spec=orjson.dumps(budget_to_dict(budget)).decode(),
                    origin="api",
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["name"])
                .returning(budgets.c.name)
            ).first()
        if not inserted:
            raise ValidationError(
                f"budget {budget.name!r} already exists; use PUT to change it", field="name"
            )
        return StoredBudget(budget, "api", 1, now, now)

    def replace(self, budget: Budget) -> StoredBudget:
        """Create or update an API budget; a budget defined in configuration is changed only there."""
        now = self.clock()
        with self.store.session() as conn:
            row = (
                conn.execute(sa.select(budgets).where(budgets.c.name == budget.name).with_for_update())
                .mappings()
                .first()
            )
            self._refuse_config(row, budget.name)
            spec = orjson.dumps(budget_to_dict(budget)).decode()
            if row is None:
                conn.execute(
                    sa.insert(budgets).values(
                        name=budget.name, spec=spec, origin="api", version=1, created_at=now, updated_at=now
                    )
                )
                return StoredBudget(budget, "api", 1, now, now)
            version = int(row["version"]) + 1
            conn.execute(
                sa.update(budgets)
                .where(budgets.c.name == budget.name)
                .values(spec=spec, version=version, updated_at=now)
            )
        return StoredBudget(budget, "api", version, row["created_at"], now)

    def delete(self, name: str) -> bool:
        with self.store.session() as conn:
            row = conn.execute(sa.select(budgets).where(budgets.c.name == name)).mappings().first()
            self._refuse_config(row, name)
            return bool(conn.execute(sa.delete(budgets).where(budgets.c.name == name)).rowcount)

    @staticmethod
    def _refuse_config(row: sa.RowMapping | None, name: str) -> None:
        if row is not None and row["origin"] == "config":
            raise ValidationError(
                f"budget {name!r} is defined in the configuration file; change it there and restart",
                field="name",
            )

    def sync_config(self, configured: Sequence[Budget]) -> None:
        """Make the config-origin budgets exactly ``configured``; alert state of kept budgets stays."""
        now, names = self.clock(), {b.name for b in configured}
        with self.store.session() as conn:
            existing = {r["name"]: r for r in conn.execute(sa.select(budgets)).mappings()}
            for name, row in existing.items():
                if row["origin"] == "config" and name not in names:
                    conn.execute(sa.delete(budgets).where(budgets.c.name == name))
            for budget in configured:
                spec = orjson.dumps(budget_to_dict(budget)).decode()
                current = existing.get(budget.name)
                if current is None:
                    conn.execute(
                        sa.insert(budgets).values(
                            name=budget.name,
                            spec=spec,
                            origin="config",
                            version=1,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                elif current["spec"] != spec or current["origin"] != "config":
                    conn.execute(
                        sa.update(budgets)
                        .where(budgets.c.name == budget.name)
                        .values(
                            spec=spec, origin="config", version=int(current["version"]) + 1, updated_at=now
                        )
                    )

    # --- alert state -----------------------------------------------------------------------------------
    def fired(self, period_keys: Iterable[str]) -> dict[tuple[str, str], set[str]]:
        """Threshold keys already fired, by (budget, period key), for the given period keys."""
        keys = sorted(set(period_keys))
        out: dict[tuple[str, str], set[str]] = defaultdict(set)
        if not keys:
            return out
        a = budget_alerts.c
        with self.store.reader() as conn:
            for budget, period_key, threshold in conn.execute(
                sa.select(a.budget, a.period_key, a.threshold).where(a.period_key.in_(keys))
            ):
                out[(budget, period_key)].add(threshold)
        return out

    def record_fired(self, fired: Sequence[tuple[Alert, Mapping[str, Any]]]) -> list[int | None]:
        """Store the transitions armed → fired in one transaction, each alert with its notification payload.

        Returns, per alert, its new id, or None when that threshold had already fired in that period
        (the unique key decides, so concurrent evaluators never both win).
        """
        ids: dict[tuple[str, str, str], int] = {}
        with self.store.session() as conn:
            for start in range(0, len(fired), _INSERT_CHUNK):
                rows = [_alert_row(alert, payload) for alert, payload in fired[start : start + _INSERT_CHUNK]]
                a = budget_alerts.c
                result = conn.execute(
                    dialect_insert(conn, budget_alerts)
                    .values(rows)
                    .on_conflict_do_nothing(index_elements=["budget", "threshold", "period_key"])
                    .returning(a.id, a.budget, a.threshold, a.period_key)
                )
                ids.update({(b, t, p): int(i) for i, b, t, p in result})
        return [ids.get((alert.budget, alert.threshold.key, alert.period_key)) for alert, _ in fired]

    def record_deliveries(self, alert_id: int, deliveries: Iterable[DeliveryRecord]) -> None:
        rows = [
            {
                "alert_id": alert_id,
                "channel": d.channel,
                "kind": d.kind,
                "status": d.status,
                "attempts": d.attempts,
                "http_status": d.http_status,
                "error": d.error[:512] if d.error else None,
                "finished_at": d.finished_at,
            }
            for d in deliveries
        ]
        if rows:
            with self.store.session() as conn:
                conn.execute(sa.insert(alert_deliveries), rows)

    def alerts(
        self, *, budget: str | None = None, since: dt.datetime | None = None, limit: int = 100
    ) -> list[AlertRecord]:
        """Fired alerts, newest first, each with its deliveries."""
        a, d = budget_alerts.c, alert_deliveries.c
        query = sa.select(budget_alerts).order_by(a.fired_at.desc(), a.id.desc()).limit(limit)
        if budget is not None:
            query = query.where(a.budget == budget)
        if since is not None:
            query = query.where(a.fired_at >= since)
        with self.store.reader() as conn:
            rows = conn.execute(query).mappings().all()
            by_alert: dict[int, list[DeliveryRecord]] = defaultdict(list)
            if rows:
                for r in conn.execute(
                    sa.select(alert_deliveries).where(d.alert_id.in_([r["id"] for r in rows])).order_by(d.id)
                ).mappings():
                    by_alert[int(r["alert_id"])].append(
                        DeliveryRecord(
                            r["channel"],
                            r["kind"],
                            r["status"],
                            int(r["attempts"]),
                            r["http_status"],
                            r["error"],
                            r["finished_at"],
                        )
                    )
        return [
            AlertRecord(
                id=int(r["id"]),
                budget=r["budget"],
                threshold=r["threshold"],
                period_key=r["period_key"],
                fired_at=r["fired_at"],
                observed_nanos=int(r["observed_nanos"]),
                amount_nanos=int(r["amount_nanos"]),
                currency=r["currency"],
                basis=Basis(r["basis"]),
                ratio=r["ratio"],
                summary=r["summary"],
                payload=orjson.loads(r["payload"]),
                deliveries=tuple(by_alert.get(int(r["id"]), ())),
            )
            for r in rows
        ]


@dataclass(frozen=True, slots=True)
class EstimatedSpend:
    """Estimated spend per local day for each requested scope, and for everything (the attribution base)."""

    by_scope: Mapping[ScopeKey, Mapping[dt.date, int]]  # nano-units
    total: Mapping[dt.date, int]


def scope_key(scope: Mapping[str, tuple[str, ...]]) -> ScopeKey:
    return tuple(sorted((k, tuple(v)) for k, v in scope.items()))


def _offset_minutes(hour: int, tz: dt.tzinfo) -> int:
    offset = dt.datetime.fromtimestamp(hour * 3600, tz).utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def _offset_steps(lo_hour: int, hi_hour: int, tz: dt.tzinfo) -> list[tuple[int, int]]:
    """(first hour, UTC offset in minutes) for each offset in force between the two hours.

    Zones change offset at most a few times a year, so days are probed and only a day whose end differs
    from its start is scanned hour by hour.
    """
    steps = [(lo_hour, _offset_minutes(lo_hour, tz))]
    for day_start in range(lo_hour, max(hi_hour, lo_hour + 1), 24):
        day_end = min(day_start + 24, hi_hour) - 1
        if _offset_minutes(day_end, tz) == steps[-1][1]:
            continue
        for hour in range(day_start, day_end + 1):
            minutes = _offset_minutes(hour, tz)
            if minutes != steps[-1][1]:
                steps.append((hour, minutes))
    return steps


def _local_day(hour: Any, steps: list[tuple[int, int]]) -> Any:
    """SQL for the local day number (days since 1970-01-01) of an hour, given the zone's offset steps."""
    offset: Any
    if len(steps) > 1:
        offset = sa.case(
            *((hour < nxt, m) for (_, m), (nxt, _) in itertools.pairwise(steps)), else_=steps[-1][1]
        )
    else:
        offset = sa.literal(steps[0][1])
    # Integer floor division: hours and offsets are integers and the epoch is far behind every hour we store.
    return ((hour * 60 + offset) // 1440).label("bucket")


class SpendReader:
    """Daily spend per scope: estimated from the usage rollup, billed from the cost records."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def estimated(
        self,
        scopes: Iterable[Mapping[str, tuple[str, ...]]],
        *,
        first_day: dt.date,
        end: dt.datetime,
        tz: dt.tzinfo,
        currency: str,
    ) -> EstimatedSpend:
        """Estimated nano-units per local day (in ``tz``) from ``first_day`` up to the instant ``end``."""
        by_dims: dict[tuple[str, ...], list[ScopeKey]] = defaultdict(list)
        for key in {scope_key(s) for s in scopes}:
            by_dims[tuple(dim for dim, _ in key)].append(key)
        union = tuple(sorted({dim for dims in by_dims for dim in dims}))
        # One query per zone, grouped by every scoped dimension; each scope's dimension set is a projection.
        rows = self.sums(first_day=first_day, end=end, tz=tz, currency=currency, group=union)
        total: dict[dt.date, int] = defaultdict(int)
        for day, _, nanos in rows:
            total[day] += nanos
        out: dict[ScopeKey, dict[dt.date, int]] = {(): dict(total)}
        for dims, keys in by_dims.items():
            positions = [union.index(d) for d in dims]
            cells: dict[tuple[str, ...], dict[Any, int]] = defaultdict(lambda: defaultdict(int))
            for day, values, nanos in rows:
                cells[tuple(values[i] for i in positions)][day] += nanos
            for key in keys:
                out[key] = _sum_cells(cells, key)
        return EstimatedSpend(out, dict(total))

    def sums(
        self,
        *,
        first_day: dt.date,
        end: dt.datetime,
        tz: dt.tzinfo,
        currency: str,
        group: Sequence[str] = (),
        filters: Mapping[str, tuple[str, ...]] | None = None,
        hourly: bool = False,
    ) -> list[tuple[Any, tuple[str, ...], int]]:
        """Estimated nano-units per local day (or UTC hour start) and ``group`` values, filtered, in SQL."""
        lo = int(dt.datetime(first_day.year, first_day.month, first_day.day, tzinfo=tz).timestamp() // 3600)
        hi = int(end.timestamp() // 3600) + 1
        r = usage_rollup.c
        bucket = r.hour if hourly else _local_day(r.hour, _offset_steps(lo, hi, tz))
        cols = [r[d] for d in group]
        where = [
            r.hour >= lo,
            r.hour < hi,
            r.currency == currency,
            *(r[d].in_(v) for d, v in (filters or {}).items()),
        ]
        with self.store.reader() as conn:
            rows = conn.execute(
                sa.select(bucket, *cols, sa.func.sum(r.cost_nanos)).where(*where).group_by(bucket, *cols)
            ).all()
        to_key: Callable[[int], Any] = (
            (lambda h: dt.datetime.fromtimestamp(h * 3600, dt.UTC))
            if hourly
            else (lambda d: _EPOCH + dt.timedelta(days=d))
        )
        return [(to_key(int(row[0])), tuple(row[1:-1]), int(row[-1] or 0)) for row in rows]

    def actual(
        self, *, basis: Basis, first_day: dt.date, last_day: dt.date, currency: str
    ) -> dict[dt.date, int]:
        """Billed nano-units per billing day (inclusive range) on ``basis``, in ``currency`` only."""
        points = CostStore(self.store).cost_series(first_day, last_day + dt.timedelta(days=1), basis=basis)
        out: dict[dt.date, int] = defaultdict(int)
        for point in points:
            if point.cost.currency == currency:
                out[point.period] += point.cost.nanos
        return dict(out)

    def last_complete_day(self, basis: Basis) -> dt.date | None:
        """The last billing day whose cost is final in every collected scope.

        Azure keeps revising the latest billing day, so a scope is final through the day before the last
        one it holds; the least fresh scope bounds them all, else its missing days would count as zero.
        """
        days = [
            f.last_data_day
            for f in CostStore(self.store).freshness()
            if f.basis is basis and f.last_data_day is not None
        ]
        return min(days) - dt.timedelta(days=1) if days else None


def _sum_cells(cells: Mapping[tuple[str, ...], Mapping[Any, int]], key: ScopeKey) -> dict[dt.date, int]:
    summed: dict[dt.date, int] = defaultdict(int)
    for combo in itertools.product(*(values for _, values in key)):
        for day, nanos in cells.get(tuple(combo), {}).items():
            summed[day] += nanos
    return dict(summed)


def _decimals(series: Mapping[dt.date, int]) -> dict[dt.date, Decimal]:
    return {day: from_nanos(n) for day, n in series.items()}


def evaluate_budgets(
    store: Store,
    budget_list: Sequence[Budget],
    *,
    as_of: dt.datetime,
    default_tz: str,
    reader: SpendReader | None = None,
) -> list[BudgetStatus]:
    """The status of every budget whose period contains ``as_of`` (custom ranges outside it are skipped)."""
    reader = reader or SpendReader(store)
    last_complete = {b: reader.last_complete_day(b) for b in (Basis.ACTUAL, Basis.AMORTIZED)}
    groups: dict[tuple[str, str], list[tuple[Budget, Period, dt.date]]] = defaultdict(list)
    for budget in budget_list:
        period = budget.period_at(as_of, default_tz)
        if period is not None:
            today = local_date(as_of, period.tz)
            window_first = min(period.first_day, today - dt.timedelta(days=_HISTORY_DAYS))
            groups[(period.tz, budget.currency)].append((budget, period, window_first))
    statuses = []
    for (tz, currency), members in groups.items():
        first = min(w for _, _, w in members)
        estimated = reader.estimated(
            [b.scope for b, _, _ in members], first_day=first, end=as_of, tz=zone(tz), currency=currency
        )
        total = _decimals(estimated.total)
        billed = {
            basis: _decimals(
                reader.actual(basis=basis, first_day=first, last_day=local_date(as_of, tz), currency=currency)
            )
            for basis in (Basis.ACTUAL, Basis.AMORTIZED)
        }
        for budget, period, window_first in members:
            billed_basis = Basis.AMORTIZED if budget.basis is Basis.AMORTIZED else Basis.ACTUAL
            statuses.append(
                budget_status(
                    budget,
                    period=period,
                    as_of=as_of,
                    history_first_day=window_first,
                    scope_estimated=_decimals(estimated.by_scope.get(scope_key(budget.scope), {})),
                    total_estimated=total,
                    billed_total=billed[billed_basis],
                    last_complete_day=last_complete[billed_basis],
                )
            )
    return sorted(statuses, key=lambda s: s.budget.name)


_HISTORY_DAYS = 28  # the forecast's training window
