"""FastAPI dependencies: settings, store, ingestor and the caller's access, as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from aifinops.api.access import Access, local_client
from aifinops.api.problems import ProblemError
from aifinops.config import Settings
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.keys import ApiKey

__all__ = [
    "Caller",
    "IngestorDep",
    "ReadCaller",
    "SettingsDep",
    "StoreDep",
    "require",
]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _ingestor(request: Request) -> Ingestor:
    ingestor: Ingestor = request.app.state.ingestor
    return ingestor


SettingsDep = Annotated[Settings, Depends(_settings)]
StoreDep = Annotated[Store, Depends(_store)]
IngestorDep = Annotated[Ingestor, Depends(_ingestor)]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: a key, or nobody when the server runs without keys on loopback."""

    key: ApiKey | None

    @property
    def tenant(self) -> str | None:
        """The one tenant this caller may see, or None for all."""
        return self.key.tenant if self.key else None


def _secret(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.headers.get("x-api-key") or None


def _no_active_key(detail: str) -> ProblemError:
    return ProblemError(401, "No active API key", f"no API key is active: {detail}")


def _caller(request: Request, scopes: tuple[str, ...]) -> Caller:
    access: Access = request.app.state.access
    if not access.closed():
        client = request.client.host if request.client else None
        if local_client(client):
            return Caller(key=None)
        raise _no_active_key(
            f"without keys only loopback callers are served, this call came from {client}; create a key "
            "with `aifinops keys create --scope admin`"
        )
    secret = _secret(request)
    verify: Callable[[str], ApiKey | None] = request.app.state.verify_key
    key = verify(secret) if secret is not None else None
    if key is None:
        if not access.any_active():
            raise _no_active_key(
                "every key is revoked (or none was created on this non-loopback server), so every call is "
                "refused; create one with `aifinops keys create --scope admin`"
            )
        if secret is None:
            raise ProblemError(
                401,
                "Missing API key",
                "send an aifinops API key as 'Authorization: Bearer <key>'; create one with "
                "`aifinops keys create`",
            )
        raise ProblemError(401, "Unknown API key", "the API key is unknown or revoked")
    if not any(key.allows(scope) for scope in scopes):
        raise ProblemError(
            403,
            "Missing scope",
            f"key {key.key_id} has scopes {sorted(key.scopes)}; this call needs "
            + " or ".join(f"'{scope}'" for scope in scopes),
        )
    return Caller(key=key)


def require(*scopes: str) -> object:
    """A dependency that admits callers whose key has one of ``scopes`` (or admin); without any key ever
    created and on a loopback bind, loopback callers need none (:class:`aifinops.api.access.Access`)."""

    def check(request: Request) -> Caller:
        return _caller(request, scopes)

    check.aifinops_scope = " or ".join(scopes)  # type: ignore[attr-defined]  # read by api.openapi
    return Depends(check)


ReadCaller = Annotated[Caller, require("read")]
IngestCaller = Annotated[Caller, require("ingest")]
AdminCaller = Annotated[Caller, require("admin")]
#: /metrics: a metrics key (Prometheus' read-only credential), or a read or admin key.
MetricsCaller = Annotated[Caller, require("metrics", "read")]
__all__ += ["AdminCaller", "IngestCaller", "MetricsCaller"]
