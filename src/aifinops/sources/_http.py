"""Retries, back-off and paging for every outside HTTP source, and the Azure Resource Manager client base.

Azure asks clients to wait with ``Retry-After`` (seconds or an HTTP date) and, for Cost Management, with
``x-ms-ratelimit-microsoft.costmanagement-*-retry-after`` headers (see reference/cost-management.md). 5xx and
transport errors are retried with exponential back-off; everything else is returned to the caller.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from aifinops.errors import SourceError

if TYPE_CHECKING:
    from aifinops.sources.azure_auth import TokenProvider

__all__ = ["ARM_ENDPOINT", "ArmClient", "RetryPolicy", "retry_after_seconds", "send_with_retry"]

#: Azure Resource Manager, where Cost Management, Monitor and Resource Graph answer (tests: the emulator).
ARM_ENDPOINT = "https://management.azure.com"

_RETRY_AFTER_HEADERS = (
    "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after",
    "x-ms-ratelimit-microsoft.costmanagement-entity-retry-after",
    "x-ms-ratelimit-microsoft.costmanagement-tenant-retry-after",
    "x-ms-ratelimit-microsoft.costmanagement-clienttype-retry-after",
    "retry-after-ms",
    "retry-after",
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry. ``sleep`` is injectable so tests never wait."""

    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_wait: float = 120.0
    sleep: Callable[[float], None] = time.sleep


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The wait a response asks for, in seconds, from the most specific header present.

    >>> retry_after_seconds(httpx.Response(429, headers={"retry-after": "7"}))
    7.0
    """
    # Cost Management throttles on several quotas at once: wait for the longest one (cost-management.md §2.5).
    waits = []
    for name in _RETRY_AFTER_HEADERS[:4]:
        raw = response.headers.get(name)
        if raw is not None:
            try:
                waits.append(float(raw.strip()))
            except ValueError:
                continue
    if waits:
        return max(max(waits), 0.0)
    for name in _RETRY_AFTER_HEADERS[4:]:
        raw = response.headers.get(name)
        if raw is None:
            continue
        raw = raw.strip()
        try:
            value = float(raw)
        except ValueError:
            when = email.utils.parsedate_to_datetime(raw) if raw else None
            if when is None:
                continue
            value = (when - dt.datetime.now(dt.UTC)).total_seconds()
        else:
            if name == "retry-after-ms":
                value /= 1000
        return max(value, 0.0)
    return None


def send_with_retry(
    client: httpx.Client, request: httpx.Request, policy: RetryPolicy | None = None
) -> httpx.Response:
    """Send ``request``, retrying 429 (honouring the wait asked for), 5xx and transport errors.

    Returns the last response (which may still be 429/5xx after the last attempt); raises SourceError when
    the transport fails on every attempt.
    """
    policy = policy or RetryPolicy()
    last_exc: Exception | None = None
    for attempt in range(1, policy.max_attempts + 1):
        try:
            response = client.send(request)
        except httpx.TransportError as exc:
            last_exc = exc
            if attempt == policy.max_attempts:
                break
            policy.sleep(_backoff(policy, attempt))
            continue
        if response.status_code != 429 and response.status_code < 500:
            return response
        if attempt == policy.max_attempts:
            return response
        wait = retry_after_seconds(response)
        response.close()
        policy.sleep(min(wait if wait is not None else _backoff(policy, attempt), policy.max_wait))
    raise SourceError(
        f"{request.method} {request.url.copy_with(query=None)} failed after {policy.max_attempts} attempts: "
        f"{last_exc}; check the network path and the endpoint setting"
    ) from last_exc


def _backoff(policy: RetryPolicy, attempt: int) -> float:
    return float(min(policy.backoff_base * 2 ** (attempt - 1), policy.backoff_cap))


def iter_pages(
    client: httpx.Client,
    first: httpx.Request,
    next_link: Callable[[httpx.Response], str | None],
    policy: RetryPolicy | None = None,
) -> Iterator[httpx.Response]:
    """Yield each page, following ``next_link(response)`` until it returns None.

    Non-2xx pages are yielded too, so the caller decides how to report them.
    """
    request: httpx.Request | None = first
    seen: set[str] = set()
    while request is not None:
        response = send_with_retry(client, request, policy)
        yield response
        if not response.is_success:
            return
        link = next_link(response)
        if not link or link in seen:  # a repeated link would loop forever
            return
        seen.add(link)
        request = client.build_request(
            first.method,
            link,
            headers=first.headers,
            content=first.content if first.method != "GET" else None,
        )


__all__ += ["iter_pages"]


class ArmClient:
    """What every Azure Resource Manager source holds: the injected ``httpx.Client`` and token provider, the
    endpoint and the retry policy; its requests carry a fresh bearer token."""

    def __init__(
        self,
        http: httpx.Client,
        token_provider: TokenProvider,
        *,
        endpoint: str = ARM_ENDPOINT,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._http = http
        self._tokens = token_provider
        self._endpoint = endpoint.rstrip("/")
        self._policy = policy

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Request:
        """A request to ``{endpoint}/{path}`` (``params``, ``json``: as httpx takes them)."""
        return self._http.build_request(
            method,
            f"{self._endpoint}/{path.strip('/')}",
            headers={"Authorization": f"Bearer {self._tokens.token()}"},
            **kwargs,
        )

    def _send_with_retry(self, request: httpx.Request) -> httpx.Response:
        return send_with_retry(self._http, request, self._policy)

    def _iter_pages(
        self, first: httpx.Request, next_link: Callable[[httpx.Response], str | None]
    ) -> Iterator[httpx.Response]:
        return iter_pages(self._http, first, next_link, self._policy)
