"""The upstream side of a call: each deployment's target URL (parsed once), auth headers, the HTTP client."""

from __future__ import annotations

import httpx

from aifinops.errors import ConfigError
from aifinops.gateway.routing import Deployment, GatewayConfig, TokenProvider, upstream_request_parts
from aifinops.gateway.transport import UpstreamTransport

__all__ = ["UpstreamClient"]


class UpstreamClient:
    """Sends request bodies to the Azure OpenAI / Foundry resources of the gateway's deployments.

    Without ``http`` it owns a client over :class:`~aifinops.gateway.transport.UpstreamTransport` and closes
    it in :meth:`aclose`. An upstream with ``auth: entra`` needs ``tokens``.
    """

    def __init__(
        self,
        config: GatewayConfig,
        *,
        http: httpx.AsyncClient | None = None,
        tokens: TokenProvider | None = None,
    ) -> None:
        if tokens is None and any(u.auth == "entra" for u in config.upstreams.values()):
            raise ConfigError(
                "an upstream uses auth: entra but the gateway has no token provider (credential)"
            )
        self._config = config
        self._tokens = tokens
        self._own_http = http is None
        self._http = http or _default_client(config)
        self._targets: dict[tuple[str, str], tuple[httpx.URL, str | None]] = {}

    def target(self, deployment: Deployment, route: str) -> tuple[httpx.URL, str | None]:
        """The parsed upstream URL (and body.model) for a deployment and route, parsed once and cached."""
        key = (deployment.name, route)
        target = self._targets.get(key)
        if target is None:
            upstream = self._config.upstreams[deployment.upstream]
            url, model = upstream_request_parts(upstream, deployment, route=route)
            target = self._targets[key] = (httpx.URL(url), model)
        return target

    async def send(self, deployment: Deployment, url: httpx.URL, payload: bytes) -> httpx.Response:
        """POST ``payload`` upstream and return the response with its body still to be read (streamed)."""
        headers = await self._headers(deployment.upstream)
        request = self._http.build_request("POST", url, content=payload, headers=headers)
        return await self._http.send(request, stream=True)

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def _headers(self, upstream_name: str) -> dict[str, str]:
        upstream = self._config.upstreams[upstream_name]
        headers = {"content-type": "application/json", "accept-encoding": "identity"}
        if upstream.auth == "entra" and self._tokens is not None:
            headers["authorization"] = "Bearer " + await self._tokens.token()
        elif upstream.api_key is not None:
            headers["api-key"] = upstream.api_key.get_secret_value()
        return headers


def _default_client(config: GatewayConfig) -> httpx.AsyncClient:
    transport = UpstreamTransport(max_connections=config.max_connections)
    timeout = httpx.Timeout(config.timeout_seconds, connect=10.0)
    return httpx.AsyncClient(transport=transport, timeout=timeout, trust_env=False)
