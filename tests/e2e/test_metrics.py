"""Operators' figures from a real server: Prometheus metrics at the opt-in URL, and
the health view."""

import re
import time
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


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_an_orders_streams_share_one_read_per_new_event(
    make_order, token_headers, alias
):
    server = Server(database_url(alias), {"METRICS": True}, name="reads").start()
    try:
        order = make_order()
        url = server.url(f"/orders/{order.reference}/events")
        streams = [Recorder(url, token_headers(order)).start() for _ in range(10)]
        for stream in streams:
            stream.wait_for_events(1)

        def reads() -> float:
            text = httpx.get(server.url("/tracking/metrics")).text
            return figure(text, "tracking_event_reads_total")

        # (On SQLite the poller may still pass on the order's first event.)
        time.sleep(0.5)
        after_replays = reads()
        for number in range(3):
            record_event(order, "note")
            for stream in streams:
                stream.wait_for_events(2 + number)
        assert reads() == after_replays + 3
        for stream in streams:
            stream.stop()
    finally:
        server.stop()


@pytest.mark.parametrize("backend", ["postgres"])
def test_health_shows_the_notification_queue_filling_behind_a_stalled_listener(
    server, alias
):
    """A session that listens but sits in a transaction takes nothing from Postgres'
    notification queue (one for the whole cluster), so what is sent meanwhile stays
    in it; when it is full, recording fails."""
    before = server.health()["notify_queue_usage"]
    assert 0 <= before < 1
    dsn = connections[alias].settings_dict
    params = {"dbname": dsn["NAME"], "host": dsn["HOST"], "user": dsn["USER"] or None}
    with (
        psycopg.connect(**params) as stalled,
        psycopg.connect(**params, autocommit=True) as sender,
    ):
        stalled.execute("LISTEN tracking_test_stall")
        stalled.commit()
        stalled.execute("SELECT 1")  # a transaction left open
        for _ in range(5):
            sender.execute("SELECT pg_notify('tracking_test_stall', repeat('x', 7000))")

        assert server.health()["notify_queue_usage"] > before


def test_on_sqlite_health_has_no_notification_queue(server):
    assert server.health()["notify_queue_usage"] is None
