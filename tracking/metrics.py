"""Operators' figures in Prometheus text format, per server process.

Enable with ``TRACKING["METRICS"] = True``; the figures are then served at
``/tracking/metrics``. Each process counts its own streams: scrape every process (or
every gunicorn worker through its own port) and sum. Keep the URL off the public
internet: it shows traffic volumes, never order data.
"""

from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_LATEST
REGISTRY = CollectorRegistry()

EVENTS_SENT = Counter(
    "tracking_events_sent", "Events written to streams.", registry=REGISTRY
)
RESUMES = Counter(
    "tracking_resumes",
    "Streams opened with a position (Last-Event-ID or lastEventId).",
    registry=REGISTRY,
)
RESETS = Counter(
    "tracking_resets",
    "Streams told to rebuild because their position was unknown or removed.",
    registry=REGISTRY,
)
SLOW_CONSUMERS_DROPPED = Counter(
    "tracking_slow_consumers_dropped",
    "Streams dropped because the client took no data within the send timeout.",
    registry=REGISTRY,
)


class HubCollector(Collector):
    """Reads the hub's own state at scrape time, so nothing is counted twice."""

    def collect(self) -> Iterator[Any]:
        from tracking.live import current_hub

        hub = current_hub()
        streams = hub.subscriber_count() if hub else 0
        reconnects = getattr(hub.source, "reconnects", 0) if hub else 0
        yield GaugeMetricFamily(
            "tracking_open_streams", "Streams open in this process.", value=streams
        )
        yield CounterMetricFamily(
            "tracking_listener_reconnects",
            "Times the Postgres listener connected again after losing its connection.",
            value=reconnects,
        )


REGISTRY.register(HubCollector())


def exposition() -> bytes:
    """Return every figure in the Prometheus text format."""
    return generate_latest(REGISTRY)
