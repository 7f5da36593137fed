"""The gateway's limit enforcer: asks ``engine.limits.decide``, then reserves, settles and releases counters.

Admission is optimistic: the engine decides against the last known counter values (none at first), then the
counter store checks and applies every charge atomically. A failed check returns the current values, and the
engine decides again with them, which yields a refusal naming the limit or a downgrade. A call therefore
costs one counter round trip when it is allowed, and a call with no policy costs no round trip at all.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Protocol

from aifinops.domain import ContextTier, DeploymentType, MeterKind, ProcessingTier, to_nanos
from aifinops.engine.limit_kinds import KINDS
from aifinops.engine.limit_policies import KEY_ID, CallFacts, FailMode, Policy, Refusal, TokenPrices
from aifinops.engine.limits import Decision, decide
from aifinops.engine.pricing import PriceBook, PricingRules, call_tiers
from aifinops.errors import StoreError
from aifinops.gateway.counters import Counters, InProcessCounters, Reservation, Settlement
from aifinops.gateway.policies import PolicyBook
from aifinops.sources.openai_wire import error_body as openai_error

__all__ = [
    "Admission",
    "BookPrices",
    "CallContext",
    "DeploymentModel",
    "Enforcer",
    "KeyIdentity",
    "PriceLookup",
    "error_body",
]


class PriceLookup(Protocol):
    """A deployment's input and output token prices for a call of ``service_tier`` reading ``input_tokens``
    (the tiers as ``engine.pricing.call_tiers`` decides them), or None when unpriced."""

    def __call__(
        self, deployment: str, *, service_tier: ProcessingTier | None, input_tokens: int
    ) -> TokenPrices | None: ...


def _unpriced(deployment: str, *, service_tier: ProcessingTier | None, input_tokens: int) -> None:
    """No price book: a money limit finds every deployment unpriced."""
    return None


_log = logging.getLogger(__name__)
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})
_ATTEMPTS = 4
_PENDING_CAP = 100_000  # admissions of this process awaiting settle; a leak guard, far above any concurrency


class KeyIdentity(Protocol):
    """What the enforcer needs of an API key (``aifinops.store.keys.ApiKey`` has it)."""

    @property
    def key_id(self) -> str: ...

    @property
    def policy(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class CallContext:
    """One call as the gateway sees it (the gateway contract)."""

    key: KeyIdentity
    dims: Mapping[str, str]
    task_id: str | None
    step: int | None
    attempt: int
    deployment: str
    route: str
    requested_max_tokens: int | None
    estimated_input_tokens: int
    stream: bool
    service_tier: ProcessingTier | None = None  # as the request asks it (None: the deployment's default)


@dataclass(frozen=True, slots=True)
class Admission:
    """The enforcer's answer: forward (maybe downgraded or clamped) or refuse with an OpenAI-shaped error."""

    allowed: bool
    status: int
    error: Mapping[str, object] | None
    deployment: str
    max_tokens: int | None
    reservation_id: str | None
    headers: Mapping[str, str]


def error_body(message: str, code: str) -> dict[str, object]:
    """The OpenAI error envelope for a refusal by a limit."""
    return openai_error(message, "aifinops_limit", code=code)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _refused(refusal: Refusal, deployment: str) -> Admission:
    headers = {"retry-after": str(refusal.retry_after)} if refusal.retry_after is not None else {}
    return Admission(
        False, refusal.status, error_body(refusal.message, refusal.kind), deployment, None, None, headers
    )


