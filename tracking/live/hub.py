"""The in-memory fan-out: which streams of this process follow which order.

A source (the Postgres listener or the SQLite poller) tells the hub that an order has a
new event. The hub reads the new rows once per order, keeps the last few in a small
cache, and wakes the streams of that order, which take the rows from the cache. A
stream that is behind the cache reads the database itself, sharing the read with the
order's other streams at the same position. The notification is only a
hint: what a stream sends always comes from the database, in ``seq`` order. The
streams of the global feed are woken by every notification and read the feed
themselves.
"""

import asyncio
import gc
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any

from django.db import DatabaseError

from tracking.live.reader import MAX_NEW_EVENTS, StoredEvent
from tracking.metrics import EVENT_READS

logger = logging.getLogger(__name__)

Fetch = Callable[[str, int, int], Awaitable[list[StoredEvent]]]
# Reads the new events of several orders at once: ``(key, after)`` pairs and a limit
# per order, to a list of events per pair.
FetchNew = Callable[[list[tuple[str, int]], int], Awaitable[list[list[StoredEvent]]]]

CACHE_SIZE = 64
TICK_SECONDS = 0.05

# What a stream waits on: True when woken, False when its time is up.
Waiter = asyncio.Future[bool]


class Waiters:
    """Streams waiting for the next change of what they follow, woken all at once.

    Like an ``asyncio.Event`` that is set and cleared at once, with a timeout per
    wait (see ``Deadlines``): ``asyncio.timeout`` around ``Event.wait`` cost a third
    of handing an event to a stream, and a fan-out wakes every stream of an order.
    ``version`` counts the pulses, so that a stream can tell whether one came while
    it was not waiting.
    """

    __slots__ = ("_waiting", "version")

    def __init__(self) -> None:
        self.version = 0
        self._waiting: set[Waiter] = set()

    def pulse(self) -> None:
        """Wake every waiting stream."""
        self.version += 1
        waiting, self._waiting = self._waiting, set()
        for waiter in waiting:
            if not waiter.done():
                waiter.set_result(True)
        if waiting:
            collector_hold.hold(next(iter(waiting)).get_loop())

    async def wait(self, timeout: float) -> bool:
        """Wait for the next pulse; return False if ``timeout`` seconds pass first."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.add(waiter)
        due = deadlines.add(waiter, timeout)
        try:
            return await waiter
        finally:
            due.discard(waiter)
            self._waiting.discard(waiter)


class CollectorHold:
    """Keeps the garbage collector from running while woken streams write.

    Woken streams run in the loop's next pass, one after the other, each writing its
    event and waiting again. A collection that falls among them (after a burst of new
    streams, a young collection walks tens of thousands of their objects) delays
    every write after it. Held, it runs just after the last one instead, once the
    bytes are with the kernel.

    The release is a callback on the loop. A loop closed before running it (stopped
    in the very pass of a pulse) is noticed at the next hold, which starts afresh; a
    loop stopped that way and kept, never run again, keeps the collector off.
    """

    __slots__ = ("_count", "_loop")

    def __init__(self) -> None:
        self._count = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def hold(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hold the collector until the callbacks already scheduled on ``loop``
        (the woken streams) have run."""
        if self._count and self._loop is not None and self._loop.is_closed():
            self._count = 0
            gc.enable()
        if self._count == 0 and not gc.isenabled():
            return
        if loop.is_closed():
            return
        loop.call_soon(self._release)
        if self._count == 0:
            gc.disable()
        self._count += 1
        self._loop = loop

    def _release(self) -> None:
        self._count -= 1
        if self._count == 0:
            gc.enable()


collector_hold = CollectorHold()


class Deadlines:
    """Ends the waits whose time is up, a tick at a time.

    A timer per wait, started and cancelled for every event a stream waits for, was
    a fifth of handing an event to a stream. The waits due in the same tick of
    ``TICK_SECONDS`` share one timer instead, and a wait that ends early only leaves
    its tick's set. A wait ends up to one tick late, which a heartbeat or a stream's
    deadline can afford.
    """

    __slots__ = ("_due",)

    def __init__(self) -> None:
        self._due: dict[tuple[asyncio.AbstractEventLoop, int], set[Waiter]] = {}

    def add(self, waiter: Waiter, timeout: float) -> set[Waiter]:
        """End ``waiter`` with False once ``timeout`` seconds have passed; return the
        set it waits in, for the waiter to leave when it ends sooner."""
        loop = waiter.get_loop()
        tick = math.ceil((loop.time() + timeout) / TICK_SECONDS)
        due = self._due.get((loop, tick))
        if due is None:
            self._forget_closed_loops()
            due = self._due[loop, tick] = set()
            loop.call_at(tick * TICK_SECONDS, self._end, loop, tick)
        due.add(waiter)
        return due

    def _end(self, loop: asyncio.AbstractEventLoop, tick: int) -> None:
        for waiter in self._due.pop((loop, tick), ()):
            if not waiter.done():
                waiter.set_result(False)

    def _forget_closed_loops(self) -> None:
        """Drop the ticks of loops closed before those ticks came (a program that
        runs many loops, one after the other); a server runs one."""
        closed = [key for key in self._due if key[0].is_closed()]
        for key in closed:
            del self._due[key]


