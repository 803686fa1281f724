"""The global feed over real HTTP: staff only, resumable, never skipping a commit."""

import threading
import time
from typing import Any

import httpx
import pytest
from django.db import connections, transaction

from tests.e2e.staff import make_staff, session_cookie
from tests.e2e.streams import Recorder, wait_until
from tracking.feed import FeedPosition
from tracking.models import OrderEvent
from tracking.recording import record_event

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

FEED = "/tracking/events"


class Rollback(Exception):
    """Raised on purpose to roll a writer's transaction back."""


def positions(recorder: Recorder) -> list[FeedPosition]:
    return [
        FeedPosition.parse(e.id, "id") for e in recorder.events if e.type != "reset"
    ]


def pairs(recorder: Recorder) -> list[tuple[str, int]]:
    """Each received event as (order reference, seq)."""
    found = [e.json() for e in recorder.events if e.type == "message"]
    return [(data["order"], data["seq"]) for data in found]


def stored_pairs(alias: str) -> set[tuple[str, int]]:
    rows = OrderEvent.objects.using(alias).values_list("order__reference", "seq")
    return set(rows)


def test_only_staff_who_may_view_orders_get_the_feed(server, alias):
    make_staff(alias)
    make_staff(alias, "clerk", is_superuser=False)

    anonymous = httpx.get(server.url(FEED))
    clerk = httpx.get(
        server.url(FEED), headers={"Cookie": session_cookie(server, "clerk")}
    )
    allowed = httpx.head(server.url(FEED), headers={"Cookie": session_cookie(server)})

    assert anonymous.status_code == 403
    assert clerk.status_code == 403
    assert "staff who may view orders" in clerk.text
    assert allowed.status_code == 200
    assert allowed.headers["content-type"] == "text/event-stream"
    assert "content-length" not in allowed.headers


@pytest.mark.parametrize("position", ["7", "-1-2", "1-2-3", "a-1", "1-" + "9" * 20])
def test_a_malformed_feed_position_gets_400(server, alias, position):
    make_staff(alias)
    cookie = session_cookie(server)

    response = httpx.get(
        server.url(FEED), headers={"Cookie": cookie, "Last-Event-ID": position}
    )

    assert response.status_code == 400
    assert "feed event id" in response.text


def test_the_feed_replays_follows_and_resumes(server, make_order, alias):
    make_staff(alias)
    cookie = {"Cookie": session_cookie(server)}
    first, second = make_order(), make_order()
    record_event(first, "note", {"message": "packed with care"})
    feed = Recorder(server.url(FEED), cookie).start()
    feed.wait_for_events(3)

    record_event(second, "progress", {"message": "on its way"}, status="shipped")
    record_event(first, "delivered", status="delivered")
    feed.wait_for_events(5)
    feed.stop()

    assert feed.raw.startswith(b"retry: 3000\n")
    assert pairs(feed) == [
        (first.reference, 1),
        (second.reference, 1),
        (first.reference, 2),
        (second.reference, 2),
        (first.reference, 3),
    ]
    assert positions(feed) == sorted(set(positions(feed)))
    live = feed.events[3].json()
    assert live["kind"] == "progress"
    assert live["data"]["status"] == "shipped"
    assert live["data"]["message"] == "on its way"
    assert live["order_pk"] == second.pk

    resumed = Recorder(
        server.url(FEED), {**cookie, "Last-Event-ID": feed.events[2].id}
    ).start()
    resumed.wait_for_events(2)
    resumed.stop()
    assert pairs(resumed) == pairs(feed)[3:]


def test_a_position_past_the_end_gets_a_reset_then_everything(
    server, make_order, alias
):
    make_staff(alias)
    order = make_order()
    headers = {"Cookie": session_cookie(server), "Last-Event-ID": "99999999-99999999"}

    feed = Recorder(server.url(FEED), headers).start()
    feed.wait_for_events(2)
    feed.stop()

    reset = feed.events[0]
    assert (reset.type, reset.id) == ("reset", "0-0")
    assert "99999999-99999999" in reset.json()["reason"]
    assert pairs(feed) == [(order.reference, 1)]


@pytest.mark.parametrize("backend", ["postgres"])
def test_the_live_feed_waits_for_open_transactions_and_skips_nothing(
    server, make_order, alias
):
    """Two transactions are held open while twenty later ones commit or roll back.
    The feed sends nothing past the open ones; when the first commits and the second
    rolls back (which notifies nobody), every committed event arrives exactly once."""
    make_staff(alias)
    held_orders = [make_order(), make_order()]
    orders = [make_order() for _ in range(3)]
    feed = Recorder(server.url(FEED), {"Cookie": session_cookie(server)}).start()
    feed.wait_for_events(5)
    keeper = Held(held_orders[0], alias, commit=True)
    loser = Held(held_orders[1], alias, commit=False)

    for number in range(20):
        try:
            with transaction.atomic(using=alias):
                record_event(orders[number % 3], "note", {"n": number})
                if number % 5 == 4:
                    raise Rollback
        except Rollback:
            pass
    time.sleep(1.0)
    held_back = len(feed.events)
    keeper.finish()
    time.sleep(0.5)
    still_held_back = len(feed.events)
    loser.finish()
    wait_until(
        lambda: len(pairs(feed)) >= 5 + 1 + 16, 15, "every committed event on the feed"
    )
    time.sleep(0.3)
    feed.stop()

    assert held_back == 5
    assert still_held_back == 6  # the first one's event, older than the second
    assert sorted(pairs(feed)) == sorted(stored_pairs(alias))
    assert len(pairs(feed)) == len(set(pairs(feed))) == 22
    assert positions(feed) == sorted(set(positions(feed)))
    assert pairs(feed)[5] == (held_orders[0].reference, 2)


class Held:
    """A transaction that records one event and stays open until ``finish``."""

    def __init__(self, order: Any, alias: str, commit: bool) -> None:
        self.release = threading.Event()
        recorded = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(order, alias, commit, recorded)
        )
        self.thread.start()
        assert recorded.wait(10), "the held transaction did not record its event"

    def _run(
        self, order: Any, alias: str, commit: bool, recorded: threading.Event
    ) -> None:
        try:
            with transaction.atomic(using=alias):
                record_event(order, "note", {"held": True})
                recorded.set()
                self.release.wait(20)
                if not commit:
                    raise Rollback
        except Rollback:
            pass
        finally:
            connections.close_all()

    def finish(self) -> None:
        self.release.set()
        self.thread.join(10)
