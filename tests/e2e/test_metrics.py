"""Operators' figures from a real server: Prometheus metrics at the opt-in URL, and
the health view."""

import re
from typing import Any

import httpx
import psycopg
import pytest
from django.db import connections

from tests.conftest import database_url
from tests.e2e.servers import Server
from tests.e2e.streams import Recorder, wait_until
from tracking.recording import record_event

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture
def backend() -> str:
    return "sqlite"


def figure(text: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} is not in the metrics"
    return float(found.group(1))


def test_metrics_count_streams_events_resumes_and_resets(
    make_order, token_headers, alias
):
    server = Server(database_url(alias), {"METRICS": True}, name="metrics").start()
    try:
        order = make_order()
        record_event(order, "note")  # events 1..2
        url = server.url(f"/orders/{order.reference}/events")
        resumed = Recorder(url, {**token_headers(order), "Last-Event-ID": "1"}).start()
        reset = Recorder(url, {**token_headers(order), "Last-Event-ID": "9"}).start()
        resumed.wait_for_events(1)
        reset.wait_for_events(3)

        def scrape() -> str:
            response = httpx.get(server.url("/tracking/metrics"))
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/plain")
            return response.text

        wait_until(lambda: figure(scrape(), "tracking_open_streams") == 2, 10, "2")
        text = scrape()
        assert figure(text, "tracking_resumes_total") == 2
        assert figure(text, "tracking_resets_total") == 1
        assert figure(text, "tracking_events_sent_total") == 3
        assert figure(text, "tracking_slow_consumers_dropped_total") == 0
        assert figure(text, "tracking_listener_reconnects_total") == 0
        for stream in (resumed, reset):
            stream.stop()
    finally:
        server.stop()


def test_metrics_are_off_unless_enabled(server: Any):
    response = httpx.get(server.url("/tracking/metrics"))

    assert response.status_code == 404
    assert "METRICS" in response.text


def event_frames(raw: bytes) -> list[bytes]:
    return [block for block in raw.split(b"\n\n") if block.startswith(b"id: ")]


@pytest.mark.parametrize("backend", ["postgres"])
def test_on_postgres_new_events_cost_no_read_unless_too_large_to_notify(
    make_order, token_headers, alias
):
    """Postgres sends each event with its notification, so following an order reads
    the database only for the replay; an event too large for a notification is read.
    Either way a live event is the same bytes as its replay."""
    server = Server(database_url(alias), {"METRICS": True}, name="pg-reads").start()
    try:
        order = make_order()
        url = server.url(f"/orders/{order.reference}/events")
        live = Recorder(url, token_headers(order)).start()
        live.wait_for_events(1)

        def reads() -> float:
            text = httpx.get(server.url("/tracking/metrics")).text
            return figure(text, "tracking_event_reads_total")

        after_replay = reads()
        for number in range(5):
            fields = {"zeta": number, "a": "é ✓", "nested": {"bb": [1.5], "a": None}}
            record_event(order, "note", fields)
        live.wait_for_events(6)
        assert reads() == after_replay

        record_event(order, "note", {"text": "x" * 9000})
        record_event(order, "note", {"after": "the large one"})
        live.wait_for_events(8)
        assert reads() > after_replay

        replay = Recorder(url, token_headers(order)).start()
        replay.wait_for_events(8)
        for stream in (live, replay):
            stream.stop()
        assert event_frames(bytes(live.raw)) == event_frames(bytes(replay.raw))
        assert len(event_frames(bytes(live.raw))) == 8
    finally:
        server.stop()


@pytest.mark.parametrize("backend", ["postgres"])
def test_health_shows_the_notification_queue_filling_behind_a_stalled_listener(
    server, make_order, alias
):
    """A session that listens but sits in a transaction takes nothing from Postgres'
    notification queue, so the events recorded meanwhile stay in it."""
    before = server.health()["notify_queue_usage"]
    assert 0 <= before < 1
    dsn = connections[alias].settings_dict
    stalled = psycopg.connect(
        dbname=dsn["NAME"], host=dsn["HOST"], user=dsn["USER"] or None
    )
    try:
        stalled.execute("LISTEN tracking_order_events")
        stalled.commit()
        stalled.execute("SELECT 1")  # a transaction left open
        order = make_order()
        for _ in range(20):
            record_event(order, "note", {"text": "x" * 1500})

        assert server.health()["notify_queue_usage"] > before
    finally:
        stalled.close()


def test_on_sqlite_health_has_no_notification_queue(server):
    assert server.health()["notify_queue_usage"] is None
