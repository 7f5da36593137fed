"""A custom authority host (sovereign cloud, private identity endpoint): the real azure-identity credential
asks that authority, and only it, for a token when instance discovery is disabled.

The token endpoint here is a small independent OAuth2 server over HTTPS (MSAL accepts only https
authorities), not the project's emulator: it serves the OpenID configuration and the client-credentials
grant, and records every request it sees.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from azure.core.pipeline.transport import RequestsTransport
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from aifinops.config import AzureSettings
from aifinops.errors import SourceAuthError
from aifinops.sources.azure_auth import MANAGEMENT_SCOPE, CachedTokenProvider, build_credential

TENANT, CLIENT, SECRET = "contoso-gov", "collector-app", "s3cret"


@dataclass
class TokenServer:
    """What the server saw, and where it listens."""

    url: str
    ca_file: Path
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    grants: list[dict[str, list[str]]] = field(default_factory=list)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


@pytest.fixture
def token_server(tmp_path: Path) -> Iterator[TokenServer]:
    cert_file, key_file = _self_signed(tmp_path)
    seen = TokenServer("", cert_file)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep the test output clean
            pass

        def _reply(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            seen.requests.append(("GET", self.path))
            base = f"{seen.url}/{TENANT}"
            if self.path.startswith(f"/{TENANT}/v2.0/.well-known/openid-configuration"):
                self._reply(
                    200,
                    {
                        "issuer": f"{base}/v2.0",
                        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                        "token_endpoint": f"{base}/oauth2/v2.0/token",
                        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                    },
                )
            else:
                self._reply(404, {"error": "not_found"})

        def do_POST(self) -> None:
            seen.requests.append(("POST", self.path))
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            seen.grants.append(form)
            if self.path != f"/{TENANT}/oauth2/v2.0/token":
                self._reply(404, {"error": "not_found"})
            elif form.get("client_secret") != [SECRET] or form.get("client_id") != [CLIENT]:
                self._reply(401, {"error": "invalid_client", "error_description": "bad secret"})
            else:
                self._reply(
                    200, {"token_type": "Bearer", "expires_in": 3600, "access_token": "private-token-1"}
                )

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    seen.url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield seen
    server.shutdown()
    server.server_close()


def _settings(server: TokenServer, *, disable: bool, secret: str = SECRET) -> AzureSettings:
    return AzureSettings(
        credential="client_secret",
        tenant_id=TENANT,
        client_id=CLIENT,
        client_secret=SecretStr(secret),
        authority_host=server.url,
        disable_instance_discovery=disable,
    )


def test_disabled_instance_discovery_asks_only_the_configured_authority(token_server: TokenServer) -> None:
    transport = RequestsTransport(connection_verify=str(token_server.ca_file))
    credential = build_credential(_settings(token_server, disable=True), transport=transport)
    assert CachedTokenProvider(credential).token() == "private-token-1"
    assert ("POST", f"/{TENANT}/oauth2/v2.0/token") in token_server.requests
    (grant,) = token_server.grants
    assert grant["grant_type"] == ["client_credentials"] and grant["scope"] == [MANAGEMENT_SCOPE]


def test_a_refused_secret_at_the_custom_authority_is_a_clear_error(token_server: TokenServer) -> None:
    transport = RequestsTransport(connection_verify=str(token_server.ca_file))
    credential = build_credential(_settings(token_server, disable=True, secret="wrong"), transport=transport)
    with pytest.raises(SourceAuthError, match="AIFINOPS_AZURE__CREDENTIAL"):
        CachedTokenProvider(credential).token()
    assert token_server.grants  # the configured authority was asked, and said no
