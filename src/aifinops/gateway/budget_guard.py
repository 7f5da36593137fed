"""Budgets of the store acting in the request path: ``block`` refuses, ``downgrade`` routes to a cheaper
deployment, while a budget whose scope matches the call is exceeded.

Budget spend is a store read (nowcast, actual or amortized), so the statuses are re-evaluated in a worker
thread every ``ttl`` seconds, never on the call path; a failed refresh keeps the previous statuses. This
complements the policy file's money limits, which reserve a call's worst case before forwarding it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from aifinops.engine.budgets import Action, BudgetStatus, scope_label, scope_matches
from aifinops.errors import StoreError

__all__ = ["BudgetGuard", "BudgetVerdict"]


@dataclass(frozen=True, slots=True)
class BudgetVerdict:
    """What an exceeded budget does to one call: refuse it, or send it to ``downgrade_to``."""

    status: BudgetStatus
    action: Action
    downgrade_to: str | None

    def message(self) -> str:
        s = self.status
        return (
            f"budget {s.budget.name!r} on scope {scope_label(s.budget.scope)} "
            f"is exceeded for {s.period.key}: "
            f"spend {s.spend.quantized()} {s.spend.currency} ({s.spend.basis.value}), "
            f"limit {s.budget.amount} {s.budget.currency}"
        )


class BudgetGuard:
    """The latest statuses of the budgets that block or downgrade, checked against each call's dimensions."""

    def __init__(self, evaluate: Callable[[], Sequence[BudgetStatus]], *, ttl: float = 30.0) -> None:
        self._evaluate, self._ttl = evaluate, ttl
        self._enforced: tuple[BudgetStatus, ...] = ()
        self._next = 0.0
        self._task: asyncio.Task[None] | None = None
        self.errors = 0

    async def refresh(self) -> None:
        try:
            statuses = await asyncio.to_thread(self._evaluate)
            self._enforced = tuple(s for s in statuses if s.enforced is not None)
        except StoreError:
            self.errors += 1
        finally:
            self._next = time.monotonic() + self._ttl
            self._task = None

    def check(self, dims: Mapping[str, str], deployment: str) -> BudgetVerdict | None:
        """The verdict of the first exceeded budget whose scope covers the call (block before downgrade)."""
        if time.monotonic() >= self._next and self._task is None:
            self._next = time.monotonic() + self._ttl
            self._task = asyncio.get_running_loop().create_task(self.refresh())
        values = {**dims, "deployment": deployment}
        verdicts = []
        for status in self._enforced:
            enforcement = status.enforced
            if enforcement is None or not scope_matches(status.budget.scope, values):
                continue
            if enforcement.action is Action.DOWNGRADE and enforcement.downgrade_to == deployment:
                continue  # already on the cheaper deployment
            verdicts.append(BudgetVerdict(status, enforcement.action, enforcement.downgrade_to))
        verdicts.sort(key=lambda v: v.action is not Action.BLOCK)
        return verdicts[0] if verdicts else None
