"""Leased job rows: which `aifinops serve` replica runs a scheduled job now, and when it is due next.

One row per job. A replica runs a job only after claiming its row with a compare-and-set UPDATE (the row is
due and nobody holds an unexpired lease), renews the lease while it runs, and on finishing moves the due time
on and gives the lease back. A replica that dies mid-run stops renewing: once its lease expires any other
replica claims the row and runs that turn again. On PostgreSQL the UPDATE takes the row lock, so two replicas
never both claim one turn; on SQLite (a single node) the database's single writer gives the same.
Times are each replica's own UTC clock: replicas' clocks must agree (NTP) to well within a lease.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from aifinops.store.store import Store, dialect_insert
from aifinops.store.tables import UtcDateTime, metadata

__all__ = ["Claim", "JobLeases", "JobState", "job_states", "scheduled_jobs"]

scheduled_jobs = sa.Table(
    "scheduled_jobs",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),  # budgets, collect:cost, prices, …
    sa.Column("next_due_at", UtcDateTime(), nullable=False),
    sa.Column("holder", sa.String(256)),  # host:pid:nonce of the replica running it now, else NULL
    sa.Column("lease_until", UtcDateTime()),  # the holder's claim ends here unless renewed
    sa.Column("runs", sa.BigInteger, nullable=False),  # turns finished (with or without an error)
    sa.Column("takeovers", sa.BigInteger, nullable=False),  # turns claimed from a holder whose lease expired
    sa.Column("last_started_at", UtcDateTime()),
    sa.Column("last_finished_at", UtcDateTime()),
    sa.Column("last_holder", sa.String(256)),
    sa.Column("last_error", sa.Text()),
)


@dataclass(frozen=True, slots=True)
class Claim:
    """A turn of ``name`` claimed at ``at``; ``taken_from`` is the holder whose lease had expired, if any."""

    name: str
    due_at: dt.datetime
    at: dt.datetime
    taken_from: str | None


@dataclass(frozen=True, slots=True)
class JobState:
    """One job row as stored."""

    name: str
    next_due_at: dt.datetime
    holder: str | None
    lease_until: dt.datetime | None
    runs: int
    takeovers: int
    last_started_at: dt.datetime | None
    last_finished_at: dt.datetime | None
    last_holder: str | None
    last_error: str | None


class JobLeases:
    """Claims, renews and finishes job turns for one replica (``holder``) over one :class:`Store`."""

    def __init__(self, store: Store, holder: str) -> None:
        self.store = store
        self.holder = holder

    def claim(self, name: str, *, now: dt.datetime, lease: dt.timedelta) -> Claim | None:
        """Claim the turn of ``name`` when it is due and free (or its holder's lease expired); None otherwise.

        A job never seen before is due at once.
        """
        j = scheduled_jobs.c
        with self.store.session() as conn:
            conn.execute(
                dialect_insert(conn, scheduled_jobs)
                .values(name=name, next_due_at=now, runs=0, takeovers=0)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            row = conn.execute(sa.select(j.next_due_at, j.holder, j.lease_until).where(j.name == name)).one()
            if row.next_due_at > now or (row.holder is not None and row.lease_until >= now):
                return None
            same_holder = j.holder.is_(None) if row.holder is None else j.holder == row.holder
            claimed = conn.execute(
                sa.update(scheduled_jobs)
                .where(j.name == name, j.next_due_at == row.next_due_at, same_holder)
                .where(sa.or_(j.holder.is_(None), j.lease_until < now))
                .values(
                    holder=self.holder,
                    lease_until=now + lease,
                    last_started_at=now,
                    takeovers=j.takeovers + (0 if row.holder is None else 1),
                )
            )
            if claimed.rowcount != 1:
                return None
        return Claim(name, row.next_due_at, now, row.holder)

    def renew(self, name: str, *, now: dt.datetime, lease: dt.timedelta) -> bool:
        """Extend this replica's lease on ``name``; False when it no longer holds it."""
        j = scheduled_jobs.c
        with self.store.session() as conn:
            result = conn.execute(
                sa.update(scheduled_jobs)
                .where(j.name == name, j.holder == self.holder)
                .values(lease_until=now + lease)
            )
        return result.rowcount == 1

    def finish(self, name: str, *, now: dt.datetime, next_due_at: dt.datetime, error: str | None) -> bool:
        """Record the turn as run, due again at ``next_due_at``, and give the lease back; False when this
        replica had lost the lease (another one has claimed the turn meanwhile)."""
        j = scheduled_jobs.c
        with self.store.session() as conn:
            result = conn.execute(
                sa.update(scheduled_jobs)
                .where(j.name == name, j.holder == self.holder)
                .values(
                    holder=None,
                    lease_until=None,
                    next_due_at=next_due_at,
                    runs=j.runs + 1,
                    last_finished_at=now,
                    last_holder=self.holder,
                    last_error=error[:4000] if error else None,
                )
            )
        return result.rowcount == 1

    def release(self, name: str) -> bool:
        """Give the lease back without recording a run (shutdown): the turn is due again at once."""
        j = scheduled_jobs.c
        with self.store.session() as conn:
            result = conn.execute(
                sa.update(scheduled_jobs)
                .where(j.name == name, j.holder == self.holder)
                .values(holder=None, lease_until=None)
            )
        return result.rowcount == 1


def job_states(store: Store) -> list[JobState]:
    """Every job row, by name."""
    with store.reader() as conn:
        rows = conn.execute(sa.select(scheduled_jobs).order_by(scheduled_jobs.c.name)).all()
    return [JobState(**row._mapping) for row in rows]
