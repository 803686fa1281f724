"""Recording events: numbering, transactions, validation, on both backends."""

import asyncio
import json
import select
import subprocess
import sys

import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from tests.conftest import database_url
from tracking import pg_append, wire
from tracking.errors import DatabaseNotReady, InvalidEvent, OrderFinished
from tracking.models import OrderEvent
from tracking.pg_append import FUNCTION, NOTIFY_CHANNEL
from tracking.recording import arecord_event, record_event

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def stored(order, alias):
    events = OrderEvent.objects.using(alias).filter(order=order).order_by("seq")
    return list(events.values_list("seq", "kind"))


def test_a_new_order_starts_with_its_creation_event(make_order, alias):
    order = make_order()

    assert stored(order, alias) == [(1, "created")]


def test_events_are_numbered_from_one_without_gaps(make_order, alias):
    order = make_order()

    for _ in range(4):
        record_event(order, "note")

    assert [seq for seq, _ in stored(order, alias)] == [1, 2, 3, 4, 5]


def test_data_holds_the_status_the_time_and_the_fields(make_order):
    order = make_order()

    event = record_event(order, "note", {"message": "hi"}, status="paid")

    assert event.data["status"] == "paid"
    assert event.data["message"] == "hi"
    assert event.data["at"] == event.created_at.isoformat()
    order.refresh_from_db()
    assert order.status == "paid"


def test_saving_a_new_status_records_its_event(make_order, alias):
    order = make_order()

    order.status = "shipped"
    order.save()

    last = OrderEvent.objects.using(alias).filter(order=order).latest("seq")
    assert (last.seq, last.kind) == (2, "status")
    assert last.data["status"] == "shipped"
    assert last.data["previous"] == "placed"


def test_saving_without_a_status_change_records_nothing(make_order, alias):
    order = make_order()

    order.save()

    assert stored(order, alias) == [(1, "created")]


def test_a_rolled_back_transaction_leaves_no_gap_and_no_phantom(make_order, alias):
    order = make_order()

    with pytest.raises(RuntimeError), transaction.atomic(using=alias):
        record_event(order, "note")
        order.status = "paid"
        order.save()
        raise RuntimeError("the shop's code failed")
    record_event(order, "note")

    assert stored(order, alias) == [(1, "created"), (2, "note")]
    order.refresh_from_db()
    assert order.status == "placed"


def test_a_finished_order_takes_no_more_events(make_order, alias):
    order = make_order()
    record_event(order, "delivered", status="delivered")

    with pytest.raises(OrderFinished, match="delivered"):
        record_event(order, "note")
    order.status = "placed"
    with pytest.raises(OrderFinished):
        order.save()

    assert len(stored(order, alias)) == 2


@pytest.mark.parametrize(
    "kind",
    [
        "",
        "Note",
        "note\r",
        "note\n",
        "no\r\nte",
        "no\x00te",
        "\x00",
        "note\u2028",
        "a" * 33,
        "a" * 100_000,
        "reset",
        "1st",
        5,
    ],
)
def test_a_malformed_kind_is_refused(make_order, alias, kind):
    order = make_order()

    with pytest.raises(InvalidEvent, match="kind"):
        record_event(order, kind)

    assert len(stored(order, alias)) == 1


@pytest.mark.parametrize(
    "data, message",
    [
        (["a list"], "JSON object"),
        ({"status": "paid"}, "may not set status"),
        ({"at": "now"}, "may not set at"),
        ({"x": float("nan")}, "cannot be encoded"),
        ({"x": object()}, "cannot be encoded"),
        ({"x": "y" * 20000}, "larger than the limit"),
        ({"x": "é" * 9000}, "larger than the limit"),  # 9,000 characters, 18,000 bytes
        ({"y" * 20000: 1}, "larger than the limit"),
        ({"x": "\r\n\u2028" * 6000}, "larger than the limit"),
        ({"x": "a\x00b"}, "NUL"),
        ({"a\x00": 1}, "NUL"),
        ({"x": ["ok", {"y": "\x00"}]}, "NUL"),
    ],
)
def test_bad_data_is_refused(make_order, alias, data, message):
    order = make_order()

    with pytest.raises(InvalidEvent, match=message):
        record_event(order, "note", data)

    assert len(stored(order, alias)) == 1


