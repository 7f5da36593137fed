"""Gateway routing: upstream Azure OpenAI / Foundry endpoints, deployments and fallback routes from YAML.

The file named by ``settings.gateway.config_file`` looks like::

    upstreams:
      east:
        endpoint: https://contoso-east.openai.azure.com
        auth: api_key                  # or "entra" (azure-identity token, scope cognitiveservices)
        api_key_env: AZURE_OPENAI_EAST_KEY   # or api_key: "..." (never logged)
        api_version: "2024-10-21"
    deployments:
      gpt-4o:                          # the name clients use (Azure path segment or v1 body.model)
        upstream: east
        upstream_deployment: gpt-4o-prod   # optional, defaults to the client-facing name
        model: gpt-4o                  # optional: lets money limits price a call before it is made
        model_version: "2024-11-20"
        deployment_type: global_standard   # optional, copied onto usage events
        region: eastus2
        fallbacks: [gpt-4o-west]       # tried in order when the upstream answers one of retry_on
        retry_on: [429, 500, 502, 503, 504]
    timeout_seconds: 600
    max_connections: 256
    policies_file: policies.yaml       # optional limit policies
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import yaml
from azure.core.exceptions import AzureError

from aifinops.domain import DeploymentType
from aifinops.errors import ConfigError, SourceAuthError

__all__ = [
    "COGNITIVE_SERVICES_SCOPE",
    "CredentialTokens",
    "Deployment",
    "GatewayConfig",
    "Secret",
    "TokenProvider",
    "Upstream",
    "load_gateway_config",
    "parse_gateway_config",
    "policies_file_of",
    "upstream_request_parts",
]

#: Entra ID scope of Azure OpenAI / Foundry data-plane tokens (openai-wire.md §2).
COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"
_TOKEN_REFRESH_MARGIN = 300  # seconds before expiry at which a cached token is replaced
_TOP_KEYS = frozenset({"upstreams", "deployments", "timeout_seconds", "max_connections", "policies_file"})
_UPSTREAM_KEYS = frozenset({"endpoint", "auth", "api_key", "api_key_env", "api_version"})
_DEPLOYMENT_KEYS = frozenset(
    {
        "upstream",
        "upstream_deployment",
        "model",
        "model_version",
        "deployment_type",
        "region",
        "resource_id",
        "fallbacks",
        "retry_on",
    }
)
_DEPLOYMENT_OPS = {"chat": "chat/completions", "completions": "completions", "embeddings": "embeddings"}

_AUTH_MODES = ("api_key", "entra")
_DEFAULT_API_VERSION = "2024-10-21"
_DEFAULT_RETRY_ON = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Secret:
    """A credential that never shows in repr, str, logs or tracebacks."""

    _value: str = field(repr=False)

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Upstream:
    """One Azure OpenAI / Foundry resource the gateway forwards to."""

    name: str
    endpoint: str  # scheme://host[:port], no trailing slash
    auth: str = "api_key"
    api_key: Secret | None = None
    api_version: str = _DEFAULT_API_VERSION


@dataclass(frozen=True, slots=True)
class Deployment:
    """A client-facing deployment name mapped onto an upstream deployment, with its fallback route."""

    name: str
    upstream: str
    upstream_deployment: str
    model: str | None = None  # what the deployment runs, for pricing a call before it is made
    model_version: str | None = None
    deployment_type: DeploymentType | None = None
    region: str | None = None
    resource_id: str | None = None
    fallbacks: tuple[str, ...] = ()
    retry_on: frozenset[int] = _DEFAULT_RETRY_ON


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Everything the proxy needs to route a call."""

    upstreams: Mapping[str, Upstream]
    deployments: Mapping[str, Deployment]
    timeout_seconds: float = 600.0
    max_connections: int = 256
    policies_file: str | None = None  # limit policies YAML, relative paths resolved against this file

    def chain(self, deployment: str) -> tuple[Deployment, ...]:
        """The deployment then its fallbacks, in order; empty when the name is unknown."""
        first = self.deployments.get(deployment)
        if first is None:
            return ()
        return (first, *(self.deployments[name] for name in first.fallbacks))


