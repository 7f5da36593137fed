"""OpenAI wire readers shared by the gateway, the SDK and OTLP mapping (the gateway's JSON and SSE cases are
in tests/gateway/test_metering.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from aifinops.domain import EventStatus
from aifinops.sources.openai_wire import (
    Usage,
    content_filtered,
    is_azure_endpoint,
    is_usage_chunk,
    status_of,
    status_of_error,
    tokens_of_chars,
    usage_numbers,
)


def test_usage_numbers_read_sdk_objects_like_json() -> None:
    chat = SimpleNamespace(
        prompt_tokens=1200,
        completion_tokens=300,
        prompt_tokens_details=SimpleNamespace(cached_tokens=1024),
        completion_tokens_details=SimpleNamespace(reasoning_tokens=128),
    )
    as_json = {
        "prompt_tokens": 1200,
        "completion_tokens": 300,
        "prompt_tokens_details": {"cached_tokens": 1024},
        "completion_tokens_details": {"reasoning_tokens": 128},
    }
    assert usage_numbers(chat) == usage_numbers(as_json) == (1200, 1024, 300, 128)
    responses = SimpleNamespace(
        input_tokens=40, input_tokens_details=None, output_tokens=9, output_tokens_details=None
    )
    assert usage_numbers(responses) == (40, 0, 9, 0)
    embeddings = SimpleNamespace(prompt_tokens=8, total_tokens=8)
    assert usage_numbers(embeddings) == (8, 0, 0, 0)


def test_content_filter_and_usage_chunk_read_objects_and_json() -> None:
    assert content_filtered([SimpleNamespace(finish_reason="content_filter")])
    assert content_filtered([{"finish_reason": "stop"}, {"finish_reason": "content_filter"}])
    assert not content_filtered(None) and not content_filtered([{"finish_reason": "stop"}])
    assert is_usage_chunk([]) and not is_usage_chunk(None) and not is_usage_chunk([{"index": 0}])


def test_status_of_an_answer_reads_its_usage() -> None:
    assert status_of(200, None, Usage(5, 0, 1, 0)) is EventStatus.OK
    assert status_of(200, None, Usage(5, 0, 1, 0, content_filtered=True)) is EventStatus.CONTENT_FILTERED
    assert status_of(200, None, Usage(failed=True)) is EventStatus.ERROR
    assert status_of(429, None, Usage(content_filtered=True)) is EventStatus.RATE_LIMITED


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (429, "429", EventStatus.RATE_LIMITED),
        (408, None, EventStatus.TIMEOUT),
        (400, "content_filter", EventStatus.CONTENT_FILTERED),
        (400, "invalid_request_error", EventStatus.ERROR),
        (500, None, EventStatus.ERROR),
    ],
)
def test_status_of_an_error_answer(status: int, code: str | None, expected: EventStatus) -> None:
    assert status_of_error(status, code) is expected


@pytest.mark.parametrize(
    ("url", "azure"),
    [
        ("https://res.openai.azure.com/openai/v1/", True),
        ("https://res.cognitiveservices.azure.com", True),
        ("res.services.ai.azure.com", True),
        ("RES.OPENAI.AZURE.COM", True),
        ("https://api.openai.com/v1", False),
        ("", False),
    ],
)
def test_azure_endpoints_are_recognised_by_host(url: str, azure: bool) -> None:
    assert is_azure_endpoint(url) is azure


def test_tokens_of_chars_rounds_up() -> None:
    assert [tokens_of_chars(n) for n in (0, 1, 4, 5, 8)] == [0, 1, 1, 2, 2]
