"""Retrievals: what a search put into the prompt, sent as a retrieval event of the running task.

::

    with sdk.task("ticket-42", use_case="doc-qa", sender=sender):
        passages = search.search(question, top=8)
        sdk.record_retrieval(sum(p.tokens for p in passages), source="ai-search", query=question)
        client.chat.completions.create(model="o3", messages=[..., *passages])

The event takes the step of the next model call, the one that reads the passages, so that the optimizer's
retrieval lever can weigh what successful tasks needed against what failed ones were given. The query is
only hashed (``request_hash``): repeated identical searches inside a task show up as duplicate requests.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from aifinops.domain import EventKind
from aifinops.sdk.sender import Sender
from aifinops.sdk.tasks import current_task, record_safely, resolve_sender
from aifinops.sources.openai_wire import request_hash

__all__ = ["record_retrieval"]

_log = logging.getLogger("aifinops.sdk")


def record_retrieval(
    retrieved_tokens: int,
    *,
    source: str | None = None,
    query: str | None = None,
    latency_ms: int | None = None,
    sender: Sender | None = None,
) -> None:
    """Send one retrieval event: ``retrieved_tokens`` of passages returned by ``source`` (e.g. an index).

    Never raises into the application: a negative count or a missing sender is logged and dropped.
    """
    target = resolve_sender(sender)
    if target is None:
        _log.warning("aifinops: retrieval not recorded: no sender; call sdk.configure(Sender(...))")
        return
    if isinstance(retrieved_tokens, bool) or not isinstance(retrieved_tokens, int) or retrieved_tokens < 0:
        _log.warning(
            "aifinops: retrieval not recorded: retrieved_tokens must be a whole number ≥ 0, got %r",
            retrieved_tokens,
        )
        return
    event: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "ts": dt.datetime.now(dt.UTC).isoformat(),
        "kind": str(EventKind.RETRIEVAL),
        "retrieved_tokens": retrieved_tokens,
        "tool_name": source,
        "latency_ms": latency_ms,
        "request_hash": None if query is None else request_hash({"source": source, "query": query}),
    }
    task = current_task()
    if task is not None:
        event |= {
            "task_id": task.task_id,
            "step": task.peek_step(),
            "use_case": task.use_case,
            "agent": task.agent,
            **task.dims,
        }
    record_safely(lambda: target.send_event({k: v for k, v in event.items() if v is not None}))
