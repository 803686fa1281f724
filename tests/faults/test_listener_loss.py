"""The listener's connection is killed while events are being recorded."""

import datetime
import time
from typing import Any

import pytest
from django.db import connections

from tests.conftest import database_url
from tests.e2e.servers import Server
from tests.e2e.streams import wait_until
from tests.faults.storm import finish, stored_seqs
from tests.faults.subscribers import Crowd, Subscriber
from tracking.access import make_token
from tracking.recording import record_event

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture
def backend() -> str:
    return "postgres"


def events_path(order: Any) -> str:
    return f"/orders/{order.reference}/events"


def listener_backends(alias: str, server: Server) -> list[int]:
    """The backend pids of the server's listener, found as operators would."""
    assert server.process is not None
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
            [f"tracking-listener:{server.process.pid}"],
        )
        return [row[0] for row in cursor.fetchall()]


def terminate(alias: str, pid: int) -> datetime.datetime:
    """Terminate backend ``pid``; return when, by the database's clock."""
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT clock_timestamp(), pg_terminate_backend(%s)", [pid])
        return cursor.fetchone()[0]


def test_every_subscriber_gets_every_event_across_listener_kills(make_order, alias):
    """The listener's backend is terminated three times in the middle of a run of
    events on 20 orders followed by 100 subscribers; the events committed before it
    is back are heard by nobody. Each time, with nothing else recorded, every
    subscriber catches up with what is stored (the listener makes every stream
    re-read); in the end each has exactly the stored events of its order, and each
    loss and recovery is logged once."""
    server = Server(database_url(alias), name="listener-kill").start()
    orders = [make_order() for _ in range(20)]
    crowd = Crowd(
        Subscriber(events_path(order), make_token(order), [server.port])
        for order in orders
        for _ in range(5)
    )
    try:
        crowd.start().wait_for_events(1, timeout=30)
        unheard = [kill_while_recording(alias, server, orders, crowd) for _ in range(3)]
        finish(orders)
        crowd.wait_done(timeout=60)

        log = server.log()
        assert crowd.mismatches(expected_ids(orders, alias)) == []
        assert all(count > 0 for count, _ in unheard), unheard
        assert log.count("Listener connection lost") == 3, log
        assert log.count("Listener reconnected") == 3, log
        assert server.health()["listener"] is True
        print(f"unheard events and seconds to a new listener: {unheard}")
    finally:
        crowd.stop()
        server.stop()


def expected_ids(orders: list[Any], alias: str) -> dict[str, list[int]]:
    seqs = stored_seqs(orders, alias)
    return {events_path(order): seqs[order.pk] for order in orders}


def kill_while_recording(
    alias: str, server: Server, orders: list[Any], crowd: Crowd
) -> tuple[int, float]:
    """Record, kill the listener, record on for 0.1 s, then wait for every subscriber
    to catch up; return how many events no listener heard, and how long the listener
    took to come back."""
    [old] = listener_backends(alias, server)
    for order in orders[:10]:
        record_event(order, "note")
    since = terminate(alias, old)
    killed = time.monotonic()
    while time.monotonic() - killed < 0.1:
        for order in orders:
            record_event(order, "note")
    wait_until(
        lambda: listener_backends(alias, server) not in ([], [old]),
        15,
        "a new listener connection",
    )
    back = time.monotonic() - killed
    crowd.wait_until_ids(expected_ids(orders, alias), timeout=15)
    return unheard_events(alias, server, since), back


def unheard_events(alias: str, server: Server, since: datetime.datetime) -> int:
    """Count the events committed from ``since`` until the listener's current
    connection started: no notification of theirs reached the server."""
    [pid] = listener_backends(alias, server)
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM tracking_orderevent WHERE created_at > %s AND"
            " created_at < (SELECT backend_start FROM pg_stat_activity WHERE pid = %s)",
            [since, pid],
        )
        return int(cursor.fetchone()[0])
