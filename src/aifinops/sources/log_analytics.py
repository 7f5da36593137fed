"""Log Analytics / Application Insights logs through azure-monitor-query's ``LogsQueryClient``.

Every query covers a bounded window (at most ``window``) and accepts at most ``max_rows`` rows: the KQL asks
for one more, and an answer with more — or the service's own ``PartialError`` for a result over its limits
(reference/log-analytics.md §1.4, §6.2) — splits the window in halves and asks again. Other partial errors
keep the rows received and mark the chunk incomplete. Throttling: azure-core retries a 429 that carries
``Retry-After``; one without it (the SDK does not retry a POST then, §2.4) is retried here with back-off.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

from aifinops.errors import SourceAuthError, SourceError, SourceFormatError
from aifinops.sources._http import RetryPolicy
from aifinops.sources.log_queries import LogQuery

__all__ = ["DEFAULT_ENDPOINT", "LogAnalyticsClient", "LogsChunk", "is_resource_id"]

DEFAULT_ENDPOINT = "https://api.loganalytics.io"
_TOO_LARGE = ("E_QUERY_RESULT_SET_TOO_LARGE", "exceeded the internal")
_READER_ROLE = (
    "grant the identity the 'Log Analytics Reader' role on the workspace (or 'Reader' on the "
    "Application Insights resource)"
)


def is_resource_id(target: str) -> bool:
    """Whether a configured target is an ARM resource id (queried resource-centric) rather than a
    workspace GUID."""
    return target.strip().lower().startswith("/subscriptions/")


@dataclass(frozen=True, slots=True)
class LogsChunk:
    """The rows of one window as column → value (datetimes aware UTC; ``dynamic`` and ``decimal`` as the
    service's JSON text), and what was wrong with the answer. ``complete`` is False after a partial error
    that was not about size: the rows are real, but some may be missing."""

    start: dt.datetime
    end: dt.datetime
    rows: list[dict[str, Any]]
    issues: tuple[str, ...] = ()
    complete: bool = True
    queries: int = 1


@dataclass(frozen=True, slots=True)
class _Answer:
    rows: list[dict[str, Any]]
    error: str | None = None
    too_large: bool = False


class LogAnalyticsClient:
    """Runs :class:`~aifinops.sources.log_queries.LogQuery` queries over a workspace or a resource.

    ``credential`` is an azure-identity credential; ``client_kwargs`` reach ``LogsQueryClient`` (tests pass
    ``transport=`` to reach the emulator).
    """

    def __init__(
        self,
        credential: Any,
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        audience: str | None = None,
        window: dt.timedelta = dt.timedelta(hours=6),
        max_rows: int = 50_000,
        min_window: dt.timedelta = dt.timedelta(minutes=1),
        policy: RetryPolicy | None = None,
        **client_kwargs: Any,
    ) -> None:
        from azure.monitor.query import LogsQueryClient

        if audience:
            client_kwargs["audience"] = audience
        self._client = LogsQueryClient(credential, endpoint=endpoint, **client_kwargs)
        self.endpoint = endpoint
        self.window = window
        self.max_rows = max_rows
        self.min_window = min_window
        self._policy = policy or RetryPolicy(max_attempts=4, backoff_base=2.0)

    def read(
        self,
        target: str,
        query: LogQuery,
        *,
        start: dt.datetime,
        end: dt.datetime,
        params: Mapping[str, str] | None = None,
    ) -> Iterator[LogsChunk]:
        """The rows of ``query`` over ``[start, end)`` in time order, one chunk per window read.

        Raises SourceAuthError when the identity may not read ``target`` (naming the role), SourceError when
        a window stays over ``max_rows`` even at ``min_window``, or the service fails.
        """
        cursor = start
        while cursor < end:
            stop = min(cursor + self.window, end)
            yield from self._read_window(target, query, cursor, stop, params)
            cursor = stop

    def _read_window(
        self,
        target: str,
        query: LogQuery,
        start: dt.datetime,
        end: dt.datetime,
        params: Mapping[str, str] | None,
    ) -> Iterator[LogsChunk]:
        pending = [(start, end)]
        splits = 0
        while pending:
            a, b = pending.pop()
            answer = self._ask(target, query, a, b, params)
            if answer.too_large or len(answer.rows) > self.max_rows:
                if b - a <= self.min_window:
                    raise SourceError(
                        f"{query.name} on {target}: more than {self.max_rows} rows in {a:%Y-%m-%dT%H:%M:%SZ}"
                        f"..{b:%H:%M:%SZ} even in a window of {self.min_window}; raise "
                        "AIFINOPS_AZURE__LOGS__MAX_ROWS (at most 500000)"
                    )
                middle = a + (b - a) / 2
                middle -= dt.timedelta(microseconds=middle.microsecond)
                pending += [(middle, b), (a, middle)]  # the earlier half first
                splits += 1
                continue
            issues = (f"{query.name} on {target} {a:%Y-%m-%dT%H:%M}: partial result: {answer.error}",)
            yield LogsChunk(
                a,
                b,
                answer.rows,
                issues if answer.error else (),
                complete=answer.error is None,
                queries=splits + 1,
            )
            splits = 0

    def _ask(
        self,
        target: str,
        query: LogQuery,
        start: dt.datetime,
        end: dt.datetime,
        params: Mapping[str, str] | None,
    ) -> _Answer:
        kql = query.render(start, end, limit=self.max_rows + 1, params=params)
        result = self._send(target, kql, query.timespan(start, end))
        partial = getattr(result, "partial_error", None)
        tables = result.partial_data if partial is not None else result.tables
        rows = _rows(tables, query, target)
        if partial is None:
            return _Answer(rows)
        text = _error_text(partial)
        return _Answer(rows, text, too_large=any(marker in text for marker in _TOO_LARGE))

    def _send(self, target: str, kql: str, timespan: tuple[dt.datetime, dt.datetime]) -> Any:
        policy = self._policy
        for attempt in range(1, policy.max_attempts + 1):
            try:
                if is_resource_id(target):
                    return self._client.query_resource(target, kql, timespan=timespan)
                return self._client.query_workspace(target, kql, timespan=timespan)
            except HttpResponseError as exc:
                if exc.status_code == 429 and attempt < policy.max_attempts:
                    policy.sleep(min(policy.backoff_base * 2 ** (attempt - 1), policy.backoff_cap))
                    continue
                raise _source_error(target, exc) from exc
            except ClientAuthenticationError as exc:
                raise SourceAuthError(
                    f"cannot get a token for Log Analytics ({self.endpoint}) to read {target}: {exc.message}"
                ) from exc
            except ServiceRequestError as exc:
                raise SourceError(f"Log Analytics at {self.endpoint} unreachable ({target}): {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover


def _rows(tables: Any, query: LogQuery, target: str) -> list[dict[str, Any]]:
    """The first table's rows as dicts; the columns the query projects must all be there."""
    if not tables:
        return []
    table = tables[0]
    columns = list(table.columns)
    missing = [c for c in query.columns if c not in columns]
    if missing:
        raise SourceFormatError(
            f"{query.name} on {target}: the answer lacks column(s) {missing} (got {columns}); the table "
            "schema differs from the Azure Monitor table reference"
        )
    return [{c: _utc(v) for c, v in zip(columns, row, strict=False)} for row in table.rows]


def _utc(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return value


def _error_text(error: Any) -> str:
    """``code: message`` of a LogsQueryError (its message is the deepest inner error's, §2.3)."""
    return f"{getattr(error, 'code', '') or 'Error'}: {getattr(error, 'message', '') or error}"


def _source_error(target: str, exc: HttpResponseError) -> SourceError:
    status = exc.status_code
    detail = _error_text(exc.model) if exc.model is not None else str(exc.message)
    if status in (401, 403):
        return SourceAuthError(f"Log Analytics refused {target} ({status} {detail[:200]}); {_READER_ROLE}")
    if status == 404:
        return SourceError(
            f"Log Analytics has no workspace or resource {target} (404 {detail[:200]}); check "
            "AIFINOPS_AZURE__LOGS__WORKSPACES (a workspace GUID from its Properties blade, or an ARM id)"
        )
    return SourceError(f"Log Analytics query on {target} failed with {status}: {detail[:300]}")
