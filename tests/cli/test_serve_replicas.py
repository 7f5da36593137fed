"""Two real `aifinops serve` processes on one PostgreSQL database share the scheduled jobs.

Both collect Cost Management from the Azure emulator, signed in through the Container Apps managed identity
endpoint (``IDENTITY_ENDPOINT``), and alert a budget to a local signed webhook. The emulator answers the
first cost query with 429 and ``Retry-After: 60``: the replica that claimed the collection waits inside its
turn, renewing its lease. That replica is killed with SIGKILL there. The other one takes the turn over once
the lease runs out (stated bound: lease + poll, here 2 s + 0.2 s, plus the machine's scheduling slack), and
the counts show every effect once: the cost slices collected once (one checkpoint each, one query each
beside the one answered 429), one set of snapshots, one webhook post per crossed threshold.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from aifinops.demo.receiver import AlertReceiver
from aifinops.domain import Basis, CostRecord
from aifinops.emulator import EmulatorState, Fault, create_emulator
from aifinops.store import Store
from aifinops.store.job_leases import JobState, job_states
from tests.conftest import _truncate_all
from tests.served import Served

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SUB = "00000000-0000-0000-0000-00000000f00d"
ACCOUNT = f"/subscriptions/{SUB}/resourcegroups/rg-ai/providers/microsoft.cognitiveservices/accounts/aoai"
LEASE, POLL = 2.0, 0.2
SLACK = 10.0  # a loaded two-core machine may delay a poll by this much
SECRET = "replica-test-webhook-secret"
COLLECT = "collect:cost_management"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def pg_store(_postgres_url: str) -> Iterator[Store]:
    store = Store(_postgres_url)
    _truncate_all(store)
    yield store
    store.dispose()


class Replica:
    def __init__(self, env: dict[str, str], cwd: Path, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "aifinops"), "serve", "--port", str(self.port)],
            cwd=cwd,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.log.read_text()}")
        try:
            return httpx.get(self.url + "/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _job(store: Store, name: str) -> JobState | None:
    return next((j for j in job_states(store) if j.name == name), None)


def _count(store: Store, sql: str) -> int:
    with store.reader() as conn:
        return int(conn.execute(sa.text(sql)).scalar_one())


def test_the_survivor_takes_the_killed_leaders_turn_over_and_nothing_runs_twice(
    pg_store: Store, tmp_path: Path
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    state = EmulatorState(
        cost_records=[
            CostRecord(today, Basis.ACTUAL, Decimal("8"), "USD", subscription_id=SUB, resource_id=ACCOUNT),
            CostRecord(
                today, Basis.ACTUAL, Decimal("7"), "USD", subscription_id=SUB, resource_id=ACCOUNT + "2"
            ),
        ],
        identity_header="container-apps-identity-header",
    )
    state.inject("cost", Fault(429, retry_after=60))  # the first collector waits a minute inside its turn
    emulator = Served(create_emulator(state))
    with AlertReceiver(SECRET) as receiver:
        (tmp_path / "aifinops.yaml").write_text(
            json.dumps(
                {
                    "budgets": [
                        {
                            "name": "all",
                            "amount": "10",
                            "currency": "USD",
                            "basis": "actual",
                            "thresholds": [50, 100],
                        }
                    ],
                    "alert_channels": [
                        {"name": "ops", "kind": "webhook", "url": receiver.url, "secret": SECRET}
                    ],
                }
            )
        )
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIFINOPS_", "AZURE_", "IDENTITY_"))},
            "AIFINOPS_DATABASE_URL": pg_store.url,
            "AIFINOPS_AZURE__COST_SCOPES": json.dumps([f"subscriptions/{SUB}"]),
            "AIFINOPS_AZURE__MANAGEMENT_ENDPOINT": emulator.url,
            "AIFINOPS_AZURE__COLLECT_INTERVAL_SECONDS": json.dumps({"cost_management": 3600}),
            "AIFINOPS_BUDGET_CHECK_SECONDS": "10",
            "AIFINOPS_AZURE__RETAIL_PRICES_SYNC_SECONDS": "0",  # offline: no Retail Prices API
            "AIFINOPS_SCHEDULE_LEASE_SECONDS": str(LEASE),
            "AIFINOPS_SCHEDULE_POLL_SECONDS": str(POLL),
            "IDENTITY_ENDPOINT": emulator.url + "/msi/token",
            "IDENTITY_HEADER": "container-apps-identity-header",
        }
        replicas = [Replica(env, tmp_path, tmp_path / f"serve-{i}.log") for i in range(2)]
        try:
            for replica in replicas:
                _wait("both replicas ready", replica.ready)
            # The collecting replica got its 429 and waits inside its turn, holding the lease.
            _wait("the first cost query", lambda: state.calls["cost"] >= 1)
            held = _wait("the collection's lease", lambda: (j := _job(pg_store, COLLECT)) and j.holder and j)
            pid = int(held.holder.split(":")[1])
            (leader,) = [r for r in replicas if r.proc.pid == pid]
            (survivor,) = [r for r in replicas if r is not leader]
            leader.proc.send_signal(signal.SIGKILL)
            killed_at = dt.datetime.now(dt.UTC)
            leader.proc.wait(10)
            last_lease = _job(pg_store, COLLECT)
            assert last_lease is not None and last_lease.holder == held.holder and last_lease.lease_until

            done = _wait(
                "the turn run by the survivor", lambda: (j := _job(pg_store, COLLECT)) and j.runs and j
            )
            assert done.takeovers == 1 and done.runs == 1 and done.last_holder != held.holder
            assert done.last_holder is not None and done.last_holder.split(":")[1] == str(survivor.proc.pid)
            assert done.last_started_at is not None and done.last_started_at >= last_lease.lease_until
            failover = (done.last_started_at - killed_at).total_seconds()
            print(
                f"\nfailover: the survivor took the collection over {failover:.2f} s after SIGKILL "
                f"(lease {LEASE} s, poll {POLL} s)"
            )
            assert failover <= LEASE + POLL + SLACK

            # 15 USD collected against 10 USD crosses 50 % and 100 %: the next budget turn alerts, once.
            _wait("two alerts", lambda: len(receiver.verified) >= 2, timeout=60)
            runs = _job(pg_store, "budgets")
            assert runs is not None
            _wait("one more budget turn", lambda: (j := _job(pg_store, "budgets")) and j.runs > runs.runs)

            checkpoints = _count(pg_store, "SELECT count(*) FROM cost_checkpoints")
            distinct = _count(
                pg_store,
                "SELECT count(*) FROM "
                "(SELECT DISTINCT scope, basis, start_day, end_day FROM cost_checkpoints) AS slices",
            )
            assert checkpoints == distinct >= 1  # each slice collected once
            assert state.calls["cost"] == 1 + checkpoints  # the 429, then one query per slice: no second run
            assert _count(pg_store, "SELECT count(*) FROM cost_records WHERE basis = 'actual'") == 2
            assert _count(pg_store, "SELECT count(*) FROM snapshots WHERE trigger = 'collect'") == 3
            assert len(receiver.received) == 2 and len({r.body["id"] for r in receiver.received}) == 2
            assert _count(pg_store, "SELECT count(*) FROM budget_alerts") == 2
            assert _count(pg_store, "SELECT count(*) FROM alert_deliveries") == 2

            survivor.proc.send_signal(signal.SIGTERM)  # graceful: it stops and says so
            assert survivor.proc.wait(30) == 0
            assert all(j.holder is None for j in job_states(pg_store))
        finally:
            for replica in replicas:
                replica.stop()
            emulator.stop()