class Enforcer:
    """Applies limit policies to gateway calls over a counter store (in process by default)."""

    def __init__(
        self,
        policies: PolicyBook | None = None,
        *,
        counters: Counters | None = None,
        prices: PriceLookup | None = None,
        clock: Callable[[], dt.datetime] = _utc_now,
        lease_seconds: int = 300,
    ) -> None:
        self._book = policies or PolicyBook()
        self._counters: Counters = counters or InProcessCounters()
        self._prices: PriceLookup = prices or _unpriced
        self._clock = clock
        self._lease = lease_seconds
        self._pending: OrderedDict[str, str | None] = OrderedDict()  # reservation id → its money currency
        self.settle_errors = 0

    @property
    def counters(self) -> Counters:
        return self._counters

    async def admit(self, ctx: CallContext) -> Admission:
        """Allow, clamp, downgrade or refuse one call, reserving its charges when it needs any."""
        policies = self._book.for_key(ctx.key.policy)
        if not policies:
            if policies is None:
                return self._unknown_policy(ctx)
            return Admission(True, 200, None, ctx.deployment, None, None, _NO_HEADERS)
        facts = self._facts(ctx, policies)
        as_of = self._clock()
        decision = decide(facts, policies, {}, as_of=as_of)
        snapshot: dict[str, int] = {}
        # Each failed reservation teaches the engine the real counter values; with every downgrade tried once
        # it converges in a few rounds, the bound only guards against a pathological race.
        for _ in range(_ATTEMPTS):
            if not decision.allowed or not decision.charges:
                return self._admission(decision, ctx, None)
            reservation = Reservation(
                uuid.uuid4().hex, decision.charges, self._lease, self._payload(decision, facts)
            )
            try:
                result = await self._counters.acquire(reservation, now=as_of.timestamp())
            except StoreError as exc:
                return self._store_down(decision, policies, ctx, exc)
            if result.ok:
                self._remember(reservation.reservation_id, decision.currency)
                return self._admission(decision, ctx, reservation.reservation_id)
            snapshot.update(result.used)
            decision = decide(facts, policies, snapshot, as_of=as_of)
        message = (
            f"limits on deployment {ctx.deployment!r} changed under every reservation attempt (current: "
            f"contended, limit: {_ATTEMPTS} attempts); retry in 1 s"
        )
        return Admission(
            False, 429, error_body(message, "contention"), ctx.deployment, None, None, {"retry-after": "1"}
        )

    async def settle(
        self,
        admission: Admission,
        ctx: CallContext,
        *,
        input_tokens: int,
        output_tokens: int,
        cost: Decimal | None,
        currency: str | None,
    ) -> None:
        """Replace the call's reservation with its metered usage and free its concurrency slot.

        The response has already been served: a counter store outage is logged and counted, never raised;
        the reservation then lapses with its lease.
        """
        if admission.reservation_id is None:
            return
        try:
            await self.settle_reservation(
                admission.reservation_id,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cost=cost,
                currency=currency,
            )
        except StoreError as exc:
            self.settle_errors += 1
            _log.warning("settling reservation %s failed: %s", admission.reservation_id, exc)

    async def release(self, admission: Admission, ctx: CallContext) -> None:
        """Drop the reservation of a call that failed upstream before any usage (errors as in settle)."""
        if admission.reservation_id is None:
            return
        try:
            await self.release_reservation(admission.reservation_id)
        except StoreError as exc:
            self.settle_errors += 1
            _log.warning("releasing reservation %s failed: %s", admission.reservation_id, exc)

    async def aclose(self) -> None:
        await self._counters.aclose()

    async def settle_reservation(
        self,
        reservation_id: str,
        *,
        input_tokens: int | None,
        output_tokens: int | None,
        cost: Decimal | None,
        currency: str | None,
    ) -> bool:
        """Settle by id (the guard API settles calls admitted by any replica); False when already done.

        Tokens or cost left None were not metered: the reserved worst case then stands for them.
        """
        tokens = None if input_tokens is None or output_tokens is None else input_tokens + output_tokens
        cost_nanos: int | None = None
        if cost is not None:
            if currency == await self._currency_of(reservation_id):
                cost_nanos = to_nanos(cost)
        elif input_tokens is not None and output_tokens is not None:
            cost_nanos = await self._priced(reservation_id, input_tokens, output_tokens)
        settlement = Settlement(tokens=tokens, cost_nanos=cost_nanos)
        try:
            return await self._counters.settle(reservation_id, settlement, now=self._clock().timestamp())
        finally:
            self._pending.pop(reservation_id, None)

    async def release_reservation(self, reservation_id: str) -> bool:
        try:
            return await self._counters.release(reservation_id, now=self._clock().timestamp())
        finally:
            self._pending.pop(reservation_id, None)

    def _facts(self, ctx: CallContext, policies: Sequence[Policy]) -> CallFacts:
        dims = dict(ctx.dims)
        dims[KEY_ID] = ctx.key.key_id
        dims.setdefault("deployment", ctx.deployment)
        prices: dict[str, TokenPrices] = {}
        if any(KINDS[p.kind].money for p in policies):
            for deployment in {ctx.deployment, *(p.downgrade_to for p in policies if p.downgrade_to)}:
                found = self._prices(
                    deployment, service_tier=ctx.service_tier, input_tokens=ctx.estimated_input_tokens
                )
                if found is not None:
                    prices[deployment] = found
        return CallFacts(
            dims=dims,
            deployment=ctx.deployment,
            task_id=ctx.task_id,
            step=ctx.step,
            attempt=ctx.attempt,
            requested_max_tokens=ctx.requested_max_tokens,
            estimated_input_tokens=ctx.estimated_input_tokens,
            prices=prices,
        )

    def _payload(self, decision: Decision, facts: CallFacts) -> dict[str, str]:
        # Kept with the reservation so that a settle by tokens alone (the guard API) can be priced anywhere,
        # at the prices of the call's tier that the decision reserved at.
        prices = facts.prices.get(decision.deployment) if decision.currency else None
        if prices is None:
            return {"deployment": decision.deployment}
        return {
            "deployment": decision.deployment,
            "currency": prices.currency,
            "input_per_token": str(prices.input.price / prices.input.unit_size),
            "output_per_token": str(prices.output.price / prices.output.unit_size),
        }

    def _remember(self, reservation_id: str, currency: str | None) -> None:
        self._pending[reservation_id] = currency
        if len(self._pending) > _PENDING_CAP:
            self._pending.popitem(last=False)

    async def _currency_of(self, reservation_id: str) -> str | None:
        if reservation_id in self._pending:
            return self._pending[reservation_id]
        payload = await self._counters.peek(reservation_id)
        return payload.get("currency") if payload else None

    async def _priced(self, reservation_id: str, input_tokens: int, output_tokens: int) -> int | None:
        payload = await self._counters.peek(reservation_id)
        if not payload or "input_per_token" not in payload:
            return None  # unpriced: the reserved worst case stands as the cost
        cost = (
            Decimal(payload["input_per_token"]) * input_tokens
            + Decimal(payload["output_per_token"]) * output_tokens
        )
        return to_nanos(cost)

    def _admission(self, decision: Decision, ctx: CallContext, reservation_id: str | None) -> Admission:
        if decision.refusal is not None:
            return _refused(decision.refusal, ctx.deployment)
        headers = {"x-aifinops-downgraded-from": decision.downgraded_from} if decision.downgraded_from else {}
        return Admission(
            True, 200, None, decision.deployment, decision.max_tokens, reservation_id, headers or _NO_HEADERS
        )

    def _store_down(
        self, decision: Decision, policies: Sequence[Policy], ctx: CallContext, exc: StoreError
    ) -> Admission:
        closed = sorted(
            {c.policy for c in decision.charges} & {p.name for p in policies if p.fail is FailMode.CLOSED}
        )
        if closed:
            message = (
                f"limit counters are unreachable and limit(s) {', '.join(closed)} fail closed "
                f"(current: unknown, limit: enforced): {exc}"
            )
            return Admission(
                False,
                503,
                error_body(message, "limit_store_unavailable"),
                ctx.deployment,
                None,
                None,
                {"retry-after": "5"},
            )
        headers = {"x-aifinops-limits": "degraded"}
        if decision.downgraded_from:
            headers["x-aifinops-downgraded-from"] = decision.downgraded_from
        return Admission(True, 200, None, decision.deployment, decision.max_tokens, None, headers)

    def _unknown_policy(self, ctx: CallContext) -> Admission:
        message = (
            f"key {ctx.key.key_id!r} names limit policy {ctx.key.policy!r}, which is not defined "
            "(current: undefined, limit: a defined policy); define it in the policy file or fix the key"
        )
        return Admission(
            False, 403, error_body(message, "unknown_policy"), ctx.deployment, None, None, _NO_HEADERS
        )


