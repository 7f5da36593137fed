"""The database goes away mid-load: every request the gateway served still ends in the store, exactly once.

PostgreSQL is stopped from talking to the gateway's database (connections refused and existing ones killed)
while requests keep flowing; the recorder spools to its file, then replays when the database is back.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from aifinops.gateway.app import create_gateway
from aifinops.gateway.enforcer import Enforcer
from aifinops.gateway.recorder import Recorder
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.key_queries import verify_key
from aifinops.store.keys import KeyStore

from .conftest import FakeAzureOpenAI, gateway_config

pytestmark = pytest.mark.postgres

ADMIN_URL = os.environ.get("AIFINOPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
WORKERS = 8
REQUESTS = 800


@pytest.fixture
def outage_db() -> Iterator[tuple[str, sa.Engine]]:
    """A private, migrated database and an admin engine that can cut it off."""
    name = f"aifinops_outage_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(Store(ADMIN_URL).url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # PostgreSQL must be up (scripts/services.sh starts it): never skipped
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    store = Store(url)
    store.upgrade()
    store.dispose()
    yield url, admin
    with admin.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _cut_off(admin: sa.Engine, name: str, *, down: bool) -> None:
    with admin.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"false" if down else "true"}'))
        if down:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )


async def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the recorder did not reach the expected state in time"
        await asyncio.sleep(0.01)


async def test_every_served_request_is_stored_exactly_once_across_a_database_outage(
    outage_db: tuple[str, sa.Engine], tmp_path: Path
) -> None:
    url, admin = outage_db
    name = url.rsplit("/", 1)[1]
    store = Store(url)
    _, secret = KeyStore(store).create(name="load", scopes={"gateway"}, identity={"app": "outage"})
    ingestor = Ingestor(store)
    recorder = Recorder(
        ingestor, spool_path=tmp_path / "spool.jsonl", batch_size=50, flush_interval=0.02, retry_interval=0.2
    )
    upstream = httpx.AsyncClient(transport=httpx.ASGITransport(app=FakeAzureOpenAI()))
    app = create_gateway(
        gateway_config(),
        keys=partial(verify_key, store),
        enforcer=Enforcer(),
        recorder=recorder,
        http=upstream,
        prices=ingestor.prices,
    )
    await app.startup()
    served: list[str] = []
    outage_seen = asyncio.Event()
    issued = iter(range(REQUESTS))

    async def worker(client: httpx.AsyncClient) -> None:
        for _ in issued:
            response = await client.post(
                "/v1/chat/completions",
                headers={"api-key": secret},
                json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
            )
            assert response.status_code == 200, response.text
            served.append(response.headers["x-aifinops-request-id"])
            if len(served) == REQUESTS // 4:
                await _until(lambda: recorder.counts["ingested"] > 0)
                _cut_off(admin, name, down=True)
                await _until(lambda: not recorder.store_available)  # the others keep sending meanwhile
                outage_seen.set()
            elif len(served) == 3 * REQUESTS // 4:
                await outage_seen.wait()
                _cut_off(admin, name, down=False)
                await _until(lambda: recorder.store_available)  # replayed while the load goes on

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        await asyncio.gather(*(worker(client) for _ in range(WORKERS)))
    await app.shutdown()
    await upstream.aclose()

    with store.reader() as conn:
        stored = [row[0] for row in conn.execute(sa.text("SELECT event_id FROM usage_events"))]
    store.dispose()
    assert len(served) == REQUESTS
    assert len(stored) == len(set(stored)) == REQUESTS
    assert set(stored) == {f"gw-{request_id}-1" for request_id in served}
    assert (
        recorder.counts["store_errors"] > 0 and recorder.counts["replayed"] == recorder.counts["spooled"] > 0
    )
    assert not (tmp_path / "spool.jsonl").exists()
