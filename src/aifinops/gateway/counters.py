"""Limit counters: the counter store contract, and the store one replica keeps in process.

Several replicas share them in Redis through atomic Lua scripts (:mod:`aifinops.gateway.redis_counters`).
Both stores keep the same four kinds of charge (``engine.limit_charges.ChargeMode``) with the same semantics:

- ``count``: a tally that expires ``ttl`` seconds after its last increment (steps and retries of a task);
- ``sliding``: fixed buckets of ``window`` seconds; the used value is the current bucket plus the share of
  the previous bucket that still lies inside the sliding window (RPM, TPM);
- ``pool``: a hash of ``committed`` nano-units plus leased reservations (money budgets, cost per task);
- ``slot``: a set of leased members (concurrency).

``acquire`` checks every charge of a call against its limit and applies all of them, or none, in one step,
so parallel calls cannot overspend. Reservations and slots carry a lease: a replica that dies mid-call
stops holding them when the lease runs out. ``settle`` and ``release`` act once per reservation; a second
call finds no reservation and changes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aifinops.engine.limit_charges import Charge, ChargeMode, Measure

__all__ = [
    "AcquireResult",
    "Counters",
    "InProcessCounters",
    "Reservation",
    "Settlement",
]


@dataclass(frozen=True, slots=True)
class Reservation:
    """The charges of one admitted call, held under ``reservation_id`` until settled or released."""

    reservation_id: str
    charges: tuple[Charge, ...]
    lease_seconds: int = 300
    payload: Mapping[str, str] = field(default_factory=dict)  # kept with the reservation, returned by peek


@dataclass(frozen=True, slots=True)
class AcquireResult:
    """Whether every charge fitted; ``used`` holds each charge key's value before this call."""

    ok: bool
    used: Mapping[str, int]
    failed: Charge | None = None


@dataclass(frozen=True, slots=True)
class Settlement:
    """The metered outcome of a call; None (not metered) keeps the reserved worst case for tokens or cost."""

    tokens: int | None
    cost_nanos: int | None


class Counters(Protocol):
    """A store of limit counters. Every method may raise StoreError when the store is unreachable."""

    async def read(self, charges: Sequence[Charge], *, now: float) -> dict[str, int]: ...

    async def acquire(self, reservation: Reservation, *, now: float) -> AcquireResult: ...

    async def peek(self, reservation_id: str) -> Mapping[str, str] | None: ...

    async def settle(self, reservation_id: str, settlement: Settlement, *, now: float) -> bool: ...

    async def release(self, reservation_id: str, *, now: float) -> bool: ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class _Pool:
    committed: int = 0
    reserved: dict[str, tuple[int, float]] = field(default_factory=dict)  # id → (nanos, lease end)
    expires: float = 0.0  # 0 = never


@dataclass(slots=True)
class _Held:
    reservation: Reservation
    expires: float


