"""The mutable world an emulator serves: seeded from domain values, counted as clients call it."""

from __future__ import annotations

import datetime as dt
import secrets
from collections import Counter, deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aifinops.domain import CostRecord, InventoryResource, MetricSample

__all__ = ["COGNITIVE_SERVICES_METRICS", "EmulatedBlob", "EmulatorState", "Fault"]

#: Metric names `Microsoft.CognitiveServices/accounts` accepts (reference/azure-monitor-openai.md §1).
COGNITIVE_SERVICES_METRICS: tuple[str, ...] = (
    "AzureOpenAIRequests",
    "ModelRequests",
    "ModelAvailabilityRate",
    "InputTokens",
    "OutputTokens",
    "TotalTokens",
    "AudioInputTokens",
    "AudioOutputTokens",
    "cacheReadInputTokens",
    "ephemeral5mInputTokens",
    "ephemeral1hInputTokens",
    "GeneratedImages",
    "TotalPages",
    "AnnotatedPages",
    "ProvisionedUtilization",
    "TimeToResponse",
    "NormalizedTimeToFirstToken",
    "NormalizedTimeBetweenTokens",
    "TimeToLastByte",
    "TokensPerSecond",
    "AzureOpenAIAvailabilityRate",
    "ProcessedPromptTokens",
    "GeneratedTokens",
    "TokenTransaction",
    "ActiveTokens",
    "AzureOpenAIContextTokensCacheMatchRate",
    "AzureOpenAIProvisionedManagedUtilizationV2",
    "AzureOpenAIProvisionedManagedUtilization",
    "AudioPromptTokens",
    "AudioCompletionTokens",
    "FineTunedTrainingHours",
    "RealtimeUsageTime",
    "AzureOpenAITimeToResponse",
    "AzureOpenAINormalizedTTFTInMS",
    "AzureOpenAINormalizedTBTInMS",
    "AzureOpenAITTLTInMS",
    "AzureOpenAITokenPerSecond",
    "RAITotalRequests",
    "RAIHarmfulRequests",
    "RAIRejectedRequests",
    "RAISystemEvent",
    "TotalCalls",
    "SuccessfulCalls",
    "ClientErrors",
    "ServerErrors",
    "TotalErrors",
    "BlockedCalls",
    "DataIn",
    "DataOut",
    "Latency",
    "Ratelimit",
    "SuccessRate",
    "TotalTokenCalls",
)


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected failure: the status to answer and the wait to ask for (seconds).

    For the Logs query API (service ``logs``), a negative ``retry_after`` sends no ``Retry-After`` header, and
    status 200 answers the query with its rows plus a ``PartialError``.
    """

    status: int
    retry_after: int = 1


@dataclass(frozen=True, slots=True)
class EmulatedBlob:
    """A blob in the emulated storage account."""

    content: bytes
    content_type: str = "application/octet-stream"
    last_modified: dt.datetime = dt.datetime(2026, 11, 2, 6, 0, tzinfo=dt.UTC)


@dataclass(slots=True)
class EmulatorState:
    """Everything the emulator knows. Seed the public fields; the emulator updates the counters.

    Services are keyed ``token``, ``cost``, ``metrics``, ``graph``, ``prices``, ``blob`` and ``logs`` in
    ``faults`` and ``calls``. ``forbidden_scopes`` answers 403 for ARM paths under those scopes (lower-cased)
    and for Log Analytics workspaces (their GUID) and resources named there.

    ``log_tables`` holds the Log Analytics fixture rows: workspace GUID (lower-cased) → table → rows built
    with :mod:`aifinops.emulator.log_tables`; ``log_queries`` records each query answered.
    """

    cost_records: list[CostRecord] = field(default_factory=list)
    metric_samples: list[MetricSample] = field(default_factory=list)
    resources: list[InventoryResource] = field(default_factory=list)
    prices: list[dict[str, Any]] = field(default_factory=list)
    blobs: dict[tuple[str, str, str], EmulatedBlob] = field(default_factory=dict)
    containers: set[tuple[str, str]] = field(default_factory=set)  # (account, container), also when empty
    # Put Block's uncommitted blocks: (account, container, blob name) → block id → bytes.
    blocks: dict[tuple[str, str, str], dict[str, bytes]] = field(default_factory=dict)
    supported_metrics: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {"microsoft.cognitiveservices/accounts": COGNITIVE_SERVICES_METRICS}
    )
    client_secrets: dict[str, str] = field(default_factory=dict)
    token_lifetime_seconds: int = 3600
    identity_header: str | None = None  # the managed identity endpoint's X-IDENTITY-HEADER; None: any
    forbidden_scopes: set[str] = field(default_factory=set)
    faults: dict[str, deque[Fault]] = field(default_factory=dict)
    cost_page_size: int = 1000
    graph_page_size: int = 1000
    prices_page_size: int = 1000
    fx_rates: dict[str, Decimal] = field(default_factory=dict)
    today: dt.date | None = None  # None: the real UTC date; relative timeframes and clamping use it
    log_tables: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    logs_record_limit: int = 500_000  # the service's record count limit per query (reference §1.7)
    log_queries: list[dict[str, Any]] = field(default_factory=list)
    issued_tokens: set[str] = field(default_factory=set)
    calls: Counter[str] = field(default_factory=Counter)

    def inject(self, service: str, *faults: Fault) -> None:
        """Queue failures that the next calls to ``service`` will receive, in order."""
        self.faults.setdefault(service, deque()).extend(faults)

    def next_fault(self, service: str) -> Fault | None:
        queue = self.faults.get(service)
        return queue.popleft() if queue else None

    def issue_token(self) -> str:
        token = "emu." + secrets.token_urlsafe(24)
        self.issued_tokens.add(token)
        return token

    def add_log_rows(self, workspace: str, rows: list[dict[str, Any]]) -> None:
        """Append fixture rows to their tables (each row's ``Type``) in ``workspace``."""
        tables = self.log_tables.setdefault(workspace.lower(), {})
        for row in rows:
            tables.setdefault(str(row["Type"]), []).append(row)

    def put_blob(self, account: str, container: str, name: str, blob: EmulatedBlob) -> None:
        self.blobs[(account, container, name)] = blob
        self.containers.add((account, container))
