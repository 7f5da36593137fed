"""FastAPI dependencies: settings, store, ingestor and the caller's access, as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

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


def require(scope: str) -> object:
    """A dependency that admits callers whose key has ``scope`` (or admin)."""

    def check(request: Request) -> Caller:
        verify: Callable[[str], ApiKey | None] = request.app.state.verify_key
        if not request.app.state.auth_required():
            return Caller(key=None)
        secret = _secret(request)
        if secret is None:
            raise ProblemError(
                401,
                "Missing API key",
                "send an aifinops API key as 'Authorization: Bearer <key>'; create one with "
                "`aifinops keys create`",
            )
        key = verify(secret)
        if key is None:
            raise ProblemError(401, "Unknown API key", "the API key is unknown or revoked")
        if not key.allows(scope):
            raise ProblemError(
                403,
                "Missing scope",
                f"key {key.key_id} has scopes {sorted(key.scopes)}; this call needs '{scope}'",
            )
        return Caller(key=key)

    check.aifinops_scope = scope  # type: ignore[attr-defined]  # read by api.openapi for the document
    return Depends(check)


ReadCaller = Annotated[Caller, require("read")]
IngestCaller = Annotated[Caller, require("ingest")]
AdminCaller = Annotated[Caller, require("admin")]
__all__ += ["AdminCaller", "IngestCaller"]
