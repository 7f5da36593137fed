"""Business tasks: the task of the running context, its outcome, and the default sender."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aifinops.domain import Outcome
from aifinops.sdk.sender import Sender

__all__ = ["Task", "configure", "current_task", "record_safely", "resolve_sender", "task"]

_log = logging.getLogger("aifinops.sdk")
_current: contextvars.ContextVar[Task | None] = contextvars.ContextVar("aifinops_task", default=None)
_default: list[Sender] = []  # set by configure(); a list so that nothing is created at import time


@dataclass(slots=True)
class Task:
    """The business task in progress; calls made inside it are allocated to it."""

    task_id: str
    use_case: str | None = None
    agent: str | None = None
    dims: Mapping[str, str] = field(default_factory=dict)
    outcome: Outcome | None = None
    value_amount: Decimal | None = None
    value_currency: str | None = None
    value_quantity: Decimal | None = None
    value_unit: str | None = None
    tenant: str | None = None  # the task's tenant: its own, else the first one its calls carried
    _steps: int = 0

    def next_step(self) -> int:
        self._steps += 1
        return self._steps

    def peek_step(self) -> int:
        """The step the next model call will take (a retrieval belongs to the call that reads it)."""
        return self._steps + 1

    def set_outcome(
        self,
        outcome: Outcome,
        *,
        value: Decimal | None = None,
        currency: str | None = None,
        quantity: Decimal | None = None,
        unit: str | None = None,
    ) -> None:
        """Record the outcome and an optional business value (amount + currency, or quantity + unit)."""
        self.outcome = outcome
        if value is not None:
            self.value_amount, self.value_currency = value, currency
        if quantity is not None:
            self.value_quantity, self.value_unit = quantity, unit

    def succeed(self, **value: Any) -> None:
        self.set_outcome(Outcome.SUCCEEDED, **value)

    def fail(self, **value: Any) -> None:
        self.set_outcome(Outcome.FAILED, **value)

    def escalate(self, **value: Any) -> None:
        self.set_outcome(Outcome.ESCALATED, **value)

    def abandon(self, **value: Any) -> None:
        self.set_outcome(Outcome.ABANDONED, **value)

    def to_json(self, ended_at: dt.datetime) -> dict[str, Any]:
        out: dict[str, Any] = {
            "task_id": self.task_id,
            "outcome": str(self.outcome),
            "ended_at": ended_at.isoformat(),
            "use_case": self.use_case,
        }
        if self.tenant is not None:  # a task is its id within its tenant: the outcome must name it too
            out["tenant"] = self.tenant
        if self.value_amount is not None:
            out |= {"value_amount": str(self.value_amount), "value_currency": self.value_currency}
        if self.value_quantity is not None:
            out |= {"value_quantity": str(self.value_quantity), "value_unit": self.value_unit}
        return out


def configure(sender: Sender | None) -> Sender | None:
    """Make ``sender`` the default of :func:`task` and :func:`instrument` (None removes the default)."""
    _default[:] = [sender] if sender is not None else []
    return sender


def resolve_sender(explicit: Sender | None) -> Sender | None:
    """``explicit`` when given, else the default set by :func:`configure`."""
    return explicit if explicit is not None else (_default[0] if _default else None)


def current_task() -> Task | None:
    """The task of the running context (thread or asyncio task), if any."""
    return _current.get()


@contextlib.contextmanager
def task(
    task_id: str | None = None,
    *,
    use_case: str | None = None,
    agent: str | None = None,
    sender: Sender | None = None,
    **dims: str,
) -> Iterator[Task]:
    """Run a business task: succeeded on normal exit, failed on an exception, unless set explicitly."""
    current = Task(
        task_id or uuid.uuid4().hex, use_case=use_case, agent=agent, dims=dims, tenant=dims.get("tenant")
    )
    token = _current.set(current)
    try:
        yield current
    except BaseException:
        if current.outcome is None:
            current.outcome = Outcome.FAILED
        raise
    finally:
        _current.reset(token)
        if current.outcome is None:
            current.outcome = Outcome.SUCCEEDED
        target = resolve_sender(sender)
        if target is None:
            _log.warning(
                "aifinops: task %s ended without a sender; call sdk.configure(Sender(...))", current.task_id
            )
        else:
            record_safely(lambda: target.send_outcome(current.to_json(dt.datetime.now(dt.UTC))))


def record_safely(action: Callable[[], None]) -> None:
    """Run ``action``, logging instead of raising: recording must never break the application."""
    try:
        action()
    except Exception:  # recording must never break the application; the failure is logged
        _log.exception("aifinops: recording failed")
