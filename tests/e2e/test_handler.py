"""What the tracking ASGI handler does to stream requests: the shop's middleware runs
for them as for any request, and an open stream keeps no request in memory."""

import httpx
import pytest

from tests.conftest import database_url
from tests.e2e.servers import Server
from tests.e2e.streams import Recorder, wait_until
from tests.probe import LIVE_REQUESTS_PATH

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


class MountedServer(Server):
    """A server whose app is mounted under a path prefix, as behind a proxy."""

    def command(self) -> list[str]:
        return [*super().command(), "--root-path", "/shop"]


@pytest.fixture(params=["root", "mounted"])
def probed_server(alias, request):
    kind = Server if request.param == "root" else MountedServer
    server = kind(
        database_url(alias),
        name=f"probe-{request.param}-{alias}",
        settings_module="tests.probe_settings",
    ).start()
    yield server
    server.stop()


def stream_url(server: Server, order) -> str:
    return server.url(
        f"{getattr(server, 'prefix', '')}/orders/{order.reference}/events"
    )


def test_the_shops_middleware_runs_for_streams(
    probed_server, make_order, token_headers
):
    """Both hooks of a sync-style middleware run, on one of the shared threads."""
    order = make_order()
    stream = Recorder(stream_url(probed_server, order), token_headers(order)).start()
    try:
        stream.wait_for_events(1)
        assert stream.status == 200
        assert stream.response_headers is not None
        assert stream.response_headers["X-Probe"].startswith("tracking-req")
    finally:
        stream.stop()
    refused = httpx.get(stream_url(probed_server, order))
    assert refused.status_code == 401
    assert refused.headers["X-Probe"].startswith("tracking-req")


def test_open_streams_keep_no_request(probed_server, make_order, token_headers):
    """Django keeps each request until its response ends, hours for a stream; the
    handler lets it go once the view has answered, also when the app is mounted
    under a prefix."""
    order = make_order()
    url = stream_url(probed_server, order)
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
