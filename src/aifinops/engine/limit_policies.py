"""Gateway limit policies and the facts of a call they judge: limit kinds, scopes, refusals.

Pure values: :mod:`aifinops.engine.limit_charges` turns them into counter charges and
:mod:`aifinops.engine.limits` into decisions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from aifinops.domain import DIMENSIONS, Price

__all__ = [
    "EACH",
    "KEY_ID",
    "SCOPE_FIELDS",
    "STATIC_KINDS",
    "BudgetPeriod",
    "CallFacts",
    "FailMode",
    "LimitKind",
    "Policy",
    "Refusal",
    "TokenPrices",
]

#: The pseudo-dimension naming the client's aifinops key in a policy scope.
KEY_ID = "key_id"
SCOPE_FIELDS: tuple[str, ...] = (*DIMENSIONS, KEY_ID)
#: A scope value meaning "each distinct value gets its own counter" (``app: "*"`` = per app).
EACH = "*"


class LimitKind(StrEnum):
    """What a limit bounds; the value is the ``code`` of the OpenAI-shaped error."""

    DEPLOYMENT_ALLOWLIST = "deployment_allowlist"
    MAX_TOKENS = "max_tokens"
    CONTEXT_TOKENS = "context_tokens"
    MAX_STEPS = "max_steps"
    MAX_RETRIES = "max_retries"
    TASK_COST = "max_cost_per_task"
    CONCURRENCY = "concurrency"
    RPM = "rpm"
    TPM = "tpm"
    BUDGET = "budget"


class FailMode(StrEnum):
    """What a counter-backed limit does when its counter store is unreachable."""

    OPEN = "open"  # allow the call uncounted
    CLOSED = "closed"  # refuse the call with 503


class BudgetPeriod(StrEnum):
    """The period of a money budget: calendar-aligned in the time zone of ``as_of``, or a sliding window."""

    DAY = "day"
    MONTH = "month"
    TOTAL = "total"
    ROLLING = "rolling"  # the last ``window_seconds``; a refusal is a 429 with a retry-after


#: Limits that need no counter: checked from the request alone.
STATIC_KINDS = frozenset({LimitKind.DEPLOYMENT_ALLOWLIST, LimitKind.MAX_TOKENS, LimitKind.CONTEXT_TOKENS})


@dataclass(frozen=True, slots=True)
class Policy:
    """One limit on the calls whose allocation matches ``scope``.

    ``scope`` maps a field of :data:`SCOPE_FIELDS` to a value that must match, or to ``"*"`` for a separate
    counter per distinct value. An empty scope is one counter shared by every call the policy applies to.
    ``limit`` is a count (tokens, requests, steps) or, for money kinds, an amount in ``currency``.
    """

    name: str
    kind: LimitKind
    scope: Mapping[str, str] = field(default_factory=dict)
    limit: Decimal = Decimal(0)
    currency: str | None = None
    window_seconds: int = 60
    period: BudgetPeriod = BudgetPeriod.MONTH
    deployments: frozenset[str] = frozenset()
    reject: bool = False  # max_tokens: refuse instead of clamping
    downgrade_to: str | None = None  # budget: forward to this cheaper deployment instead of refusing
    default_output_tokens: int = 4096  # output allowance assumed when the request sets no max_tokens
    fail: FailMode = FailMode.OPEN
    task_ttl_seconds: int = 86_400

    def scope_key(self, values: Mapping[str, str]) -> str | None:
        """The counter scope of a call, e.g. ``app=chat,tenant=acme``; None when the policy does not apply."""
        parts = []
        for name in sorted(self.scope):
            wanted, actual = self.scope[name], values.get(name)
            if actual is None or (wanted != EACH and wanted != actual):
                return None
            parts.append(f"{name}={actual}")
        return ",".join(parts) or "*"


@dataclass(frozen=True, slots=True)
class TokenPrices:
    """The input and output token prices of one deployment (in the same currency)."""

    input: Price
    output: Price

    @property
    def currency(self) -> str:
        return self.input.currency


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the engine knows about one call; ``dims`` holds the allocation and ``key_id``."""

    dims: Mapping[str, str]
    deployment: str
    task_id: str | None = None
    step: int | None = None
    attempt: int = 1
    requested_max_tokens: int | None = None
    estimated_input_tokens: int = 0
    prices: Mapping[str, TokenPrices] = field(default_factory=dict)  # deployment → prices, incl. downgrades


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a call is refused, with everything the error message must name."""

    kind: LimitKind
    policy: str
    scope: str
    current: str
    limit: str
    status: int
    message: str
    retry_after: int | None = None
