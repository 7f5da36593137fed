"""Migration 0029: the data version counters; an outcome upsert moves the outcomes' version (both stores)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command

from aifinops.domain import Outcome, TaskOutcome
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.data_versions import OUTCOMES, read_version
from tests.factories import T0

REVISION = "0029_data_versions"


@pytest.fixture
def migrated(store: Store) -> Iterator[Store]:
    yield store
    command.upgrade(store._alembic_config(), "heads")


def _version(store: Store) -> int:
    with store.reader() as conn:
        return read_version(conn, OUTCOMES)


def test_outcome_upserts_move_the_version_and_downgrade_drops_the_table(migrated: Store) -> None:
    store = migrated
    assert _version(store) == 0
    outcome = TaskOutcome("t1", Outcome.SUCCEEDED, T0, tenant="contoso")
    Ingestor(store).record_outcomes([outcome])
    Ingestor(store).record_outcomes([outcome])  # re-sent: counted once, the version still moves
    later = TaskOutcome("t1", Outcome.FAILED, T0 + dt.timedelta(hours=1), tenant="contoso")
    Ingestor(store).record_outcomes([later])
    assert _version(store) == 3
    command.downgrade(store._alembic_config(), f"{REVISION}@-1")
    assert REVISION not in store.current_heads()
    assert "data_versions" not in sa.inspect(store.engine).get_table_names()
    command.upgrade(store._alembic_config(), "heads")
    assert _version(store) == 0