class InProcessCounters:
    """Counters of one replica, in memory. Thread-safe; every operation is one short critical section."""

    _SWEEP_EVERY = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, tuple[int, float]] = {}  # key → (value, expires at; 0 = never)
        self._pools: dict[str, _Pool] = {}
        self._slots: dict[str, dict[str, float]] = {}
        self._held: dict[str, _Held] = {}
        self._ops = 0

    def _value(self, key: str | None, now: float) -> int:
        if key is None:
            return 0
        value, expires = self._values.get(key, (0, 0.0))
        return value if not expires or expires > now else 0

    def _add(self, key: str, amount: int, ttl: int, now: float) -> None:
        self._values[key] = (self._value(key, now) + amount, now + ttl if ttl else 0.0)

    def _used(self, charge: Charge, now: float) -> int:
        mode = charge.mode
        if mode is ChargeMode.SLIDING:
            prev = self._value(charge.prev_key, now)
            return self._value(charge.key, now) + prev * charge.prev_weight_ppm // 1_000_000
        if mode is ChargeMode.POOL:
            pool = self._pools.get(charge.key)
            if pool is None or (pool.expires and pool.expires <= now):
                return 0
            for rid in [r for r, (_, end) in pool.reserved.items() if end <= now]:
                del pool.reserved[rid]
            return pool.committed + sum(amount for amount, _ in pool.reserved.values())
        if mode is ChargeMode.SLOT:
            slots = self._slots.get(charge.key, {})
            for rid in [r for r, end in slots.items() if end <= now]:
                del slots[rid]
            return len(slots)
        return self._value(charge.key, now)

    def _live_pool(self, key: str, now: float) -> _Pool:
        pool = self._pools.get(key)
        if pool is None or (pool.expires and pool.expires <= now):
            pool = self._pools[key] = _Pool()
        return pool

    def _apply(self, charge: Charge, reservation: Reservation, now: float) -> None:
        lease_end = now + reservation.lease_seconds
        if charge.mode is ChargeMode.POOL:
            pool = self._live_pool(charge.key, now)
            pool.reserved[reservation.reservation_id] = (charge.amount, lease_end)
            pool.expires = now + charge.ttl_seconds if charge.ttl_seconds else 0.0
        elif charge.mode is ChargeMode.SLOT:
            self._slots.setdefault(charge.key, {})[reservation.reservation_id] = lease_end
        else:
            self._add(charge.key, charge.amount, charge.ttl_seconds, now)

    async def read(self, charges: Sequence[Charge], *, now: float) -> dict[str, int]:
        with self._lock:
            return {c.key: self._used(c, now) for c in charges}

    async def acquire(self, reservation: Reservation, *, now: float) -> AcquireResult:
        with self._lock:
            self._sweep(now)
            used = {c.key: self._used(c, now) for c in reservation.charges}
            for charge in reservation.charges:
                if used[charge.key] + charge.amount > charge.limit:
                    return AcquireResult(False, used, charge)
            for charge in reservation.charges:
                self._apply(charge, reservation, now)
            expires = now + 2 * reservation.lease_seconds + 60
            self._held[reservation.reservation_id] = _Held(reservation, expires)
            return AcquireResult(True, used)

    async def peek(self, reservation_id: str) -> Mapping[str, str] | None:
        with self._lock:
            held = self._held.get(reservation_id)
            return dict(held.reservation.payload) if held else None

    async def settle(self, reservation_id: str, settlement: Settlement, *, now: float) -> bool:
        return self._finish(reservation_id, settlement, now)

    async def release(self, reservation_id: str, *, now: float) -> bool:
        return self._finish(reservation_id, None, now)

    def _finish(self, reservation_id: str, settlement: Settlement | None, now: float) -> bool:
        with self._lock:
            held = self._held.pop(reservation_id, None)
            if held is None:
                return False
            for charge in held.reservation.charges:
                self._undo(charge, reservation_id, settlement, now)
            return True

    def _undo(self, charge: Charge, rid: str, settlement: Settlement | None, now: float) -> None:
        if charge.mode is ChargeMode.POOL:
            pool = self._live_pool(charge.key, now)
            pool.reserved.pop(rid, None)
            if settlement is not None:
                cost = settlement.cost_nanos
                pool.committed += charge.amount if cost is None else cost
                pool.expires = now + charge.ttl_seconds if charge.ttl_seconds else 0.0
        elif charge.mode is ChargeMode.SLOT:
            self._slots.get(charge.key, {}).pop(rid, None)
        elif settlement is None:
            if charge.refund_on_release:
                self._adjust(charge.key, -charge.amount, now)
        elif charge.measure is Measure.TOKENS and settlement.tokens is not None:
            self._adjust(charge.key, settlement.tokens - charge.amount, now)
        elif charge.measure is Measure.COST and settlement.cost_nanos is not None:
            self._adjust(charge.key, settlement.cost_nanos - charge.amount, now)

    def _adjust(self, key: str, delta: int, now: float) -> None:
        # Only a live counter is corrected: an expired window has already forgotten the reservation.
        value, expires = self._values.get(key, (0, -1.0))
        if not expires or expires > now:
            self._values[key] = (value + delta, expires)

    def _sweep(self, now: float) -> None:
        # Expired keys are dropped in bulk now and then, so memory follows the live windows, not history.
        self._ops += 1
        if self._ops % self._SWEEP_EVERY:
            return
        self._values = {k: v for k, v in self._values.items() if not v[1] or v[1] > now}
        self._held = {k: h for k, h in self._held.items() if h.expires > now}
        self._slots = {k: s for k, s in self._slots.items() if any(end > now for end in s.values())}
        self._pools = {k: p for k, p in self._pools.items() if not p.expires or p.expires > now}

    async def aclose(self) -> None:
        return None
