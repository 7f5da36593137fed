"""The gateway's Prometheus metrics: plain counters on the call path, read by a collector at scrape time.

Refused calls are counted here and never recorded as usage events.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from aifinops.gateway.recorder import Recorder
from aifinops.jobs.price_cache import PriceCache

__all__ = ["CONTENT_TYPE", "GatewayMetrics"]

#: The Prometheus text format served on ``/metrics`` (the format ``generate_latest`` writes).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4.encode()
_CALLS = {
    "requests": "calls to a gateway route",
    "refused": "calls refused by a limit or a budget",
    "unauthorized": "calls without a valid gateway key",
    "upstream_attempts": "requests sent upstream, fallbacks included",
    "upstream_errors": "upstream requests that failed without an answer",
    "fallbacks": "attempts on a fallback deployment",
}
_EVENTS = {
    "recorded": "usage events handed to the recorder",
    "ingested": "usage events written to the store",
    "spooled": "usage events written to the spool file while the store was down",
    "replayed": "usage events replayed from the spool file",
    "store_errors": "failed writes to the store",
    "rejected": "unreadable spool lines set aside",
}


class GatewayMetrics(Collector):
    """Counters of one gateway process on its own registry; ``counts`` is what the call path increments."""

    def __init__(self, recorder: Recorder, prices: PriceCache | None = None) -> None:
        self.counts: dict[str, int] = dict.fromkeys(_CALLS, 0)
        self._recorder = recorder
        self._prices = prices
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format."""
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        for name, help_text in _CALLS.items():
            yield CounterMetricFamily(f"aifinops_gateway_{name}", help_text, value=self.counts[name])
        recorder = self._recorder
        for name, value in recorder.counts.items():
            help_text = _EVENTS.get(name, name)
            yield CounterMetricFamily(f"aifinops_gateway_usage_events_{name}", help_text, value=value)
        if self._prices is not None:
            yield CounterMetricFamily(
                "aifinops_gateway_price_book_errors",
                "failed price book refreshes (the last good book stays in use)",
                value=self._prices.errors,
            )
        yield GaugeMetricFamily(
            "aifinops_gateway_usage_events_queued",
            "usage events waiting to be written",
            value=recorder.pending,
        )
        yield GaugeMetricFamily(
            "aifinops_gateway_store_up",
            "1 while the store accepts writes, 0 while events go to the spool",
            value=int(recorder.store_available),
        )
