"""The Azure Monitor Logs query API over fixture tables (reference/log-analytics.md §1).

Not a KQL engine. It recognises the queries aifinops sends (:data:`aifinops.sources.log_queries.QUERIES`)
by matching their templates, reads the window, row limit and string parameters from the query text,
applies the body's ``timespan`` too (the service intersects both), and computes the answer in Python over
the rows seeded in :attr:`EmulatorState.log_tables`. Any other query is answered like the service answers a
query it cannot run (400 ``BadArgumentError``). Answers have the wire shape of §1.3: one ``PrimaryResult``
table, typed columns, cells encoded as the service encodes them; more rows than
:attr:`EmulatorState.logs_record_limit` come back truncated with a ``PartialError`` (§1.4).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import isodate

from aifinops.emulator.log_tables import SCHEMAS
from aifinops.emulator.state import EmulatorState
from aifinops.sources.log_queries import BILLED_TABLES, QUERIES, TOKEN_METRIC_NAMES, LogQuery

__all__ = ["LogsRejected", "run_logs_query"]

_DATETIME = r"datetime\((?P<{}>[0-9T:.\-]+Z)\)"
_STRING = r'"(?P<{}>(?:[^"\\]|\\.)*)"'
Row = Mapping[str, Any]
Columns = list[tuple[str, str]]
_T = TypeVar("_T")


class LogsRejected(Exception):
    """An answer other than 200: ``status`` and the ``{"error": …}`` body."""

    def __init__(self, status: int, code: str, message: str, inner: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"error": {"message": message, "code": code}}
        if inner:
            self.body["error"]["innererror"] = inner


def _pattern(query: LogQuery) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", query.template)
    out, seen = [], set()
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(re.escape(part))
        elif part in seen:
            out.append(f"(?P={part})")
        else:
            seen.add(part)
            out.append(
                r"(?P<limit>\d+)"
                if part == "limit"
                else (_DATETIME if "start" in part or "end" in part else _STRING).format(part)
            )
    return re.compile("".join(out), re.DOTALL)


_PATTERNS = {name: _pattern(q) for name, q in QUERIES.items()}


@dataclass(frozen=True, slots=True)
class _Ask:
    """What one recognised query asks: its window, the padded window of a joined table, the row limit."""

    start: dt.datetime
    end: dt.datetime
    padded: tuple[dt.datetime, dt.datetime]
    span: tuple[dt.datetime, dt.datetime] | None
    limit: int
    params: Mapping[str, str]

    def within(self, row: Row, *, padded: bool = False) -> bool:
        ts = row.get("TimeGenerated")
        if not isinstance(ts, dt.datetime):
            return False
        lo, hi = self.padded if padded else (self.start, self.end)
        if self.span is not None and not self.span[0] <= ts < self.span[1]:
            return False
        return lo <= ts < hi


def _moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)


def _timespan(raw: Any, now: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """The body's ``timespan``: ``start/end``, ``start/duration``, or a duration ending now."""
    if raw in (None, ""):
        return None
    try:
        first, _, second = str(raw).partition("/")
        if not second:
            return now - isodate.parse_duration(first), now
        start = _moment(first)
        return (
            (start, start + isodate.parse_duration(second))
            if second.startswith("P")
            else (start, _moment(second))
        )
    except (ValueError, isodate.ISO8601Error) as exc:
        raise LogsRejected(400, "BadArgumentError", f"Invalid timespan {raw!r}: {exc}") from exc


