"""What every scenario shares: its context, its result rows, and small steps.

A scenario gets a freshly started server and load client, runs bounded in count and
time, and returns :class:`Figure` rows. Row labels carry the actual sizes, so runs at
different scales never mix in one table.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.loadclient import LoadClient, StreamSpec, WorkerReport
from bench.publish import Publisher, PublishError
from bench.servers.base import Server, ServerProcess, Subscription

# Figures in these units are times and rates: they move with whatever else the
# machine runs, so the report takes their median over rounds (``bench.rounds``).
TIMED_UNITS = frozenset({"ms", "s", "ev/s", "% core"})


@dataclass(frozen=True)
class Figure:
    """One measured value, the row it belongs to, and which way is better."""

    label: str
    value: float | None
    unit: str = ""
    lower_is_better: bool = True
    note: str = ""
    # Each round's value, when the figure combines several rounds.
    rounds: tuple[float, ...] = ()

    @property
    def timed(self) -> bool:
        """Whether the value is a time or a rate, rather than a count."""
        return self.unit in TIMED_UNITS


@dataclass
class Context:
    """Everything a scenario works with."""

    server: Server
    proc: ServerProcess
    client: LoadClient
    scale: float
    storm_concurrency: int
    publish_errors: list[str] = field(default_factory=list)

    def size(self, base: int) -> int:
        """Scale a stream or event count, keeping it at least 10."""
        return max(10, round(base * self.scale))

    @contextmanager
    def publisher(self) -> Iterator[Publisher]:
        """A publisher for this server, closed when the block ends."""
        publisher = self.server.publisher(self.proc.port)
        try:
            yield publisher
        finally:
            publisher.close()


_marks = itertools.count(1)


def next_mark() -> int:
    """A number never used before in this run, to tag one published event."""
    return next(_marks)


def specs(subs: Sequence[Subscription], start: int = 0) -> list[StreamSpec]:
    """Turn subscriptions into stream specs with ids ``start``, ``start + 1``, …"""
    return [StreamSpec(start + i, s.path, s.headers) for i, s in enumerate(subs)]


def open_streams(
    ctx: Context, subs: Sequence[Subscription], start: int = 0
) -> WorkerReport:
    """Open one stream per subscription at a polite pace and wait for the heads."""
    return ctx.client.open(
        specs(subs, start), concurrency=100, timeout=open_timeout(len(subs))
    )


def open_timeout(count: int) -> float:
    """Seconds allowed for ``count`` streams to get their response heads.

    Generous (25 streams a second) because a loaded two-core machine is slow to
    accept thousands of streams; how long it took is measured separately.
    """
    return max(60.0, count / 25)


def warm_up(ctx: Context) -> None:
    """Serve a few streams and one event so lazy imports are not counted."""
    subs = ctx.server.subscriptions(5, "warm")
    open_streams(ctx, subs, start=10_000_000)
    with ctx.publisher() as publisher:
        publisher.publish(subs[0].key, {"b": next_mark()})
    ctx.client.wait_events(1, timeout=5)
    ctx.client.forget()
    time.sleep(0.5)


def stream_failures(report: WorkerReport) -> str:
    """Describe non-200 answers, errors and streams the server ended, or ``""``."""
    parts = [
        f"HTTP {status}: {count}"
        for status, count in report.statuses.items()
        if status not in ("200", "None")
    ]
    if report.ended:
        parts.append(f"{report.ended} streams ended by the server")
    parts += [f"{error}: {count}" for error, count in report.errors.items()]
    return ", ".join(parts)


def publish_timed(
    ctx: Context, publisher: Publisher, key: str, sent: dict[int, tuple[str, float]]
) -> bool:
    """Publish one marked event and remember its key and commit time.

    A refused publish is recorded in ``ctx.publish_errors`` and the event is not
    expected anywhere: a server that fails to record is measured, not aborted.
    """
    mark = next_mark()
    try:
        sent[mark] = (key, publisher.publish(key, {"b": mark}))
    except (PublishError, OSError) as exc:
        ctx.publish_errors.append(str(exc))
        return False
    return True


def latencies(
    records: dict[int, list[tuple[float, int]]], sent: dict[int, tuple[str, float]]
) -> list[float]:
    """Arrival minus commit time for every recorded event the harness sent."""
    return [
        arrived - sent[mark][1]
        for events in records.values()
        for arrived, mark in events
        if mark in sent
    ]


def client_cpu(ctx: Context, label: str) -> Figure:
    """The busiest load-client worker's CPU use since ``mark_cpu``."""
    return Figure(
        f"{label}: load-client CPU, busiest worker",
        ctx.client.cpu_percent(),
        "% core",
        note="near 100 means the client limited the result",
    )


def merge_notes(*notes: str) -> str:
    """Join the non-empty notes."""
    return "; ".join(n for n in notes if n)


def as_dict(figures: Sequence[Figure]) -> list[dict[str, Any]]:
    """Plain data for the JSON results file."""
    return [f.__dict__ for f in figures]
