"""Retry-After handling shared by every Azure source."""

from __future__ import annotations

import httpx

from aifinops.sources._http import RetryPolicy, retry_after_seconds, send_with_retry


def test_cost_management_waits_for_the_longest_quota() -> None:
    response = httpx.Response(
        429,
        headers={
            "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after": "3",
            "x-ms-ratelimit-microsoft.costmanagement-entity-retry-after": "20",
            "x-ms-ratelimit-microsoft.costmanagement-tenant-retry-after": "7",
            "retry-after": "1",
        },
    )
    assert retry_after_seconds(response) == 20.0


def test_plain_retry_after_and_http_date() -> None:
    assert retry_after_seconds(httpx.Response(429, headers={"retry-after": "5"})) == 5.0
    assert retry_after_seconds(httpx.Response(429, headers={"retry-after-ms": "1500"})) == 1.5
    assert retry_after_seconds(httpx.Response(429)) is None


def test_429_then_success_sleeps_the_asked_time_and_5xx_backs_off() -> None:
    answers = iter(
        [httpx.Response(429, headers={"retry-after": "4"}), httpx.Response(503), httpx.Response(200)]
    )
    slept: list[float] = []
    client = httpx.Client(transport=httpx.MockTransport(lambda request: next(answers)))
    response = send_with_retry(
        client, client.build_request("GET", "https://example.test/x"), RetryPolicy(sleep=slept.append)
    )
    assert response.status_code == 200
    assert slept == [4.0, 1.0]
