"""Limit counters: one replica keeps them in process, several share them in Redis through atomic Lua scripts.

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

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aifinops.engine.limit_charges import Charge, ChargeMode, Measure
from aifinops.errors import StoreError

__all__ = [
    "AcquireResult",
    "Counters",
    "InProcessCounters",
    "RedisCounters",
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


# One script reads (ARGV[4] == "1") or checks-and-applies every charge of a call atomically.
# Money stays a decimal string on its way into HINCRBY: Lua 5.1 prints big numbers as 1e+15.
_ACQUIRE = """
local now, rid, lease, dry = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4] == '1'
local n = #KEYS - 1
local used, failed = {}, 0
for i = 1, n do
  local key, b = KEYS[i + 1], 5 + (i - 1) * 6
  local mode, amount, limit = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local u = 0
  if mode == 'sliding' then
    local prev = tonumber(redis.call('GET', ARGV[b + 5]) or '0')
    u = tonumber(redis.call('GET', key) or '0') + math.floor(prev * tonumber(ARGV[b + 6]) / 1000000)
  elseif mode == 'pool' then
    local exp = key .. ':exp'
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', exp, '-inf', now)) do
      local amt = redis.call('HGET', key, 'r:' .. id)
      if amt then
        redis.call('HINCRBY', key, 'reserved', '-' .. amt)
        redis.call('HDEL', key, 'r:' .. id)
      end
      redis.call('ZREM', exp, id)
    end
    u = tonumber(redis.call('HGET', key, 'committed') or '0')
      + tonumber(redis.call('HGET', key, 'reserved') or '0')
  elseif mode == 'slot' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    u = redis.call('ZCARD', key)
  else
    u = tonumber(redis.call('GET', key) or '0')
  end
  used[i] = u
  if failed == 0 and u + amount > limit then failed = i end
end
if dry or failed > 0 then return {0, failed, unpack(used)} end
for i = 1, n do
  local key, b = KEYS[i + 1], 5 + (i - 1) * 6
  local mode, amount, ttl = ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 4])
  if mode == 'pool' then
    redis.call('HINCRBY', key, 'reserved', amount)
    redis.call('HSET', key, 'r:' .. rid, amount)
    redis.call('ZADD', key .. ':exp', now + lease, rid)
    if ttl > 0 then
      redis.call('EXPIRE', key, ttl)
      redis.call('EXPIRE', key .. ':exp', ttl)
    end
  elseif mode == 'slot' then
    redis.call('ZADD', key, now + lease, rid)
    redis.call('PEXPIRE', key, lease + 60000)
  else
    redis.call('INCRBY', key, amount)
    if ttl > 0 then redis.call('EXPIRE', key, ttl) end
  end
end
redis.call('SET', KEYS[1], ARGV[5], 'PX', 2 * lease + 60000)
return {1, 0, unpack(used)}
"""

# Settles (ARGV[1] == 'settle') or releases one reservation; deleting its record first makes it once-only.
_FINISH = """
local rec = redis.call('GET', KEYS[1])
if not rec then return 0 end
redis.call('DEL', KEYS[1])
local r = cjson.decode(rec)
local settle, tokens, cost = ARGV[1] == 'settle', tonumber(ARGV[2]), ARGV[3]
for _, c in ipairs(r.charges) do
  local key = c.k
  if c.m == 'pool' then
    local amt = redis.call('HGET', key, 'r:' .. r.id)
    if amt then
      redis.call('HINCRBY', key, 'reserved', '-' .. amt)
      redis.call('HDEL', key, 'r:' .. r.id)
      redis.call('ZREM', key .. ':exp', r.id)
    end
    if settle then
      redis.call('HINCRBY', key, 'committed', cost ~= '' and cost or c.a)
      if c.t > 0 then redis.call('EXPIRE', key, c.t) end
    end
  elseif c.m == 'slot' then
    redis.call('ZREM', key, r.id)
  elseif redis.call('EXISTS', key) == 1 then
    if not settle then
      if c.r then redis.call('DECRBY', key, c.a) end
    elseif c.s == 'tokens' and tokens then
      redis.call('INCRBY', key, string.format('%d', tokens - tonumber(c.a)))
    elseif c.s == 'cost' and cost ~= '' then
      redis.call('INCRBY', key, string.format('%d', tonumber(cost) - tonumber(c.a)))
    end
  end