def test_an_unknown_status_is_refused(make_order, alias):
    order = make_order()

    with pytest.raises(InvalidEvent, match="unknown"):
        record_event(order, "note", status="lost")

    assert len(stored(order, alias)) == 1


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\r\nb", "a\u2028b", "\u2029"])
def test_values_with_line_breaks_cannot_break_the_framing(make_order, value):
    order = make_order()

    event = record_event(order, "note", {"text": value})

    frame = wire.event(event.seq, event.kind, wire.encode_data(event.data))
    lines = frame.decode().split("\n")
    assert lines[:2] == [f"id: {event.seq}", "event: note"]
    assert lines[2].startswith("data: ")
    assert lines[3:] == ["", ""]
    assert "\r" not in frame.decode()
    assert json.loads(lines[2][6:])["text"] == value


@pytest.mark.parametrize("key", ["a\rb", "a\nb", "a\r\nb", "a\u2028b"])
def test_keys_with_line_breaks_cannot_break_the_framing(make_order, key):
    order = make_order()

    event = record_event(order, "note", {key: "value"})

    frame = wire.event(event.seq, event.kind, wire.encode_data(event.data))
    lines = frame.decode().split("\n")
    assert len(lines) == 5
    assert "\r" not in frame.decode()
    assert json.loads(lines[2][6:])[key] == "value"


def test_a_long_value_within_the_limit_travels_on_one_line(make_order, alias):
    order = make_order()
    value = "\r\n\u2028 line " * 1000  # 13,000 bytes as JSON: under the limit

    event = record_event(order, "note", {"text": value})

    stored_event = OrderEvent.objects.using(alias).get(pk=event.pk)
    frame = wire.event(event.seq, event.kind, wire.encode_data(stored_event.data))
    lines = frame.decode().split("\n")
    assert len(lines) == 5
    assert json.loads(lines[2][6:])["text"] == value


def test_the_async_twin_records_too(make_order, alias):
    order = make_order()

    async def record() -> OrderEvent:
        event = await arecord_event(order, "note", {"via": "async"})
        await sync_to_async(connections.close_all)()
        return event

    assert asyncio.run(record()).seq == 2
    assert stored(order, alias)[-1] == (2, "note")


@pytest.mark.parametrize("backend", ["postgres"])
def test_postgres_is_notified_only_when_the_transaction_commits(make_order, alias):
    order = make_order()
    dsn = connections[alias].settings_dict
    listener = psycopg.connect(
        dbname=dsn["NAME"], host=dsn["HOST"], user=dsn["USER"] or None, autocommit=True
    )
    listener.execute(f"LISTEN {NOTIFY_CHANNEL}")

    with transaction.atomic(using=alias):
        record_event(order, "note")
        assert not pending(listener)
    with pytest.raises(RuntimeError), transaction.atomic(using=alias):
        record_event(order, "note")
        raise RuntimeError("rolled back")

    assert pending(listener) == [f"{order.pk}:2"]
    listener.close()


def test_the_returned_event_is_the_stored_one(make_order, alias):
    order = make_order(status="shipped")
    event = record_event(order, "note", {"a": [1, "é"], "b": None})

    row = OrderEvent.objects.using(alias).get(pk=event.pk)
    fields = ("order_id", "seq", "kind", "data", "created_at", "feed_xid")
    assert [getattr(event, name) for name in fields] == [
        getattr(row, name) for name in fields
    ]
    assert row.data["status"] == "shipped"


@pytest.mark.parametrize("backend", ["postgres"])
def test_on_postgres_an_event_is_one_statement(make_order, alias):
    """One round trip per event is what lets Postgres record over 1,000 a second."""
    order = make_order()

    with CaptureQueriesContext(connections[alias]) as queries:
        record_event(order, "note")

    assert len(queries) == 1
    assert stored(order, alias) == [(1, "created"), (2, "note")]


@pytest.mark.parametrize("backend", ["postgres"])
def test_without_its_function_recording_says_to_migrate(make_order, alias):
    """As after upgrading the code without running ``migrate``."""
    order = make_order()
    with connections[alias].cursor() as cursor:
        cursor.execute(f"DROP FUNCTION {FUNCTION}")

    with pytest.raises(DatabaseNotReady, match=r"run manage\.py migrate"):
        record_event(order, "note")
    call_command("migrate", database=alias, verbosity=0)

    assert record_event(order, "note").seq == 2


@pytest.mark.parametrize("backend", ["postgres"])
def test_migrating_back_and_forth_rewrites_the_function(make_order, alias):
    order = make_order()

    call_command("migrate", "tracking", "0003", database=alias, verbosity=0)
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_proc WHERE proname = %s", [FUNCTION])
        assert cursor.fetchone() == (1,)  # written again by post_migrate
        cursor.execute(f"DROP FUNCTION {FUNCTION}")
    call_command("migrate", "tracking", database=alias, verbosity=0)

    assert record_event(order, "note").seq == 2


