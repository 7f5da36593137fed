"""Microsoft Entra ID endpoints the azure-identity credentials call: discovery and the v2.0 token endpoint."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from aifinops.emulator.state import EmulatorState
from aifinops.emulator.wire import arm_error, json_response

__all__ = [
    "authorize_arm",
    "instance_discovery",
    "issue_token",
    "managed_identity_token",
    "openid_configuration",
]


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


async def instance_discovery(request: Request) -> Response:
    """MSAL asks this before trusting an authority host it does not know."""
    # Like Entra ID, answer for the tenant named in the authorization endpoint being asked about.
    asked = urlsplit(request.query_params.get("authorization_endpoint", ""))
    tenant = asked.path.strip("/").split("/")[0] or "common"
    tenant_endpoint = f"{_origin(request)}/{tenant}/v2.0/.well-known/openid-configuration"
    return json_response(
        {
            "tenant_discovery_endpoint": tenant_endpoint,
            "api-version": "1.1",
            "metadata": [
                {
                    "preferred_network": request.url.hostname,
                    "preferred_cache": request.url.hostname,
                    "aliases": [request.url.hostname],
                }
            ],
        }
    )


async def openid_configuration(request: Request) -> Response:
    origin, tenant = _origin(request), request.path_params["tenant"]
    return json_response(
        {
            "token_endpoint": f"{origin}/{tenant}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{origin}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{origin}/{tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{origin}/{tenant}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{origin}/{tenant}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{origin}/{tenant}/oauth2/v2.0/logout",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
        }
    )


def _aad_error(status: int, error: str, description: str) -> Response:
    return json_response({"error": error, "error_description": description, "error_codes": [7000215]}, status)


async def issue_token(request: Request, state: EmulatorState) -> Response:
    """Client-credentials grant with a secret (``client_secret``) or a federated ``client_assertion``."""
    # parsed by hand: the token form is flat url-encoding, no need for a multipart parser
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8")).items()}
    if form.get("grant_type") != "client_credentials":
        return _aad_error(400, "unsupported_grant_type", "AADSTS70003: only client_credentials is emulated.")
    client_id = str(form.get("client_id") or "")
    expected = state.client_secrets.get(client_id)
    if expected is not None and form.get("client_secret") != expected and not form.get("client_assertion"):
        return _aad_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
    lifetime = state.token_lifetime_seconds
    return json_response(
        {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": state.issue_token(),
        }
    )


async def managed_identity_token(request: Request, state: EmulatorState) -> Response:
    """The managed identity endpoint of App Service and Azure Container Apps (``IDENTITY_ENDPOINT``, API
    2019-08-01): ``GET ?api-version=2019-08-01&resource=…`` with the ``X-IDENTITY-HEADER`` secret the platform
    gave the container (``state.identity_header``; any non-empty one when unset)."""
    header = request.headers.get("x-identity-header", "")
    if not header or (state.identity_header is not None and header != state.identity_header):
        return json_response({"statusCode": 401, "message": "Unauthorized: wrong X-IDENTITY-HEADER"}, 401)
    resource = request.query_params.get("resource", "")
    if request.query_params.get("api-version") != "2019-08-01" or not resource:
        return json_response(
            {"statusCode": 400, "message": "api-version 2019-08-01 and resource needed"}, 400
        )
    expires_on = int(time.time()) + state.token_lifetime_seconds
    return json_response(
        {
            "access_token": state.issue_token(),
            "expires_on": str(expires_on),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": request.query_params.get("client_id", "00000000-0000-0000-0000-00000000c0de"),
        }
    )


def authorize_arm(request: Request, state: EmulatorState, scope_path: str) -> Response | None:
    """401 without a token this emulator issued; 403 under a forbidden scope. None when allowed."""
    header = request.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else ""
    if token not in state.issued_tokens:
        return arm_error(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    scope = "/" + scope_path.strip("/").lower()
    for forbidden in state.forbidden_scopes:
        prefix = "/" + forbidden.strip("/").lower()
        if scope == prefix or scope.startswith(prefix + "/"):
            return arm_error(
                403,
                "AuthorizationFailed",
                f"The client 'emulator-client' does not have authorization to perform action "
                f"'{request.method}' over scope '{scope}' or the scope is invalid. If access was "
                "recently granted, please refresh your credentials.",
            )
    return None
