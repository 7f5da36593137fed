"""The dashboard page and its files: right content types, security headers, nothing from an outside host."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources

import pytest
from fastapi.testclient import TestClient

from aifinops.api import dashboard
from aifinops.api.app import create_app
from aifinops.config import load_settings
from aifinops.store import Store
from aifinops.store.keys import KeyStore

STATIC = resources.files("aifinops.api").joinpath("static")
CONTENT_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
#: XML namespaces are names, not addresses: the browser never fetches them.
NAMESPACES = {"http://www.w3.org/2000/svg"}
_HTML_REFS = re.compile(r"""(?:src|href)="([^"]+)\"""")
_JS_IMPORTS = re.compile(r"""^import\s.*?from\s+"([^"]+)";""", re.MULTILINE | re.DOTALL)
_URLS = re.compile(r"""(?:[a-z][a-z0-9+.-]*:)?//[^\s"'`)<>]+""", re.IGNORECASE)


@pytest.fixture
def client(sqlite_store: Store) -> Iterator[TestClient]:
    app = create_app(load_settings(), store=sqlite_store)
    with TestClient(app) as c:
        yield c


def _reachable(client: TestClient) -> dict[str, str]:
    """Every same-origin file the page loads, transitively through module imports: path → body."""
    page = client.get("/").text
    todo = [ref for ref in _HTML_REFS.findall(page) if ref.startswith("/static/")]
    seen: dict[str, str] = {}
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen[path] = client.get(path).text
        if path.endswith(".js"):
            todo += ["/static/" + ref.removeprefix("./") for ref in _JS_IMPORTS.findall(seen[path])]
    return seen


def test_the_page_is_html_with_a_strict_content_security_policy(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-security-policy"] == dashboard.CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert '<script type="module" src="/static/dashboard.js"></script>' in r.text
    assert '<html lang="en">' in r.text


def test_every_file_the_page_loads_is_served_with_its_content_type(client: TestClient) -> None:
    files = _reachable(client)
    assert {"/static/dashboard.css", "/static/dashboard.js", "/static/favicon.svg"} <= set(files)
    for path in files:
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"] == CONTENT_TYPES[path[path.rindex(".") :]], path
        assert r.headers["content-security-policy"] == dashboard.CONTENT_SECURITY_POLICY


def test_every_packaged_file_is_used_by_the_page(client: TestClient) -> None:
    packaged = {f"/static/{f.name}" for f in STATIC.iterdir() if f.name != "dashboard.html"}
    assert packaged == set(_reachable(client))


def test_nothing_references_an_outside_host(client: TestClient) -> None:
    bodies = {"/": client.get("/").text, **_reachable(client)}
    for path, body in bodies.items():
        outside = [u for u in _URLS.findall(body) if u not in NAMESPACES]
        assert outside == [], f"{path} references {outside}"
        assert "@import" not in body, path
    calls = re.findall(r"""api\(\s*[`"]([^`"]+)""", bodies["/static/dashboard.js"])
    assert calls and all(c.startswith("/api/") for c in calls), calls


def test_chart_colours_and_legend_swatches_match() -> None:
    """The legend's CSS swatches must show the very colours the SVG charts draw with."""
    charts = STATIC.joinpath("charts.js").read_text()
    css = STATIC.joinpath("dashboard.css").read_text()
    declared = re.search(r"PALETTE = \[(.*?)\]", charts)
    assert declared is not None, "charts.js no longer declares PALETTE"
    palette = re.findall(r"#[0-9a-f]{6}", declared.group(1))
    swatches = dict(re.findall(r"\.c(\d) \{ background: (#[0-9a-f]{6}); \}", css))
    assert len(palette) == 8
    assert [swatches[str(i)] for i in range(len(palette))] == palette


def test_files_revalidate_with_their_etag(client: TestClient) -> None:
    first = client.get("/static/dashboard.js")
    assert first.headers["cache-control"] == "no-cache"
    again = client.get("/static/dashboard.js", headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert client.head("/").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/static/missing.js",
        "/static/..%2Fdashboard.py",
        "/static/Dashboard.js",
        "/static/dashboard.html",
        "/static/.hidden.js",
        "/static/dashboard.py",
    ],
)
def test_unknown_or_unsafe_names_are_404_problems(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


def test_the_page_needs_no_key_but_its_data_does(client: TestClient, sqlite_store: Store) -> None:
    KeyStore(sqlite_store).create(name="reader", scopes={"read"})
    app = create_app(load_settings(), store=sqlite_store)
    with TestClient(app) as keyed:
        assert keyed.get("/").status_code == 200
        assert keyed.get("/static/dashboard.js").status_code == 200
        assert keyed.get("/api/kpis", params={"period": "2026-10"}).status_code == 401


def test_the_dashboard_stays_out_of_the_openapi_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert not [p for p in paths if p.startswith("/static")]
