"""Building the limit enforcer from settings, once, for the gateway and the guard API alike."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aifinops.config import Settings
from aifinops.engine.pricing import PriceBook
from aifinops.gateway.counters import Counters, InProcessCounters, RedisCounters
from aifinops.gateway.enforcer import BookPrices, DeploymentModel, Enforcer
from aifinops.gateway.policies import load_policies
from aifinops.gateway.routing import GatewayConfig, load_gateway_config

__all__ = ["build_counters", "build_enforcer", "deployment_models"]


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
