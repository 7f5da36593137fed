"""Scheduled jobs that run once per turn across any number of `aifinops serve` replicas.

Every scheduled job goes through :meth:`Schedule.every` — one call: a name, an interval and what to run. Each
replica polls each job's leased row (:mod:`aifinops.store.job_leases`); the replica that claims a due turn
runs it and renews its lease while it runs, so one turn runs once however many replicas serve. When the
running replica dies, its lease expires and another replica takes the turn over within ``lease_seconds`` +
``poll_seconds``. The next turn is due ``interval`` after the claimed turn was due (never in the past), so
the schedule keeps its rhythm across replicas and restarts.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from aifinops.store import Store
from aifinops.store.job_leases import Claim, JobLeases

__all__ = ["Schedule", "ScheduledJob", "replica_id"]

log = logging.getLogger(__name__)


def replica_id() -> str:
    """This process among the replicas: host, pid and a nonce (a pid can be reused after a restart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    name: str
    interval: dt.timedelta
    run: Callable[[], object]


class Schedule:
    """The jobs of one replica, each run on its own thread once started.

    Args:
        store: the database every replica shares.
        lease_seconds: how long a claim holds without renewal; a dead replica's turn is taken over after it.
        poll_seconds: how often each job's row is looked at.
        holder: this replica's id (default :func:`replica_id`).
        clock: the current UTC time (tests).
    """

    def __init__(
        self,
        store: Store,
        *,
        lease_seconds: float = 30.0,
        poll_seconds: float = 5.0,
        holder: str | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if lease_seconds <= 0 or poll_seconds <= 0:
            raise ValueError("lease_seconds and poll_seconds must be positive")
        self.leases = JobLeases(store, holder or replica_id())
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.poll = poll_seconds
        self.now = clock or (lambda: dt.datetime.now(dt.UTC))
        self.jobs: dict[str, ScheduledJob] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._running: set[str] = set()
        self._lock = threading.Lock()

    @property
    def holder(self) -> str:
        return self.leases.holder

    def every(self, name: str, seconds: float, run: Callable[[], object]) -> None:
        """Run ``run()`` every ``seconds``, once per turn across every replica sharing the store."""
        if name in self.jobs:
            raise ValueError(f"scheduled job {name!r} is already defined")
        if seconds <= 0:
            raise ValueError(f"scheduled job {name!r} needs a positive interval, got {seconds}")
        self.jobs[name] = ScheduledJob(name, dt.timedelta(seconds=seconds), run)

    def run_due(self, name: str) -> Claim | None:
        """Claim the turn of ``name`` if it is due and free, run it (renewing the lease meanwhile) and record
        it; returns the claim, or None when there was nothing to run here."""
        job = self.jobs[name]
        claim = self.leases.claim(name, now=self.now(), lease=self.lease)
        if claim is None:
            return None
        if claim.taken_from is not None:
            log.warning("job %s: took over the turn due %s from %s", name, claim.due_at, claim.taken_from)
        with self._lock:
            self._running.add(name)
        done = threading.Event()
        beat = threading.Thread(target=self._renew, args=(name, done), name=f"lease-{name}", daemon=True)
        beat.start()
        error = None
        try:
            job.run()
        except Exception as exc:  # a failing turn is recorded; the next turn retries
            log.exception("scheduled job %s failed", name)
            error = f"{type(exc).__name__}: {exc}"
        finally:
            done.set()
            beat.join()
            with self._lock:
                self._running.discard(name)
        finished = self.now()
        next_due = claim.due_at + job.interval
        if next_due <= finished:  # a long outage or a slow turn: the next turn starts from now
            next_due = finished + job.interval
        if not self.leases.finish(name, now=finished, next_due_at=next_due, error=error):
            log.warning("job %s: the lease ran out while the turn ran; another replica took it over", name)
        return claim

    def _renew(self, name: str, done: threading.Event) -> None:
        while not done.wait(self.lease.total_seconds() / 3):
            try:
                if not self.leases.renew(name, now=self.now(), lease=self.lease):
                    log.warning("job %s: lost its lease while running", name)
                    return
            except Exception:  # the store is briefly away: the next beat retries before the lease ends
                log.exception("job %s: renewing the lease failed", name)

    def start(self) -> None:
        """Start one thread per job; each polls its row until :meth:`stop`."""
        for job in self.jobs.values():
            thread = threading.Thread(
                target=self._loop, args=(job.name,), name=f"job-{job.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _loop(self, name: str) -> None:
        while not self._stop.is_set():
            try:
                self.run_due(name)
            except Exception:  # the store is down: try again on the next poll
                log.exception("job %s: could not claim its turn", name)
            self._stop.wait(self.poll)

    def stop(self, grace: float = 10.0) -> list[str]:
        """Stop polling, let running turns finish for up to ``grace`` seconds, and give the leases of turns
        still running back so another replica runs them at once; returns the names released."""
        self._stop.set()
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(timeout=max(deadline - time.monotonic(), 0.0))
        with self._lock:
            unfinished = sorted(self._running)
        released = []
        for name in unfinished:
            try:
                if self.leases.release(name):
                    released.append(name)
            except Exception:
                log.exception("job %s: could not release its lease", name)
        return released
