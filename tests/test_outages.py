"""What the live path does when the database fails: regression tests.

Each of these broke in the fault suite (``tests/faults``); here they are pinned down
without servers.
"""

import asyncio
import logging
import time
from typing import Any

import psycopg
import pytest
from django.db import OperationalError

from tracking.asgi import prepared_by_handler
from tracking.live import reader
from tracking.live.hub import Fetch, Hub
from tracking.live.pg_listener import conninfo_from_django
from tracking.live.reader import OrderState, StoredEvent
from tracking.streaming import StreamPlan, event_stream


def stored(seq: int) -> StoredEvent:
    return StoredEvent(seq, "placed", f"id: {seq}\n\n".encode())


def hub_over(fetch: Fetch) -> Hub:
    """A hub whose reads of many orders' new events are ``fetch`` for each."""

    async def fetch_new(
        positions: list[tuple[str, int]], limit: int
    ) -> list[list[StoredEvent]]:
        return [await fetch(key, after, limit) for key, after in positions]

    return Hub(fetch, fetch_new, batch_size=10)


def test_a_wake_during_a_read_makes_the_stream_read_again():
    """A stream that was reading the database when the listener came back lost the
    wake-up: ``wake_all`` asked it to re-read, then the end of its read cleared the
    flag. An event committed while nobody listened then waited for the order's
    next notification, which might never come."""
    rows: list[StoredEvent] = []
    reads: list[int] = []

    async def fetch(key: str, after: int, limit: int) -> list[StoredEvent]:
        found = [row for row in rows if row.seq > after][:limit]
        reads.append(after)
        if len(reads) == 1:
            # The read's snapshot is taken; now an event commits and the listener
            # reconnects, before the read returns.
            rows.append(stored(1))
            hub.wake_all()
        return found

    hub = hub_over(fetch)

    async def follow() -> list[StoredEvent]:
        with hub.subscribe("7") as subscription:
            return await subscription.next_events(0, timeout=2.0)

    started = time.monotonic()
    events = asyncio.run(follow())

    assert [event.seq for event in events] == [1]
    assert reads == [0, 0]
    assert time.monotonic() - started < 1.0


def test_a_failed_shared_read_logs_no_traceback(caplog):
    """When the database went away, every order with a pending shared read logged a
    traceback at ERROR: one per order, on top of the outage's own line."""

    async def fetch(key: str, after: int, limit: int) -> list[StoredEvent]:
        raise OperationalError("the database system is shutting down")

    hub = hub_over(fetch)

    async def notify_all() -> None:
        with hub.subscribe("1"), hub.subscribe("2"):
            hub.notify("1", 5)
            hub.notify("2", 9)
            await asyncio.sleep(0.05)

    with caplog.at_level(logging.DEBUG, logger="tracking"):
        asyncio.run(notify_all())

    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_stream_whose_read_fails_ends_cleanly(caplog):
    """A stream whose database read failed raised out of its generator: uvicorn
    logged "Exception in ASGI application" and a traceback for every such stream,
    and the client saw a body cut short. Now it ends like any finished response and
    says why in its close line; the client resumes from its position."""

    async def fetch(key: str, after: int, limit: int) -> list[StoredEvent]:
        raise OperationalError("server closed the connection unexpectedly")

    state = OrderState(
        order=None, key="3", reference="r3", status="placed", first_seq=1, last_seq=1
    )
    plan = StreamPlan(
        state=state,
        position=1,
        heartbeat=1.0,
        retry_ms=3000,
        terminal=frozenset({"delivered"}),
        deadline=time.monotonic() + 10,
        deadline_reason="its time is up",
    )

    async def collect() -> list[bytes]:
        prepared_by_handler.set(True)
        return [chunk async for chunk in event_stream(plan, hub_over(fetch))]

    with caplog.at_level(logging.INFO, logger="tracking.streaming"):
        chunks = asyncio.run(collect())

    assert chunks == [b"retry: 3000\n\n"]
    assert caplog.records[-1].getMessage().endswith("the database could not be read.")


@pytest.fixture
def reads_working(monkeypatch: Any) -> None:
    monkeypatch.setattr(reader, "_failing", False)


def test_an_outage_is_logged_once_however_many_reads_fail(caplog, reads_working):
    """Every failed read logged a warning: during an outage, each stream request,
    health probe and woken stream added one, hundreds a second."""

    def broken() -> None:
        raise OperationalError("connection refused")

    with caplog.at_level(logging.INFO, logger="tracking.live.reader"):
        for _ in range(20):
            with pytest.raises(OperationalError):
                reader._with_retry(broken, ())
        reader._with_retry(lambda: None, ())
        reader._with_retry(lambda: None, ())

    assert [(r.levelname, r.getMessage()[:19]) for r in caplog.records] == [
        ("WARNING", "Database reads fail"),
        ("INFO", "Database reads work"),
    ]


def test_the_listener_uses_the_libpq_options_of_the_database_settings():
    """The listener's connection string kept only NAME, USER, PASSWORD, HOST and
    PORT: with ``?port=`` or ``?sslmode=`` in DATABASE_URL (Django's OPTIONS), it
    connected elsewhere or without TLS, and no stream ever heard a notification."""
    settings = {
        "NAME": "shop",
        "USER": "web",
        "PASSWORD": "",
        "HOST": "/run/pg",
        "PORT": "",
        "OPTIONS": {"port": "5499", "sslmode": "require", "pool": True},
    }

    params = psycopg.conninfo.conninfo_to_dict(conninfo_from_django(settings))

    assert params == {
        "dbname": "shop",
        "user": "web",
        "host": "/run/pg",
        "port": "5499",
        "sslmode": "require",
    }


def test_streams_at_one_position_share_one_read():
    """After a reconnect storm the clients of an order resume from the same event:
    one read serves all of them."""
    reads: list[int] = []

    async def fetch(key: str, after: int, limit: int) -> list[StoredEvent]:
        reads.append(after)
        await asyncio.sleep(0.05)
        return [stored(seq) for seq in range(after + 1, 4)]

    hub = hub_over(fetch)

    async def follow() -> list[list[StoredEvent]]:
        with hub.subscribe("7") as first, hub.subscribe("7") as second:
            return list(
                await asyncio.gather(
                    first.next_events(1, timeout=2.0),
                    second.next_events(1, timeout=2.0),
                )
            )

    results = asyncio.run(follow())

    assert [[event.seq for event in events] for events in results] == [[2, 3]] * 2
    assert reads == [1]


def test_a_read_begun_before_a_wake_is_not_shared():
    """``wake_all`` means events went unannounced: a stream that subscribes after it
    must read anew, not join a read whose snapshot may predate those events."""
    rows = [stored(1)]
    reads: list[int] = []

    async def fetch(key: str, after: int, limit: int) -> list[StoredEvent]:
        snapshot = [row for row in rows if row.seq > after]
        reads.append(after)
        await asyncio.sleep(0.1)
        return snapshot

    hub = hub_over(fetch)

    async def late_stream() -> list[StoredEvent]:
        await asyncio.sleep(0.03)
        # Committed while the listener was away; it comes back and wakes all.
        rows.append(stored(2))
        hub.wake_all()
        with hub.subscribe("7") as subscription:
            return await subscription.next_events(0, timeout=2.0)

    async def both() -> list[StoredEvent]:
        with hub.subscribe("7") as early:
            first = asyncio.ensure_future(early.next_events(0, timeout=2.0))
            late = await late_stream()
            await first
            return late

    late = asyncio.run(both())

    assert [event.seq for event in late] == [1, 2]
    assert reads == [0, 0]
