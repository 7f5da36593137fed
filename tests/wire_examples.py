"""Verbatim examples of the reference wire formats, shared by the tests of several modules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The usage of a chat completion with cached and reasoning tokens (reference/openai-wire.md).
CHAT_USAGE: dict[str, Any] = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 128,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}
#: The usage of a Responses API answer with cached and reasoning tokens (reference/openai-wire.md).
RESPONSES_USAGE: dict[str, Any] = {
    "input_tokens": 1200,
    "input_tokens_details": {"cached_tokens": 1024},
    "output_tokens": 300,
    "output_tokens_details": {"reasoning_tokens": 128},
    "total_tokens": 1500,
}
#: Azure's ``prompt_filter_results`` of a prompt that passed every filter (reference/openai-wire.md).
PROMPT_FILTER_RESULTS: list[dict[str, Any]] = [
    {
        "prompt_index": 0,
        "content_filter_results": {
            "hate": {"filtered": False, "severity": "safe"},
            "self_harm": {"filtered": False, "severity": "safe"},
            "sexual": {"filtered": False, "severity": "safe"},
            "violence": {"filtered": False, "severity": "safe"},
            "jailbreak": {"filtered": False, "detected": False},
        },
    }
]

#: The example body of reference/otel-genai.md §4.1, verbatim.
OTLP_REFERENCE_BODY = b"""{"resourceSpans": [{
  "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "rag-api"}}]},
  "scopeSpans": [{
    "scope": {"name": "opentelemetry.instrumentation.openai_v2", "version": "2.1b0"},
    "spans": [{
      "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
      "parentSpanId": "eee19b7ec3c1b173",
      "name": "chat gpt-4o", "kind": 3,
      "startTimeUnixNano": "1767225600000000000", "endTimeUnixNano": "1767225601250000000",
      "attributes": [
        {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
        {"key": "gen_ai.provider.name", "value": {"stringValue": "azure.ai.openai"}},
        {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-prod"}},
        {"key": "gen_ai.response.model", "value": {"stringValue": "gpt-4o-2024-11-20"}},
        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1200"}},
        {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "300"}},
        {"key": "gen_ai.usage.cache_read.input_tokens", "value": {"intValue": "1024"}},
        {"key": "gen_ai.response.finish_reasons", "value": {"arrayValue": {"values": [{"stringValue": "stop"}]}}},
        {"key": "server.address", "value": {"stringValue": "my-aoai.openai.azure.com"}},
        {"key": "server.port", "value": {"intValue": "443"}}],
      "status": {"code": 0}
    }]
  }]
}]}"""  # noqa: E501 (verbatim)
#: The trace of :data:`OTLP_REFERENCE_BODY`.
OTLP_REFERENCE_TRACE = "5b8efff798038103d269b633813fc60c"


#: The chunk Azure opens a chat completion stream with: no choices, the prompt's filter results (§3.1).
PROMPT_FILTER_CHUNK: dict[str, Any] = {
    "id": "",
    "object": "",
    "created": 0,
    "model": "",
    "choices": [],
    "prompt_filter_results": PROMPT_FILTER_RESULTS,
}


def chat_completion(
    *, model: str, content: str, finish_reason: str, choice_filter: Mapping[str, Any]
) -> dict[str, Any]:
    """An Azure chat completion in one JSON body, with :data:`CHAT_USAGE` (reference/openai-wire.md)."""
    return {
        "id": "chatcmpl-Ab12Cd34",
        "object": "chat.completion",
        "created": 1767225600,
        "model": model,
        "system_fingerprint": "fp_abc123",
        "prompt_filter_results": PROMPT_FILTER_RESULTS,
        "choices": [
            {
                "index": 0,
                "finish_reason": finish_reason,
                "message": {"role": "assistant", "content": content},
                "content_filter_results": choice_filter,
            }
        ],
        "usage": CHAT_USAGE,
    }
