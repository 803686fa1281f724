"""Postgres restarts under open streams and a busy writer."""

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from tests.e2e.servers import Server
from tests.e2e.streams import wait_until
from tests.faults.pgserver import ROOT, ThrowawayPostgres, run_checked
from tests.faults.subscribers import Crowd, Subscriber
from tracking.access import make_token

DOWN_SECONDS = 2.0


@pytest.fixture
def own_postgres() -> Iterator[ThrowawayPostgres]:
    """A Postgres server of this test's own, whatever ``DATABASE_URL`` says."""
    server = ThrowawayPostgres(f"fault-pg-{os.getpid()}").create()
    try:
        server.create_database("tracking")
        yield server
    finally:
        server.remove()


def project_env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.server_settings",
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(ROOT),
    }


def stored_seqs(postgres: ThrowawayPostgres, references: list[str]) -> dict[str, Any]:
    with postgres.connect("tracking") as conn:
        rows = conn.execute(
            "SELECT o.reference, e.seq FROM tracking_orderevent e"
            " JOIN orders_order o ON o.id = e.order_id ORDER BY o.reference, e.seq"
        ).fetchall()
    seqs: dict[str, list[int]] = {reference: [] for reference in references}
    for reference, seq in rows:
        seqs[reference].append(seq)
    return seqs


def followers(references: list[str], each: int, port: int) -> Crowd:
    """``each`` subscribers per order, each with a token of its own."""
    return Crowd(
        Subscriber(f"/orders/{reference}/events", token(reference), [port])
        for reference in references
        for _ in range(each)
    )


def token(reference: str) -> str:
    """A stream token for an order this process cannot load: it only needs the
    reference (the servers share the test settings' secret key)."""
    return make_token(SimpleNamespace(reference=reference))


def test_streams_survive_a_postgres_restart_with_nothing_lost(own_postgres):
    """Postgres stops for two seconds while 100 subscribers follow 10 orders and
    another process records events (retrying while the database is down); 10 more
    subscribers arrive while it is down. Every subscriber gets exactly the stored
    events of its order, and the server logs the outage once and the recovery once.

    This found three bugs: newcomers got a 500 and a traceback each (and
    ``tracking.client`` gives up on a 500; now 503 with Retry-After), a stream whose
    read failed raised a traceback into uvicorn (now it ends and the client
    resumes), and every failed read logged a warning (now once per outage). The
    listener also ignored ``?port=`` in DATABASE_URL and heard nothing at all.
    """
    url = own_postgres.url("tracking")
    env = project_env(url)
    run_checked(sys.executable, "manage.py", "migrate", "-v0", env=env)
    references = json.loads(
        run_checked(
            sys.executable, "-m", "tests.faults.writer", "create", "10", env=env
        )
    )
    server = Server(url, name="pg-restart").start()
    crowd = followers(references, 10, server.port)
    newcomers = followers(references, 1, server.port)
    writer = None
    try:
        crowd.start().wait_for_events(1, timeout=30)
        writer = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.writer", "record", *references,
             "--events", "400", "--interval", "0.01", "--patience", "30", "--deliver"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        crowd.wait_for_events(5, timeout=30)

        own_postgres.stop()
        newcomers.start()
        time.sleep(DOWN_SECONDS)
        own_postgres.start()
        back = time.monotonic()
        wait_until(lambda: server.health()["listener"], 30, "the listener back")
        reconnected = time.monotonic() - back
        output, _ = writer.communicate(timeout=60)
        crowd.wait_done(timeout=60)
        newcomers.wait_done(timeout=60)

        written = json.loads(output)
        expected = {
            f"/orders/{reference}/events": seqs
            for reference, seqs in stored_seqs(own_postgres, references).items()
        }
        statuses = sum((s.statuses for s in newcomers.subscribers), Counter())
        log = server.log()
        assert writer.returncode == 0
        assert written["retries"] > 0, "the writer never met the outage"
        assert crowd.mismatches(expected) == []
        assert newcomers.mismatches(expected) == []
        assert statuses[503] > 0 and set(statuses) == {200, 503}, statuses
        for line in [
            "Listener connection lost",
            "Listener reconnected",
            "Database reads fail",
            "Database reads work again",
        ]:
            assert log.count(line) == 1, (line, server.log_path)
        assert "Traceback" not in log, server.log_path
        print(f"listener back {reconnected:.2f} s after Postgres; {written}")
    finally:
        crowd.stop()
        newcomers.stop()
        server.stop()
        if writer is not None and writer.poll() is None:
            writer.kill()
            writer.wait()
