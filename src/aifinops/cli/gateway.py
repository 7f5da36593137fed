"""`aifinops gateway`: serve the OpenAI / Azure OpenAI-compatible gateway with uvicorn."""

from __future__ import annotations

import datetime as dt
import time
from functools import partial
from typing import Annotated

import typer

from aifinops.config import Settings, load_settings
from aifinops.engine.budgets import Action, BudgetStatus
from aifinops.errors import AifinopsError, ConfigError
from aifinops.gateway.app import CachedPriceBook, GatewayApp, create_gateway
from aifinops.gateway.assembly import build_enforcer, deployment_models
from aifinops.gateway.budget_guard import BudgetGuard
from aifinops.gateway.recorder import Recorder
from aifinops.gateway.routing import CredentialTokens, GatewayConfig, TokenProvider, load_gateway_config
from aifinops.ingest import Ingestor
from aifinops.queries.budgets import evaluate_budgets
from aifinops.store import Store
from aifinops.store.budget_queries import stored_budgets
from aifinops.store.key_queries import verify_key

__all__ = ["build_gateway", "gateway"]


def budget_guard(settings: Settings, store: Store) -> BudgetGuard:
    """The store's budgets with a block or downgrade action, evaluated off the call path."""

    def evaluate() -> list[BudgetStatus]:
        budgets = [
            b.budget for b in stored_budgets(store) if b.budget.enforcement.action is not Action.NOTIFY
        ]
        if not budgets:
            return []
        return evaluate_budgets(store, budgets, as_of=dt.datetime.now(dt.UTC), default_tz=settings.timezone)

    return BudgetGuard(evaluate)


def build_gateway(
    settings: Settings, *, config_file: str | None = None, policies_file: str | None = None
) -> GatewayApp:
    """Wire the gateway from settings: store-backed keys, spooling recorder, enforcer, upstream credential."""
    path = config_file or settings.gateway.config_file
    if not path:
        raise ConfigError(
            "no gateway config file: set AIFINOPS_GATEWAY__CONFIG_FILE (or gateway.config_file in "
            "aifinops.yaml) or pass --config PATH"
        )
    config = load_gateway_config(path)
    store = Store.from_settings(settings)
    store.check_schema()
    ingestor = Ingestor(store)
    books = CachedPriceBook(ingestor.book)
    enforcer = build_enforcer(
        settings,
        book=books,
        deployments=deployment_models(config),
        policies_file=policies_file or config.policies_file,
    )
    return create_gateway(
        config,
        keys=partial(verify_key, store),
        enforcer=enforcer,
        budgets=budget_guard(settings, store),
        recorder=Recorder(ingestor, spool_path=settings.gateway.spool_path),
        book_provider=books,
        token_provider=_token_provider(config),
    )


def _token_provider(config: GatewayConfig) -> TokenProvider | None:
    if not any(upstream.auth == "entra" for upstream in config.upstreams.values()):
        return None
    from azure.identity.aio import DefaultAzureCredential  # imported only when an upstream needs Entra ID

    return CredentialTokens(DefaultAzureCredential())


def gateway(
    config: Annotated[
        str | None, typer.Option("--config", help="gateway YAML (upstreams, deployments)")
    ] = None,
    policies: Annotated[str | None, typer.Option("--policies", help="limit policies YAML")] = None,
    host: Annotated[str | None, typer.Option(help="bind address (default: settings gateway.host)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default: settings gateway.port)")] = None,
) -> None:
    """Serve the OpenAI / Azure OpenAI-compatible gateway (metering and limits)."""
    import uvicorn

    try:
        settings = load_settings()
        app = build_gateway(settings, config_file=config, policies_file=policies)
    except AifinopsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    started = time.monotonic()
    uvicorn.run(
        app,
        host=host or settings.gateway.host,
        port=port or settings.gateway.port,
        loop="auto",
        http="auto",
        lifespan="on",
        access_log=False,  # per-request logging costs more CPU than the proxying itself
        log_level="warning",
    )
    typer.echo(f"gateway stopped after {time.monotonic() - started:.0f} s", err=True)