def _recognise(kql: str, span: tuple[dt.datetime, dt.datetime] | None) -> tuple[str, _Ask]:
    for name, pattern in _PATTERNS.items():
        match = pattern.fullmatch(kql.strip())
        if match is None:
            continue
        groups = match.groupdict()
        start, end = _moment(groups.pop("start")), _moment(groups.pop("end"))
        padded_start, padded_end = groups.pop("padded_start", None), groups.pop("padded_end", None)
        padded = (_moment(padded_start), _moment(padded_end)) if padded_start and padded_end else (start, end)
        limit = int(groups.pop("limit"))
        params = {k: re.sub(r"\\(.)", r"\1", v) for k, v in groups.items() if v is not None}
        return name, _Ask(start, end, padded, span, limit, params)
    raise LogsRejected(
        400,
        "BadArgumentError",
        "The request had some invalid properties",
        {"code": "SemanticError", "message": "The emulator answers only the queries aifinops sends"},
    )


def _hour(ts: dt.datetime) -> dt.datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def _nonempty(rows: list[Row], column: str) -> Any:
    return next((r[column] for r in rows if r.get(column) not in (None, "")), None)


def _maximum(rows: list[Row], column: str, cast: Callable[[Any], Any] = lambda v: v) -> Any:
    values = [cast(r[column]) for r in rows if r.get(column) is not None]
    return max(values) if values else None


_APIM_COLUMNS: Columns = [
    ("TimeGenerated", "datetime"),
    ("CorrelationId", "string"),
    ("RequestId", "string"),
    ("DeploymentName", "string"),
    ("ModelName", "string"),
    ("OperationName", "string"),
    ("ApiVersion", "string"),
    ("Region", "string"),
    ("IsStreamCompletion", "int"),
    ("PromptTokens", "int"),
    ("CompletionTokens", "int"),
    ("TotalTokens", "int"),
    ("Rows", "long"),
    ("ApimSubscriptionId", "string"),
    ("ProductId", "string"),
    ("ApiId", "string"),
    ("BackendId", "string"),
    ("UserId", "string"),
    ("CallerIpAddress", "string"),
    ("ResponseCode", "int"),
    ("BackendResponseCode", "int"),
    ("IsRequestSuccess", "bool"),
    ("TotalTime", "long"),
    ("RequestHeaders", "dynamic"),
    ("_ResourceId", "string"),
]
_GATEWAY = [c for c, _ in _APIM_COLUMNS[13:24]]


def _apim_requests(table: Callable[[str], Iterable[Row]], ask: _Ask) -> tuple[Columns, list[list[Any]]]:
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in table("ApiManagementGatewayLlmLog"):
        if ask.within(r):
            groups[r.get("CorrelationId") or ""].append(r)
    gateway: dict[str, Row] = {}
    for r in table("ApiManagementGatewayLogs"):  # summarize arg_max(TimeGenerated, …) by CorrelationId
        key = r.get("CorrelationId") or ""
        if ask.within(r, padded=True) and (
            key not in gateway or r["TimeGenerated"] > gateway[key]["TimeGenerated"]
        ):
            gateway[key] = r
    out = []
    for correlation, rows in groups.items():
        deployment, model = _nonempty(rows, "DeploymentName"), _nonempty(rows, "ModelName")
        total = _maximum(rows, "TotalTokens")
        if not deployment and not model and total is None:
            continue
        g = gateway.get(correlation, {})
        out.append(
            [
                min(r["TimeGenerated"] for r in rows),
                correlation,
                _nonempty(rows, "RequestId"),
                deployment,
                model,
                _nonempty(rows, "OperationName"),
                _nonempty(rows, "ApiVersion"),
                _nonempty(rows, "Region"),
                _maximum(rows, "IsStreamCompletion", int),
                _maximum(rows, "PromptTokens"),
                _maximum(rows, "CompletionTokens"),
                total,
                len(rows),
                *(g.get(c) for c in _GATEWAY),
                _nonempty(rows, "_ResourceId"),
            ]
        )
    return _APIM_COLUMNS, out


def _summed(
    rows: Iterable[_T], key: Callable[[_T], tuple[Any, ...]], values: Callable[[_T], tuple[float, ...]]
) -> list[list[Any]]:
    sums: dict[tuple[Any, ...], list[float]] = {}
    for r in rows:
        slot = sums.setdefault(key(r), [0.0] * len(values(r)))
        for i, v in enumerate(values(r)):
            slot[i] += v
    return [[*k, *v] for k, v in sums.items()]


