"""Azure credentials from settings, exercised with real azure-identity credentials against the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from azure.core.credentials import AccessToken
from azure.identity import DefaultAzureCredential
from pydantic import SecretStr

from aifinops.config import AzureSettings
from aifinops.emulator import EmulatorState, SyncASGITransport, azure_transport, create_emulator
from aifinops.errors import ConfigError, SourceAuthError
from aifinops.sources.azure_auth import MANAGEMENT_SCOPE, CachedTokenProvider, build_credential

AUTHORITY = "https://login.emulator.local"


@pytest.fixture
def state() -> EmulatorState:
    return EmulatorState(client_secrets={"app-1": "s3cret"})


@pytest.fixture
def http(state: EmulatorState) -> Iterator[httpx.Client]:
    with httpx.Client(transport=SyncASGITransport(create_emulator(state))) as client:
        yield client


def _secret_settings(secret: str = "s3cret") -> AzureSettings:
    return AzureSettings(
        credential="client_secret",
        tenant_id="tenant-1",
        client_id="app-1",
        client_secret=SecretStr(secret),
        authority_host=AUTHORITY,
    )


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_client_secret_credential_gets_an_arm_token_the_emulator_accepts(
    http: httpx.Client, state: EmulatorState
) -> None:
    provider = CachedTokenProvider(build_credential(_secret_settings(), transport=azure_transport(http)))
    token = provider.token()
    assert token in state.issued_tokens and provider.token() == token
    assert state.calls["token"] == 1
    reply = http.post(
        "https://management.azure.com/providers/Microsoft.ResourceGraph/resources",
        json={"query": "resources"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reply.status_code == 200


def test_token_is_refreshed_before_it_expires(http: httpx.Client, state: EmulatorState) -> None:
    state.token_lifetime_seconds = 200  # short enough that azure-identity asks the token endpoint each time
    credential = build_credential(_secret_settings(), transport=azure_transport(http))
    first = credential.get_token(MANAGEMENT_SCOPE)
    clock = _Clock(first.expires_on - 200)
    provider = CachedTokenProvider(credential, refresh_margin=60, clock=clock)
    a = provider.token()
    clock.now += 100  # 100 s left, more than the margin: cached
    assert provider.token() == a
    clock.now += 50  # 50 s left: refreshed
    b = provider.token()
    assert b != a and state.calls["token"] == 3


def test_a_wrong_secret_is_a_source_auth_error(http: httpx.Client) -> None:
    provider = CachedTokenProvider(
        build_credential(_secret_settings("nope"), transport=azure_transport(http))
    )
    with pytest.raises(SourceAuthError, match="AADSTS7000215"):
        provider.token()


def test_workload_identity_exchanges_the_federated_token(
    http: httpx.Client, state: EmulatorState, tmp_path: Path
) -> None:
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.e30.sig", encoding="utf-8")
    settings = AzureSettings(
        credential="workload_identity", tenant_id="tenant-1", client_id="app-1", authority_host=AUTHORITY
    )
    credential = build_credential(settings, token_file_path=str(token_file), transport=azure_transport(http))
    assert CachedTokenProvider(credential).token() in state.issued_tokens


def test_default_credential_is_the_default() -> None:
    assert isinstance(build_credential(AzureSettings()), DefaultAzureCredential)


@pytest.mark.parametrize(
    ("kwargs", "missing"),
    [
        (
            {"credential": "client_secret", "tenant_id": "t", "client_id": "c"},
            "AIFINOPS_AZURE__CLIENT_SECRET",
        ),
        ({"credential": "workload_identity", "client_id": "c"}, "AIFINOPS_AZURE__TENANT_ID"),
    ],
)
def test_missing_identity_settings_are_named(kwargs: dict[str, str], missing: str) -> None:
    with pytest.raises(ConfigError, match=missing):
        build_credential(AzureSettings(**kwargs))


def test_provider_wraps_a_credential_without_touching_it_when_cached() -> None:
    class _Counting:
        calls = 0

        def get_token(self, *scopes: str, **_: object) -> AccessToken:
            self.calls += 1
            assert scopes == (MANAGEMENT_SCOPE,)
            return AccessToken(f"t{self.calls}", 10_000)

    credential = _Counting()
    clock = _Clock(1_000)
    provider = CachedTokenProvider(credential, clock=clock)  # type: ignore[arg-type]
    assert [provider.token() for _ in range(3)] == ["t1"] * 3
    clock.now = 9_700
    assert provider.token() == "t2"
