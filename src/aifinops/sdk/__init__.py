"""Client-side instrumentation: business tasks, usage from OpenAI / Azure OpenAI clients, background sending.

::

    from aifinops import sdk

    sender = sdk.Sender("https://aifinops.example.com", ingest_key="afo_...")
    client = sdk.instrument(AzureOpenAI(...), sender=sender, app="helpdesk")
    with sdk.task("ticket-42", use_case="triage", agent="classifier", sender=sender) as t:
        client.chat.completions.create(model="gpt-4o", messages=[...])
        t.succeed(value=Decimal("4.20"), currency="EUR")   # or fail(), escalate(), abandon(); default on exit

``sdk.record_retrieval(tokens, source=..., query=...)`` reports what a search put into the next call's prompt.

Usage is read from responses, streams included: a chat stream gets ``stream_options.include_usage`` when the
caller did not ask for it, and the extra usage chunk is then hidden from the caller. Events and outcomes go
to ``/api/events`` and ``/api/outcomes`` in background batches; the buffer is bounded (the oldest item is
dropped and counted when it is full) and nothing here ever blocks or raises into the application.
"""

from __future__ import annotations

from aifinops.sdk.instrument import instrument
from aifinops.sdk.retrieval import record_retrieval
from aifinops.sdk.sender import Sender
from aifinops.sdk.tasks import Task, configure, current_task, task

__all__ = ["Sender", "Task", "configure", "current_task", "instrument", "record_retrieval", "task"]
