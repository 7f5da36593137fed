"""What one kind of gateway limit declares: its name, what a policy of it needs, and how it judges a call."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from aifinops.engine.limit_charges import Need
from aifinops.engine.limit_policies import CallFacts, FailMode, Policy, Refusal

__all__ = ["Check", "LimitKind", "Plan"]


class Check(Protocol):
    """A check from the request alone: a refusal, the output cap to send upstream, or None to pass."""

    def __call__(
        self, facts: CallFacts, policy: Policy, scope: str, *, deployment: str, max_tokens: int | None
    ) -> Refusal | int | None: ...


class Plan(Protocol):
    """The counter charge a call takes: a need, None (nothing to count), or a refusal (cannot be checked)."""

    def __call__(
        self,
        facts: CallFacts,
        policy: Policy,
        scope: str,
        *,
        deployment: str,
        output: int,
        as_of: dt.datetime,
    ) -> Need | Refusal | None: ...


@dataclass(frozen=True, slots=True)
class LimitKind:
    """One kind of limit, as policy files name it (``kind: rpm``) and as refusals report it (``code``).

    ``fail`` is what the limit does while its counter store is unreachable, unless the policy says ``fail:``;
    a kind without counters (``plan`` None) has none. ``money`` kinds bound an amount in ``currency`` and need
    token prices; the others count whole units. ``actions`` lists the policy actions it accepts beyond
    ``block`` (``clamp``/``reject``, ``downgrade``); ``deployments`` kinds take a list of deployments instead
    of a ``limit``.
    """

    name: str
    fail: FailMode | None = None
    check: Check | None = None
    plan: Plan | None = None
    money: bool = False
    actions: frozenset[str] = frozenset()
    deployments: bool = False
