"""Postgres live delivery: concurrent writers, several processes, shared connections."""

import re
import threading
import time
from typing import Any

import httpx
import psycopg
import pytest
from django.db import connections, transaction

from tests.conftest import database_url
from tests.e2e.servers import Server, free_port
from tests.e2e.streams import Recorder, wait_until
from tracking.models import OrderEvent
from tracking.recording import record_event

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture
def backend() -> str:
    return "postgres"


def events_path(order: Any) -> str:
    return f"/orders/{order.reference}/events"


class Rollback(Exception):
    """Raised on purpose to roll a writer's transaction back."""


def test_fifty_concurrent_writers_leave_seqs_exactly_one_to_n(
    server, make_order, token_headers, alias
):
    """A fifth of the writers roll back and one holds its transaction open on purpose
    while the others try to commit; the stored seqs are still exactly 1..N and a
    stream sees all of them in order."""
    order = make_order()
    stream = Recorder(server.url(events_path(order)), token_headers(order)).start()
    stream.wait_for_events(1)
    holding, release = threading.Event(), threading.Event()
    committed: list[int] = []

    def hold_open() -> None:
        with transaction.atomic(using=alias):
            committed.append(record_event(order, "note", {"writer": "held"}).seq)
            holding.set()
            release.wait(10)

    def write(number: int) -> None:
        try:
            with transaction.atomic(using=alias):
                event = record_event(order, "note", {"writer": number})
                if number % 5 == 0:
                    raise Rollback
                committed.append(event.seq)
        except Rollback:
            pass

    threads = [threading.Thread(target=in_thread, args=(hold_open,))]
    threads[0].start()
    holding.wait(10)
    threads += [
        threading.Thread(target=in_thread, args=(write, number)) for number in range(49)
    ]
    for thread in threads[1:]:
        thread.start()
    time.sleep(0.5)  # the writers are now queued behind the held row lock
    release.set()
    for thread in threads:
        thread.join(30)

    seqs = list(
        OrderEvent.objects.using(alias)
        .filter(order=order)
        .values_list("seq", flat=True)
    )
    total = 1 + 1 + 39  # creation, the held writer, 49 writers less 10 rollbacks
    assert sorted(committed) == list(range(2, total + 1))
    assert seqs == list(range(1, total + 1))
    stream.wait_for_events(total)
    stream.stop()
    assert stream.ids() == list(range(1, total + 1))


def in_thread(function: Any, *args: Any) -> None:
    try:
        function(*args)
    finally:
        connections.close_all()


def test_an_event_recorded_through_one_process_reaches_another(
    make_order, token_headers, alias
):
    """Two uvicorn processes: staff change the order in the admin served by one, and
    a customer following it on the other sees the event."""
    url = database_url(alias)
    admin_side = Server(url, name="pg-admin").start()
    stream_side = Server(url, name="pg-stream").start()
    try:
        from django.contrib.auth import get_user_model

        staff = (
            get_user_model()
            .objects.db_manager(alias)
            .create_superuser("staff", password="secret")
        )
        assert staff.pk
        order = make_order()
        stream = Recorder(stream_side.url(events_path(order)), token_headers(order))
        stream.start().wait_for_events(1)

        change_status_in_admin(admin_side, order, "shipped")

        stream.wait_for_events(2)
        stream.stop()
        assert stream.ids() == [1, 2]
        assert stream.events[1].type == "status"
        assert stream.events[1].json()["status"] == "shipped"
    finally:
        admin_side.stop()
        stream_side.stop()