deadlines = Deadlines()


class Topic(Waiters):
    """The streams of one order in this process, and its newest events."""

    __slots__ = ("fetching", "key", "newest", "reads", "recent", "subscribers")

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.subscribers: set[Subscription] = set()
        self.recent: deque[StoredEvent] = deque(maxlen=CACHE_SIZE)
        self.newest = 0
        # Whether the hub is reading the order's new events.
        self.fetching = False
        # The streams' own reads under way, by the position they read after.
        self.reads: dict[int, asyncio.Task[list[StoredEvent]]] = {}

    def cached_after(self, position: int) -> list[StoredEvent] | None:
        """Return the cached events after ``position``, or None if the cache has a gap.

        An empty list means there is nothing new yet (or the cache is being filled);
        None means the stream must read the database itself.
        """
        if self.newest <= position:
            return []
        recent = self.recent
        if not recent:
            return [] if self.fetching else None
        first, last = recent[0].seq, recent[-1].seq
        if position + 1 < first:
            return None
        if position < last:
            return list(islice(recent, position + 1 - first, None))
        return [] if self.fetching else None

    def store(self, events: list[StoredEvent]) -> None:
        """Append freshly read events, keeping the cache a contiguous run of seqs."""
        if self.recent and events[0].seq != self.recent[-1].seq + 1:
            self.recent.clear()
        self.recent.extend(events)
        self.newest = max(self.newest, events[-1].seq)


class Subscription:
    """One stream's place in the hub."""

    __slots__ = ("hub", "must_read", "topic")

    def __init__(self, hub: "Hub", topic: Topic) -> None:
        self.hub = hub
        self.topic = topic
        # A new subscriber reads the database first: that read is the replay.
        self.must_read = True

    async def next_events(self, position: int, timeout: float) -> list[StoredEvent]:
        """Return the events after ``position``, waiting up to ``timeout`` seconds.

        An empty list means the time ran out with nothing new: time for a heartbeat.
        """
        topic = self.topic
        while True:
            if self.hub.closing:
                return []
            seen = topic.version
            read_now = self.must_read
            if read_now:
                events = await self._read(position)
                if events:
                    return events
            cached = topic.cached_after(position)
            if cached:
                return cached
            if cached is None and not read_now:
                self.must_read = True
                continue
            if topic.version != seen:
                continue
            if not await topic.wait(timeout):
                return []

    async def _read(self, position: int) -> list[StoredEvent]:
        """Read the database after ``position``; ask for another read if it was full.

        The flag is cleared before the read, not after: a ``wake_all`` that arrives
        while the read is under way (the listener is back) sets it again, so the
        events committed while nobody listened are read next.
        """
        self.must_read = False
        try:
            events = await self.hub.read(self.topic, position)
        except BaseException:
            self.must_read = True
            raise
        if len(events) == self.hub.batch_size:
            self.must_read = True
        return events


class FeedWaiters(Waiters):
    """The streams of the global feed in this process.

    Every notification of every order wakes them; each then reads the feed itself.
    They share no cache: their positions differ, and there are few of them (staff).
    """

    __slots__ = ("closing", "count")

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        # Set when the server is shutting down (see ``Hub.close_all``).
        self.closing = False

    async def wait_after(self, seen: int, timeout: float) -> None:
        """Return once the version has moved past ``seen``, or after ``timeout``."""
        if self.version == seen:
            await self.wait(timeout)


