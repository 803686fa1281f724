"""Stopping a server ends its streams cleanly, and quickly, instead of cutting them."""

import signal

import pytest

from tests.conftest import database_url
from tests.e2e.servers import Server
from tests.e2e.streams import Recorder, wait_until

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture
def backend() -> str:
    return "postgres"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stopping_ends_every_stream_cleanly(make_order, token_headers, alias, sig):
    """Regression: on Ctrl-C or SIGTERM, uvicorn waited out its graceful timeout and
    then cancelled each stream, logging an error and a traceback per stream and
    cutting every body short in the middle of its chunked encoding."""
    server = Server(database_url(alias), name=f"stop-{sig.name}").start()
    order = make_order()
    streams = [
        Recorder(server.url(f"/orders/{order.reference}/events"), token_headers(order))
        for _ in range(20)
    ]
    for stream in streams:
        stream.start().wait_for_events(1)
    wait_until(lambda: server.health()["streams"] == 20, 10, "20 open streams")

    code = server.stop(sig)
    for stream in streams:
        stream.wait_ended()

    log = server.log()
    assert code in (0, -sig), log[-2000:]
    assert "graceful shutdown exceeded" not in log, "streams were waited on, then cut"
    assert [stream.error for stream in streams] == [None] * 20
    assert log.count("the server is shutting down") == 20
    assert "Traceback" not in log
    assert "Exception in ASGI application" not in log
