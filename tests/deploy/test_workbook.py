"""deploy/workbook: an Azure Workbook template whose custom endpoint queries are GET routes of the API."""

from __future__ import annotations

import json
from pathlib import Path

from aifinops.api.app import create_app
from aifinops.config import load_settings
from aifinops.store import Store

WORKBOOK = Path(__file__).resolve().parents[2] / "deploy" / "workbook" / "aifinops.workbook"


def test_every_custom_endpoint_query_reads_a_get_route_with_a_table_path(sqlite_store: Store) -> None:
    workbook = json.loads(WORKBOOK.read_text(encoding="utf-8"))
    assert workbook["version"] == "Notebook/1.0"
    params = {p["name"] for i in workbook["items"] if i["type"] == 9 for p in i["content"]["parameters"]}
    assert params == {"ApiUrl", "Period"}
    schema = create_app(load_settings(), store=sqlite_store).openapi()
    routes = {path for path, ops in schema["paths"].items() if "get" in ops}
    queries = [json.loads(i["content"]["query"]) for i in workbook["items"] if i["type"] == 3]
    assert len(queries) >= 5
    for query in queries:
        assert query["version"] == "CustomEndpoint/1.0" and query["method"] == "GET"
        assert query["url"].startswith("{ApiUrl}/api/")
        assert query["url"].removeprefix("{ApiUrl}").split("?")[0] in routes
        (transformer,) = query["transformers"]
        assert transformer["settings"]["tablePath"].startswith("$") and transformer["settings"]["columns"]
