"""The order stream over real HTTP against a real uvicorn, on SQLite and Postgres."""

import threading
import time
from typing import Any

import httpx
import pytest

from tests.e2e.streams import Recorder, read_all, wait_until
from tracking.client.parser import EventStreamParser
from tracking.recording import record_event

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def events_path(order: Any) -> str:
    return f"/orders/{order.reference}/events"


def finished_order(make_order: Any, notes: int) -> Any:
    """An order with a creation event, ``notes`` notes, and a final delivery event."""
    order = make_order()
    for number in range(notes):
        record_event(order, "note", {"n": number})
    record_event(order, "delivered", status="delivered")
    return order


def test_retry_comes_first_then_every_stored_event(server, make_order, token_headers):
    order = finished_order(make_order, notes=3)

    stream = read_all(server.url(events_path(order)), token_headers(order))

    assert stream.status == 200
    assert stream.raw.startswith(b"retry: 3000\n")
    assert stream.ids() == [1, 2, 3, 4, 5]
    assert [e.type for e in stream.events] == [
        "created",
        "note",
        "note",
        "note",
        "delivered",
    ]
    assert stream.events[2].json()["n"] == 1
    assert stream.events[-1].json()["status"] == "delivered"


def test_stream_headers(server, make_order, token_headers):
    order = finished_order(make_order, notes=0)

    stream = read_all(server.url(events_path(order)), token_headers(order))

    headers = stream.response_headers
    assert headers["content-type"] == "text/event-stream"
    assert headers["cache-control"] == "no-store"
    assert headers["x-accel-buffering"] == "no"
    assert "connection" not in headers
    assert "content-encoding" not in headers


def test_every_event_carries_status_and_time(server, make_order, token_headers):
    order = finished_order(make_order, notes=1)

    stream = read_all(server.url(events_path(order)), token_headers(order))

    for event in stream.events:
        data = event.json()
        assert set(data) >= {"status", "at"}
        assert data["at"].endswith("+00:00")


def test_resume_after_every_position(server, make_order, token_headers):
    order = finished_order(make_order, notes=4)  # events 1..6

    for position in range(6):
        headers = {**token_headers(order), "Last-Event-ID": str(position)}
        stream = read_all(server.url(events_path(order)), headers)
        assert stream.ids() == list(range(position + 1, 7)), position


def test_query_parameter_resumes_and_the_header_wins(server, make_order, token_headers):
    order = finished_order(make_order, notes=2)  # events 1..4
    url = server.url(events_path(order))

    by_query = read_all(f"{url}?lastEventId=2", token_headers(order))
    both = read_all(
        f"{url}?lastEventId=1", {**token_headers(order), "Last-Event-ID": "3"}
    )

    assert by_query.ids() == [3, 4]
    assert both.ids() == [4]


def test_live_events_arrive_after_the_replay(server, make_order, token_headers):
    order = make_order()
    stream = Recorder(server.url(events_path(order)), token_headers(order)).start()
    stream.wait_for_events(1)

    record_event(order, "note", {"message": "first live"})
    record_event(order, "note", {"message": "second live"})
    stream.wait_for_events(3)
    record_event(order, "delivered", status="delivered")
    stream.wait_ended()

    assert stream.error is None
    assert stream.ids() == [1, 2, 3, 4]
    assert stream.events[1].json()["message"] == "first live"


def test_heartbeats_arrive_while_idle(server, make_order, token_headers):
    order = make_order()
    stream = Recorder(server.url(events_path(order)), token_headers(order)).start()

    wait_until(lambda: stream.parser.comments_seen >= 3, 10, "three heartbeats")
    stream.stop()

    assert stream.ids() == [1]


def test_reconnecting_client_gets_every_event_once_in_order(
    server, make_order, token_headers
):
    order = make_order()
    total = 60  # the creation, 58 notes, and the delivery that ends the stream
    writer = threading.Thread(target=write_notes, args=(order, total - 2, 0.01))
    writer.start()
    seen: list[int] = []
    position = 0
    deadline = time.monotonic() + 60
    while (not seen or seen[-1] < total) and time.monotonic() < deadline:
        seen += read_some(
            server.url(events_path(order)), token_headers(order), position
        )
        position = seen[-1] if seen else 0
    writer.join()

    assert seen == list(range(1, total + 1))