def _token_metrics(table: Callable[[str], Iterable[Row]], ask: _Ask) -> tuple[Columns, list[list[Any]]]:
    rows = (r for r in table("AppMetrics") if ask.within(r) and r.get("Name") in TOKEN_METRIC_NAMES)
    out = _summed(
        rows,
        lambda r: (
            _hour(r["TimeGenerated"]),
            r.get("Name") or "",
            json.dumps(r.get("Properties") or {}, separators=(",", ":")),  # tostring(dynamic): compact JSON
            r.get("_ResourceId") or "",
        ),
        lambda r: (float(r.get("Sum") or 0), float(r.get("ItemCount") or 0)),
    )
    for row in out:
        row[-1] = int(row[-1])
    columns = [("TimeGenerated", "datetime"), ("Name", "string"), ("Dimensions", "string")]
    return [*columns, ("_ResourceId", "string"), ("Sum", "real"), ("ItemCount", "long")], out


def _projected(table: str, names: tuple[str, ...], rows: Iterable[Row]) -> tuple[Columns, list[list[Any]]]:
    schema = SCHEMAS[table]
    return [(c, schema[c]) for c in names], [[r.get(c) for c in names] for r in rows]


def _dependencies(table: Callable[[str], Iterable[Row]], ask: _Ask) -> tuple[Columns, list[list[Any]]]:
    def genai(r: Row) -> bool:
        return bool(str((r.get("Properties") or {}).get("gen_ai.operation.name") or ""))

    rows = (r for r in table("AppDependencies") if ask.within(r) and genai(r))
    return _projected("AppDependencies", QUERIES["genai_dependencies"].columns, rows)


def _outcomes(table: Callable[[str], Iterable[Row]], ask: _Ask) -> tuple[Columns, list[list[Any]]]:
    rows = (r for r in table("AppEvents") if ask.within(r) and r.get("Name") == ask.params["event"])
    return _projected("AppEvents", QUERIES["outcome_events"].columns, rows)


def _usage(table: Callable[[str], Iterable[Row]], ask: _Ask) -> tuple[Columns, list[list[Any]]]:
    rows = (r for r in table("Usage") if ask.within(r) and r.get("IsBillable") is True)
    out = _summed(
        rows,
        lambda r: (
            _hour(r["TimeGenerated"]),
            r.get("DataType") or "",
            r.get("Solution") or "",
            r.get("ResourceUri") or "",
        ),
        lambda r: (float(r.get("Quantity") or 0),),
    )
    columns = [("TimeGenerated", "datetime"), ("DataType", "string"), ("Solution", "string")]
    return [*columns, ("ResourceUri", "string"), ("Quantity", "real")], out


def _billed(table: Callable[[str], Iterable[Row]], ask: _Ask) -> tuple[Columns, list[list[Any]]]:
    def rows() -> Iterator[tuple[str, Row]]:
        for name in BILLED_TABLES:  # union isfuzzy=true withsource=DataType …
            for r in table(name):
                if ask.within(r) and str(r.get("_IsBillable")).lower() == "true":
                    yield name, r

    out = _summed(
        rows(),
        lambda p: (_hour(p[1]["TimeGenerated"]), p[0], p[1].get("_ResourceId") or ""),
        lambda p: (float(p[1].get("_BilledSize") or 0),),
    )
    columns = [("TimeGenerated", "datetime"), ("DataType", "string"), ("_ResourceId", "string")]
    return [*columns, ("BilledBytes", "real")], out


_EVALUATORS: dict[str, Callable[[Callable[[str], Iterable[Row]], _Ask], tuple[Columns, list[list[Any]]]]] = {
    "apim_requests": _apim_requests,
    "apim_token_metrics": _token_metrics,
    "genai_dependencies": _dependencies,
    "outcome_events": _outcomes,
    "telemetry_usage": _usage,
    "telemetry_billed": _billed,
}


