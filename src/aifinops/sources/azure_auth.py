"""Azure credentials built from settings, and a cached bearer-token provider for Azure Resource Manager."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential, DefaultAzureCredential, WorkloadIdentityCredential

from aifinops.config import AzureSettings
from aifinops.errors import ConfigError, SourceAuthError

__all__ = ["MANAGEMENT_SCOPE", "CachedTokenProvider", "TokenProvider", "build_credential"]

#: The token audience of Azure Resource Manager (Cost Management, Monitor metrics, Resource Graph).
MANAGEMENT_SCOPE = "https://management.azure.com/.default"


class TokenProvider(Protocol):
    """What a source needs: a valid bearer token on demand."""

    def token(self) -> str: ...


def build_credential(
    settings: AzureSettings, *, token_file_path: str | None = None, **credential_kwargs: Any
) -> TokenCredential:
    """The azure-identity credential that ``settings.credential`` names.

    ``default`` → DefaultAzureCredential (managed identity in Azure, developer login locally);
    ``client_secret`` → ClientSecretCredential; ``workload_identity`` → WorkloadIdentityCredential.
    ``credential_kwargs`` reach the credential unchanged (for example ``transport=`` in tests).
    ``settings.disable_instance_discovery`` stops MSAL from asking Microsoft's public discovery endpoint
    whether ``authority_host`` is a known authority: needed for sovereign clouds, Azure Stack, ADFS and
    private identity endpoints, which it does not know (the token is then asked of that authority alone).
    """
    kwargs = dict(credential_kwargs)
    if settings.authority_host:
        kwargs.setdefault("authority", settings.authority_host)
    if settings.disable_instance_discovery:
        kwargs.setdefault("disable_instance_discovery", True)
    if settings.credential == "client_secret":
        secret = settings.client_secret.get_secret_value() if settings.client_secret else ""
        _require(settings, tenant_id=settings.tenant_id, client_id=settings.client_id, client_secret=secret)
        return ClientSecretCredential(str(settings.tenant_id), str(settings.client_id), secret, **kwargs)
    if settings.credential == "workload_identity":
        _require(settings, tenant_id=settings.tenant_id, client_id=settings.client_id)
        return WorkloadIdentityCredential(
            tenant_id=settings.tenant_id,
            client_id=settings.client_id,
            token_file_path=token_file_path,
            **kwargs,
        )
    if settings.client_id:  # a user-assigned managed identity
        kwargs.setdefault("managed_identity_client_id", settings.client_id)
    return DefaultAzureCredential(**kwargs)


def _require(settings: AzureSettings, **values: str | None) -> None:
    missing = [f"AIFINOPS_AZURE__{name.upper()}" for name, value in values.items() if not value]
    if missing:
        raise ConfigError(
            f"AIFINOPS_AZURE__CREDENTIAL={settings.credential!r} needs {', '.join(missing)}; set them "
            "or use AIFINOPS_AZURE__CREDENTIAL=default"
        )


class CachedTokenProvider:
    """Caches one token for ``scope`` and fetches a new one ``refresh_margin`` seconds before it expires.

    Thread-safe: collectors share one provider between sources.
    """

    def __init__(
        self,
        credential: TokenCredential,
        *,
        scope: str = MANAGEMENT_SCOPE,
        refresh_margin: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credential = credential
        self._scope = scope
        self._margin = refresh_margin
        self._clock = clock
        self._cached: AccessToken | None = None
        self._lock = threading.Lock()

    def token(self) -> str:
        """A bearer token valid for at least ``refresh_margin`` more seconds (when the issuer allows)."""
        with self._lock:
            if self._cached is None or self._clock() >= self._cached.expires_on - self._margin:
                self._cached = self._fetch()
            return self._cached.token

    def _fetch(self) -> AccessToken:
        try:
            return self._credential.get_token(self._scope)
        except ClientAuthenticationError as exc:
            text = str(exc.message)
            discovery = any(
                s in text for s in ("well-known", "instance discovery", "login.microsoftonline.com")
            )
            hint = (
                "; with a custom AIFINOPS_AZURE__AUTHORITY_HOST set "
                "AIFINOPS_AZURE__DISABLE_INSTANCE_DISCOVERY=true"
                if discovery
                else ""
            )
            raise SourceAuthError(
                f"cannot get a token for {self._scope}: {text}; check AIFINOPS_AZURE__CREDENTIAL, "
                f"the tenant/client ids and the secret or federated token{hint}"
            ) from exc
