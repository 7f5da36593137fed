"""Gateway limit policies and the facts of a call they judge: scopes, fail modes, refusals.

Pure values: each kind of limit (:mod:`aifinops.engine.limit_kinds`) judges them,
:mod:`aifinops.engine.limits` turns them into decisions and :mod:`aifinops.engine.limit_charges` holds the
counter charge arithmetic.
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
    "BudgetPeriod",
    "CallFacts",
    "FailMode",
    "Policy",
    "Refusal",
    "TokenPrices",
    "refuse",
]

#: The pseudo-dimension naming the client's aifinops key in a policy scope.
KEY_ID = "key_id"
SCOPE_FIELDS: tuple[str, ...] = (*DIMENSIONS, KEY_ID)
#: A scope value meaning "each distinct value gets its own counter" (``app: "*"`` = per app).
EACH = "*"


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


@dataclass(frozen=True, slots=True)
class Policy:
    """One limit on the calls whose allocation matches ``scope``.

    ``scope`` maps a field of :data:`SCOPE_FIELDS` to a value that must match, or to ``"*"`` for a separate
    counter per distinct value. An empty scope is one counter shared by every call the policy applies to.
    ``limit`` is a count (tokens, requests, steps) or, for money kinds, an amount in ``currency``.
    """

    name: str
    kind: str  # the name of a kind in :data:`aifinops.engine.limit_kinds.KINDS`
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

    kind: str  # the limit kind, also the ``code`` of the OpenAI-shaped error
    policy: str
    scope: str
    current: str
    limit: str
    status: int
    message: str
    retry_after: int | None = None


def refuse(
    policy: Policy,
    scope: str,
    current: str,
    limit: str,
    *,
    what: str,
    retry_after: int | None = None,
    verb: str = "exceeded",
) -> Refusal:
    """The refusal of a call by ``policy``, worded as every limit words it (429 when it passes with time).

    >>> refuse(Policy("cap", "max_tokens"), "*", "500", "200", what="max_tokens").message
    "max_tokens limit 'cap' on scope * exceeded: max_tokens 500, limit 200"
    """
    message = f"{policy.kind} limit {policy.name!r} on scope {scope} {verb}: {what} {current}, limit {limit}"
    if retry_after is not None:
        message += f"; retry after {retry_after} s"
    status = 429 if retry_after is not None else 403
    return Refusal(policy.kind, policy.name, scope, current, limit, status, message, retry_after)
