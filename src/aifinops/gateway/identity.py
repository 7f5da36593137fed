"""Who is calling the gateway: aifinops gateway keys (cached), allowed x-aifinops-* headers, OpenAI errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from aifinops.errors import AifinopsError, StoreError
from aifinops.sources.openai_wire import error_body
from aifinops.store.keys import GATEWAY_HEADERS, ApiKey

__all__ = ["Caller", "KeyCache", "KeyVerifier", "RequestRefused", "caller_of"]

_HEADER_PREFIX = b"x-aifinops-"
_HEADER_DIMS = {"use-case": "use_case", "agent": "agent", "tenant": "tenant"}
_KEY_DIMS = ("app", "use_case", "agent", "tenant", "user_group", "cost_center", "team", "environment")
_KEY_TTL = 30.0
_UNKNOWN_KEY_TTL = 5.0
_KEY_CACHE_MAX = 10_000


#: The active key of a secret, or None: sync, backed by the SQL store
#: (``functools.partial(aifinops.store.key_queries.verify_key, store)``).
KeyVerifier = Callable[[str], ApiKey | None]


class RequestRefused(AifinopsError):
    """A call answered by the gateway itself, in the OpenAI error shape."""

    def __init__(
        self, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(str(body))
        self.status, self.body, self.headers = status, body, headers or {}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: allocation dims (key identity + allowed headers) and task/step/attempt."""

    dims: Mapping[str, str]
    task_id: str | None
    step: int | None
    attempt: int


class KeyCache:
    """Verifies gateway keys with a short TTL cache, so the store is asked at most every 30 s per key."""

    def __init__(self, keys: KeyVerifier, *, ttl: float = _KEY_TTL) -> None:
        self._keys = keys
        self._ttl = ttl
        self._cache: dict[str, tuple[ApiKey | None, float]] = {}

    async def authenticate(self, headers: list[tuple[bytes, bytes]]) -> ApiKey:
        secret = _secret_of(headers)
        if not secret:
            raise RequestRefused(
                401,
                error_body(
                    "Missing aifinops gateway key: send it as 'api-key: <key>' or "
                    "'Authorization: Bearer <key>'.",
                    "invalid_request_error",
                    code="invalid_api_key",
                ),
            )
        key = await self._lookup(secret)
        if key is None:
            raise RequestRefused(
                401,
                error_body(
                    "Incorrect or revoked aifinops gateway key; use an active key with the 'gateway' scope.",
                    "invalid_request_error",
                    code="invalid_api_key",
                ),
            )
        if "gateway" not in key.scopes:
            raise RequestRefused(
                403,
                error_body(
                    f"key {key.key_id} lacks the 'gateway' scope (has {sorted(key.scopes)}); "
                    "use a gateway key.",
                    "permission_error",
                    code="insufficient_scope",
                ),
            )
        return key

    async def _lookup(self, secret: str) -> ApiKey | None:
        now = time.monotonic()
        hit = self._cache.get(secret)
        if hit is not None and hit[1] > now:
            return hit[0]
        try:
            key = await asyncio.to_thread(self._keys, secret)
        except StoreError as exc:
            if hit is not None:
                # Availability over freshness while the store is down: the last answer stays valid a while.
                self._cache[secret] = (hit[0], now + _UNKNOWN_KEY_TTL)
                return hit[0]
            raise RequestRefused(
                503,
                error_body(
                    "cannot verify the gateway key: the aifinops store is unavailable; retry shortly",
                    "service_unavailable",
                    code="store_unavailable",
                ),
                {"retry-after": "5"},
            ) from exc
        if len(self._cache) >= _KEY_CACHE_MAX:
            self._cache.clear()  # bounded: random invalid keys cannot grow memory
        self._cache[secret] = (key, now + (self._ttl if key is not None else _UNKNOWN_KEY_TTL))
        return key


def _secret_of(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"api-key":
            return value.decode("latin-1").strip() or None
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return value[7:].decode("latin-1").strip() or None
    return None


def caller_of(key: ApiKey, headers: list[tuple[bytes, bytes]]) -> Caller:
    """Resolve the caller; a header the key may not set (403) or a malformed step/attempt (400) is refused."""
    dims = {name: str(key.identity[name]) for name in _KEY_DIMS if key.identity.get(name)}
    bound = key.bound_tenant
    if bound is not None:
        dims["tenant"] = bound
    task_id: str | None = None
    step: int | None = None
    attempt = 1
    for raw_name, raw_value in headers:
        if not raw_name.startswith(_HEADER_PREFIX):
            continue
        name, value = raw_name[11:].decode("latin-1"), raw_value.decode("latin-1").strip()
        if name not in GATEWAY_HEADERS:
            continue  # not an allocation header (e.g. a request id echoed back by a client)
        if name not in key.allowed_headers:
            raise RequestRefused(
                403,
                error_body(
                    f"key {key.key_id} may not set header x-aifinops-{name} (allowed: "
                    f"{sorted(key.allowed_headers)}); drop the header or allow it on the key.",
                    "permission_error",
                    code="header_not_allowed",
                    param=f"x-aifinops-{name}",
                ),
            )
        if name == "task-id":
            task_id = value[:200] or None
        elif name in ("step", "attempt"):
            number = _positive_int(name, value)
            step, attempt = (number, attempt) if name == "step" else (step, number)
        elif name == "tenant" and bound is not None:
            if value and value != bound:
                raise _other_tenant(key, bound, value)
        elif name in _HEADER_DIMS and value:
            dims[_HEADER_DIMS[name]] = value[:200]
    return Caller(dims=MappingProxyType(dims), task_id=task_id, step=step, attempt=attempt)


def _other_tenant(key: ApiKey, bound: str, asked: str) -> RequestRefused:
    return RequestRefused(
        403,
        error_body(
            f"key {key.key_id} is bound to tenant {bound!r} and may not act for tenant {asked[:200]!r}; drop "
            "the x-aifinops-tenant header or use that tenant's key.",
            "permission_error",
            code="tenant_not_allowed",
            param="x-aifinops-tenant",
        ),
    )


def _positive_int(name: str, value: str) -> int:
    if value.isdigit() and int(value) >= (0 if name == "step" else 1):
        return int(value)
    raise RequestRefused(
        400,
        error_body(
            f"header x-aifinops-{name} must be a {'non-negative' if name == 'step' else 'positive'} integer, "
            f"got {value[:40]!r}",
            "invalid_request_error",
            code="invalid_header",
            param=f"x-aifinops-{name}",
        ),
    )
