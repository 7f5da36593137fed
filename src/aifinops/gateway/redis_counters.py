"""Limit counters shared by every gateway replica in one Redis, each call's charges in one atomic Lua script.

The semantics are those of :mod:`aifinops.gateway.counters`; Redis must be a single primary (the keys of
one call span hash slots).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from aifinops.engine.limit_charges import Charge
from aifinops.errors import StoreError
from aifinops.gateway.counters import AcquireResult, Reservation, Settlement

__all__ = ["RedisCounters"]

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
