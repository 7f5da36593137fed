"""OTLP/HTTP trace exports (JSON or protobuf) decoded into spans.

Pure: bytes in, spans out. Wire format: the reference otel-genai.md (OTLP JSON mapping in §4.1).
The GenAI span → usage event mapping lives in :mod:`aifinops.sources.otlp_genai`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from aifinops.errors import SourceFormatError

__all__ = [
    "AttrValue",
    "Span",
    "decode_otlp_json",
    "decode_otlp_protobuf",
]

AttrValue = str | bool | int | float | bytes | tuple["AttrValue", ...] | Mapping[str, "AttrValue"] | None

_HEX = re.compile(r"[0-9a-fA-F]*")
_DECIMAL = re.compile(r"-?[0-9]{1,20}")


@dataclass(frozen=True, slots=True)
class Span:
    """One decoded OTLP span with its resource attributes; ids are lower-case hex."""

    trace_id: str
    span_id: str
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: Mapping[str, AttrValue] = field(default_factory=dict)
    resource: Mapping[str, AttrValue] = field(default_factory=dict)
    status_code: int = 0
    status_message: str = ""
    parent_span_id: str = ""
    scope: str = ""


def decode_otlp_json(body: bytes) -> list[Span]:
    """The spans of an ``ExportTraceServiceRequest`` in the OTLP JSON encoding (reference §4.1).

    Read straight from the parsed JSON: protobuf's generic JSON parser is ten times slower and expects
    base64 where OTLP sends hex ids. Unknown fields are ignored, as receivers must.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise SourceFormatError(f"OTLP body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SourceFormatError(f"OTLP body must be a JSON object, got {type(data).__name__}")
    spans: list[Span] = []
    for i, rs in enumerate(_items(data, "resourceSpans", "")):
        rpath = f"resourceSpans[{i}]"
        resource = _json_attributes(_object(rs, "resource", rpath), f"{rpath}.resource")
        for j, ss in enumerate(_items(rs, "scopeSpans", rpath)):
            spath = f"{rpath}.scopeSpans[{j}]"
            scope = str(_object(ss, "scope", spath).get("name") or "")
            for k, raw in enumerate(_items(ss, "spans", spath)):
                spans.append(_json_span(raw, resource, scope, f"{spath}.spans[{k}]"))
    return spans


def _items(parent: dict[str, Any], key: str, path: str) -> list[dict[str, Any]]:
    items = parent.get(key)
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise SourceFormatError(f"{path + '.' if path else ''}{key} must be an array of objects")
    return items


def _object(parent: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SourceFormatError(f"{path}.{key} must be an object, got {type(value).__name__}")
    return value


def _json_span(raw: dict[str, Any], resource: Mapping[str, AttrValue], scope: str, path: str) -> Span:
    status = _object(raw, "status", path)
    parent = _json_id(raw.get("parentSpanId"), f"{path}.parentSpanId")
    return Span(
        trace_id=_hex_id(_json_id(raw.get("traceId"), f"{path}.traceId"), 16, f"{path}.traceId"),
        span_id=_hex_id(_json_id(raw.get("spanId"), f"{path}.spanId"), 8, f"{path}.spanId"),
        parent_span_id=_hex_id(parent, 8, f"{path}.parentSpanId") if parent else "",
        name=str(raw.get("name") or ""),
        kind=_json_int(raw.get("kind", 0), f"{path}.kind"),
        start_ns=_json_int(raw.get("startTimeUnixNano", 0), f"{path}.startTimeUnixNano"),
        end_ns=_json_int(raw.get("endTimeUnixNano", 0), f"{path}.endTimeUnixNano"),
        attributes=_json_attributes(raw, path),
        resource=resource,
        status_code=_json_int(status.get("code", 0), f"{path}.status.code"),
        status_message=str(status.get("message") or ""),
        scope=scope,
    )


def _json_id(value: Any, path: str) -> bytes:
    if value is None or value == "":
        return b""
    if not isinstance(value, str) or not _HEX.fullmatch(value) or len(value) % 2:
        raise SourceFormatError(f"{path} must be hex (OTLP JSON uses hex, not base64), got {value!r}")
    return bytes.fromhex(value)


def _json_int(value: Any, path: str) -> int:
    """A 64-bit integer: a decimal string in OTLP JSON, though numbers are accepted too."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return int(value)
    raise SourceFormatError(f"{path} must be an integer (a decimal string in OTLP JSON), got {value!r}")


def _json_double(raw: Any, path: str) -> float:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, str):
        try:  # proto3 JSON spells doubles as strings too, including "NaN" and "Infinity"
            return float(raw)
        except ValueError:
            pass
    raise SourceFormatError(f"{path} must be a number, got {raw!r}")


def _json_attributes(parent: dict[str, Any], path: str, key: str = "attributes") -> dict[str, AttrValue]:
    out: dict[str, AttrValue] = {}
    for n, kv in enumerate(_items(parent, key, path)):
        name = kv.get("key")
        if not isinstance(name, str):
            raise SourceFormatError(f"{path}.{key}[{n}].key must be a string, got {name!r}")
        value = kv.get("value")
        out[name] = _json_value(value, f"{path}.{key}[{n}].value") if value is not None else None
    return out


def _json_value(value: Any, path: str) -> AttrValue:
    """An ``AnyValue``: one of stringValue, boolValue, intValue, doubleValue, arrayValue, kvlistValue, …"""
    if not isinstance(value, dict):
        raise SourceFormatError(f"{path} must be an AnyValue object, got {value!r}")
    if "stringValue" in value:
        return str(value["stringValue"])
    if "boolValue" in value:
        return value["boolValue"] is True
    if "intValue" in value:
        return _json_int(value["intValue"], f"{path}.intValue")
    if "doubleValue" in value:
        return _json_double(value["doubleValue"], f"{path}.doubleValue")
    if "arrayValue" in value:
        items = _items(_object(value, "arrayValue", path), "values", f"{path}.arrayValue")
        return tuple(_json_value(v, f"{path}.arrayValue.values[{n}]") for n, v in enumerate(items))
    if "kvlistValue" in value:
        return _json_attributes(_object(value, "kvlistValue", path), f"{path}.kvlistValue", "values")
    if "bytesValue" in value:
        try:
            return base64.b64decode(str(value["bytesValue"]), validate=True)
        except ValueError as exc:
            raise SourceFormatError(f"{path}.bytesValue must be base64, got {value['bytesValue']!r}") from exc
    return None  # an empty AnyValue is legal: the attribute has no value


def decode_otlp_protobuf(body: bytes) -> list[Span]:
    """The spans of a binary protobuf ``ExportTraceServiceRequest``."""
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except (DecodeError, RecursionError) as exc:
        raise SourceFormatError(f"OTLP body is not a protobuf ExportTraceServiceRequest: {exc}") from exc
    return _spans(request)


def _spans(request: ExportTraceServiceRequest) -> list[Span]:
    spans: list[Span] = []
    for i, rs in enumerate(request.resource_spans):
        resource = {kv.key: _value(kv.value) for kv in rs.resource.attributes}
        for j, ss in enumerate(rs.scope_spans):
            spans += (
                _proto_span(s, resource, ss.scope.name, f"resourceSpans[{i}].scopeSpans[{j}].spans[{k}]")
                for k, s in enumerate(ss.spans)
            )
    return spans


def _proto_span(s: ProtoSpan, resource: Mapping[str, AttrValue], scope: str, path: str) -> Span:
    return Span(
        trace_id=_hex_id(s.trace_id, 16, f"{path}.traceId"),
        span_id=_hex_id(s.span_id, 8, f"{path}.spanId"),
        parent_span_id=_hex_id(s.parent_span_id, 8, f"{path}.parentSpanId") if s.parent_span_id else "",
        name=s.name,
        kind=s.kind,
        start_ns=s.start_time_unix_nano,
        end_ns=s.end_time_unix_nano,
        attributes={kv.key: _value(kv.value) for kv in s.attributes},
        resource=resource,
        status_code=s.status.code,
        status_message=s.status.message,
        scope=scope,
    )


def _hex_id(raw: bytes, size: int, path: str) -> str:
    if len(raw) != size or not any(raw):
        shown = raw.hex() or "(empty)"
        raise SourceFormatError(
            f"{path} must be {size} bytes ({2 * size} hex characters), not all zero; got {shown}"
        )
    return raw.hex()


def _value(value: AnyValue) -> AttrValue:
    which = value.WhichOneof("value")
    if which == "array_value":
        return tuple(_value(v) for v in value.array_value.values)
    if which == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    result: AttrValue = getattr(value, which) if which else None
    return result
