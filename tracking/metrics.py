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


class Tally:
    """A count kept in a plain integer and read at scrape time.

    For the counts bumped on every write: a fan-out bumps one per stream, and
    ``Counter.inc``, which takes a lock each time, was a tenth of handing an event
    to a stream. The streams of a process run on its event loop, one at a time, so
    the integer needs no lock.
    """

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self, amount: int = 1) -> None:
        """Add ``amount``."""
        self.value += amount


EVENTS_SENT = Tally()
EVENT_READS = Tally()
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
    """Reads the hub's own state and the tallies at scrape time, so nothing is
    counted twice."""

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
        yield CounterMetricFamily(
            "tracking_events_sent",
            "Events handed to clients' connections (a client that goes away may not "
            "have read the last of them).",
            value=EVENTS_SENT.value,
        )
        yield CounterMetricFamily(
            "tracking_event_reads",
            "Queries for events: each stream's replay, and each read of new events "
            "(one for all the streams of up to 32 orders).",
            value=EVENT_READS.value,
        )


REGISTRY.register(HubCollector())


def exposition() -> bytes:
    """Return every figure in the Prometheus text format."""
    return generate_latest(REGISTRY)
