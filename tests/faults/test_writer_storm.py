"""Writer storms: many concurrent writers, rollbacks, and a crowd of subscribers."""

import os
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import database_url
from tests.e2e.servers import ROOT, Server
from tests.faults.storm import finish, stored_seqs, storm
from tests.faults.subscribers import Crowd, Subscriber
from tracking.access import make_token

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def events_path(order: Any) -> str:
    return f"/orders/{order.reference}/events"


def crowd_of(orders: list[Any], per_order: int, ports: list[int]) -> Crowd:
    """``per_order`` subscribers on each order, each with a token of its own."""
    return Crowd(
        Subscriber(events_path(order), make_token(order), ports)
        for order in orders
        for _ in range(per_order)
    )


def expected_ids(orders: list[Any], alias: str) -> dict[str, list[int]]:
    seqs = stored_seqs(orders, alias)
    return {events_path(order): seqs[order.pk] for order in orders}


@pytest.mark.parametrize(
    "backend, orders, total, writers, processes, per_order",
    [("postgres", 100, 5000, 20, 0, 10), ("sqlite", 20, 1000, 10, 2, 5)],
)
def test_each_subscriber_gets_exactly_the_committed_seqs_of_its_order(
    make_order, alias, orders, total, writers, processes, per_order
):
    """Concurrent writers on shared orders, a fifth of their transactions rolled
    back, while subscribers follow every order (on SQLite, two more processes write
    100 events each, as other server processes would). Each subscriber's ids are
    exactly the stored seqs of its order (1..N, no gap, no repeat), and no writer
    sees an error: on SQLite, no "database is locked"."""
    url = database_url(alias)
    server = Server(url, name=f"storm-{alias}").start()
    crowd = None
    try:
        placed = [make_order() for _ in range(orders)]
        crowd = crowd_of(placed, per_order, [server.port]).start()
        crowd.wait_for_events(1, timeout=60)

        others = [write_elsewhere(url, placed, 100) for _ in range(processes)]
        result = storm(placed, alias, total, writers)
        failed = [other.communicate(timeout=60)[1] for other in others]
        failed = [err for err in failed if "Traceback" in err]
        finish(placed)
        crowd.wait_done(timeout=60)

        expected = expected_ids(placed, alias)
        assert result.errors == []
        assert failed == [], failed[0][-3000:]
        assert all(other.returncode == 0 for other in others)
        assert result.rolled_back == total // 5
        assert all(ids == list(range(1, len(ids) + 1)) for ids in expected.values())
        committed = total * 4 // 5 + 100 * processes
        assert sum(len(ids) for ids in expected.values()) == 2 * orders + committed
        assert crowd.mismatches(expected) == []
        assert "database is locked" not in server.log()
        print(f"storm {alias}: {result.committed} committed in {result.seconds:.1f} s")
    finally:
        if crowd is not None:
            crowd.stop()
        server.stop()


def write_elsewhere(url: str, orders: list[Any], events: int) -> subprocess.Popen[str]:
    """Start a process that records ``events`` notes and gives up at the first
    database error."""
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.faults.writer", "record",
         *[order.reference for order in orders], "--events", str(events),
         "--patience", "0"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
