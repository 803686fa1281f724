"""Events recorded and delivered per second with many subscribers attached."""

from __future__ import annotations

import random
import threading
import time
from contextlib import ExitStack

from bench.publish import Publisher, PublishError
from bench.scenarios.common import (
    Context,
    Figure,
    client_cpu,
    next_mark,
    open_streams,
    stream_failures,
)
from bench.servers.base import Subscription

SUBSCRIBERS = 1_000
WRITERS = 4
SECONDS = 5.0
MAX_EVENTS_PER_WRITER = 20_000
WAIT_SECONDS = 20.0


def run(ctx: Context) -> list[Figure]:
    """``WRITERS`` threads publish as fast as the server commits, for ``SECONDS``.

    Every subscriber follows its own order and each event goes to a random one, so an
    event is delivered once; delivered per second counts from the first publish to the
    last arrival.
    """
    count = ctx.size(SUBSCRIBERS)
    subs = ctx.server.subscriptions(count, "tp")
    report = open_streams(ctx, subs)
    ctx.client.mark_cpu()
    sent: dict[int, float] = {}
    errors = ctx.publish_errors
    with ExitStack() as stack:
        # Started and ready before the clock starts: a writer's start-up is not
        # recording.
        publishers = [stack.enter_context(ctx.publisher()) for _ in range(WRITERS)]
        for publisher in publishers:
            publisher.ready([sub.key for sub in subs])
        start = time.time()
        threads = [
            threading.Thread(target=_writer, args=(publisher, subs, seed, sent, errors))
            for seed, publisher in enumerate(publishers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.time() - start
    ctx.client.wait_events(len(sent), WAIT_SECONDS)
    records = ctx.client.collect()
    cpu = client_cpu(ctx, f"throughput {count} subscribers")
    ctx.client.forget()
    return _figures(
        count, sent, records, start, elapsed, stream_failures(report), errors, cpu
    )


def _writer(
    publisher: Publisher,
    subs: list[Subscription],
    seed: int,
    sent: dict[int, float],
    errors: list[str],
) -> None:
    chooser = random.Random(seed)
    deadline = time.monotonic() + SECONDS
    for _ in range(MAX_EVENTS_PER_WRITER):
        if time.monotonic() >= deadline:
            return
        mark = next_mark()
        try:
            sent[mark] = publisher.publish(chooser.choice(subs).key, {"b": mark})
        except (PublishError, OSError) as exc:
            errors.append(str(exc))
            return


def _figures(
    count: int,
    sent: dict[int, float],
    records: dict[int, list[tuple[float, int]]],
    start: float,
    elapsed: float,
    failures: str,
    errors: list[str],
    cpu: Figure,
) -> list[Figure]:
    arrived = {
        mark: t for events in records.values() for t, mark in events if mark in sent
    }
    span = (max(arrived.values()) - start) if arrived else 0.0
    label = f"throughput, {count} subscribers"
    note = failures
    return [
        Figure(
            f"{label}: recorded/s",
            len(sent) / elapsed,
            "ev/s",
            lower_is_better=False,
            note=note,
        ),
        Figure(
            f"{label}: delivered/s",
            len(arrived) / span if span else None,
            "ev/s",
            lower_is_better=False,
        ),
        Figure(f"{label}: missed", len(sent) - len(arrived), "events"),
        cpu,
    ]