class Hub:
    """All topics of the process, fed by one source."""

    def __init__(self, fetch: Fetch, fetch_new: FetchNew, batch_size: int) -> None:
        self.fetch = fetch
        self.fetch_new = fetch_new
        self.batch_size = batch_size
        # Orders whose new events are to be read, with the seq to read after; and
        # the task reading them.
        self._due: dict[Topic, int] = {}
        self._refreshing: asyncio.Task[None] | None = None
        # Set when the server is shutting down: every stream ends at once.
        self.closing = False
        self.topics: dict[str, Topic] = {}
        self.feed = FeedWaiters()
        # The listener or poller feeding this hub; kept here so it is not collected.
        self.source: Any = None

    @contextmanager
    def subscribe(self, key: str) -> Iterator[Subscription]:
        """Follow the order ``key`` for the duration of the ``with`` block."""
        topic = self.topics.get(key)
        if topic is None:
            topic = self.topics[key] = Topic(key)
        subscription = Subscription(self, topic)
        topic.subscribers.add(subscription)
        try:
            yield subscription
        finally:
            topic.subscribers.discard(subscription)
            if not topic.subscribers and self.topics.get(key) is topic:
                del self.topics[key]

    @contextmanager
    def subscribe_feed(self) -> Iterator[FeedWaiters]:
        """Be woken by every order's events for the duration of the ``with`` block."""
        self.feed.count += 1
        try:
            yield self.feed
        finally:
            self.feed.count -= 1

    def subscriber_count(self) -> int:
        """Return how many streams of this process follow an order or the feed."""
        orders = sum(len(topic.subscribers) for topic in self.topics.values())
        return orders + self.feed.count

    def has_subscribers(self) -> bool:
        """Return whether any stream of this process waits for new events."""
        return bool(self.topics) or self.feed.count > 0

    def notify(self, key: str, seq: int) -> None:
        """Note that the order ``key`` has committed event ``seq``; read it once."""
        if self.feed.count:
            self.feed.pulse()
        topic = self.topics.get(key)
        if topic is None or seq <= topic.newest:
            return
        known, topic.newest = topic.newest, seq
        if topic.fetching:
            return
        topic.fetching = True
        # From the newest event read, not from the one named: any role that may
        # connect to the database can send a notification.
        self._due[topic] = topic.recent[-1].seq if topic.recent else known
        if self._refreshing is None or self._refreshing.done():
            loop = asyncio.get_running_loop()
            self._refreshing = loop.create_task(self._refresh())

    async def read(self, topic: Topic, after: int) -> list[StoredEvent]:
        """Read the order's events after ``after`` for a stream, sharing a read from
        the same position that another stream of the order has under way.

        After a reconnect storm the clients of one order ask for the same rows at
        once. Joining a read that began before this stream subscribed misses
        nothing: the order's topic has existed since that read began, so an event
        committed after it is announced to the topic and wakes this stream too.
        ``wake_all`` forgets the reads under way, since what they miss was never
        announced.
        """
        task = topic.reads.get(after)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._read(topic, after))
            task.add_done_callback(_retrieve)
            topic.reads[after] = task
        return await asyncio.shield(task)

    async def _read(self, topic: Topic, after: int) -> list[StoredEvent]:
        EVENT_READS.inc()
        try:
            return await self.fetch(topic.key, after, self.batch_size)
        finally:
            if topic.reads.get(after) is asyncio.current_task():
                del topic.reads[after]

    def close_all(self) -> None:
        """End every stream now: the server is shutting down, clients resume
        elsewhere. Streams end on their own, so the server need not cancel them."""
        self.closing = self.feed.closing = True
        for topic in self.topics.values():
            topic.pulse()
        self.feed.pulse()

    def wake_all(self) -> None:
        """Make every stream re-read the database: notifications may have been lost."""
        for topic in self.topics.values():
            topic.reads.clear()
            for subscription in topic.subscribers:
                subscription.must_read = True
            topic.pulse()
        self.feed.pulse()

    async def _refresh(self) -> None:
        """Read the new events of the orders due, once for all the streams of each
        and up to ``MAX_NEW_EVENTS`` orders a query, until each has caught up with
        its newest notification.

        Orders notified while a query runs wait for the next one: under a stream of
        commits, each query then serves several of them.
        """
        batch: dict[Topic, int] = {}
        try:
            while self._due:
                batch = dict(islice(self._due.items(), MAX_NEW_EVENTS))
                for topic in batch:
                    del self._due[topic]
                found = await self._read_new(batch)
                for topic, after in batch.items():
                    self._take(topic, after, None if found is None else found[topic])
                batch = {}
        finally:
            # Reached with orders left only if the task was cancelled.
            for topic in [*batch, *self._due]:
                topic.fetching = False
                topic.pulse()
            self._due.clear()

    def _take(self, topic: Topic, after: int, events: list[StoredEvent] | None) -> None:
        """Keep what a read after ``after`` found for the order (None: the read
        failed) and wake its streams, or put the order back in line for more."""
        if events:
            topic.store(events)
            if events[-1].seq < topic.newest:
                self._due[topic] = events[-1].seq
            else:
                topic.fetching = False
        elif events is not None and topic.newest > after:
            # The notification named an event the database does not have (a forged
            # or stale one): believe the database, and read once more for the
            # notifications ignored meanwhile.
            topic.newest = after
            self._due[topic] = after
            return
        else:
            # Caught up; or the read failed, and the streams read for themselves.
            topic.fetching = False
        topic.pulse()

    async def _read_new(
        self, batch: dict[Topic, int]
    ) -> dict[Topic, list[StoredEvent]] | None:
        """Read the batch's new events, by order; None if the read failed."""
        EVENT_READS.inc()
        try:
            found = await self.fetch_new(
                [(topic.key, after) for topic, after in batch.items()],
                self.batch_size,
            )
            return dict(zip(batch, found, strict=True))
        except DatabaseError as exc:
            # The reader logs an outage once; the streams, woken by the caller, read
            # for themselves and end if the database is still out of reach.
            logger.debug("Reading new events of %s orders failed: %s", len(batch), exc)
        except Exception:
            logger.exception("Reading new events of %s orders failed.", len(batch))
        return None


def _retrieve(task: "asyncio.Task[list[StoredEvent]]") -> None:
    """Take a shared read's failure, so that asyncio does not report it as lost when
    every stream that waited for it has gone."""
    if not task.cancelled():
        task.exception()
