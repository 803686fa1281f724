"""The global feed's cursor on Postgres: transactions that commit out of id order.

Rows become visible in commit order, not id order. These tests make writers commit
out of order on purpose (one held open while later ones commit, some rolled back) and
check that the feed hands out every committed event exactly once, in an order that
keeps each order's ``seq`` order, while a naive ``id > last`` cursor loses one.
"""

import random
import threading
import time
from typing import Any

import pytest
from django.db import connections, transaction

from tracking.feed import START, FeedPosition
from tracking.live import reader
from tracking.models import OrderEvent
from tracking.recording import record_event

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


class Rollback(Exception):
    """Raised on purpose to roll a writer's transaction back."""


@pytest.fixture
def backend() -> str:
    return "postgres"


def committed_ids(alias: str) -> list[int]:
    return list(
        OrderEvent.objects.using(alias).order_by("id").values_list("id", flat=True)
    )


def drain(position: FeedPosition, limit: int = 7) -> tuple[list[Any], FeedPosition]:
    """Read every final event after ``position``, a few at a time."""
    events: list[Any] = []
    for _ in range(10_000):
        batch = reader.feed_after(position, limit)
        if not batch.events:
            return events, position
        events += batch.events
        position = batch.events[-1].position
    raise AssertionError("the feed did not run dry")


def naive_after(alias: str, last_id: int) -> list[int]:
    """The cursor the feed must not be: every visible row with a larger id."""
    rows = OrderEvent.objects.using(alias).filter(id__gt=last_id).order_by("id")
    return list(rows.values_list("id", flat=True))


class HeldWriter:
    """A writer that records one event, then keeps its transaction open until told."""

    def __init__(self, order: Any, alias: str, commit: bool) -> None:
        self.order, self.alias, self.commit = order, alias, commit
        self.recorded = threading.Event()
        self.release = threading.Event()
        self.event_id: int | None = None
        self.thread = threading.Thread(target=self._run)

    def __enter__(self) -> "HeldWriter":
        self.thread.start()
        assert self.recorded.wait(10), "the held writer did not record its event"
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(10)

    def finish(self) -> None:
        self.release.set()
        self.thread.join(10)

    def _run(self) -> None:
        try:
            with transaction.atomic(using=self.alias):
                self.event_id = record_event(self.order, "note", {"held": True}).pk
                self.recorded.set()
                self.release.wait(20)
                if not self.commit:
                    raise Rollback
        except Rollback:
            pass
        finally:
            connections.close_all()


def write(order: Any, alias: str, roll_back: bool) -> None:
    try:
        with transaction.atomic(using=alias):
            record_event(order, "note", {"roll_back": roll_back})
            if roll_back:
                raise Rollback
    except Rollback:
        pass


def test_a_transaction_held_open_holds_the_feed_back_and_is_not_skipped(
    make_order, alias
):
    """Later transactions commit while an earlier one stays open: the naive cursor
    reads past the open one's row and never sees it; the feed waits, then hands out
    everything once."""
    held_order, *orders = [make_order() for _ in range(3)]
    _, position = drain(START)
    naive_last = committed_ids(alias)[-1]

    with HeldWriter(held_order, alias, commit=True) as held:
        for number in range(12):
            write(orders[number % 2], alias, roll_back=number % 4 == 3)
        waiting = reader.feed_after(position, 100)
        seen_by_naive = naive_after(alias, naive_last)
        naive_last = seen_by_naive[-1]
        held.finish()

    assert waiting.events == []
    assert waiting.held_back
    assert held.event_id is not None and held.event_id < naive_last
    assert held.event_id not in seen_by_naive + naive_after(alias, naive_last)
    events, _ = drain(position)
    ids = [event.position.id for event in events]
    assert sorted(ids) == [i for i in committed_ids(alias) if i >= held.event_id]
    assert len(ids) == 1 + 9  # the held event, and 12 writers less 3 rollbacks
    assert held.event_id in ids


def test_a_held_transaction_that_rolls_back_releases_the_feed(make_order, alias):
    order = make_order()
    _, position = drain(START)

    with HeldWriter(order, alias, commit=False) as held:
        other = make_order()
        assert reader.feed_after(position, 100).held_back
        held.finish()

    events, _ = drain(position)
    assert [(e.order, e.seq) for e in events] == [(other.reference, 1)]


def test_concurrent_writers_committing_out_of_order_never_skip_or_repeat(
    make_order, alias
):
    """Eight writers, each pausing between its insert and its commit so commits land
    out of id order, a fifth rolled back, and one transaction held open for a second
    midway; a reader pages through the feed the whole time. It receives exactly the
    committed events, each once, positions strictly increasing, and every order's
    events in ``seq`` order."""
    orders = [make_order() for _ in range(5)]
    _, start = drain(START)
    received: list[Any] = []
    done = threading.Event()

    def follow() -> None:
        position = start
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                finished = done.is_set()
                batch = reader.feed_after(position, 5)
                received.extend(batch.events)
                if batch.events:
                    position = batch.events[-1].position
                elif finished and not batch.held_back:
                    return
                else:
                    time.sleep(0.005)
        finally:
            connections.close_all()

    def writer(number: int) -> None:
        chance = random.Random(number)
        try:
            for step in range(25):
                order = orders[chance.randrange(len(orders))]
                try:
                    with transaction.atomic(using=alias):
                        record_event(order, "note", {"writer": number, "step": step})
                        time.sleep(chance.uniform(0, 0.02))
                        if chance.random() < 0.2:
                            raise Rollback
                except Rollback:
                    pass
                if number == 0 and step == 10:
                    hold_open(orders[0], alias, seconds=1.0)
        finally:
            connections.close_all()

    follower = threading.Thread(target=follow)
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    follower.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(60)
    done.set()
    follower.join(60)

    positions = [event.position for event in received]
    stored = set(
        OrderEvent.objects.using(alias)
        .filter(order__in=orders, seq__gt=1)
        .values_list("id", flat=True)
    )
    assert positions == sorted(set(positions)), "positions repeat or go back"
    assert {p.id for p in positions} == stored
    for order in orders:
        seqs = [e.seq for e in received if e.order == order.reference]
        assert seqs == sorted(seqs)
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def write_and_close(order: Any, alias: str) -> None:
    try:
        write(order, alias, roll_back=False)
    finally:
        connections.close_all()


def hold_open(order: Any, alias: str, seconds: float) -> None:
    """Record an event in a transaction that stays open for ``seconds``."""
    with transaction.atomic(using=alias):
        record_event(order, "note", {"held": True})
        time.sleep(seconds)


def test_the_end_is_the_newest_final_event(make_order, alias):
    order = make_order()
    record_event(order, "note")
    newest = OrderEvent.objects.using(alias).order_by("-id").first()
    assert newest is not None

    assert reader.feed_end() == FeedPosition(newest.feed_xid, newest.id)
    assert reader.feed_tail(1)[0].position == reader.feed_end()


def test_an_orders_feed_xid_never_goes_back(make_order, alias):
    """A transaction that took its id before a later one recorded on the same order
    still sorts after it in the feed: its feed_xid is raised to the order's."""
    order = make_order()
    with transaction.atomic(using=alias):
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id()")
        writer = threading.Thread(target=write_and_close, args=(order, alias))
        writer.start()
        writer.join(10)
        late = record_event(order, "note")

    rows = list(
        OrderEvent.objects.using(alias)
        .filter(order=order)
        .order_by("seq")
        .values_list("feed_xid", "id")
    )
    assert rows == sorted(rows)
    assert late.seq == 3
