"""Guard API: allow / deny / downgrade answers for an external gateway (e.g. Azure API Management).

``POST /api/guard`` runs the same limit engine as the aifinops gateway and reserves the call's charges;
``POST /api/guard/settle`` replaces the reservation with the metered usage (or drops it). The caller is a key
with the ``gateway`` scope; its identity and policy apply, and it may set only the allocation fields its
``allowed_headers`` permit, exactly as with ``x-aifinops-*`` headers on the proxy. docs/apim-guard-policy.md
shows an API Management policy that uses both routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from aifinops.api.deps import Caller, require
from aifinops.api.problems import ProblemError
from aifinops.domain import DIMENSIONS, ProcessingTier
from aifinops.gateway.enforcer import Admission, CallContext, Enforcer
from aifinops.sources.openai_wire import tokens_of_chars

__all__ = ["EnforcerDep", "GuardRequest", "GuardResponse", "SettleRequest", "SettleResponse", "router"]

# Body field → the header name a key must be allowed to set (store.keys.GATEWAY_HEADERS).
_GUARDED_FIELDS = {
    "task_id": "task-id",
    "use_case": "use-case",
    "agent": "agent",
    "tenant": "tenant",
    "step": "step",
    "attempt": "attempt",
}
_IDENTITY_DIMS = tuple(d for d in DIMENSIONS if d not in ("deployment", "model"))


def get_enforcer(request: Request) -> Enforcer:
    """The Enforcer the application was built with (``app.state.enforcer``)."""
    enforcer: Enforcer = request.app.state.enforcer
    return enforcer


EnforcerDep = Annotated[Enforcer, Depends(get_enforcer)]
GatewayCaller = Annotated[Caller, require("gateway")]


class GuardRequest(BaseModel):
    """One call the external gateway is about to forward."""

    model_config = ConfigDict(extra="forbid")

    deployment: str = Field(min_length=1, max_length=200, description="deployment (or model) requested")
    route: Literal["chat", "responses", "completions", "embeddings"] = "chat"
    max_tokens: int | None = Field(
        default=None, ge=1, description="max_tokens / max_output_tokens of the body"
    )
    estimated_input_tokens: int | None = Field(default=None, ge=0)
    input_chars: int | None = Field(
        default=None, ge=0, description="body length, when tokens are not estimated"
    )
    stream: bool = False
    service_tier: ProcessingTier | None = Field(
        default=None,
        description="the processing tier the body asks for (standard, priority, flex): money limits reserve "
        "the call at that tier's prices, long context past the model's threshold",
    )
    subject: str | None = Field(
        default=None,
        max_length=200,
        description="the external caller, e.g. an APIM subscription id (key_id scope)",
    )
    task_id: str | None = Field(default=None, max_length=200)
    use_case: str | None = Field(default=None, max_length=200)
    agent: str | None = Field(default=None, max_length=200)
    tenant: str | None = Field(default=None, max_length=200)
    step: int | None = Field(default=None, ge=1)
    attempt: int = Field(default=1, ge=1)


class GuardResponse(BaseModel):
    """The verdict; ``status`` and ``error`` are what the external gateway answers its client when denied."""

    decision: Literal["allow", "deny", "downgrade"]
    status: int
    deployment: str
    max_tokens: int | None
    reservation_id: str | None
    headers: dict[str, str]
    error: dict[str, object] | None


class SettleRequest(BaseModel):
    """The outcome of a guarded call. Tokens are priced when ``cost`` (a decimal string) is absent; with
    neither (e.g. a stream whose usage the external gateway cannot read) the reserved worst case stands."""

    model_config = ConfigDict(extra="forbid")

    reservation_id: str = Field(min_length=1, max_length=100)
    input_tokens: int | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=0)
    cost: Decimal | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, pattern="^[A-Z]{3}$")
    failed_before_usage: bool = Field(default=False, description="the upstream failed: drop the reservation")


class SettleResponse(BaseModel):
    settled: bool = Field(description="false when the reservation was already settled, released or expired")


@dataclass(frozen=True, slots=True)
class _GuardKey:
    key_id: str
    policy: str | None


def _context(body: GuardRequest, caller: Caller) -> CallContext:
    key = caller.key
    allowed = key.allowed_headers if key else frozenset(_GUARDED_FIELDS.values())
    for name, header in _GUARDED_FIELDS.items():
        value = getattr(body, name)
        if value is not None and value != (1 if name == "attempt" else None) and header not in allowed:
            raise ProblemError(
                403,
                "Field not allowed",
                f"key {key.key_id if key else '-'} may not set {name} (allowed: {sorted(allowed)}); "
                "drop the field or allow the header on the key",
                field=name,
            )
    dims = {d: str(key.identity[d]) for d in _IDENTITY_DIMS if key and key.identity.get(d)}
    dims.update({d: v for d in ("use_case", "agent", "tenant") if (v := getattr(body, d))})
    if key is not None and (bound := key.bound_tenant) is not None:
        if dims.get("tenant", bound) != bound:
            raise ProblemError(
                403,
                "Tenant not allowed",
                f"key {key.key_id} is bound to tenant {bound!r} and may not act for tenant {body.tenant!r}; "
                "drop the field or use that tenant's key",
                field="tenant",
            )
        dims["tenant"] = bound
    key_id = key.key_id if key else "anonymous"
    if body.subject:
        key_id = f"{key_id}/{body.subject}"
    tokens = body.estimated_input_tokens
    if tokens is None:
        tokens = tokens_of_chars(body.input_chars or 0)  # only when the caller sends characters
    return CallContext(
        key=_GuardKey(key_id, key.policy if key else None),
        dims=dims,
        task_id=body.task_id,
        step=body.step,
        attempt=body.attempt,
        deployment=body.deployment,
        route=body.route,
        requested_max_tokens=body.max_tokens,
        estimated_input_tokens=tokens,
        stream=body.stream,
        service_tier=body.service_tier,
    )


def _response(admission: Admission, requested: str) -> GuardResponse:
    if not admission.allowed:
        decision: Literal["allow", "deny", "downgrade"] = "deny"
    else:
        decision = "downgrade" if admission.deployment != requested else "allow"
    return GuardResponse(
        decision=decision,
        status=admission.status,
        deployment=admission.deployment,
        max_tokens=admission.max_tokens,
        reservation_id=admission.reservation_id,
        headers=dict(admission.headers),
        error=dict(admission.error) if admission.error else None,
    )


router = APIRouter(prefix="/api/guard", tags=["guard"])


@router.post("", response_model=GuardResponse)
async def guard(body: GuardRequest, caller: GatewayCaller, enforcer: EnforcerDep) -> GuardResponse:
    """Decide one call: allow (maybe with a clamped max_tokens), downgrade to a cheaper deployment or deny."""
    admission = await enforcer.admit(_context(body, caller))
    return _response(admission, body.deployment)


@router.post("/settle", response_model=SettleResponse)
async def settle(body: SettleRequest, caller: GatewayCaller, enforcer: EnforcerDep) -> SettleResponse:
    """Record the metered outcome of an allowed call, or drop its reservation when it failed before usage."""
    if body.failed_before_usage:
        return SettleResponse(settled=await enforcer.release_reservation(body.reservation_id))
    done = await enforcer.settle_reservation(
        body.reservation_id,
        input_tokens=body.input_tokens,
        output_tokens=body.output_tokens,
        cost=body.cost,
        currency=body.currency,
    )
    return SettleResponse(settled=done)