def write_notes(order: Any, count: int, pause: float) -> None:
    from django.db import connections

    try:
        for number in range(count):
            record_event(order, "note", {"n": number})
            time.sleep(pause)
        record_event(order, "delivered", status="delivered")
    finally:
        connections.close_all()


def read_some(url: str, headers: dict[str, str], position: int) -> list[int]:
    """Read up to three events from ``position``, then drop the connection.

    A finished order seen to the end answers 204, which reads as no events.
    """
    parser = EventStreamParser()
    ids: list[int] = []
    headers = {**headers, "Last-Event-ID": str(position)}
    with httpx.stream("GET", url, headers=headers, timeout=10) as response:
        for chunk in response.iter_raw():
            ids += [int(event.id) for event in parser.feed(chunk)]
            if len(ids) >= 3:
                break
    return ids


def test_a_position_past_the_end_gets_a_reset_then_everything(
    server, make_order, token_headers
):
    order = make_order()
    record_event(order, "note")  # events 1..2
    headers = {**token_headers(order), "Last-Event-ID": "7"}
    stream = Recorder(server.url(events_path(order)), headers).start()
    stream.wait_for_events(3)
    stream.stop()

    reset = stream.events[0]
    assert reset.type == "reset"
    assert reset.id == "0"
    assert reset.json()["status"] == "placed"
    assert reset.json()["last_id"] == 2
    assert "7" in reset.json()["reason"]
    assert [e.id for e in stream.events[1:]] == ["1", "2"]


def test_a_finished_order_fully_seen_gets_204(server, make_order, token_headers):
    order = finished_order(make_order, notes=1)  # events 1..3
    url = server.url(events_path(order))

    for position in ("3", "4"):
        headers = {**token_headers(order), "Last-Event-ID": position}
        response = httpx.get(url, headers=headers)
        assert response.status_code == 204
        assert response.content == b""
        assert "content-type" not in response.headers


@pytest.mark.parametrize(
    "position",
    ["-1", "1e3", "abc", "١٢", "1" * 5000, " 1", "0x10", "1.0"],
)
def test_a_malformed_position_gets_400_with_a_reason(
    server, make_order, token_headers, position
):
    order = make_order()

    response = httpx.get(
        server.url(events_path(order)),
        params={"lastEventId": position},
        headers=token_headers(order),
    )

    assert response.status_code == 400
    assert "event id" in response.text


def test_disagreeing_repeated_positions_get_400(server, make_order, token_headers):
    order = make_order()

    response = httpx.get(
        server.url(events_path(order)) + "?lastEventId=1&lastEventId=2",
        headers=token_headers(order),
    )

    assert response.status_code == 400
    assert "twice" in response.text


def test_an_unknown_order_gets_404(server, make_order, token_headers):
    order = make_order()
    headers = token_headers(order)
    order.reference = "ord_doesnotexist000"

    response = httpx.get(server.url(events_path(order)), headers=headers)

    assert response.status_code == 404


def test_head_answers_headers_only(server, make_order, token_headers):
    order = make_order()

    response = httpx.head(server.url(events_path(order)), headers=token_headers(order))

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["cache-control"] == "no-store"
    # The stream GET opens has no length; HEAD must not claim one.
    assert "content-length" not in response.headers
    assert response.content == b""


def test_other_methods_get_405(server, make_order, token_headers):
    order = make_order()

    response = httpx.post(server.url(events_path(order)), headers=token_headers(order))

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_a_dropped_client_leaves_nothing_behind(server, make_order, token_headers):
    order = make_order()
    streams = [
        Recorder(server.url(events_path(order)), token_headers(order)).start()
        for _ in range(5)
    ]
    for stream in streams:
        stream.wait_for_events(1)
    wait_until(lambda: server.health()["streams"] >= 5, 10, "5 open streams")

    for stream in streams:
        stream.stop()

    wait_until(lambda: server.health()["streams"] == 0, 10, "no streams left")
    assert server.health()["orders"] == 0
