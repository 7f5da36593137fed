"""The OpenAPI contract: query parameters, API-key security and problem+json errors of every operation.

Routes that read their query string by hand declare it with :func:`query_doc`; the descriptions of every query
parameter come from one catalogue; :func:`reject_unknown_query` refuses any parameter an operation does not
document, so the document and the routes cannot drift apart. :func:`install_openapi` adds to the generated
document what FastAPI cannot see: the API-key schemes, which operations need a key, and the problem+json
answers (RFC 9457) each operation can give.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from aifinops.api.problems import PROBLEM_JSON, ProblemError
from aifinops.domain import DIMENSIONS
from aifinops.engine.usage_buckets import GRANULARITIES

__all__ = ["install_openapi", "narrow_query", "problems", "query_doc", "reject_unknown_query"]

_DAY = r"^\d{4}-\d{2}-\d{2}$"
_INSTANT = "an ISO date (2026-10-01, midnight in the configured time zone) or a datetime with a zone"
_BOOL = {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]}

#: Every query parameter of the API by name: its schema and what it means (a route may narrow the schema).
CATALOGUE: dict[str, tuple[dict[str, Any], str]] = {
    "period": (
        {"type": "string", "pattern": r"^\d{4}-\d{2}(-\d{2})?$"},
        "a month (2026-10) or a day (2026-10-05) in the configured time zone; instead of start/end",
    ),
    "start": ({"type": "string"}, f"start of the range, inclusive: {_INSTANT}"),
    "end": ({"type": "string"}, f"end of the range, exclusive: {_INSTANT}; default now"),
    "granularity": (
        {"type": "string", "enum": list(GRANULARITIES)},
        "the length of each period of the series",
    ),
    "group_by": ({"type": "string"}, "dimensions to group by, comma-separated, e.g. app,model"),
    "basis": ({"type": "string"}, "the basis of the amounts (DESIGN §2)"),
    "source": (
        {"type": "string"},
        "apps: usage the applications reported; monitor: Azure Monitor's metrics beside them; apim: API "
        "Management's token counts beside them",
    ),
    "fresh": (_BOOL, "true: compute now instead of answering with the stored snapshot"),
    "limit": ({"type": "integer", "minimum": 0}, "the most items to return"),
    "offset": ({"type": "integer", "minimum": 0}, "items to skip (paging)"),
    "outcome": ({"type": "string"}, "only tasks with this outcome ('open': no outcome yet)"),
    "type": (
        {"type": "string"},
        "only resources of this Azure resource type, e.g. microsoft.search/searchservices",
    ),
    "unowned": (_BOOL, "true: only resources without an owner"),
    "as_of": ({"type": "string"}, "the instant to evaluate at (default now)"),
    "tolerance": (
        {"type": "string", "pattern": r"^\d+(\.\d+)?$"},
        "the relative gap tolerated before a difference is flagged, e.g. 0.05",
    ),
    "by": ({"type": "string"}, "the dimension(s) to break the answer down by, comma-separated"),
    "dimensions": ({"type": "string"}, "the dimensions to allocate to, comma-separated"),
    "position": ({"type": "integer"}, "where to insert the rule (0 = first; default last)"),
    "budget": ({"type": "string"}, "only alerts of this budget"),
    "since": ({"type": "string", "format": "date-time"}, "only alerts fired at or after this instant"),
    "grain": ({"type": "string", "enum": ["day", "hour"]}, "judge the last complete day or hour"),
    "at": ({"type": "string", "format": "date-time"}, "the instant to judge at (default now)"),
    **{
        name: ({"type": "string"}, f"only these values of {name}, comma-separated")
        for name in (*DIMENSIONS, "kind", "status")
    },
}

_STATUS_TITLES = {
    400: "The body cannot be decoded (malformed JSON, gzip or protobuf)",
    401: "No API key, or an unknown or revoked one (WWW-Authenticate: Bearer)",
    403: "The key lacks the scope, or is limited to another tenant",
    404: "Not stored",
    409: "Conflicts with what is stored",
    413: "The body or the batch is too large",
    415: "Unsupported content type or encoding",
    422: "Invalid request: `errors` names each field and reason",
    429: "Too many requests",
    503: "The database is unreachable or busy; retry after Retry-After seconds",
}


def query_doc(*names: str, **schemas: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` declaring the query parameters ``names`` of a route that reads them by hand.

    ``schemas`` narrows the catalogue's schema of a parameter for this route (``basis={"enum": [...]}``).
    """
    return {"parameters": [_parameter(name, schemas.get(name)) for name in names]}


_NARROWED = "x-aifinops-query"


