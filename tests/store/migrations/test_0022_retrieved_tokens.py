"""Migration 0022: events and the optimizer's daily call groups carry retrieved tokens, 0 for those stored
before (both stores)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command

from aifinops.domain import EventKind
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, event, gpt4o_prices

REVISION = "0022_retrieved_tokens"


@pytest.fixture
def migrated(store: Store) -> Iterator[Store]:
    yield store
    command.upgrade(store._alembic_config(), "heads")


def test_events_stored_before_report_no_retrieved_tokens_and_new_ones_keep_theirs(migrated: Store) -> None:
    store = migrated
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    command.downgrade(store._alembic_config(), f"{REVISION}@-1")
    assert REVISION not in store.current_heads()
    with store.session() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO optimize_daily (day, kind, attempt, status, duplicate, length_stop, "
                "input_class, output_class, calls, input_tokens, cached_input_tokens, output_tokens, "
                "quantity_nanos, cost_nanos) "
                "VALUES (20727, 'retrieval', 1, 'ok', 0, 0, 0, 0, 3, 0, 0, 0, 0, 0)"
            )
        )
    command.upgrade(store._alembic_config(), "heads")
    retrieval = event(
        1,
        kind=EventKind.RETRIEVAL,
        input_tokens=0,
        cached_input_tokens=0,
        output_tokens=0,
        retrieved_tokens=900,
    )
    Ingestor(store).ingest([retrieval], source="t")
    with store.reader() as conn:
        assert conn.execute(sa.text("SELECT retrieved_tokens FROM optimize_daily")).scalars().all() == [0]
        assert conn.execute(sa.text("SELECT retrieved_tokens FROM usage_events")).scalars().all() == [900]