def change_status_in_admin(server: Server, order: Any, status: str) -> None:
    """Sign in to the admin as staff and save the order with a new status."""
    with httpx.Client(base_url=server.base_url, timeout=10) as browser:
        login = browser.get("/admin/login/")
        browser.post(
            "/admin/login/",
            data={
                "username": "staff",
                "password": "secret",
                "csrfmiddlewaretoken": csrf_token(login.text),
                "next": "/admin/",
            },
        )
        page = browser.get(f"/admin/orders/order/{order.pk}/change/")
        assert page.status_code == 200, page.text[:300]
        saved = browser.post(
            f"/admin/orders/order/{order.pk}/change/",
            data={
                "csrfmiddlewaretoken": csrf_token(page.text),
                "customer": "",
                "status": status,
                "tracking_events-TOTAL_FORMS": "0",
                "tracking_events-INITIAL_FORMS": "0",
                "tracking_events-MIN_NUM_FORMS": "0",
                "tracking_events-MAX_NUM_FORMS": "0",
                "_save": "Save",
            },
        )
        assert saved.status_code == 302, saved.text[:2000]


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def server_connections(alias: str, server: Server) -> int:
    """Count one server's connections to the test database, listener included."""
    settings = connections[alias].settings_dict
    assert server.process is not None
    names = [
        f"tracking-server-{server.port}",
        f"tracking-listener:{server.process.pid}",
    ]
    with psycopg.connect(
        dbname="postgres", host=settings["HOST"], user=settings["USER"] or None
    ) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
            " AND application_name = ANY(%s)",
            [settings["NAME"], names],
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_connections_do_not_grow_with_streams(make_order, token_headers, alias):
    """200 streams on 200 orders, all woken at once: the server holds two connections
    (the listener and the reader) at rest, borrows at most READ_THREADS - 1 more for
    the burst of reads whatever the number of streams, and gives them back after.
    Then 500 streams opened and dropped leave no waiter behind."""
    port = free_port()
    url = database_url(alias).replace("tracking-server", f"tracking-server-{port}")
    server = Server(url, port=port, name="pg-connections").start()
    try:
        orders = [make_order() for _ in range(200)]
        streams = [
            Recorder(server.url(events_path(o)), token_headers(o)).start()
            for o in orders
        ]
        for stream in streams:
            stream.wait_for_events(1)
        # Opening 200 streams is itself a burst: its helpers leave when it is over.
        wait_until(lambda: server_connections(alias, server) <= 2, 10, "settled")
        at_rest = server_connections(alias, server)

        for order in orders:
            record_event(order, "note")
        peak = 0
        deadline = time.monotonic() + 30
        while not all(len(s.events) >= 2 for s in streams):
            assert time.monotonic() < deadline, "not every stream got its event"
            peak = max(peak, server_connections(alias, server))
        for stream in streams:
            stream.stop()

        assert at_rest <= 2
        assert peak <= 1 + 4  # the listener, and READ_THREADS readers at most
        assert all(s.ids() == [1, 2] for s in streams)
        wait_until(lambda: server_connections(alias, server) <= 2, 10, "settled")

        churn = [  # ten per order: each token's limit
            Recorder(
                server.url(events_path(orders[n % 50])), token_headers(orders[n % 50])
            )
            for n in range(500)
        ]
        for stream in churn:
            stream.start()
        wait_until(
            lambda: all(s.ended.is_set() or s.events for s in churn), 60, "churn"
        )
        for stream in churn:
            stream.stop()
        wait_until(lambda: server.health()["streams"] == 0, 30, "no waiters left")
        assert server.health()["orders"] == 0
    finally:
        server.stop()


def test_forged_notifications_neither_stop_nor_delay_live_events(
    make_order, token_headers, alias
):
    """Any role that may connect can send a notification. ``"2:²"`` passed
    ``str.isdigit`` and then failed ``int``, and 4,301 digits exceed Python's limit
    for ``int``: either ended the listener for good, unlogged, with the health view
    still saying it was up. A hint naming event 1,000,000 made the real ones wait."""
    server = Server(database_url(alias), name="pg-forged").start()
    try:
        order = make_order()
        stream = Recorder(server.url(events_path(order)), token_headers(order))
        stream.start().wait_for_events(1)
        settings = connections[alias].settings_dict
        with psycopg.connect(
            dbname=settings["NAME"],
            host=settings["HOST"],
            user=settings["USER"] or None,
            autocommit=True,
        ) as forger:
            for seq in ("²", "9" * 4301, "1000000"):
                forger.execute(
                    "SELECT pg_notify('tracking_order_events', %s)",
                    [f"{order.pk}:{seq}"],
                )
        time.sleep(0.3)
        committed = time.monotonic()
        record_event(order, "note")

        stream.wait_for_events(2, timeout=5)
        assert time.monotonic() - committed < 3
        assert server.health()["listener"] is True
        stream.stop()
        assert stream.ids() == [1, 2]
    finally:
        server.stop()
