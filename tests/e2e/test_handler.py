"""What the tracking ASGI handler does to stream requests: the shop's middleware runs
for them as for any request, and an open stream keeps no request in memory."""

import httpx
import pytest

from tests.conftest import database_url
from tests.e2e.servers import Server
from tests.e2e.streams import Recorder, wait_until
from tests.probe import LIVE_REQUESTS_PATH

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture
def probed_server(alias):
    server = Server(
        database_url(alias),
        name=f"probe-{alias}",
        settings_module="tests.probe_settings",
    ).start()
    yield server
    server.stop()


def test_the_shops_middleware_runs_for_streams(
    probed_server, make_order, token_headers
):
    """Both hooks of a sync-style middleware run, on one of the shared threads."""
    order = make_order()
    stream = Recorder(
        probed_server.url(f"/orders/{order.reference}/events"), token_headers(order)
    ).start()
    try:
        stream.wait_for_events(1)
        assert stream.status == 200
        assert stream.response_headers is not None
        assert stream.response_headers["X-Probe"].startswith("tracking-req")
    finally:
        stream.stop()
    refused = httpx.get(probed_server.url(f"/orders/{order.reference}/events"))
    assert refused.status_code == 401
    assert refused.headers["X-Probe"].startswith("tracking-req")


def test_open_streams_keep_no_request(probed_server, make_order, token_headers):
    """Django keeps each request until its response ends, hours for a stream; the
    handler lets it go once the view has answered."""
    order = make_order()
    url = probed_server.url(f"/orders/{order.reference}/events")
    streams = [Recorder(url, token_headers(order)).start() for _ in range(5)]
    try:
        for stream in streams:
            stream.wait_for_events(1)
        wait_until(lambda: probed_server.health()["streams"] == 5, 10, "5 streams")
        live = httpx.get(probed_server.url(LIVE_REQUESTS_PATH), timeout=10).json()
        assert live == {"others": 0}
    finally:
        for stream in streams:
            stream.stop()
