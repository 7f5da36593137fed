"""Running the aifinops API in a uvicorn subprocess for benchmarks, and loading the demo price book."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from aifinops.sources.price_file import load_snapshot
from aifinops.store import Store
from aifinops.store.prices import PriceStore

__all__ = ["api_server", "ensure_database", "load_demo_prices"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def api_server(database_url: str, *, workers: int = 1) -> Iterator[httpx.Client]:
    """A client for the API served by ``workers`` uvicorn processes over ``database_url``, stopped on exit."""
    port = _free_port()
    env = dict(os.environ, AIFINOPS_DATABASE_URL=database_url)
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "aifinops.api.factory:app_from_env",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        *(["--workers", str(workers)] if workers > 1 else []),
    ]
    server = subprocess.Popen(command, env=env)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for _ in range(200):
                try:
                    client.get("/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            yield client
    finally:
        server.terminate()
        server.wait()


def load_demo_prices(store: Store) -> None:
    """The list-price snapshot and the demo contract prices, as the demo loads them."""
    now = dt.datetime.now(dt.UTC)
    PriceStore(store).save(load_snapshot().prices, now=now)
    PriceStore(store).save(load_snapshot("demo-contract.yaml").prices, now=now)


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database ``url`` names when it does not exist (benchmarks keep their own)."""
    import sqlalchemy as sa

    base, name = url.rsplit("/", 1)
    admin = sa.create_engine(Store(base + "/postgres").url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
