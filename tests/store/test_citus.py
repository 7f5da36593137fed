"""The Citus layout: a no-op without the extension, and valid for Citus against the real migrated schema."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from aifinops.store import Store
from aifinops.store.citus import DISTRIBUTED, REFERENCE, REKEYED, citus_installed, citus_statements, rekey

ON_POSTGRES = pytest.mark.parametrize(
    "store", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


def _schema(store: Store) -> list[tuple[object, ...]]:
    """Every table, column, constraint and index definition, as the database itself describes them."""
    with store.reader() as conn:
        if store.dialect == "sqlite":
            return [
                tuple(r)
                for r in conn.exec_driver_sql("SELECT type, name, sql FROM sqlite_master ORDER BY name")
            ]
        columns = conn.exec_driver_sql(
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY 1, 2"
        ).all()
        constraints = conn.exec_driver_sql(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE connamespace = current_schema()::regnamespace ORDER BY 1, 2"
        ).all()
        indexes = conn.exec_driver_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1"
        ).all()
    return [tuple(r) for r in (*columns, *constraints, *indexes)]


def test_without_citus_the_revision_changes_nothing(store: Store) -> None:
    with store.reader() as conn:
        assert not citus_installed(conn)
    migrated = _schema(store)
    command.downgrade(store._alembic_config(), "0020_citus_layout@-1")
    try:
        assert _schema(store) == migrated
    finally:
        command.upgrade(store._alembic_config(), "heads")
    assert _schema(store) == migrated
    assert "0020_citus_layout" in store.current_heads()


@ON_POSTGRES
def test_the_layout_follows_citus_rules_on_the_migrated_schema(store: Store) -> None:
    """Distribution columns are NOT NULL, co-located tables share the column's type, and every unique
    constraint of a distributed table contains its distribution column (usage_events' after the new key)."""
    with store.reader() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        types = {
            (t, c): (ty, nullable)
            for t, c, ty, nullable in conn.exec_driver_sql(
                "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
                "WHERE table_schema = current_schema()"
            )
        }
        uniques = conn.exec_driver_sql(
            "SELECT c.relname, i.indexrelid::regclass::text, "
            "ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey)) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "WHERE i.indisunique AND c.relnamespace = current_schema()::regnamespace"
        ).all()
    assert set(REFERENCE) <= tables and {t for t, _, _ in DISTRIBUTED} <= tables
    column = {t: c for t, c, _ in DISTRIBUTED}
    for table, col, colocate in DISTRIBUTED:
        assert types[(table, col)][1] == "NO", f"{table}.{col} may be NULL"
        if colocate:
            assert types[(table, col)][0] == types[(colocate, column[colocate])][0]
    for table, index, cols in uniques:
        if table not in column:
            continue
        if index == f"pk_{table}" and table in REKEYED:
            key, before = REKEYED[table]
            assert sorted(cols) == sorted(before) and column[table] in key
            assert rekey(table, key) in citus_statements()
            continue
        assert column[table] in cols, f"{index} on {table} lacks {column[table]}"
    assert len([s for s in citus_statements() if "create_distributed_table" in s]) == len(DISTRIBUTED)
