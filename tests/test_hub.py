"""The hub's wake-ups and the garbage collector: a fan-out's writes are not
interrupted by a collection. And its reads of new events, many orders at a time."""

import asyncio
import gc
import time
import weakref
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tracking.live.hub import TICK_SECONDS, Hub, Waiters
from tracking.live.reader import StoredEvent

STREAMS = 50


@pytest.fixture(autouse=True)
def collector_on_after() -> Iterator[None]:
    """A test that leaves the collector off fails; the next ones start with it on."""
    yield
    gc.enable()


@pytest.fixture
def collections() -> Iterator[list[str]]:
    """Log "collect" when a collection starts; collect after every 100 new objects,
    so that each woken stream below would start one."""
    log: list[str] = []

    def note(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            log.append("collect")

    threshold = gc.get_threshold()
    gc.set_threshold(100)
    gc.callbacks.append(note)
    try:
        yield log
    finally:
        gc.callbacks.remove(note)
        gc.set_threshold(*threshold)


async def _fan_out(waiters: Waiters, log: list[str]) -> None:
    async def stream() -> None:
        await waiters.wait(10)
        log.append("write")
        # What a write allocates, kept until the stream waits again.
        buffers = [[] for _ in range(300)]
        del buffers

    tasks = [asyncio.create_task(stream()) for _ in range(STREAMS)]
    await asyncio.sleep(0)
    waiters.pulse()
    await asyncio.gather(*tasks)
    # The next allocations, after the last write.
    more = [[] for _ in range(300)]
    del more


def test_no_collection_runs_among_the_writes_of_a_pulse(collections):
    """The collection the writes call for runs after the last of them."""
    asyncio.run(_fan_out(Waiters(), collections))

    writes = [i for i, entry in enumerate(collections) if entry == "write"]
    assert len(writes) == STREAMS
    assert "collect" not in collections[writes[0] : writes[-1]]
    assert "collect" in collections[writes[-1] :], "the collector is back on after"
    assert gc.isenabled()


def test_a_collector_the_program_turned_off_stays_off(collections):
    """The hold turns the collector back on only if it turned it off."""
    gc.disable()
    try:
        asyncio.run(_fan_out(Waiters(), collections))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_wait_ends_when_woken_or_when_its_time_is_up():
    """A woken wait says True at once; one nobody wakes says False after its
    timeout, late by at most a tick."""

    async def both() -> tuple[bool, bool, float]:
        waiters = Waiters()
        woken = asyncio.create_task(waiters.wait(10))
        await asyncio.sleep(0)
        waiters.pulse()
        started = time.monotonic()
        timed_out = await waiters.wait(0.2)
        return await woken, timed_out, time.monotonic() - started

    woken, timed_out, waited = asyncio.run(both())
    assert woken is True
    assert timed_out is False
    # (asyncio runs a timer up to its clock's resolution early.)
    assert 0.19 <= waited < 0.2 + TICK_SECONDS + 0.5


def test_a_loop_closed_before_the_release_does_not_keep_the_collector_off():
    """A loop stopped and closed in the very pass of a pulse never runs the hold's
    release; the next pulse, on another loop, holds and releases as usual."""
    loop = asyncio.new_event_loop()
    waiters = Waiters()
    waiting = loop.create_task(waiters.wait(5))

    def pulse_and_stop() -> None:
        waiters.pulse()
        loop.stop()

    loop.call_later(0.01, pulse_and_stop)
    loop.run_forever()
    waiting.cancel()
    loop.close()

    asyncio.run(_fan_out(Waiters(), []))
    assert gc.isenabled()


def test_waiters_of_a_closed_loop_woken_from_another_leave_the_collector_on():
    loop = asyncio.new_event_loop()
    waiters = Waiters()
    loop.run_until_complete(asyncio.sleep(0))
    waiters._waiting.add(loop.create_future())
    loop.close()

    async def pulse() -> None:
        waiters.pulse()

    asyncio.run(pulse())
    assert gc.isenabled()


def test_waits_keep_no_closed_loop_alive():
    """Each ``asyncio.run`` has its own loop; a wait that ended early leaves that
    loop's tick behind, which must not keep the loop (and its waits) in memory."""
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def wait_and_leave() -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        waiting = asyncio.create_task(Waiters().wait(15))
        await asyncio.sleep(0)
        waiting.cancel()

    for _ in range(20):
        asyncio.run(wait_and_leave())
    gc.collect()
    assert sum(loop() is not None for loop in loops) <= 1


def test_orders_notified_during_a_read_are_read_together_next():
    """The database below is a dict of lists; each read of new events is logged with
    the orders it asked for. One order is notified, and while its read runs, five
    more, and the first again: the next read takes the six at once, the first from
    where its own read ended. Every stream then finds its events in the cache."""
    rows = {str(key): [] for key in range(6)}
    batches: list[list[tuple[str, int]]] = []

    def add(key: str) -> int:
        seq = len(rows[key]) + 1
        rows[key].append(StoredEvent(seq, "new", b"id: %d\n\n" % seq))
        return seq

    async def fetch(key: str, after: int, limit: int) -> list[StoredEvent]:
        return rows[key][after:][:limit]

    async def fetch_new(
        positions: list[tuple[str, int]], limit: int
    ) -> list[list[StoredEvent]]:
        batches.append(positions)
        found = [rows[key][after:][:limit] for key, after in positions]
        await asyncio.sleep(0.05)
        return found

    async def follow() -> list[list[int]]:
        hub = Hub(fetch, fetch_new, 10)
        with ExitStack() as stack:
            subscriptions = [stack.enter_context(hub.subscribe(key)) for key in rows]
            for subscription in subscriptions:
                assert await subscription.next_events(0, 0.01) == []
            hub.notify("0", add("0"))
            await asyncio.sleep(0.01)
            for key in rows:
                hub.notify(key, add(key))
            await asyncio.sleep(0.3)
            got = [
                await subscription.next_events(0, 1) for subscription in subscriptions
            ]
        return [[event.seq for event in events] for events in got]

    assert asyncio.run(follow()) == [[1, 2], [1], [1], [1], [1], [1]]
    assert [len(batch) for batch in batches] == [1, 6]
    assert ("0", 1) in batches[1]


def test_a_notification_of_an_event_that_does_not_exist_delays_nothing():
    """Any role that may connect to Postgres can send a notification. One naming
    event 1,000,000 made the hub ignore the real notifications after it, until the
    streams' heartbeats read the database."""
    rows: list[StoredEvent] = []

    def add() -> int:
        seq = len(rows) + 1
        rows.append(StoredEvent(seq, "new", b"id: %d\n\n" % seq))
        return seq

    async def fetch(key: str, after: int, limit: int) -> list[StoredEvent]:
        return rows[after:][:limit]

    async def fetch_new(
        positions: list[tuple[str, int]], limit: int
    ) -> list[list[StoredEvent]]:
        found = [rows[after:][:limit] for _, after in positions]
        await asyncio.sleep(0.02)
        return found

    async def follow() -> tuple[list[int], float]:
        hub = Hub(fetch, fetch_new, 10)
        add()
        with hub.subscribe("7") as subscription:
            assert [e.seq for e in await subscription.next_events(0, 1)] == [1]
            hub.notify("7", 1_000_000)
            await asyncio.sleep(0.2)
            started = time.monotonic()
            waiting = asyncio.create_task(subscription.next_events(1, 5))
            await asyncio.sleep(0.01)
            hub.notify("7", add())
            seen = [e.seq for e in await waiting]
            return seen, time.monotonic() - started

    seen, waited = asyncio.run(follow())
    assert seen == [2]
    assert waited < 1