@pytest.mark.parametrize("backend", ["postgres"])
def test_writing_the_function_again_replaces_it_in_place(make_order, alias):
    """Each migrate dropped and created it: a writer that had looked the old one up
    failed ("cache lookup failed for function") when a deploy migrated under load.
    Replaced in place, it keeps its identity, and such writers keep working."""
    order = make_order()
    query = f"SELECT oid FROM pg_proc WHERE proname = '{FUNCTION}'"
    with connections[alias].cursor() as cursor:
        cursor.execute(query)
        before = cursor.fetchall()
        pg_append.write_function(connections[alias])
        cursor.execute(query)
        after = cursor.fetchall()

    assert len(before) == 1
    assert after == before
    assert record_event(order, "note").seq == 2


def pending(connection: psycopg.Connection) -> list[str]:
    """Return the notifications that arrive within half a second."""
    select.select([connection.fileno()], [], [], 0.5)
    return [n.payload for n in connection.notifies(timeout=0.2)]


def run_command(alias, *args):
    env_url = database_url(alias)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        capture_output=True,
        text=True,
        env={"DATABASE_URL": env_url, "PATH": "/usr/bin:/bin"},
        timeout=60,
    )


def test_the_record_event_command_prints_the_new_id(make_order, alias):
    order = make_order()

    done = run_command(
        alias, "record_event", order.reference, "note", "--data", '{"a": 1}'
    )
    moved = run_command(
        alias, "record_event", order.reference, "progress", "--status", "delivered"
    )
    refused = run_command(alias, "record_event", order.reference, "note")

    assert (done.returncode, done.stdout) == (0, "2\n")
    assert (moved.returncode, moved.stdout) == (0, "3\n")
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines() == [
        "CommandError: The order is delivered, which is final: it takes no more events."
    ]


def test_saving_a_stale_object_cannot_move_a_finished_order(make_order, alias):
    """Regression: save() compared the status with the one the object had loaded, so
    saving an old copy of a delivered order moved it back with no event."""
    from orders.models import Order

    order = make_order()
    stale = Order.objects.using(alias).get(pk=order.pk)
    record_event(order, "delivered", status="delivered")

    stale.customer = None
    with pytest.raises(OrderFinished):
        stale.save()

    order.refresh_from_db()
    assert order.status == "delivered"
    assert [kind for _, kind in stored(order, alias)] == ["created", "delivered"]


def test_the_status_event_says_what_was_stored_before(make_order, alias):
    """Regression: a stale copy's save recorded the status it had loaded as the
    previous one, and could write a status without any event."""
    from orders.models import Order

    order = make_order()
    stale = Order.objects.using(alias).get(pk=order.pk)
    order.status = "shipped"
    order.save()

    stale.status = "packed"
    stale.save()
    stale.save()

    last = OrderEvent.objects.using(alias).filter(order=order).latest("seq")
    assert (last.seq, last.data["status"], last.data["previous"]) == (
        3,
        "packed",
        "shipped",
    )
    order.refresh_from_db()
    assert order.status == "packed"


@pytest.mark.parametrize(
    "data, message",
    [
        ({"m": "\ud800"}, "lone surrogate"),
        ({"\udfff": 1}, "lone surrogate"),
        (
            json.loads("[" * 40 + "]" * 40 and '{"a":' + "[" * 40 + "]" * 40 + "}"),
            "deeper",
        ),
    ],
)
def test_unstorable_text_and_deep_nesting_are_refused_cleanly(
    make_order, data, message
):
    """Regression: lone surrogates raised UnicodeEncodeError and deep nesting a
    RecursionError instead of InvalidEvent."""
    order = make_order()

    with pytest.raises(InvalidEvent, match=message):
        record_event(order, "note", data)


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    "args",
    [
        ("tracking_link", "{ref}", "--lifetime", "nan"),
        ("tracking_link", "{ref}", "--lifetime", "inf"),
        ("tracking_link", "{ref}", "--lifetime", "1e30"),
        ("tracking_link", "{ref}", "--lifetime", "0"),
        ("prune_events", "--older-than", "nan"),
        ("prune_events", "--older-than", "1e12"),
        ("prune_events", "--older-than", "-1"),
    ],
)
def test_commands_refuse_unusable_numbers_in_one_line(make_order, alias, args):
    """Regression: NaN, infinite and huge numbers ended in tracebacks, or in a link
    valid practically forever."""
    order = make_order()

    done = run_command(alias, *(arg.format(ref=order.reference) for arg in args))

    assert done.returncode != 0
    assert done.stderr.startswith("CommandError: ")
    assert len(done.stderr.strip().splitlines()) == 1
