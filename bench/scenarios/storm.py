"""A reconnect storm: every client drops and comes back with ``Last-Event-ID``."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict

from bench.loadclient import WorkerReport
from bench.scenarios.common import (
    Context,
    Figure,
    client_cpu,
    open_streams,
    open_timeout,
    publish_timed,
    stream_failures,
)
from bench.servers.base import Subscription

CLIENTS = 5_000
CLIENTS_PER_ORDER = 10
DURING_STORM_RATE = 50.0
MAX_DURING_STORM = 1_000
SETTLE_SECONDS = 30.0


def run(ctx: Context) -> list[Figure]:
    """Connect, see one event per order, drop all, miss one, storm back, count.

    Expected after the storm: every event published to the client's order after the
    first one it saw (one while it was away, more during the storm). Missed events
    are expected ones that never arrived; duplicates are repeats, including the
    pre-drop event replayed again.
    """
    count = ctx.size(CLIENTS)
    subs = ctx.server.subscriptions(
        max(1, count // CLIENTS_PER_ORDER), "storm", per_order=CLIENTS_PER_ORDER
    )
    orders = subs[::CLIENTS_PER_ORDER]
    report = open_streams(ctx, subs)

    sent: dict[int, tuple[str, float]] = {}
    with ctx.publisher() as publisher:
        for order in orders:
            publish_timed(ctx, publisher, order.key, sent)
        ctx.client.wait_events(report.ok, SETTLE_SECONDS)
        before = ctx.client.collect()
        ctx.client.close_all()
        time.sleep(0.5)
        for order in orders:
            publish_timed(ctx, publisher, order.key, sent)

    back, storm_report, cpu = _storm(ctx, orders, sent, count)
    expected_total = _expected_total(subs, sent, before)
    ctx.client.wait_events(expected_total, SETTLE_SECONDS)
    after = ctx.client.collect()
    ended = ctx.client.status().ended
    ctx.client.forget()
    figures = _figures(
        count, subs, sent, before, after, back, storm_report, report, cpu
    )
    ended_label = f"storm of {count}: streams the server ended after the storm"
    return [*figures, Figure(ended_label, ended)]


def _storm(
    ctx: Context,
    orders: list[Subscription],
    sent: dict[int, tuple[str, float]],
    count: int,
) -> tuple[float, WorkerReport, Figure]:
    stop = threading.Event()
    feeder = threading.Thread(target=_feed, args=(ctx, orders, sent, stop))
    ctx.client.mark_cpu()
    start = time.time()
    feeder.start()
    report = ctx.client.resume(
        concurrency=ctx.storm_concurrency, timeout=open_timeout(count)
    )
    time.sleep(1.0)
    stop.set()
    feeder.join()
    back = report.last_ready - start if report.ok else float("nan")
    return back, report, client_cpu(ctx, f"storm of {count}")


def _feed(
    ctx: Context,
    orders: list[Subscription],
    sent: dict[int, tuple[str, float]],
    stop: threading.Event,
) -> None:
    chooser = random.Random(5)
    with ctx.publisher() as publisher:
        for _ in range(MAX_DURING_STORM):
            if stop.wait(1.0 / DURING_STORM_RATE):
                return
            publish_timed(ctx, publisher, chooser.choice(orders).key, sent)


def _expected_total(
    subs: list[Subscription],
    sent: dict[int, tuple[str, float]],
    before: dict[int, list[tuple[float, int]]],
) -> int:
    per_key = Counter(key for key, _ in sent.values())
    return sum(
        per_key[sub.key] - len(before.get(cid, []))
        for cid, sub in enumerate(subs)
        if cid in before
    )


def _figures(
    count: int,
    subs: list[Subscription],
    sent: dict[int, tuple[str, float]],
    before: dict[int, list[tuple[float, int]]],
    after: dict[int, list[tuple[float, int]]],
    back: float,
    storm: WorkerReport,
    first: WorkerReport,
    cpu: Figure,
) -> list[Figure]:
    by_key: defaultdict[str, set[int]] = defaultdict(set)
    for mark, (key, _) in sent.items():
        by_key[key].add(mark)
    missed = duplicates = 0
    for cid, sub in enumerate(subs):
        seen_before = {mark for _, mark in before.get(cid, [])}
        if not seen_before:
            continue
        got = [mark for _, mark in after.get(cid, [])]
        expected = {m for m in by_key[sub.key] if m > max(seen_before)}
        missed += len(expected - set(got))
        duplicates += len(got) - len(set(got)) + len(seen_before & set(got))
    label = f"storm of {count}"
    return [
        Figure(
            f"{label}: time until all back",
            back,
            "s",
            note=stream_failures(storm) or stream_failures(first),
        ),
        Figure(f"{label}: clients back", storm.ok, lower_is_better=False),
        Figure(f"{label}: events missed", missed, "events"),
        Figure(f"{label}: duplicates", duplicates, "events"),
        cpu,
    ]
