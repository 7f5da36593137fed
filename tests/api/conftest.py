"""An API client over a migrated store, with gpt-4o prices loaded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from aifinops.api.app import create_app
from aifinops.config import load_settings
from aifinops.store import Store
from aifinops.store.prices import PriceStore
from factories import PRICE_START, gpt4o_prices


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    with TestClient(create_app(load_settings(), store=store)) as c:
        yield c


@pytest.fixture
def sqlite_client(sqlite_store: Store) -> Iterator[TestClient]:
    PriceStore(sqlite_store).save(gpt4o_prices(), now=PRICE_START)
    with TestClient(create_app(load_settings(), store=sqlite_store)) as c:
        yield c
