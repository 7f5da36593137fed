"""OpenAI wire readers shared by the gateway, the SDK and OTLP mapping: usage from JSON bodies and SSE
streams, checked against the real sample files (samples/FACTS.md §6), and from SDK objects; status."""

from __future__ import annotations

from types import SimpleNamespace

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifinops.domain import EventKind, EventStatus
from aifinops.sources.openai_wire import (
    StreamMeter,
    Usage,
    content_filtered,
    estimate_input_tokens,
    is_azure_endpoint,
    is_usage_chunk,
    request_max_tokens,
    split_model,
    status_of,
    status_of_error,
    tokens_of_chars,
    usage_from_body,
    usage_numbers,
    want_stream_usage,
)
from tests.factories import SAMPLES_DIR

SAMPLES = SAMPLES_DIR / "openai-responses"
SK = SAMPLES / "semantic-kernel"


def _json(name: str) -> object:
    return orjson.loads((SAMPLES / name).read_bytes())


def _meter(data: bytes, cuts: list[int] | None = None, *, drop: bool = False) -> tuple[bytes, StreamMeter]:
    meter = StreamMeter(drop_usage_chunk=drop)
    points = sorted({c % (len(data) + 1) for c in cuts or []})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    out = b"".join(meter.feed(piece) for piece in pieces) + meter.close()
    return out, meter


def _data_events(raw: bytes) -> list[bytes]:
    return [line[6:] for line in raw.replace(b"\r\n", b"\n").split(b"\n") if line.startswith(b"data: ")]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("azure-rest-api-specs/chat_completions_2024-10-21.json", Usage(33, 0, 557, 0)),
        ("azure-rest-api-specs/completions_2024-10-21.json", Usage(6, 0, 20, 0)),
        (
            "semantic-kernel/azureopenai_chat_completion_test_response.json",
            Usage(55, 0, 100, 0, model="gpt-4"),
        ),
        (
            "semantic-kernel/azureopenai_chat_completion_multiple_function_calls_test_response.json",
            Usage(82, 0, 17, 0),
        ),
        ("semantic-kernel/azureopenai_chat_completion_with_data_test_response.json", Usage(55, 0, 100, 0)),
        ("semantic-kernel/azureopenai_text_completion_test_response.json", Usage(55, 0, 100, 0, model="ada")),
        ("semantic-kernel/azureopenai_text-embeddings-response.json", Usage(7, 0, 0, 0)),
        ("semantic-kernel/azureopenai_text-embeddings-multiple-response.json", Usage(7, 0, 0, 0)),
    ],
)
def test_usage_of_sample_json_bodies(name: str, expected: Usage) -> None:
    body = _json(name)
    if "responses" in body and isinstance(body, dict) and "200" in body.get("responses", {}):  # spec example
        body = body["responses"]["200"]["body"]
    usage = usage_from_body(body)
    assert (usage.input_tokens, usage.cached_input_tokens, usage.output_tokens, usage.reasoning_tokens) == (
        expected.input_tokens,
        expected.cached_input_tokens,
        expected.output_tokens,
        expected.reasoning_tokens,
    )
    if expected.model:
        assert usage.model == expected.model


def test_reference_usage_with_cached_and_reasoning_tokens() -> None:
    body = {
        "model": "gpt-4o-2024-11-20",
        "choices": [{"index": 0, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": 1200,
            "completion_tokens": 300,
            "total_tokens": 1500,
            "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 128},
        },
    }
    assert usage_from_body(body) == Usage(
        1200, 1024, 300, 128, model="gpt-4o-2024-11-20", finish_reason="stop"
    )
    responses = {
        "object": "response",
        "status": "completed",
        "model": "o3-mini",
        "usage": {
            "input_tokens": 1200,
            "input_tokens_details": {"cached_tokens": 1024},
            "output_tokens": 300,
            "output_tokens_details": {"reasoning_tokens": 128},
        },
    }
    assert usage_from_body(responses) == Usage(1200, 1024, 300, 128, model="o3-mini")
    nulls = {"usage": {"prompt_tokens": 5, "completion_tokens": None, "prompt_tokens_details": None}}
    assert usage_from_body(nulls) == Usage(5, 0, 0, 0)


def test_async_filter_stream_has_no_usage_and_passes_through_unchanged() -> None:
    raw = (SK / "azureopenai_chat_completion_streaming_async_filter_response.txt").read_bytes()
    out, meter = _meter(raw)
    assert _data_events(out) == _data_events(raw)
    assert len(_data_events(raw)) == 7 and _data_events(raw)[-1] == b"[DONE]"  # FACTS.md: 7 events
    usage = meter.usage()
    assert not meter.saw_usage and usage.model == "gpt-4o-2024-05-13" and not usage.content_filtered


def test_usage_chunk_of_openai_stream_is_read_and_dropped_when_unwanted() -> None:
    raw = (SK / "openai_chat_completion_streaming_with_usage_test_response.txt").read_bytes()
    kept, meter = _meter(raw, drop=False)
    assert (meter.usage().input_tokens, meter.usage().output_tokens) == (13, 8)
    assert _data_events(kept) == _data_events(raw)
    dropped, meter = _meter(raw, drop=True)
    assert (meter.usage().input_tokens, meter.usage().output_tokens) == (13, 8)
    events = _data_events(dropped)
    assert len(events) == len(_data_events(raw)) - 1 and events[-1] == b"[DONE]"
    assert all(b'"usage":{' not in e for e in events)


def test_usage_inside_a_content_chunk_is_never_dropped() -> None:
    raw = (SK / "azureopenai_text_completion_streaming_test_response.txt").read_bytes()
    out, meter = _meter(raw, drop=True)
    assert _data_events(out) == _data_events(raw)
    assert (meter.usage().input_tokens, meter.usage().output_tokens, meter.usage().model) == (55, 100, "ada")


@pytest.mark.parametrize("name", sorted(p.name for p in SK.glob("*.txt")))
@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_any_chunking_of_a_sample_stream_gives_the_same_bytes_and_usage(name: str, cuts: list[int]) -> None:
    raw = (SK / name).read_bytes()
    whole, whole_meter = _meter(raw, drop=True)
    split, split_meter = _meter(raw, cuts, drop=True)
    assert split == whole
    assert split_meter.usage() == whole_meter.usage()


def test_content_filter_finish_and_failed_response_are_seen() -> None:
    chunk = {
        "id": "c",
        "model": "gpt-4o-2024-11-20",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "content_filter"}],
    }
    _, meter = _meter(b"data: " + orjson.dumps(chunk) + b"\n\ndata: [DONE]\n\n")
    assert meter.usage().content_filtered
    failed = {
        "type": "response.failed",
        "sequence_number": 3,
        "response": {"model": "gpt-4o", "status": "failed", "usage": None},
    }
    _, meter = _meter(b"event: response.failed\ndata: " + orjson.dumps(failed) + b"\n\n")
    assert meter.usage().failed


