"""Prometheus metrics at the opt-in URL, counted by a real server."""

import re
from typing import Any

import httpx
import pytest

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
