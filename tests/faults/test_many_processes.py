"""Several server processes, and a writer that is none of them."""

import os
import signal
import subprocess
import sys
import time
from typing import Any

import psutil
import pytest

from tests.conftest import database_url
from tests.e2e.servers import ROOT, Server
from tests.e2e.streams import wait_until
from tests.faults.storm import stored_seqs
from tests.faults.subscribers import Crowd, Subscriber
from tracking.access import make_token

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

# gunicorn's --graceful-timeout here; config.gunicorn gives uvicorn 3 s less.
GRACEFUL_TIMEOUT = 5


@pytest.fixture
def backend() -> str:
    return "postgres"


class GunicornServer(Server):
    """gunicorn with two uvicorn workers, configured by ``config/gunicorn.py``."""

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "gunicorn", "-c", "python:config.gunicorn",
            "--bind", f"127.0.0.1:{self.port}", "--workers", "2",
            "--graceful-timeout", str(GRACEFUL_TIMEOUT), self.app,
        ]  # fmt: skip

    def start(self, timeout: float = 30.0) -> "GunicornServer":
        """Start gunicorn and wait until both workers serve, not just the first."""
        super().start(timeout)
        wait_until(
            lambda: self.log().count("Application startup complete") == 2,
            timeout,
            "both gunicorn workers",
        )
        return self

    def workers(self) -> list[psutil.Process]:
        assert self.process is not None
        return psutil.Process(self.process.pid).children()

    def streams_per_worker(self) -> list[int]:
        """How many client connections each worker holds."""
        return [
            sum(
                1
                for c in worker.net_connections("tcp")
                if c.laddr.port == self.port and c.status == psutil.CONN_ESTABLISHED
            )
            for worker in self.workers()
        ]


def events_path(order: Any) -> str:
    return f"/orders/{order.reference}/events"


def test_every_process_sends_every_subscriber_the_same_sequence(make_order, alias):
    """Two gunicorn workers and a separate uvicorn process serve 5 orders to 60
    subscribers, while another process records 200 events and delivers the
    orders. Every subscriber of an order, whichever process serves it, gets the
    same events (ids, kinds and data) in the same order: exactly those stored."""
    url = database_url(alias)
    pooled = GunicornServer(url, name="gunicorn").start()
    single = Server(url, name="uvicorn-beside-gunicorn").start()
    orders = [make_order() for _ in range(5)]
    # One connection at a time: a worker that wakes for a burst takes all of it.
    crowd = Crowd(
        [
            Subscriber(events_path(order), make_token(order), [server.port])
            for order in orders
            for server in [pooled] * 8 + [single] * 4
        ],
        opening=1,
    )
    try:
        crowd.start().wait_for_events(1, timeout=30)
        per_worker = pooled.streams_per_worker()
        assert len(per_worker) == 2 and min(per_worker) > 0, per_worker

        recorded = record_elsewhere(url, orders)
        crowd.wait_done(timeout=60)

        seqs = stored_seqs(orders, alias)
        assert crowd.mismatches({events_path(o): seqs[o.pk] for o in orders}) == []
        for order in orders:
            seen = {
                tuple(s.events)
                for s in crowd.subscribers
                if s.path == events_path(order)
            }
            assert len(seen) == 1
        assert sum(len(ids) for ids in seqs.values()) == 5 + 200 + 5
        print(f"streams per gunicorn worker: {per_worker}; writer: {recorded}")
    finally:
        crowd.stop()
        pooled.stop()
        single.stop()


def record_elsewhere(url: str, orders: list[Any]) -> str:
    """Record 200 notes and deliver the orders from a process of its own."""
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.faults.writer", "record",
         *[order.reference for order in orders], "--events", "200",
         "--interval", "0.005", "--deliver"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_gunicorn_workers_stop_before_their_graceful_timeout(make_order, alias):
    """With streams open, gunicorn stops within its graceful timeout and kills no
    worker, because config.gunicorn gives uvicorn a shorter one. The stock
    UvicornWorker gives it none: a worker with an open stream waits until gunicorn's
    SIGKILL, after the whole graceful timeout."""
    pooled = GunicornServer(database_url(alias), name="gunicorn-stop").start()
    order = make_order()
    crowd = Crowd(
        [
            Subscriber(events_path(order), make_token(order), [pooled.port])
            for _ in range(20)
        ],
        opening=1,
    )
    try:
        crowd.start().wait_for_events(1, timeout=30)
        per_worker = pooled.streams_per_worker()
        assert sum(per_worker) == 20, per_worker
        assert pooled.process is not None

        started = time.monotonic()
        pooled.process.send_signal(signal.SIGTERM)
        pooled.process.wait(GRACEFUL_TIMEOUT + 10)
        took = time.monotonic() - started

        assert took < GRACEFUL_TIMEOUT, took
        assert "SIGKILL" not in pooled.log(), pooled.log()
        print(f"gunicorn stopped in {took:.2f} s with streams {per_worker}")
    finally:
        crowd.stop()
        pooled.stop()
