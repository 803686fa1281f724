"""Retention and erasure: what is removed, and what a resuming client then gets."""

import datetime
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import database_url
from tests.e2e.streams import read_all
from tracking.models import OrderEvent
from tracking.recording import record_event
from tracking.retention import erase_order, prune_finished

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def events_path(order: Any) -> str:
    return f"/orders/{order.reference}/events"


def seqs(order: Any, alias: str) -> list[int]:
    events = OrderEvent.objects.using(alias).filter(order_id=order.pk)
    return list(events.order_by("seq").values_list("seq", flat=True))


def age(order: Any, alias: str, days: int) -> None:
    """Make the order's events look ``days`` old (tests only: events are immutable)."""
    then = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=days)
    OrderEvent.objects.using(alias).filter(order_id=order.pk).update(created_at=then)


def test_prune_keeps_only_the_last_event_of_old_finished_orders(make_order, alias):
    old_done, new_done, old_open = make_order(), make_order(), make_order()
    for order in (old_done, new_done):
        record_event(order, "note")
        record_event(order, "delivered", status="delivered")
    record_event(old_open, "note")
    age(old_done, alias, 40)
    age(old_open, alias, 40)

    deleted = prune_finished(
        datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=30), alias
    )

    assert deleted == 2
    assert seqs(old_done, alias) == [3]
    assert seqs(new_done, alias) == [1, 2, 3]
    assert seqs(old_open, alias) == [1, 2]


def test_a_client_resuming_from_a_pruned_position_gets_a_reset_then_the_end(
    server, make_order, alias, token_headers
):
    order = make_order()
    record_event(order, "note")
    record_event(order, "delivered", status="delivered")
    age(order, alias, 40)
    prune_finished(datetime.datetime.now(datetime.UTC), alias)

    stream = read_all(
        server.url(events_path(order)), {**token_headers(order), "Last-Event-ID": "1"}
    )

    assert [e.type for e in stream.events] == ["reset", "delivered"]
    reset = stream.events[0].json()
    assert reset["status"] == "delivered"
    assert "removed" in reset["reason"]
    assert stream.events[1].id == "3"


def test_erasure_removes_the_data_and_never_reuses_a_number(
    server, make_order, alias, token_headers
):
    order = make_order()
    record_event(order, "note", {"address": "1 Main Street"})
    record_event(order, "note", {"address": "2 Side Street"})  # events 1..3

    assert erase_order(order) == 3
    record_event(order, "note", {"message": "after erasure"})

    assert seqs(order, alias) == [4, 5]
    resumed = read_all_until(server, order, token_headers, position=2, count=3)
    assert [e.type for e in resumed.events] == ["reset", "erased", "note"]
    assert [e.id for e in resumed.events] == ["0", "4", "5"]
    assert "Street" not in resumed.raw.decode()
    caught_up = read_all_until(server, order, token_headers, position=3, count=2)
    assert [e.id for e in caught_up.events] == ["4", "5"]


def read_all_until(server: Any, order: Any, headers: Any, position: int, count: int):
    from tests.e2e.streams import Recorder

    recorder = Recorder(
        server.url(events_path(order)),
        {**headers(order), "Last-Event-ID": str(position)},
    ).start()
    recorder.wait_for_events(count)
    recorder.stop()
    return recorder


def test_the_commands_prune_and_erase(make_order, alias):
    finished, erased = make_order(), make_order()
    record_event(finished, "delivered", status="delivered")
    record_event(erased, "note", {"phone": "555"})
    env = {"DATABASE_URL": database_url(alias), "PATH": "/usr/bin:/bin"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip

    pruned = run("prune_events", "--older-than", "0")
    wiped = run("erase_order_events", erased.reference)
    missing = run("erase_order_events", "ord_nope")

    assert (pruned.returncode, pruned.stdout) == (0, "Deleted 1 events.\n")
    assert (wiped.returncode, wiped.stdout) == (0, "Deleted 2 events.\n")
    assert seqs(finished, alias) == [2]
    assert seqs(erased, alias) == [3]
    assert missing.returncode != 0
    assert "No order has the reference" in missing.stderr


def test_an_open_stream_sees_the_erasure_live(server, make_order, alias, token_headers):
    """A stream open during the erasure goes on with the ``erased`` event and what
    follows it."""
    from tests.e2e.streams import Recorder

    order = make_order()
    stream = Recorder(server.url(events_path(order)), token_headers(order)).start()
    stream.wait_for_events(1)
    record_event(order, "note", {"address": "1 Main Street"})
    stream.wait_for_events(2)

    erase_order(order)
    record_event(order, "note", {"message": "after erasure"})

    stream.wait_for_events(4)
    stream.stop()
    assert [(e.id, e.type) for e in stream.events] == [
        ("1", "created"),
        ("2", "note"),
        ("3", "erased"),
        ("4", "note"),
    ]