def load_gateway_config(path: str | Path, *, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read and validate the gateway YAML file; errors name the file, the key and the fix."""
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read gateway config {file}: {exc}; fix the file or the path") from exc
    config = parse_gateway_config(data, source=str(file), environ=os.environ if environ is None else environ)
    if config.policies_file:
        config = dataclasses.replace(config, policies_file=_beside(file, config.policies_file))
    return config


def _beside(config_file: Path, path: str) -> str:
    return path if Path(path).is_absolute() else str(config_file.parent / path)


def policies_file_of(path: str | Path) -> str | None:
    """The limit policy file a gateway config file names (resolved against it), without reading the rest
    (upstream secrets need not be set to ask)."""
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read gateway config {file}: {exc}; fix the file or the path") from exc
    named = data.get("policies_file") if isinstance(data, dict) else None
    return _beside(file, str(named)) if named else None


def parse_gateway_config(
    data: Any, *, source: str = "<gateway config>", environ: Mapping[str, str] | None = None
) -> GatewayConfig:
    """Build a GatewayConfig from already-parsed YAML/JSON data."""
    env = environ or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    _known_keys(data, _TOP_KEYS, source)
    upstreams = {
        name: _upstream(name, spec, source=source, environ=env)
        for name, spec in _mapping(data, "upstreams", source).items()
    }
    deployments = {
        name: _deployment(name, spec, source=source, upstreams=upstreams)
        for name, spec in _mapping(data, "deployments", source).items()
    }
    for dep in deployments.values():
        for fallback in dep.fallbacks:
            if fallback not in deployments or fallback == dep.name:
                raise ConfigError(
                    f"{source}: deployments.{dep.name}.fallbacks names {fallback!r}, "
                    f"which is not another configured deployment; choose from {sorted(deployments)}"
                )
    try:
        timeout = float(data.get("timeout_seconds", 600.0))
        max_connections = int(data.get("max_connections", 256))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: timeout_seconds / max_connections must be numbers: {exc}") from exc
    if timeout <= 0 or max_connections < 1:
        raise ConfigError(f"{source}: timeout_seconds must be > 0 and max_connections >= 1")
    return GatewayConfig(
        upstreams=MappingProxyType(upstreams),
        deployments=MappingProxyType(deployments),
        timeout_seconds=timeout,
        max_connections=max_connections,
        policies_file=str(data["policies_file"]) if data.get("policies_file") else None,
    )


def _known_keys(spec: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    # A misspelt key (say "fallback") would otherwise silently drop a route or a limit.
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(known)}")


def _mapping(data: Mapping[str, Any], key: str, source: str) -> Mapping[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(
            f"{source}: {key} must be a mapping of name -> settings, got {type(value).__name__}"
        )
    return value


def _upstream(name: str, spec: Any, *, source: str, environ: Mapping[str, str]) -> Upstream:
    where = f"{source}: upstreams.{name}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be a mapping")
    _known_keys(spec, _UPSTREAM_KEYS, where)
    endpoint = str(spec.get("endpoint") or "").rstrip("/")
    if not endpoint.startswith(("https://", "http://")):
        raise ConfigError(f"{where}.endpoint must be an http(s) URL, got {endpoint!r}")
    auth = spec.get("auth", "api_key")
    if auth not in _AUTH_MODES:
        raise ConfigError(f"{where}.auth must be one of {list(_AUTH_MODES)}, got {auth!r}")
    key = spec.get("api_key")
    if key is None and spec.get("api_key_env"):
        key = environ.get(str(spec["api_key_env"]))
        if not key:
            raise ConfigError(
                f"{where}.api_key_env names {spec['api_key_env']!r}, which is not set; export it"
            )
    if auth == "api_key" and not key:
        raise ConfigError(
            f"{where} uses auth api_key but has no api_key or api_key_env; add one or use entra"
        )
    return Upstream(
        name=name,
        endpoint=endpoint,
        auth=auth,
        api_key=Secret(str(key)) if key else None,
        api_version=str(spec.get("api_version", _DEFAULT_API_VERSION)),
    )


def _deployment(name: str, spec: Any, *, source: str, upstreams: Mapping[str, Upstream]) -> Deployment:
    where = f"{source}: deployments.{name}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be a mapping")
    _known_keys(spec, _DEPLOYMENT_KEYS, where)
    upstream = spec.get("upstream")
    if upstream not in upstreams:
        raise ConfigError(f"{where}.upstream is {upstream!r}; choose from {sorted(upstreams)}")
    dep_type = spec.get("deployment_type")
    try:
        parsed_type = DeploymentType(dep_type) if dep_type else None
        retry_on = frozenset(int(code) for code in spec.get("retry_on", _DEFAULT_RETRY_ON))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: bad deployment_type or retry_on ({exc})") from exc
    fallbacks = spec.get("fallbacks") or []
    if not isinstance(fallbacks, list):
        raise ConfigError(f"{where}.fallbacks must be a list of deployment names")
    return Deployment(
        name=name,
        upstream=str(upstream),
        upstream_deployment=str(spec.get("upstream_deployment") or name),
        model=str(spec["model"]) if spec.get("model") else None,
        model_version=str(spec["model_version"]) if spec.get("model_version") else None,
        deployment_type=parsed_type,
        region=spec.get("region"),
        resource_id=str(spec["resource_id"]).lower() if spec.get("resource_id") else None,
        fallbacks=tuple(str(f) for f in fallbacks),
        retry_on=retry_on,
    )


def upstream_request_parts(
    upstream: Upstream, deployment: Deployment, *, route: str
) -> tuple[str, str | None]:
    """(URL, body.model to send or None) for one call on one deployment.

    Chat, completions and embeddings use the deployment-scoped route with the upstream's ``api-version``;
    the Responses API has no deployment route, so it goes to ``/openai/v1/responses`` with the deployment
    name in ``body.model`` (openai-wire.md §1).
    """
    if route == "responses":
        return f"{upstream.endpoint}/openai/v1/responses", deployment.upstream_deployment
    op = _DEPLOYMENT_OPS[route]
    url = (
        f"{upstream.endpoint}/openai/deployments/{deployment.upstream_deployment}/{op}"
        f"?api-version={upstream.api_version}"
    )
    return url, None


class TokenProvider(Protocol):
    """Bearer tokens for upstreams configured with ``auth: entra``."""

    async def token(self) -> str: ...


class _AsyncCredential(Protocol):
    async def get_token(self, *scopes: str) -> Any: ...


class CredentialTokens:
    """Entra ID tokens from an azure-identity async credential, cached until shortly before they expire."""

    def __init__(self, credential: _AsyncCredential, *, scope: str = COGNITIVE_SERVICES_SCOPE) -> None:
        self._credential = credential
        self._scope = scope
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        if self._token is not None and time.time() < self._expires_on - _TOKEN_REFRESH_MARGIN:
            return self._token
        async with self._lock:
            if self._token is None or time.time() >= self._expires_on - _TOKEN_REFRESH_MARGIN:
                try:
                    access = await self._credential.get_token(self._scope)
                except AzureError as exc:
                    raise SourceAuthError(
                        f"cannot get an Entra ID token for {self._scope}: {exc}; give the gateway's identity "
                        "the 'Cognitive Services OpenAI User' role on the upstream resource"
                    ) from exc
                self._token, self._expires_on = access.token, float(access.expires_on)
            return self._token
