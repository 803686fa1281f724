"""Many orders with one subscriber each, events to random orders."""

from __future__ import annotations

import random
import time

from bench.scenarios.common import (
    Context,
    Figure,
    client_cpu,
    latencies,
    open_streams,
    publish_timed,
    stream_failures,
)
from bench.stats import latency_summary

SUBSCRIBERS = 5_000
EVENTS = 500
RATE_PER_SECOND = 100.0
WAIT_SECONDS = 15.0


def run(ctx: Context) -> list[Figure]:
    """Publish ``EVENTS`` events at a steady rate, each to a random watched order."""
    count = ctx.size(SUBSCRIBERS)
    events = ctx.size(EVENTS)
    subs = ctx.server.subscriptions(count, "spread")
    report = open_streams(ctx, subs)
    ctx.client.mark_cpu()
    sent: dict[int, tuple[str, float]] = {}
    chooser = random.Random(6)
    with ctx.publisher() as publisher:
        start = time.monotonic()
        for n in range(events):
            _pace(start, n)
            publish_timed(ctx, publisher, chooser.choice(subs).key, sent)
    ctx.client.wait_events(events, WAIT_SECONDS)
    samples = latencies(ctx.client.collect(), sent)
    cpu = client_cpu(ctx, f"{count} orders")
    ctx.client.forget()

    summary = latency_summary(samples)
    label = f"{count} orders, {events} events to random orders"
    return [
        Figure(f"{label}: p50", summary["p50"], "ms"),
        Figure(f"{label}: p99", summary["p99"], "ms"),
        Figure(f"{label}: max", summary["max"], "ms"),
        Figure(
            f"{label}: missed",
            events - len(samples),
            "events",
            note=stream_failures(report),
        ),
        cpu,
    ]


def _pace(start: float, n: int) -> None:
    delay = start + n / RATE_PER_SECOND - time.monotonic()
    if delay > 0:
        time.sleep(delay)
