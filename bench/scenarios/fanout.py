"""Latency from commit to arrival when one order has many subscribers."""

from __future__ import annotations

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

SUBSCRIBERS = (1_000, 5_000)
EVENTS = 10
WAIT_SECONDS = 15.0


def run(ctx: Context) -> list[Figure]:
    """For each size, publish events one at a time to a single watched order.

    Each event is published only after the previous one reached every subscriber (or
    ``WAIT_SECONDS`` passed), so the figures are per-event fan-out, not a backlog.
    """
    figures: list[Figure] = []
    for base in SUBSCRIBERS:
        figures += _one_size(ctx, ctx.size(base))
    return figures


def _one_size(ctx: Context, count: int) -> list[Figure]:
    subs = ctx.server.subscriptions(1, f"fan{count}-", per_order=count)
    report = open_streams(ctx, subs)
    time.sleep(1.0)
    alive = ctx.client.status().open
    ctx.client.mark_cpu()
    sent: dict[int, tuple[str, float]] = {}
    with ctx.publisher() as publisher:
        for _ in range(EVENTS):
            if publish_timed(ctx, publisher, subs[0].key, sent):
                ctx.client.wait_events(alive * len(sent), WAIT_SECONDS)
    samples = latencies(ctx.client.collect(), sent)
    cpu = client_cpu(ctx, f"fan-out {count}")
    ctx.client.forget()

    summary = latency_summary(samples)
    expected = report.ok * EVENTS
    label = f"fan-out {count} subscribers"
    return [
        Figure(f"{label}: p50", summary["p50"], "ms"),
        Figure(f"{label}: p99", summary["p99"], "ms"),
        Figure(f"{label}: max", summary["max"], "ms"),
        Figure(
            f"{label}: delivered",
            100.0 * len(samples) / (count * EVENTS),
            "%",
            lower_is_better=False,
            note=stream_failures(report)
            or ("" if len(samples) == expected else f"{len(samples)}/{expected}"),
        ),
        cpu,
    ]