def test_responses_stream_usage_comes_from_response_completed() -> None:
    completed = {
        "type": "response.completed",
        "sequence_number": 9,
        "response": {
            "object": "response",
            "model": "gpt-4o-2024-11-20",
            "status": "completed",
            "usage": {
                "input_tokens": 40,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 9,
                "output_tokens_details": {"reasoning_tokens": 2},
                "total_tokens": 49,
            },
        },
    }
    raw = b"event: response.completed\r\ndata: " + orjson.dumps(completed) + b"\r\n\r\n"
    out, meter = _meter(raw, drop=False)
    assert meter.usage() == Usage(40, 0, 9, 2, model="gpt-4o-2024-11-20")
    assert b"response.completed" in out


def test_include_usage_is_requested_only_when_the_client_did_not() -> None:
    body: dict[str, object] = {"stream": True}
    assert want_stream_usage(body, EventKind.CHAT) is False
    assert body["stream_options"] == {"include_usage": True}
    asked: dict[str, object] = {
        "stream": True,
        "stream_options": {"include_usage": True, "include_obfuscation": False},
    }
    assert want_stream_usage(asked, EventKind.CHAT) is True
    assert asked["stream_options"] == {"include_usage": True, "include_obfuscation": False}
    responses: dict[str, object] = {"stream": True}
    assert want_stream_usage(responses, EventKind.RESPONSES) is True and "stream_options" not in responses


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o-2024-11-20", ("gpt-4o", "2024-11-20")),
        ("gpt-4o-mini-2024-07-18", ("gpt-4o-mini", "2024-07-18")),
        ("o3-mini", ("o3-mini", None)),
        ("", (None, None)),
        (None, (None, None)),
    ],
)
def test_split_model(model: str | None, expected: tuple[str | None, str | None]) -> None:
    assert split_model(model) == expected


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, None, EventStatus.OK),
        (429, None, EventStatus.RATE_LIMITED),
        (408, None, EventStatus.TIMEOUT),
        (400, {"error": {"code": "content_filter"}}, EventStatus.CONTENT_FILTERED),
        (400, {"error": {"code": "invalid_request_error"}}, EventStatus.ERROR),
        (503, None, EventStatus.ERROR),
    ],
)
def test_status_of(status: int, body: object, expected: EventStatus) -> None:
    assert status_of(status, body) is expected


def test_input_estimate_counts_text_parts_images_and_token_arrays() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "x" * 400},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "y" * 40},
                    {"type": "image_url", "image_url": {"url": "https://i"}},
                ],
            },
        ]
    }
    assert estimate_input_tokens(body) == 100 + 10 + 85 + 2 * 4
    assert estimate_input_tokens({"input": [[1, 2, 3], [4, 5]]}) == 5
    assert estimate_input_tokens({"input": "z" * 8, "instructions": "w" * 4}) == 3
    assert request_max_tokens({"max_completion_tokens": 50, "max_tokens": 9}) == 50
    assert request_max_tokens({"max_output_tokens": 7}) == 7 and request_max_tokens({}) is None


@given(st.text(max_size=2000))
def test_estimate_grows_with_text(text: str) -> None:
    small = estimate_input_tokens({"messages": [{"role": "user", "content": text}]})
    large = estimate_input_tokens({"messages": [{"role": "user", "content": text + "more words"}]})
    assert 0 < small <= large


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
