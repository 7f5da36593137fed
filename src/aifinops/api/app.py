"""create_app(settings, ...) → the aifinops FastAPI application. Nothing is built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from aifinops import __version__
from aifinops.api import (
    dashboard,
    docs,
    routes_allocation,
    routes_budgets,
    routes_estate,
    routes_guard,
    routes_health,
    routes_ingest,
    routes_inventory,
    routes_otlp,
    routes_recommendations,
    routes_snapshot,
    routes_tasks,
    routes_telemetry,
    routes_usage,
    routes_views,
)
from aifinops.api.access import Access, is_loopback
from aifinops.api.deps import MetricsCaller
from aifinops.api.metrics import StoreCollector
from aifinops.api.openapi import install_openapi, reject_unknown_query
from aifinops.api.problems import ProblemError, install_problem_handlers
from aifinops.api.routes_health import ReadinessChecks
from aifinops.config import Settings
from aifinops.errors import ConfigError
from aifinops.gateway.build import build_enforcer
from aifinops.jobs.budgets import configured_budgets
from aifinops.jobs.ingest import Ingestor
from aifinops.jobs.price_cache import pricing_rules
from aifinops.jobs.rollups import RollupWriter
from aifinops.queries.recommendations import optimize_settings
from aifinops.store import Store
from aifinops.store.budgets import BudgetStore
from aifinops.store.key_queries import any_active_key, any_key_created, verify_key

__all__ = ["check_bind", "create_app"]


def check_bind(host: str, store: Store) -> str:
    """Refuse to listen beyond loopback without API keys; return a line describing the access mode."""
    if any_active_key(store):
        return "API keys are required (Authorization: Bearer <key>)"
    if not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host} without API keys: anyone on the network could read and write cost "
            "data; create a key with `aifinops keys create --scope admin` or bind to 127.0.0.1"
        )
    if any_key_created(store):
        return (
            "API keys are required, but no API key is active (all are revoked): every call is refused until "
            "you create one with `aifinops keys create --scope admin`"
        )
    return f"no API keys configured: listening on loopback ({host}) only, without authentication"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    writer = RollupWriter(app.state.store)
    writer.start()
    try:
        yield
    finally:
        await run_in_threadpool(writer.stop)
    await app.state.enforcer.aclose()  # Redis connections of the guard API's counters


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    ingestor: Ingestor | None = None,
    check_schema: bool = True,
    host: str | None = None,
    key_check_seconds: float = 5.0,
    **state: Any,
) -> FastAPI:
    """Build the API. ``state`` adds optional providers (e.g. ``otlp_mapping``) to ``app.state``.

    ``host`` is the address the server listens on (default ``settings.host``): beyond loopback the API never
    runs without keys. The key store is asked whether keys exist at most every ``key_check_seconds``.
    """
    store = store or Store.from_settings(settings)
    if check_schema:
        store.check_schema()
    app = FastAPI(
        title="aifinops",
        version=__version__,
        description="What did one successfully completed business task cost, and why?",
        lifespan=_lifespan,
        docs_url=None,  # served from packaged files by api/docs.py, never from a CDN
        redoc_url=None,
        dependencies=[Depends(reject_unknown_query)],
    )
    app.state.settings = settings
    app.state.store = store
    # Roll-ups catch up in the background while serving (see _lifespan), and reads catch up what is pending.
    app.state.ingestor = ingestor or Ingestor(store, rules=pricing_rules(settings), defer_rollups=True)
    app.state.verify_key = partial(verify_key, store)
    app.state.access = Access(
        created=partial(any_key_created, store),
        active=partial(any_active_key, store),
        loopback=is_loopback(host or settings.host),
        ttl=key_check_seconds,
    )
    app.state.readiness = ReadinessChecks(store, settings.redis_url)
    app.state.enforcer = build_enforcer(settings, book=app.state.ingestor.book)
    for name, value in state.items():
        setattr(app.state, name, value)
    install_problem_handlers(app)
    install_openapi(app)
    BudgetStore(store).sync_config(configured_budgets(settings))
    routers = (
        routes_ingest,
        routes_otlp,
        routes_usage,
        routes_tasks,
        routes_snapshot,
        routes_allocation,
        routes_budgets,
        routes_guard,
        routes_health,
        routes_inventory,
        routes_estate,
        routes_telemetry,
        routes_recommendations,
        routes_views,
        dashboard,
        docs,
    )
    for module in routers:
        app.include_router(module.router)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        StoreCollector(
            store,
            settings.metrics,
            timezone=settings.timezone,
            optimize=optimize_settings(settings.optimize),
        )
    )
    app.state.registry = registry

    @app.get("/metrics", include_in_schema=False)
    async def metrics(caller: MetricsCaller) -> Response:
        if caller.tenant is not None:
            raise ProblemError(
                403,
                "Tenant-limited key",
                f"key {caller.key.key_id if caller.key else '-'} is limited to tenant {caller.tenant!r} and "
                "/metrics exposes every tenant; scrape with a key without a tenant "
                "(`aifinops keys create --name prometheus --scope metrics`)",
            )
        body = await run_in_threadpool(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return app