@dataclass(frozen=True, slots=True)
class DeploymentModel:
    """What a deployment runs, as a price book needs it."""

    model: str
    deployment_type: DeploymentType | None = None
    region: str | None = None
    model_version: str | None = None


class BookPrices:
    """A :class:`PriceLookup` over a price book: deployment and call tiers → the input and output token prices
    in effect now.

    ``book`` returns the current price book (anything with ``engine.pricing.PriceBook.find``'s keyword
    signature) or None; it must be cheap, e.g. ``jobs.price_cache.PriceCache.current``. Answers are cached
    for ``ttl`` seconds, so the admission path does not search the book on every call.
    """

    def __init__(
        self,
        book: Callable[[], Any],
        deployments: Mapping[str, DeploymentModel],
        *,
        currency: str | None = None,
        clock: Callable[[], dt.datetime] = _utc_now,
        ttl: float = 60.0,
    ) -> None:
        self._book, self._deployments, self._currency = book, deployments, currency
        self._clock, self._ttl = clock, ttl
        self._cache: dict[tuple[str, ProcessingTier, ContextTier], tuple[float, TokenPrices | None]] = {}

    def __call__(
        self, deployment: str, *, service_tier: ProcessingTier | None = None, input_tokens: int = 0
    ) -> TokenPrices | None:
        known, book = self._deployments.get(deployment), self._book()
        if known is None or book is None:
            return None
        # The tiers by the rule that prices the recorded call: what is reserved is what will be charged.
        if isinstance(book, PriceBook):
            threshold = book.model_of(known.model)[2]
        else:
            threshold = PricingRules().long_context_from(known.model.lower())
        tiers = call_tiers(service_tier, input_tokens=input_tokens, long_context_from=threshold)
        key = (deployment, *tiers)
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        found = self._find(book, known, *tiers)
        self._cache[key] = (time.monotonic() + self._ttl, found)
        return found

    def _find(
        self, book: Any, known: DeploymentModel, tier: ProcessingTier, context: ContextTier
    ) -> TokenPrices | None:
        now, model = self._clock(), known.model
        candidates: list[str | None] = [known.model_version]
        if isinstance(book, PriceBook):  # the model as the meters name it, at the version in effect
            model, named = book.rules.family(known.model)
            candidates = [known.model_version or named]
            if candidates[0] is None:
                candidates += book.versions_in_effect(
                    model, ts=now, deployment_type=known.deployment_type, region=known.region
                )
        query: dict[str, Any] = {
            "model": model,
            "ts": now,
            "deployment_type": known.deployment_type,
            "region": known.region,
            "currency": self._currency,
            "processing_tier": tier,
            "context_tier": context,
        }
        for version in candidates:
            query["model_version"] = version
            inp = book.find(meter_kind=MeterKind.INPUT, **query)
            out = book.find(meter_kind=MeterKind.OUTPUT, **query)
            if inp is not None and out is not None and inp.currency == out.currency:
                return TokenPrices(inp, out)
        return None