def narrow_query(**schemas: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` narrowing the schemas of query parameters FastAPI declares from the signature
    (``basis={"enum": ["actual", "amortized"]}``): what the route accepts, beyond the Python type."""
    return {_NARROWED: schemas}


def _document_query(operation: dict[str, Any]) -> None:
    """Each query parameter as a client sees it: optional ones without FastAPI's ``anyOf [T, null]``, the
    catalogue's pattern, format and description, and the route's own narrowing."""
    narrowed = operation.pop(_NARROWED, {})
    for param in operation.get("parameters", []):
        if param.get("in") != "query":
            continue
        schema = param.get("schema", {})
        choices = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
        if len(choices) == 1 and len(schema["anyOf"]) == 2:
            schema = {**{k: v for k, v in schema.items() if k != "anyOf"}, **choices[0]}
        schema.pop("title", None)
        if param["name"] in CATALOGUE:
            known, description = CATALOGUE[param["name"]]
            schema = {**known, **schema}
            param.setdefault("description", description)
        extra = dict(narrowed.get(param["name"], {}))
        if "description" in extra:
            param["description"] = extra.pop("description")
        param["schema"] = schema | extra


def _parameter(name: str, narrowed: dict[str, Any] | None = None) -> dict[str, Any]:
    schema, description = CATALOGUE[name]
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema | (narrowed or {}),
    }


def problems(*statuses: int, media_types: Iterable[str] = (PROBLEM_JSON,)) -> dict[int | str, dict[str, Any]]:
    """``responses`` of a route for the error statuses only it gives (the common ones are added for all)."""
    return {status: _problem_response(status, media_types) for status in statuses}


def _problem_response(status: int, media_types: Iterable[str] = (PROBLEM_JSON,)) -> dict[str, Any]:
    content: dict[str, Any] = {}
    for media in media_types:
        if media == PROBLEM_JSON:
            content[media] = {"schema": {"$ref": "#/components/schemas/Problem"}}
        else:  # OTLP/HTTP protobuf clients get a google.rpc.Status
            content[media] = {"schema": {"type": "string", "format": "binary"}}
    response: dict[str, Any] = {"description": _STATUS_TITLES.get(status, "Error"), "content": content}
    if status == 503:
        response["headers"] = {
            "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}
        }
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return response


_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "reason"],
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
}
_SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "an aifinops API key: `aifinops keys create`",
    },
    "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key", "description": "the same key"},
}


def documented_query(route: APIRoute) -> frozenset[str]:
    """The query parameters the OpenAPI document lists for ``route``: declared ones and ``query_doc``'s."""
    declared = {p.alias for p in route.dependant.query_params}
    for dep in route.dependant.dependencies:
        declared |= {p.alias for p in dep.query_params}
    extra = (route.openapi_extra or {}).get("parameters", [])
    return frozenset(declared | {p["name"] for p in extra if p.get("in") == "query"})


_KNOWN = "_aifinops_documented_query"


def reject_unknown_query(request: Request) -> None:
    """An app-wide dependency, the one check of query parameter names: a parameter the operation does not
    document is a 422 naming it. The documented set is worked out once per route and kept on it."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.include_in_schema:
        return
    known: frozenset[str] | None = getattr(route, _KNOWN, None)
    if known is None:
        known = documented_query(route)
        setattr(route, _KNOWN, known)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        reason = f"unknown query parameter; this operation takes {sorted(known) or 'none'}"
        raise ProblemError(
            422,
            "Invalid request",
            f"{unknown[0]}: {reason}",
            errors=[{"field": n, "reason": reason} for n in unknown],
        )


def _scope_of(route: APIRoute) -> str | None:
    """The key scope an operation needs (from ``deps.require``), or None when it needs no key."""
    pending = list(route.dependant.dependencies)
    while pending:
        dep = pending.pop()
        scope = getattr(dep.call, "aifinops_scope", None)
        if scope is not None:
            return str(scope)
        pending += dep.dependencies
    return None


def _complete(operation: dict[str, Any], route: APIRoute) -> None:
    """Add security, the common problem answers and the catalogue's descriptions to one operation."""
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)  # FastAPI's HTTPValidationError: ours is a problem document
    statuses = [422, 503]
    scope = _scope_of(route)
    if scope is not None:
        operation["security"] = [{"bearer": []}, {"apiKey": []}]
        operation["description"] = (
            operation.get("description", "") + f"\n\nNeeds a key with scope `{scope}`."
        ).strip()
        statuses += [401, 403]
    if "{" in route.path:
        statuses.append(404)
    if "requestBody" in operation:
        statuses.append(400)  # a body that is not JSON
    for status in statuses:
        responses.setdefault(str(status), _problem_response(status))
    _document_query(operation)


def _api_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """(path as documented, route) of every API route, through included routers (FastAPI ≥ 0.16x keeps them
    nested, with the prefix in the include context)."""
    try:
        from fastapi.routing import iter_route_contexts  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # pragma: no cover - FastAPI before nested routers
        yield from ((r.path_format, r) for r in app.routes if isinstance(r, APIRoute))
        return
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            yield context.path_format or route.path_format, route


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` the complete contract (security schemes, problem answers, parameters)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = document.setdefault("components", {})
        components.setdefault("schemas", {})["Problem"] = _PROBLEM_SCHEMA
        for unused in ("HTTPValidationError", "ValidationError"):
            components["schemas"].pop(unused, None)
        components["securitySchemes"] = _SECURITY_SCHEMES
        for path, route in _api_routes(app):
            for method in route.methods or ():
                operation = document["paths"].get(path, {}).get(method.lower())
                if operation is not None and route.include_in_schema:
                    _complete(operation, route)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
