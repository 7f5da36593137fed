"""Scheduled jobs shared by replicas through leased rows, on SQLite and PostgreSQL, with a clock in hand."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from aifinops.jobs.schedule import Schedule
from aifinops.store import Store
from aifinops.store.job_leases import JobLeases, job_states

T0 = dt.datetime(2026, 11, 2, 6, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def replica(store: Store, clock: Clock, name: str, runs: list[str], lease: float = 30) -> Schedule:
    schedule = Schedule(store, lease_seconds=lease, poll_seconds=1, holder=name, clock=clock)
    schedule.every("budgets", 300, lambda: runs.append(name))
    return schedule


def test_one_turn_runs_once_whichever_replica_asks(store: Store) -> None:
    clock, runs = Clock(), []
    a, b = replica(store, clock, "a", runs), replica(store, clock, "b", runs)
    assert a.run_due("budgets") is not None  # a job never seen is due at once
    assert b.run_due("budgets") is None and a.run_due("budgets") is None
    clock.advance(299)
    assert b.run_due("budgets") is None
    clock.advance(1)
    claim = b.run_due("budgets")
    assert claim is not None and claim.due_at == T0 + dt.timedelta(seconds=300)
    assert runs == ["a", "b"]
    (state,) = job_states(store)
    assert (state.runs, state.takeovers, state.holder, state.last_holder) == (2, 0, None, "b")
    assert state.next_due_at == T0 + dt.timedelta(seconds=600)  # the rhythm of the schedule, not of the runs


def test_a_turn_held_by_a_live_replica_is_not_run_again(store: Store) -> None:
    clock, runs = Clock(), []
    b = replica(store, clock, "b", runs)
    b.every("slow", 60, lambda: None)
    dead = JobLeases(store, "a")
    assert dead.claim("budgets", now=clock(), lease=dt.timedelta(seconds=30)) is not None
    clock.advance(29)
    assert dead.renew("budgets", now=clock(), lease=dt.timedelta(seconds=30))  # a is alive and renews
    clock.advance(30)
    assert b.run_due("budgets") is None and runs == []
    clock.advance(1)  # a stopped renewing 31 s ago: its lease ran out
    claim = b.run_due("budgets")
    assert claim is not None and claim.taken_from == "a" and claim.due_at == T0
    assert runs == ["b"]
    (state,) = [s for s in job_states(store) if s.name == "budgets"]
    assert (state.runs, state.takeovers, state.last_holder) == (1, 1, "b")
    # The replica that lost its lease finds out when it comes back: its finish records nothing.
    assert not dead.finish("budgets", now=clock(), next_due_at=clock(), error=None)
    assert not dead.renew("budgets", now=clock(), lease=dt.timedelta(seconds=30))


def test_a_failing_turn_is_recorded_and_the_schedule_goes_on(store: Store) -> None:
    clock = Clock()
    schedule = Schedule(store, holder="a", clock=clock)

    def boom() -> None:
        raise RuntimeError("cost API down")

    schedule.every("collect:cost", 3600, boom)
    assert schedule.run_due("collect:cost") is not None
    (state,) = job_states(store)
    assert state.last_error == "RuntimeError: cost API down" and state.runs == 1 and state.holder is None
    assert state.next_due_at == T0 + dt.timedelta(hours=1)


def test_after_an_outage_the_next_turn_counts_from_now(store: Store) -> None:
    clock, runs = Clock(), []
    a = replica(store, clock, "a", runs)
    a.run_due("budgets")
    clock.advance(3 * 3600)  # every replica was down for three hours: one turn, not 36 to catch up
    a.run_due("budgets")
    assert a.run_due("budgets") is None and len(runs) == 2
    (state,) = job_states(store)
    assert state.next_due_at == clock() + dt.timedelta(seconds=300)


def test_release_on_shutdown_hands_the_turn_over_at_once(store: Store) -> None:
    clock = Clock()
    leases = JobLeases(store, "a")
    assert leases.claim("budgets", now=clock(), lease=dt.timedelta(seconds=30)) is not None
    assert leases.release("budgets")
    runs: list[str] = []
    assert replica(store, clock, "b", runs).run_due("budgets") is not None and runs == ["b"]
    (state,) = job_states(store)
    assert state.takeovers == 0  # released, not taken over


def test_the_lease_is_renewed_while_a_long_turn_runs(store: Store) -> None:
    """A turn longer than its lease keeps it: the heartbeat renews it (real time, a 0.3 s lease)."""
    started, release = threading.Event(), threading.Event()
    a = Schedule(store, lease_seconds=0.3, poll_seconds=1, holder="a")
    a.every("collect:exports", 3600, lambda: (started.set(), release.wait(5)))
    b_runs: list[str] = []
    b = Schedule(store, lease_seconds=0.3, poll_seconds=1, holder="b")
    b.every("collect:exports", 3600, lambda: b_runs.append("b"))
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(a.run_due, "collect:exports")
        assert started.wait(5)
        for _ in range(8):  # 8 × 0.1 s: well past the lease, b finds it held every time
            threading.Event().wait(0.1)
            assert b.run_due("collect:exports") is None
        release.set()
        assert running.result(5) is not None
    assert b_runs == []
    (state,) = job_states(store)
    assert (state.runs, state.takeovers, state.last_holder) == (1, 0, "a")


@pytest.mark.parametrize("replicas", [4])
def test_replicas_racing_for_one_turn_run_it_once(store: Store, replicas: int) -> None:
    clock, runs = Clock(), []
    schedules = [replica(store, clock, f"r{i}", runs) for i in range(replicas)]
    barrier = threading.Barrier(replicas)

    def race(s: Schedule) -> object:
        barrier.wait()
        return s.run_due("budgets")

    with ThreadPoolExecutor(replicas) as pool:
        claims = [c for c in pool.map(race, schedules) if c is not None]
    assert len(claims) == 1 and len(runs) == 1


def test_a_job_is_defined_once_with_a_positive_interval(store: Store) -> None:
    schedule = Schedule(store, holder="a")
    schedule.every("budgets", 60, lambda: None)
    with pytest.raises(ValueError, match="already defined"):
        schedule.every("budgets", 60, lambda: None)
    with pytest.raises(ValueError, match="positive interval"):
        schedule.every("snapshots", 0, lambda: None)