def _encode(value: Any, kind: str) -> Any:
    """A cell as the service writes it: datetimes ISO with ``Z`` and trimmed fraction, ``dynamic`` as JSON
    text (null when empty), ``decimal`` as text, strings never null."""
    if kind == "string":
        return "" if value is None else str(value)
    if value is None:
        return None
    if kind == "datetime":
        text = value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
        return text + "Z"
    if kind == "dynamic":
        return json.dumps(value, separators=(",", ":")) if value not in ({}, []) else None
    if kind == "decimal":
        return str(value)
    if kind in ("int", "long"):
        return int(value)
    return float(value) if kind == "real" else value


def _target_rows(
    state: EmulatorState, workspace: str | None, resource: str | None
) -> Callable[[str], Iterable[Row]]:
    if workspace is not None:
        tables = state.log_tables.get(workspace.lower())
        if tables is None:
            raise LogsRejected(404, "WorkspaceNotFoundError", f"The workspace {workspace} could not be found")
        return lambda name: tables.get(name, ())
    wanted = (resource or "").lower()
    if not any(
        str(r.get("_ResourceId", "")).lower() == wanted
        for t in state.log_tables.values()
        for rows in t.values()
        for r in rows
    ):
        raise LogsRejected(404, "ResourceNotFoundError", f"The resource {resource} was not found")
    return lambda name: (
        r
        for t in state.log_tables.values()
        for r in t.get(name, ())
        if str(r.get("_ResourceId", "")).lower() == wanted
    )


def run_logs_query(
    state: EmulatorState,
    body: Mapping[str, Any],
    *,
    workspace: str | None = None,
    resource: str | None = None,
    partial: bool = False,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Answer one query body for a workspace (GUID) or a resource id; ``partial`` adds a non-size
    ``PartialError`` to an otherwise complete answer."""
    kql = body.get("query")
    if not isinstance(kql, str) or not kql.strip():
        raise LogsRejected(
            400,
            "BadArgumentError",
            "The request had some invalid properties",
            {"code": "QueryMissing", "message": "query is required"},
        )
    tables = _target_rows(state, workspace, resource)  # an unknown workspace is 404 whatever the query
    span = _timespan(body.get("timespan"), now or dt.datetime.now(dt.UTC))
    name, ask = _recognise(kql, span)
    state.log_queries.append(
        {"query": name, "target": workspace or resource, "timespan": body.get("timespan")}
    )
    columns, rows = _EVALUATORS[name](tables, ask)
    rows = rows[: ask.limit]
    error = None
    if len(rows) > state.logs_record_limit:
        rows = rows[: state.logs_record_limit]
        error = _partial(
            f"Query result set has exceeded the internal record count limit {state.logs_record_limit} "
            "(E_QUERY_RESULT_SET_TOO_LARGE; see https://aka.ms/kustoquerylimits)"
        )
    elif partial:
        error = _partial("Something went wrong processing one of the shards of your query.")
    payload: dict[str, Any] = {
        "tables": [
            {
                "name": "PrimaryResult",
                "columns": [{"name": c, "type": t} for c, t in columns],
                "rows": [[_encode(v, t) for v, (_, t) in zip(row, columns, strict=True)] for row in rows],
            }
        ]
    }
    if error is not None:
        payload["error"] = error
    return payload


def _partial(inner_message: str) -> dict[str, Any]:
    return {
        "code": "PartialError",
        "message": "There were some errors when processing your query.",
        "details": [
            {
                "code": "EngineError",
                "message": "Something went wrong processing your query on the server.",
                "innererror": {
                    "code": "-2133196797",
                    "message": inner_message,
                    "severity": 2,
                    "severityName": "Error",
                },
            }
        ],
    }
