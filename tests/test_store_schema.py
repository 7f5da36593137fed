"""The schema migrates on both databases and the server refuses an out-of-date one."""

from __future__ import annotations

from pathlib import Path

import pytest

from aifinops.errors import SchemaOutdatedError
from aifinops.store import Store


def test_migrated_store_matches_code(store: Store) -> None:
    store.check_schema()
    assert store.current_heads() == store.expected_heads()


def test_empty_database_is_refused_with_the_fix(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaOutdatedError, match="aifinops db upgrade"):
        store.check_schema()
    store.upgrade()
    store.check_schema()


def test_migrations_build_exactly_the_tables_the_code_defines(store: Store) -> None:
    """Every table and column the code uses exists as migrated, on SQLite and PostgreSQL alike."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import aifinops.store.allocation_tables
    import aifinops.store.budget_tables
    import aifinops.store.cost_tables
    import aifinops.store.job_leases
    import aifinops.store.log_watermarks
    import aifinops.store.meter_tables
    import aifinops.store.optimize_tables
    import aifinops.store.rollup_tables
    import aifinops.store.snapshots  # noqa: F401  (register their tables on the shared metadata)
    from aifinops.store.partitions import schema_compare_filter
    from aifinops.store.tables import metadata

    with store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": schema_compare_filter(store.dialect)}
        )
        assert compare_metadata(context, metadata) == []
