"""The Azure emulator as one ASGI app: Entra ID tokens, Cost Management, Monitor, Resource Graph,
Retail Prices, Blob Storage and the Log Analytics query API, speaking the wire formats in the reference
folder.

ARM paths are matched case-insensitively, as ARM does. Blob Storage lives under ``/blob/{account}`` so one
server can host every service (``account_url="http://127.0.0.1:8765/blob/devstoreaccount1"``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from aifinops.emulator import auth, blob, blob_writes
from aifinops.emulator.cost import QueryRejected, decode_skip, run_query
from aifinops.emulator.graph import GraphRejected, query_resources
from aifinops.emulator.logs import LogsRejected, run_logs_query
from aifinops.emulator.metrics import MetricsRejected, query_metrics
from aifinops.emulator.prices import PricesRejected, list_prices
from aifinops.emulator.state import EmulatorState, Fault
from aifinops.emulator.wire import arm_error, json_response

__all__ = ["create_emulator"]

_COST_QUERY = re.compile(r"^/(?P<scope>.+)/providers/microsoft\.costmanagement/query$", re.IGNORECASE)
_METRICS = re.compile(r"^/(?P<resource>.+)/providers/microsoft\.insights/metrics$", re.IGNORECASE)
_GRAPH = re.compile(r"^/providers/microsoft\.resourcegraph/resources$", re.IGNORECASE)
_COST_RETRY_HEADERS = (
    "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after",
    "x-ms-ratelimit-microsoft.costmanagement-entity-retry-after",
    "x-ms-ratelimit-microsoft.costmanagement-tenant-retry-after",
)

Handler = Callable[[Request], Awaitable[Response]]


def create_emulator(state: EmulatorState) -> ASGIApp:
    """Build the emulator over ``state`` (shared, mutable: tests seed it and read its counters)."""

    async def token(request: Request) -> Response:
        return await _guarded(state, "token", request, lambda r: auth.issue_token(r, state))

    async def managed_identity(request: Request) -> Response:
        return await _guarded(state, "token", request, lambda r: auth.managed_identity_token(r, state))

    async def prices(request: Request) -> Response:
        return await _guarded(state, "prices", request, lambda r: _prices(r, state))

    async def blob_list(request: Request) -> Response:
        p = request.path_params
        return await _guarded(
            state, "blob", request, lambda r: _sync(blob.list_blobs(r, state, p["account"], p["container"]))
        )

    async def blob_get(request: Request) -> Response:
        p = request.path_params
        return await _guarded(
            state,
            "blob",
            request,
            lambda r: _sync(blob.get_blob(r, state, p["account"], p["container"], p["name"])),
        )

    async def blob_write(request: Request) -> Response:
        p = request.path_params
        account, container, name = p["account"], p["container"], p["name"]
        if request.method == "DELETE":
            return await _guarded(
                state,
                "blob",
                request,
                lambda r: _sync(blob_writes.delete_blob(state, account, container, name)),
            )
        return await _guarded(
            state, "blob", request, lambda r: blob_writes.put_blob(r, state, account, container, name)
        )

    async def arm(request: Request) -> Response:
        return await _arm(request, state)

    async def logs_workspace(request: Request) -> Response:
        return await _logs(request, state, workspace=request.path_params["workspace"])

    async def logs_resource(request: Request) -> Response:
        return await _logs(request, state, resource="/" + request.path_params["resource"].strip("/"))

    routes = [
        Route("/common/discovery/instance", auth.instance_discovery, methods=["GET"]),
        Route("/{tenant}/v2.0/.well-known/openid-configuration", auth.openid_configuration, methods=["GET"]),
        Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
        Route("/msi/token", managed_identity, methods=["GET"]),
        Route("/api/retail/prices", prices, methods=["GET"]),
        Route("/blob/{account}/{container}", blob_list, methods=["GET"]),
        Route("/blob/{account}/{container}/{name:path}", blob_get, methods=["GET", "HEAD"]),
        Route("/blob/{account}/{container}/{name:path}", blob_write, methods=["PUT", "DELETE"]),
        Route("/v1/workspaces/{workspace}/query", logs_workspace, methods=["POST"]),
        Route("/v1/{resource:path}/query", logs_resource, methods=["POST"]),
        Route("/{path:path}", arm, methods=["GET", "POST"]),
    ]
    return Starlette(routes=routes)


async def _sync(response: Response) -> Response:
    return response


async def _guarded(state: EmulatorState, service: str, request: Request, handler: Handler) -> Response:
    """Count the call, answer an injected fault if one is queued, else run the handler."""
    state.calls[service] += 1
    fault = state.next_fault(service)
    return _fault_response(service, fault) if fault else await handler(request)


def _fault_response(service: str, fault: Fault) -> Response:
    wait = str(fault.retry_after)
    if fault.status == 429 and service == "cost":
        return arm_error(
            429, "429", "Too many requests. Please retry.", dict.fromkeys(_COST_RETRY_HEADERS, wait)
        )
    if fault.status == 429:
        return arm_error(429, "TooManyRequests", "Too many requests. Please retry.", {"Retry-After": wait})
    return arm_error(
        fault.status,
        "ServiceUnavailable" if fault.status == 503 else "InternalServerError",
        "The service is temporarily unavailable.",
        {"Retry-After": wait},
    )


async def _arm(request: Request, state: EmulatorState) -> Response:
    path = request.url.path
    if (match := _COST_QUERY.match(path)) and request.method == "POST":
        scope = match.group("scope")
        return await _guarded(state, "cost", request, lambda r: _cost(r, state, scope))
    if (match := _METRICS.match(path)) and request.method == "GET":
        resource = match.group("resource")
        return await _guarded(state, "metrics", request, lambda r: _metrics(r, state, resource))
    if _GRAPH.match(path) and request.method == "POST":
        return await _guarded(state, "graph", request, lambda r: _graph(r, state))
    return arm_error(404, "NotFound", f"No emulated operation for {request.method} {path}.")


async def _json_body(request: Request) -> dict[str, Any] | Response:
    try:
        body = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError as exc:
        return arm_error(400, "BadRequest", f"The request body is not valid JSON: {exc}.")
    return (
        body
        if isinstance(body, dict)
        else arm_error(400, "BadRequest", "The request body must be an object.")
    )


async def _cost(request: Request, state: EmulatorState, scope: str) -> Response:
    if (denied := auth.authorize_arm(request, state, scope)) is not None:
        return denied
    body = await _json_body(request)
    if isinstance(body, Response):
        return body
    query = [(k, v) for k, v in request.query_params.multi_items() if k.lower() != "$skiptoken"]
    base = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
    next_url = base + "?" + "&".join(f"{k}={v}" for k, v in query)
    try:
        skip = decode_skip(request.query_params.get("$skiptoken"))
        payload = run_query(state, scope=scope, body=body, skip=skip, next_url=next_url)
    except QueryRejected as exc:
        return arm_error(400, "BadRequest", str(exc))
    return json_response(payload)


async def _metrics(request: Request, state: EmulatorState, resource: str) -> Response:
    if (denied := auth.authorize_arm(request, state, resource)) is not None:
        return denied
    try:
        return json_response(query_metrics(state, resource, dict(request.query_params)))
    except MetricsRejected as exc:
        return json_response(exc.body, 400)


async def _graph(request: Request, state: EmulatorState) -> Response:
    if (denied := auth.authorize_arm(request, state, "providers/Microsoft.ResourceGraph")) is not None:
        return denied
    body = await _json_body(request)
    if isinstance(body, Response):
        return body
    try:
        return json_response(query_resources(state, body))
    except (GraphRejected, ValueError) as exc:
        return arm_error(400, "BadRequest", str(exc))


async def _prices(request: Request, state: EmulatorState) -> Response:
    base = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
    try:
        return json_response(list_prices(state, dict(request.query_params), base))
    except PricesRejected as exc:
        return json_response({"Error": {"Code": "BadRequest", "Message": str(exc)}}, 400)


def _logs_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": {"message": message, "code": code}}, status, headers)


async def _logs(
    request: Request, state: EmulatorState, *, workspace: str | None = None, resource: str | None = None
) -> Response:
    """``POST /v1/workspaces/{id}/query`` and ``POST /v1/{resourceId}/query`` (log-analytics.md §1)."""
    state.calls["logs"] += 1
    fault = state.next_fault("logs")
    if fault is not None and fault.status == 429:
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after >= 0 else None
        return _logs_error(429, "ThrottledError", "Your request has been throttled", headers)
    if fault is not None and fault.status != 200:
        return _logs_error(fault.status, "ServiceUnavailable", "The service is temporarily unavailable.")
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer ") or header[7:] not in state.issued_tokens:
        return _logs_error(
            401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
        )
    target = (workspace or resource or "").strip("/").lower()
    if target in {s.strip("/").lower() for s in state.forbidden_scopes}:
        denied = {
            "error": {
                "message": "The provided credentials have insufficient access to perform the requested "
                "operation",
                "code": "InsufficientAccessError",
                "innererror": {
                    "code": "AuthorizationFailedError",
                    "message": f"User 'emulator-client' does not have access to read {workspace or resource}",
                },
            }
        }
        return json_response(denied, 403)
    body = await _json_body(request)
    if isinstance(body, Response):
        return body
    try:
        payload = run_logs_query(
            state, body, workspace=workspace, resource=resource, partial=fault is not None
        )
    except LogsRejected as exc:
        return json_response(exc.body, exc.status)
    return json_response(payload)
