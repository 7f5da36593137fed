"""The export SQL: the Python reading of resource ids gives what the SQL gives, for every ASCII text."""

from __future__ import annotations

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from aifinops.domain import Basis
from aifinops.sources.export_schemas import detect_schema
from aifinops.sources.export_sql import resource_key, scan_plan

_PLAN = scan_plan(
    detect_schema(["Date", "MeterId", "Cost", "Quantity", "BillingCurrency"], file="x.csv"),
    Basis.ACTUAL,
    default_currency=None,
    date_format=None,
)
_PIECES = st.sampled_from(
    [
        "/",
        "/providers/",
        "/PROVIDERS/",
        "Microsoft.Web",
        "sites",
        "App",
        " ",
        "\t",
        "\n",
        "NULL",
        "null",
        "x",
        "",
    ]
)
_ASCII = st.one_of(
    st.lists(_PIECES, max_size=8).map("".join),
    st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=30),
)


def _sql(conn: duckdb.DuckDBPyConnection, texts: list[str | None]) -> list[tuple[object, ...]]:
    select = ", ".join(_PLAN.keys["resource_id"])
    rows = conn.execute(
        f"SELECT {select} FROM (SELECT unnest(?::VARCHAR[]) AS k_resource_id, "
        "generate_subscripts(?, 1) AS i) ORDER BY i",
        [texts, texts],
    ).fetchall()
    return [tuple(r) for r in rows]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), _ASCII), min_size=1, max_size=20))
def test_resource_key_reads_ascii_ids_as_the_sql_does(texts: list[str | None]) -> None:
    with duckdb.connect() as conn:
        assert [resource_key(t) for t in texts] == _sql(conn, texts)


def test_resource_key_leaves_other_texts_to_the_sql() -> None:
    assert resource_key("/subscriptions/s/providers/Microsoft.Web/sites/Café") is None
    assert resource_key("\u00a0/providers/a/b") is None  # DuckDB's trim takes the no-break space too