end
return 1
"""


class RedisCounters:
    """Counters shared by replicas in one Redis (a single primary; keys of a call span hash slots)."""

    def __init__(self, redis: Any, *, prefix: str = "aifinops:limits:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._acquire = redis.register_script(_ACQUIRE)
        self._finish = redis.register_script(_FINISH)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "aifinops:limits:", timeout: float = 0.5) -> RedisCounters:
        """A client with short timeouts: a slow Redis turns into the limits' fail mode, not a hung call."""
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        return cls(client, prefix=prefix)

    def _args(self, reservation: Reservation, now: float, *, dry: bool) -> tuple[list[str], list[Any]]:
        p = self._prefix
        keys = [f"{p}res:{reservation.reservation_id}"] + [p + c.key for c in reservation.charges]
        record = {
            "id": reservation.reservation_id,
            "payload": dict(reservation.payload),
            "charges": [
                {
                    "k": p + c.key,
                    "m": str(c.mode),
                    "a": str(c.amount),
                    "t": c.ttl_seconds,
                    "s": str(c.measure),
                    "r": c.refund_on_release,
                }
                for c in reservation.charges
            ],
        }
        args: list[Any] = [
            int(now * 1000),
            reservation.reservation_id,
            reservation.lease_seconds * 1000,
            "1" if dry else "0",
            json.dumps(record),
        ]
        for c in reservation.charges:
            args += [
                str(c.mode),
                str(c.amount),
                str(c.limit),
                c.ttl_seconds,
                p + (c.prev_key or ""),
                c.prev_weight_ppm,
            ]
        return keys, args

    async def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        from redis.exceptions import RedisError

        try:
            return await script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise StoreError(
                f"limit counters in Redis failed ({type(exc).__name__}: {exc}); "
                "check AIFINOPS_REDIS_URL and that Redis is up"
            ) from exc

    async def read(self, charges: Sequence[Charge], *, now: float) -> dict[str, int]:
        if not charges:
            return {}
        keys, args = self._args(Reservation("-", tuple(charges)), now, dry=True)
        reply = await self._run(self._acquire, keys, args)
        return {c.key: int(v) for c, v in zip(charges, reply[2:], strict=True)}

    async def acquire(self, reservation: Reservation, *, now: float) -> AcquireResult:
        keys, args = self._args(reservation, now, dry=False)
        reply = await self._run(self._acquire, keys, args)
        used = {c.key: int(v) for c, v in zip(reservation.charges, reply[2:], strict=True)}
        failed = reservation.charges[int(reply[1]) - 1] if int(reply[1]) else None
        return AcquireResult(bool(int(reply[0])), used, failed)

    async def peek(self, reservation_id: str) -> Mapping[str, str] | None:
        from redis.exceptions import RedisError

        try:
            raw = await self._redis.get(f"{self._prefix}res:{reservation_id}")
        except (RedisError, OSError) as exc:
            raise StoreError(
                f"limit counters in Redis are unreachable ({exc}); check AIFINOPS_REDIS_URL"
            ) from exc
        if raw is None:
            return None
        payload: dict[str, str] = json.loads(raw)["payload"]
        return payload

    async def settle(self, reservation_id: str, settlement: Settlement, *, now: float) -> bool:
        cost = "" if settlement.cost_nanos is None else str(settlement.cost_nanos)
        keys = [f"{self._prefix}res:{reservation_id}"]
        tokens = "" if settlement.tokens is None else str(settlement.tokens)
        return bool(await self._run(self._finish, keys, ["settle", tokens, cost]))

    async def release(self, reservation_id: str, *, now: float) -> bool:
        keys = [f"{self._prefix}res:{reservation_id}"]
        return bool(await self._run(self._finish, keys, ["release", 0, ""]))

    async def aclose(self) -> None:
        await self._redis.aclose()
