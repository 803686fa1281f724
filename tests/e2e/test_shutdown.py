"""Stopping a server ends its streams cleanly, and quickly, instead of cutting them."""

import signal
import time

import pytest

from tests.conftest import database_url
from tests.e2e.servers import GRACEFUL_SHUTDOWN_SECONDS, Server
from tests.e2e.staff import make_staff, session_cookie
from tests.e2e.streams import Recorder, wait_until
from tests.e2e.test_resources import stalled_client
from tracking.recording import record_event

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture
def backend() -> str:
    return "postgres"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stopping_ends_every_stream_cleanly(make_order, token_headers, alias, sig):
    """Regression: on Ctrl-C or SIGTERM, uvicorn waited out its graceful timeout and
    then cancelled each stream, logging an error and a traceback per stream and
    cutting every body short in the middle of its chunked encoding. The staff feed,
    and a stream stuck writing to a client that reads nothing, were still waited on
    after that was fixed for the order streams; then uvicorn still waited for the
    stalled client's connection, whose buffers never drain."""
    server = Server(database_url(alias), name=f"stop-{sig.name}").start()
    order, big = make_order(), make_order()
    for number in range(300):  # 4.5 MB to replay: past every socket buffer
        record_event(big, "note", {"n": number, "bulk": "x" * 15000})
    streams = [
        Recorder(server.url(f"/orders/{order.reference}/events"), token_headers(order))
        for _ in range(20)
    ]
    make_staff(alias)
    feed = Recorder(server.url("/tracking/events"), {"Cookie": session_cookie(server)})
    for stream in [*streams, feed]:
        stream.start().wait_for_events(1)
    stalled = stalled_client(
        server.port, f"/orders/{big.reference}/events", token_headers(big)
    )
    wait_until(lambda: server.health()["streams"] == 22, 10, "22 open streams")
    time.sleep(1)  # the stalled one fills the buffers and waits in a write

    started = time.monotonic()
    code = server.stop(sig)
    took = time.monotonic() - started
    for stream in [*streams, feed]:
        stream.wait_ended()
    stalled.close()

    log = server.log()
    assert code in (0, -sig), log[-2000:]
    # Every stream ended at once, none was cancelled, and the stalled connection was
    # aborted: uvicorn had no connection left to wait for.
    assert "Waiting for connections to close" not in log, "a connection was waited on"
    assert "Cancel" not in log, "streams were waited on, then cut"
    assert took < GRACEFUL_SHUTDOWN_SECONDS + 3, took
    assert [stream.error for stream in [*streams, feed]] == [None] * 21
    assert log.count("the server is shutting down") == 22
    assert "Traceback" not in log
    assert "Exception in ASGI application" not in log
