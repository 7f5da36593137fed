"""The Redis cost of the gateway's limit scripts, for sizing Redis at 1k / 10k / 100k requests per second.

Starts a private ``redis-server`` (no persistence) on a free port so that no other client's commands are
counted, then drives the product's own ``RedisCounters`` (gateway/redis_counters.py): every call is one
acquire script and one settle script, as the gateway runs them. Three limit shapes per call:

- ``rpm+tpm``: two sliding windows (requests and tokens per minute) of one tenant;
- ``+budget``: and a monthly money pool (reservations leased, settled at the metered cost);
- ``+budget+concurrency``: and a concurrency slot.

Per shape it prints calls/s reached by ``--clients`` concurrent clients from this one process, the Redis
server's CPU per call (from /proc: every command's parsing, networking and script time), the scripts' own
time (``INFO commandstats``: wall time inside Redis, inflated when the machine is loaded), the keys and
memory of the counters, and the memory of each call in flight (acquired, not yet settled).
``redis-benchmark`` of a plain SET on the same server gives the baseline beside it. Redis runs on this
shared machine: read the per-call CPU, not the calls/s, as the capacity figure.

Usage: .venv/bin/python bench/pgscale/redis_scripts.py [--calls 50000] [--clients 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
import redis.asyncio as aioredis

from aifinops.engine.limit_charges import Charge, ChargeMode, Measure
from aifinops.gateway.counters import Reservation, Settlement
from aifinops.gateway.redis_counters import RedisCounters

TENANTS = 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def private_redis() -> Iterator[tuple[int, int]]:
    """(port, pid) of a redis-server of our own, stopped on exit."""
    port = _free_port()
    folder = tempfile.mkdtemp(prefix="aifinops-redis-")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", folder],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _charges(shape: str, tenant: int, now: float) -> tuple[Charge, ...]:
    minute = int(now // 60)
    weight = int((1 - (now % 60) / 60) * 1_000_000)
    scope = f'tenant="t{tenant}"'
    out = [
        Charge(
            f"rpm:60::{scope}:{minute}",
            ChargeMode.SLIDING,
            1,
            10**9,
            125,
            "p",
            False,
            Measure.NONE,
            f"rpm:60::{scope}:{minute - 1}",
            weight,
        ),
        Charge(
            f"tpm:60::{scope}:{minute}",
            ChargeMode.SLIDING,
            4000,
            10**12,
            125,
            "p",
            True,
            Measure.TOKENS,
            f"tpm:60::{scope}:{minute - 1}",
            weight,
        ),
    ]
    if "budget" in shape:
        out.append(Charge(f"budget:month:USD:{scope}", ChargeMode.POOL, 30_000_000, 10**18, 40 * 86400, "p"))
    if "concurrency" in shape:
        out.append(Charge(f"concurrency:{scope}", ChargeMode.SLOT, 1, 10**6, 0, "p"))
    return tuple(out)


async def _drive(port: int, shape: str, calls: int, clients: int) -> float:
    client = aioredis.Redis(port=port, max_connections=clients)
    counters = RedisCounters(client)
    done = 0

    async def worker(k: int) -> None:
        nonlocal done
        while done < calls:
            done += 1
            now = time.time()
            rid = uuid.uuid4().hex
            reservation = Reservation(rid, _charges(shape, (done * 7 + k) % TENANTS, now))
            got = await counters.acquire(reservation, now=now)
            if not got.ok:
                raise SystemExit(f"refused: {got.failed}")
            await counters.settle(rid, Settlement(tokens=3100, cost_nanos=21_000_000), now=time.time())

    start = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(clients)))
    wall = time.perf_counter() - start
    await counters.aclose()
    return wall


def _script_usec(client: redis.Redis) -> tuple[int, int]:
    stats: Any = client.info("commandstats")
    calls = usec = 0
    for name in ("cmdstat_evalsha", "cmdstat_eval"):
        if name in stats:
            calls += int(stats[name]["calls"])
            usec += int(stats[name]["usec"])
    return calls, usec


def measure(port: int, pid: int, shape: str, *, calls: int, clients: int) -> None:
    client = redis.Redis(port=port)
    client.flushall()
    asyncio.run(_drive(port, shape, 500, clients))  # warm-up: scripts loaded, connections open
    before_calls, before_usec = _script_usec(client)
    cpu = _cpu(pid)
    wall = asyncio.run(_drive(port, shape, calls, clients))
    cpu = _cpu(pid) - cpu
    script_calls, usec = (
        a - b for a, b in zip(_script_usec(client), (before_calls, before_usec), strict=True)
    )
    memory = int(client.info("memory")["used_memory"])
    keys = int(client.dbsize())
    print(
        f"{shape}: {calls / wall:,.0f} calls/s from {clients} clients (client-bound here); Redis server CPU "
        f"{cpu * 1e6 / calls:,.1f} µs per call (acquire + settle), of which scripts {usec / calls:,.1f} µs "
        f"({script_calls / calls:.0f} scripts per call); {keys:,} keys live, {memory / 2**20:,.1f} MiB used"
    )


def lease_memory(port: int, *, leases: int = 10_000) -> None:
    """Memory per call in flight: acquired, not yet settled (its record and its pool lease)."""
    client = redis.Redis(port=port)
    client.flushall()

    async def hold() -> None:
        counters = RedisCounters(aioredis.Redis(port=port))
        now = time.time()
        await counters.acquire(Reservation("warm", _charges("rpm+tpm+budget", 0, now)), now=now)
        client.memory_purge()
        before = int(client.info("memory")["used_memory"])
        for _ in range(leases):
            got = await counters.acquire(
                Reservation(uuid.uuid4().hex, _charges("rpm+tpm+budget", 0, now)), now=now
            )
            assert got.ok
        after = int(client.info("memory")["used_memory"])
        print(
            f"memory: {(after - before) / leases:,.0f} bytes per call in flight (one tenant, rpm+tpm+budget)"
        )
        await counters.aclose()

    asyncio.run(hold())


def baseline(port: int) -> None:
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-t", "set", "-n", "200000", "-c", "32", "-q"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = out.strip().splitlines()[-1].split("\r")[-1]
    print(f"baseline: redis-benchmark SET, 32 clients: {line.strip()}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    with open("/proc/loadavg") as load:
        print(f"redis scripts: {os.cpu_count()} CPUs, shared machine, load average {load.read().split()[0]}")
    with private_redis() as (port, pid):
        baseline(port)
        for shape in ("rpm+tpm", "rpm+tpm+budget", "rpm+tpm+budget+concurrency"):
            measure(port, pid, shape, calls=args.calls, clients=args.clients)
        lease_memory(port)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
