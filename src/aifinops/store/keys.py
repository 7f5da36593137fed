"""API keys: scoped, stored hashed, optionally limited to one tenant and bound to an allocation identity."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sqlalchemy import Connection, select, update

from aifinops.domain import DIMENSIONS
from aifinops.errors import ValidationError
from aifinops.store.store import Store
from aifinops.store.tables import api_keys

__all__ = [
    "GATEWAY_HEADERS",
    "SCOPES",
    "TENANT_SCOPES",
    "ApiKey",
    "KeyStore",
    "api_key",
    "fetch_key",
    "hash_secret",
]

#: ``metrics`` reads /metrics only (every tenant's figures): a read-only credential for Prometheus.
SCOPES = frozenset({"ingest", "read", "admin", "gateway", "metrics"})
#: The x-aifinops-* headers a gateway key may be allowed to set (DESIGN.md §7).
GATEWAY_HEADERS = frozenset({"task-id", "use-case", "agent", "tenant", "step", "attempt"})


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    name: str
    scopes: frozenset[str]
    tenant: str | None = None
    identity: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    policy: str | None = None
    allowed_headers: frozenset[str] = frozenset()
    created_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    @property
    def bound_tenant(self) -> str | None:
        """The tenant of every gateway call made with this key: its tenant limit, else its identity tenant.
        An ``x-aifinops-tenant`` header (or guard request field) may repeat it, never change it."""
        return self.tenant or self.identity.get("tenant") or None


def hash_secret(secret: str) -> str:
    """What the store keeps of a secret."""
    # Secrets carry 192 bits of randomness, so a plain SHA-256 is enough (no password stretching needed).
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key(r: object) -> ApiKey:
    """The key of an ``api_keys`` row."""
    return ApiKey(
        key_id=r.key_id,  # type: ignore[attr-defined]
        name=r.name,  # type: ignore[attr-defined]
        scopes=frozenset(r.scopes.split(",")),  # type: ignore[attr-defined]
        tenant=r.tenant,  # type: ignore[attr-defined]
        identity=MappingProxyType(json.loads(r.identity or "{}")),  # type: ignore[attr-defined]
        policy=r.policy,  # type: ignore[attr-defined]
        allowed_headers=frozenset(filter(None, (r.allowed_headers or "").split(","))),  # type: ignore[attr-defined]
        created_at=r.created_at,  # type: ignore[attr-defined]
        revoked_at=r.revoked_at,  # type: ignore[attr-defined]
    )


def fetch_key(conn: Connection, key_id: str) -> ApiKey:
    """The key ``key_id`` on an open connection; ValidationError naming the fix when there is none."""
    row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
    if row is None:
        raise ValidationError(
            f"no API key with id {key_id!r}; list them with `aifinops keys list`", field="key_id"
        )
    return api_key(row)


#: The scopes whose routes keep a tenant-limited key to its tenant (admin and metrics see every tenant).
TENANT_SCOPES = frozenset({"read", "ingest", "gateway"})


def _check(
    scopes: frozenset[str],
    identity: Mapping[str, str],
    headers: frozenset[str],
    *,
    tenant: str | None,
    policy: str | None,
) -> None:
    if not scopes or not scopes <= SCOPES:
        raise ValidationError(
            f"scopes must be a non-empty subset of {sorted(SCOPES)}, got {sorted(scopes)}", field="scopes"
        )
    bad = [k for k in identity if k not in DIMENSIONS]
    if bad:
        raise ValidationError(
            f"identity keys {bad} are not allocation dimensions {list(DIMENSIONS)}", field="identity"
        )
    if not headers <= GATEWAY_HEADERS:
        raise ValidationError(
            f"allowed headers must be among {sorted(GATEWAY_HEADERS)}, got {sorted(headers)}",
            field="allowed_headers",
        )
    if tenant is not None and not scopes <= TENANT_SCOPES:
        raise ValidationError(
            f"a tenant limit is enforced on scopes {sorted(TENANT_SCOPES)} only; a key with "
            f"{sorted(scopes - TENANT_SCOPES)} sees every tenant whatever it says: drop --tenant {tenant!r} "
            "or the scope",
            field="tenant",
        )
    if tenant is not None and identity.get("tenant", tenant) != tenant:
        raise ValidationError(
            f"tenant {tenant!r} contradicts the identity tenant {identity['tenant']!r}: a gateway key's "
            "tenant limit is its identity tenant; give one of them",
            field="tenant",
        )
    if policy is not None and not scopes & {"gateway", "admin"}:
        raise ValidationError(
            f"a limit policy applies to gateway calls only; policy {policy!r} needs the gateway scope",
            field="policy",
        )


class KeyStore:
    """Creates and revokes API keys over one :class:`Store` (reads: :mod:`aifinops.store.key_queries`)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(
        self,
        *,
        name: str,
        scopes: frozenset[str] | set[str],
        tenant: str | None = None,
        identity: Mapping[str, str] | None = None,
        policy: str | None = None,
        allowed_headers: frozenset[str] | set[str] | None = None,
    ) -> tuple[ApiKey, str]:
        """Create a key; returns it and its secret, which is shown only this once."""
        scopes, headers, identity = frozenset(scopes), frozenset(allowed_headers or ()), dict(identity or {})
        _check(scopes, identity, headers, tenant=tenant, policy=policy)
        key_id = "k_" + secrets.token_hex(6)
        secret = f"afo_{key_id[2:]}_{secrets.token_urlsafe(24)}"
        now = dt.datetime.now(dt.UTC)
        with self.store.session() as conn:
            conn.execute(
                api_keys.insert().values(
                    key_id=key_id,
                    name=name,
                    secret_hash=hash_secret(secret),
                    scopes=",".join(sorted(scopes)),
                    tenant=tenant,
                    identity=json.dumps(identity, sort_keys=True),
                    policy=policy,
                    allowed_headers=",".join(sorted(headers)),
                    created_at=now,
                )
            )
            return fetch_key(conn, key_id), secret

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke ``key_id`` at once (revoking it again changes nothing); returns the key."""
        with self.store.session() as conn:
            fetch_key(conn, key_id)
            conn.execute(
                update(api_keys)
                .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=dt.datetime.now(dt.UTC))
            )
            return fetch_key(conn, key_id)
