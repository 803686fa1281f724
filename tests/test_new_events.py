"""Reading many orders' new events in one query, on both backends."""

from typing import Any

import pytest

from tracking.live import reader
from tracking.recording import record_event

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture
def on_backend(settings: Any, alias: str) -> None:
    settings.TRACKING = {**getattr(settings, "TRACKING", {}), "DATABASE": alias}


def test_each_order_gets_its_events_after_its_position_up_to_the_limit(
    make_order, on_backend
):
    busy, short, quiet = make_order(), make_order(), make_order()
    for number in range(4):
        record_event(busy, "note", {"n": number, "text": "é"})  # events 1..5
    record_event(short, "note")  # events 1..2

    found = reader.new_events(
        [(str(busy.pk), 2), (str(short.pk), 0), (str(quiet.pk), 1)], 2
    )

    assert [[event.seq for event in events] for events in found] == [[3, 4], [1, 2], []]
    assert found[0] == reader.events_after(str(busy.pk), 2, 2)
    assert found[1] == reader.events_after(str(short.pk), 0, 2)


def test_the_same_order_may_be_read_from_two_positions(make_order, on_backend):
    order = make_order()
    record_event(order, "note")

    found = reader.new_events([(str(order.pk), 0), (str(order.pk), 1)], 10)

    assert [[event.seq for event in events] for events in found] == [[1, 2], [2]]


def test_too_many_orders_at_once_is_refused(on_backend):
    with pytest.raises(ValueError, match="at once"):
        reader.new_events([("1", 0)] * (reader.MAX_NEW_EVENTS + 1), 10)
