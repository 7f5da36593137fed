"""Building the gateway from settings: store-backed keys, one price cache, the recorder, limits and budgets.

The limit enforcer is built here once for the gateway and the guard API alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from functools import partial

from aifinops.config import Settings
from aifinops.engine.budgets import Action, BudgetStatus
from aifinops.engine.pricing import PriceBook
from aifinops.errors import ConfigError
from aifinops.gateway.app import GatewayApp, create_gateway
from aifinops.gateway.budget_guard import BudgetGuard
from aifinops.gateway.counters import Counters, InProcessCounters
from aifinops.gateway.enforcer import BookPrices, DeploymentModel, Enforcer
from aifinops.gateway.policies import load_policies
from aifinops.gateway.recorder import Recorder
from aifinops.gateway.redis_counters import RedisCounters
from aifinops.gateway.routing import CredentialTokens, GatewayConfig, TokenProvider, load_gateway_config
from aifinops.jobs.ingest import Ingestor
from aifinops.jobs.price_cache import pricing_rules
from aifinops.queries.budgets import evaluate_budgets
from aifinops.store import Store
from aifinops.store.budget_queries import stored_budgets
from aifinops.store.key_queries import verify_key

__all__ = ["build_budget_guard", "build_counters", "build_enforcer", "build_gateway", "deployment_models"]


def build_gateway(
    settings: Settings,
    *,
    store: Store | None = None,
    config_file: str | None = None,
    policies_file: str | None = None,
) -> GatewayApp:
    """The gateway over ``store`` (default: the settings' database, whose schema must be current).

    The recorder stores the events the gateway priced with the same price cache that settles its money limits.
    """
    path = config_file or settings.gateway.config_file
    if not path:
        raise ConfigError(
            "no gateway config file: set AIFINOPS_GATEWAY__CONFIG_FILE (or gateway.config_file in "
            "aifinops.yaml) or pass --config PATH"
        )
    config = load_gateway_config(path)
    if store is None:
        store = Store.from_settings(settings)
        store.check_schema()
    ingestor = Ingestor(store, rules=pricing_rules(settings))
    enforcer = build_enforcer(
        settings,
        book=ingestor.prices.current,
        deployments=deployment_models(config),
        policies_file=policies_file or config.policies_file,
    )
    return create_gateway(
        config,
        keys=partial(verify_key, store),
        enforcer=enforcer,
        budgets=build_budget_guard(settings, store),
        recorder=Recorder(ingestor, spool_path=settings.gateway.spool_path),
        prices=ingestor.prices,
        token_provider=_token_provider(config),
    )


def deployment_models(config: GatewayConfig | None) -> dict[str, DeploymentModel]:
    """What each configured deployment runs, so money limits can price a call before forwarding it."""
    if config is None:
        return {}
    return {
        d.name: DeploymentModel(d.model, d.deployment_type, d.region, d.model_version)
        for d in config.deployments.values()
        if d.model
    }


def build_counters(settings: Settings) -> Counters:
    """Redis counters shared by every replica when ``AIFINOPS_REDIS_URL`` is set, else in process."""
    g = settings.gateway
    if settings.redis_url:
        return RedisCounters.from_url(
            settings.redis_url, prefix=g.limits_redis_prefix, timeout=g.limits_redis_timeout_seconds
        )
    return InProcessCounters()


def build_enforcer(
    settings: Settings,
    *,
    book: Callable[[], PriceBook | None],
    deployments: Mapping[str, DeploymentModel] | None = None,
    policies_file: str | None = None,
) -> Enforcer:
    """The Enforcer over the configured policies, counters and prices (no policies: allow everything)."""
    path = policies_file or settings.gateway.policies_file
    if deployments is None and settings.gateway.config_file:
        deployments = deployment_models(load_gateway_config(settings.gateway.config_file))
    return Enforcer(
        load_policies(path) if path else None,
        counters=build_counters(settings),
        prices=BookPrices(book, dict(deployments or {}), currency=settings.currency),
        lease_seconds=settings.gateway.limits_lease_seconds,
    )


def build_budget_guard(settings: Settings, store: Store) -> BudgetGuard:
    """The store's budgets with a block or downgrade action, evaluated off the call path."""

    def evaluate() -> list[BudgetStatus]:
        budgets = [
            b.budget for b in stored_budgets(store) if b.budget.enforcement.action is not Action.NOTIFY
        ]
        if not budgets:
            return []
        return evaluate_budgets(store, budgets, as_of=dt.datetime.now(dt.UTC), default_tz=settings.timezone)

    return BudgetGuard(evaluate)


def _token_provider(config: GatewayConfig) -> TokenProvider | None:
    if not any(upstream.auth == "entra" for upstream in config.upstreams.values()):
        return None
    from azure.identity.aio import DefaultAzureCredential  # imported only when an upstream needs Entra ID

    return CredentialTokens(DefaultAzureCredential())
