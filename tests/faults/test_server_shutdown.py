"""A server process stops (SIGTERM) or dies (SIGKILL) under 500 open streams."""

import signal
import threading
import time
from typing import Any

import pytest
from django.db import connections

from tests.conftest import database_url
from tests.e2e.servers import GRACEFUL_SHUTDOWN_SECONDS, Server
from tests.e2e.streams import wait_until
from tests.faults.storm import finish, stored_seqs
from tests.faults.subscribers import Crowd, Subscriber
from tracking.access import make_token
from tracking.recording import record_event

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

STREAMS = 500
# What exiting may take beyond the graceful timeout: cancelling the streams that are
# still open, and the interpreter's own exit.
EXIT_MARGIN_SECONDS = 1.5


@pytest.fixture
def backend() -> str:
    return "postgres"


def events_path(order: Any) -> str:
    return f"/orders/{order.reference}/events"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["TERM", "KILL"])
def test_clients_resume_on_another_process_without_loss(sig, make_order, alias):
    """500 streams (50 orders) on one server while events are recorded; the server
    is sent ``sig``. After SIGTERM it exits within its graceful timeout (open
    streams are cancelled, not waited for); either way every client resumes on the
    second server with ``Last-Event-ID`` and ends with exactly the stored events of
    its order."""
    url = database_url(alias)
    doomed = Server(url, name=f"doomed-{sig.name}").start()
    survivor = Server(url, name=f"survivor-{sig.name}").start()
    orders = [make_order() for _ in range(STREAMS // 10)]
    crowd = Crowd(
        Subscriber(events_path(order), make_token(order), [doomed.port, survivor.port])
        for order in orders
        for _ in range(10)
    )
    stop_writing = threading.Event()
    writer = threading.Thread(target=write, args=(orders, stop_writing))
    try:
        crowd.start().wait_for_events(1, timeout=60)
        assert doomed.health()["streams"] == STREAMS
        writer.start()
        time.sleep(0.5)

        exited = stop_timed(doomed, sig)
        moved = wait_moved(survivor, exited)
        stop_writing.set()
        writer.join(30)
        finish(orders)
        crowd.wait_done(timeout=60)

        seqs = stored_seqs(orders, alias)
        expected = {events_path(order): seqs[order.pk] for order in orders}
        assert crowd.mismatches(expected) == []
        assert all(s.connections >= 2 for s in crowd.subscribers)
        if sig == signal.SIGTERM:
            # uvicorn finishes its shutdown, then dies of the signal it caught.
            assert "Finished server process" in doomed.log()
            assert exited <= GRACEFUL_SHUTDOWN_SECONDS + EXIT_MARGIN_SECONDS
        print(f"{sig.name}: exited in {exited:.2f} s, all resumed after {moved:.2f} s")
    finally:
        stop_writing.set()
        crowd.stop()
        doomed.stop()
        survivor.stop()


def write(orders: list[Any], stop: threading.Event) -> None:
    """Record notes round the orders until ``stop`` is set (at most 3,000)."""
    try:
        for number in range(3000):
            if stop.is_set():
                return
            record_event(orders[number % len(orders)], "note", {"n": number})
            time.sleep(0.002)
    finally:
        connections.close_all()


def stop_timed(server: Server, sig: int) -> float:
    """Send ``sig`` and return how many seconds the process took to exit."""
    assert server.process is not None
    sent = time.monotonic()
    server.process.send_signal(sig)
    server.process.wait(GRACEFUL_SHUTDOWN_SECONDS + 30)
    return time.monotonic() - sent


def wait_moved(survivor: Server, already: float) -> float:
    """Wait until every stream is open on ``survivor``; return the seconds since the
    signal was sent."""
    started = time.monotonic()
    wait_until(
        lambda: survivor.health()["streams"] == STREAMS, 60, "every stream to move"
    )
    return already + time.monotonic() - started
