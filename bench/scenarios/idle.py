"""Memory and OS threads per idle stream, at growing numbers of open streams."""

from __future__ import annotations

import time

from bench.scenarios.common import (
    Context,
    Figure,
    merge_notes,
    open_streams,
    stream_failures,
)

LEVELS = (1_000, 5_000, 10_000)
SETTLE_SECONDS = 2.0


def run(ctx: Context) -> list[Figure]:
    """Open streams in steps and read RSS and threads of the server at each step.

    Memory per stream is the RSS growth over the idle server divided by the number of
    streams actually open, so a server that drops streams is not flattered; the open
    count is its own row.
    """
    levels = [ctx.size(n) for n in LEVELS]
    subs = ctx.server.subscriptions(levels[-1], "idle")
    base = ctx.proc.stat()
    figures = [Figure("idle: OS threads with no stream", base.threads)]
    opened = 0
    for level in levels:
        started = time.time()
        report = open_streams(ctx, subs[opened:level], start=opened)
        took = report.last_ready - started if report.ok else None
        opened = level
        time.sleep(SETTLE_SECONDS)
        figures += _measure(ctx, level, base.rss_kb, stream_failures(report))
        figures.append(
            Figure(f"idle: seconds to open streams up to {level}", took, "s")
        )
    ctx.client.forget()
    return figures


def _measure(ctx: Context, level: int, base_rss: int, failures: str) -> list[Figure]:
    stat = ctx.proc.stat()
    status = ctx.client.status()
    alive = status.open
    if status.ended:
        failures = merge_notes(failures, f"{status.ended} ended by the server")
    per_stream = (stat.rss_kb - base_rss) / alive if alive else None
    return [
        Figure(
            f"idle: streams open of {level}",
            alive,
            lower_is_better=False,
            note=failures,
        ),
        Figure(f"idle: KB per stream @{level}", per_stream, "KB"),
        Figure(f"idle: OS threads @{level}", stat.threads),
    ]
