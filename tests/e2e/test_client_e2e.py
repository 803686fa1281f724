"""tracking.client against real uvicorn servers: restarts, broken links, refusals.

The client exists for one guarantee: every event of an order exactly once, in order,
through to the order's final event, after which the server's 204 ends iteration. These
tests hold both clients, async and sync, to it while the server is killed and started
again, while a proxy cuts connections inside lines and characters, and while a
connection goes silent; and they check the refusals the README documents.
"""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import pytest
from django.db import connections

from tests.conftest import database_url, servers_per_backend
from tests.e2e.faulty_proxy import Fault, FaultyProxy, planned, random_cuts
from tests.e2e.servers import ROOT, Server
from tests.e2e.streams import Recorder, wait_until
from tracking.access import make_token
from tracking.client import (
    Event,
    EventSourceClient,
    Reconnect,
    ReconnectPolicy,
    StreamNotFound,
    SyncEventSourceClient,
    Unauthorized,
)
from tracking.recording import record_event

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

# Servers here ask clients to come back after 20 ms and send a heartbeat every
# 0.25 s, so that reconnecting and spotting a dead connection take little time.
QUICK = {
    "RETRY_MILLISECONDS": 20,
    "HEARTBEAT_SECONDS": 0.25,
    "LIMIT_RETRY_AFTER_SECONDS": 1,
}
# Every client run is bounded: attempts in a row without an event, seconds of
# outage, and seconds in all.
POLICY = ReconnectPolicy(
    default_retry_ms=50, max_delay_ms=150, max_attempts=200, deadline=30.0
)
FOLLOW_TIMEOUT_S = 45.0
# Four heartbeats: a live connection never stays silent this long.
READ_TIMEOUT_S = 1.0
# Characters of two, three and four bytes in UTF-8, so that cuts split characters.
MULTIBYTE = "配達中です。お荷物は明日の午前中に届きます ☕ 𝄞 über Nacht, ça roule"
KINDS = ["async", "sync"]
# Where one run per client is enough, each client takes one backend.
PAIRS = [("sqlite", "async"), ("postgres", "sync")]
ENDED = "the server ended the stream"
# The servers' default MAX_STREAMS_PER_TOKEN.
STREAMS_PER_TOKEN = 10


@pytest.fixture(scope="module")
def quick_servers(
    django_db_setup: Any, django_db_blocker: Any
) -> Iterator[dict[str, Server]]:
    """One quick server per backend for the tests that do not stop their server."""
    yield from servers_per_backend(django_db_blocker, "client", QUICK)


@pytest.fixture
def quick_server(quick_servers: dict[str, Server], backend: str) -> Server:
    return quick_servers[backend]


def events_path(order: Any) -> str:
    return f"/orders/{order.reference}/events"


def finished_order(make_order: Any, notes: int) -> Any:
    """A stored order: its creation, ``notes`` notes and the delivery that ends it."""
    order = make_order()
    for number in range(notes):
        record_event(order, "note", {"n": number, "message": MULTIBYTE})
    record_event(order, "delivered", status="delivered")
    return order


class Follower:
    """Follows one stream with the async or the sync client, in a thread of its own."""

    def __init__(self, kind: str, url: str, token: str | None, **options: Any) -> None:
        self.kind = kind
        self.url = url
        self.options = {
            "token": token,
            "policy": POLICY,
            "on_reconnect": self._reconnecting,
            **options,
        }
        self.events: list[Event] = []
        self.reconnects: list[Reconnect] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            if self.kind == "async":
                asyncio.run(asyncio.wait_for(self._follow(), FOLLOW_TIMEOUT_S))
            else:
                self._follow_sync()
        except BaseException as exc:
            self.error = exc

    async def _follow(self) -> None:
        async with EventSourceClient(self.url, **self.options) as stream:
            async for event in stream:
                self.events.append(event)

    def _follow_sync(self) -> None:
        # Bounded by the policy: once the test stops the server, attempts run out.
        with SyncEventSourceClient(self.url, **self.options) as stream:
            for event in stream:
                self.events.append(event)

    def _reconnecting(self, reconnect: Reconnect) -> None:
        self.reconnects.append(reconnect)

    def wait_for_events(self, count: int, timeout: float = 20.0) -> None:
        wait_until(
            lambda: len(self.events) >= count or not self._thread.is_alive(),
            timeout,
            f"{count} events for the {self.kind} client (has {len(self.events)})",
        )

    def finish(self, timeout: float = FOLLOW_TIMEOUT_S) -> Self:
        """Wait until iteration ends; raise what the client raised, if anything."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the {self.kind} client is still going"
        if self.error is not None:
            raise self.error
        return self

    def ids(self) -> list[int]:
        return [int(event.id) for event in self.events]

    def reasons(self) -> list[str]:
        return [reconnect.reason for reconnect in self.reconnects]


class Writer:
    """Records notes on an order from a thread until told to finish the order."""

    def __init__(self, order: Any, pause: float, limit: int = 1000) -> None:
        self.order = order
        self.pause = pause
        self.limit = limit
        self.written = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            deadline = time.monotonic() + FOLLOW_TIMEOUT_S
            while not self._stop.is_set() and self.written < self.limit:
                assert time.monotonic() < deadline, "the writer ran out of time"
                data = {"n": self.written, "message": MULTIBYTE}
                record_event(self.order, "note", data)
                self.written += 1
                time.sleep(self.pause)
            record_event(self.order, "delivered", status="delivered")
        except BaseException as exc:
            self.error = exc
        finally:
            connections.close_all()

    def finish(self) -> int:
        """Record the delivery and return how many events the order has in all."""
        self._stop.set()
        self._thread.join(FOLLOW_TIMEOUT_S)
        assert self.error is None, self.error
        return 1 + self.written + 1


def assert_every_event_once(follower: Follower, total: int) -> None:
    """Ids 1 to ``total`` once each and in order, intact, the delivery last."""
    assert follower.ids() == list(range(1, total + 1)), follower.kind
    assert follower.events[-1].type == "delivered"
    notes = [event.json() for event in follower.events if event.type == "note"]
    assert [note["n"] for note in notes] == list(range(total - 2))
    assert all(note["message"] == MULTIBYTE for note in notes)


def test_a_server_killed_mid_stream_and_restarted_loses_no_event(alias, make_order):
    """SIGKILL while both clients follow, events recorded all along, and a new
    server on the same port: each client yields every event once, in order, to the
    delivery, and then the 204 ends its iteration."""
    server = Server(database_url(alias), overrides=QUICK, name="client-restart")
    server.start()
    try:
        order = make_order()
        url, token = server.url(events_path(order)), make_token(order)
        followers = [Follower(kind, url, token).start() for kind in KINDS]
        writer = Writer(order, pause=0.03).start()
        for follower in followers:
            follower.wait_for_events(5)

        server.stop(signal.SIGKILL)
        killed_at = writer.written
        time.sleep(0.5)
        server.start()
        restarted_at = writer.written
        wait_until(lambda: writer.written >= restarted_at + 10, 20, "live events")
        total = writer.finish()
        for follower in followers:
            follower.finish()
    finally:
        server.stop()

    assert killed_at < restarted_at, "no event was recorded while the server was down"
    for follower in followers:
        assert_every_event_once(follower, total)
        broken = [reason for reason in follower.reasons() if reason != ENDED]
        assert broken, "the kill did not break the client's connection"
        assert follower.reasons()[-1] == ENDED


@pytest.mark.parametrize(("backend", "kind"), PAIRS)
def test_connections_cut_inside_lines_and_characters_lose_no_event(
    kind, quick_server, make_order
):
    """A proxy closes or resets connections at seeded random byte offsets, within
    lines and within multi-byte characters: every event arrives once, intact."""
    order = finished_order(make_order, notes=60)
    plan = random_cuts(seed=20260415, count=40, longest=800)

    with FaultyProxy(quick_server.port, plan) as proxy:
        url = proxy.url(events_path(order))
        follower = Follower(kind, url, make_token(order)).start().finish()

    assert_every_event_once(follower, total=62)
    assert len(proxy.cuts) >= 20, proxy.cuts
    assert any(cut.mid_character for cut in proxy.cuts), proxy.cuts
    assert any(cut.mid_line and not cut.mid_character for cut in proxy.cuts)
    assert {cut.fault.action for cut in proxy.cuts} == {"close", "reset"}


@pytest.mark.parametrize("kind", KINDS)
def test_refusals_raise_the_documented_errors(kind, quick_server, make_order):
    """No token is a 401; another order's token and an unknown order are the same
    404. None of them is retried."""
    order, other = make_order(), make_order()
    url = quick_server.url(events_path(order))
    unknown = quick_server.url("/orders/ord_doesnotexist/events")
    cases = [
        (url, None, Unauthorized, 401),
        (url, make_token(other), StreamNotFound, 404),
        (unknown, make_token(order), StreamNotFound, 404),
    ]

    for stream_url, token, error, status in cases:
        follower = Follower(kind, stream_url, token).start()
        with pytest.raises(error) as raised:
            follower.finish()
        assert raised.value.status == status
        assert raised.value.reason, "the server's one-sentence reason is missing"
        assert follower.reconnects == []


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_token_over_its_stream_limit_waits_and_gets_in(
    kind, quick_server, make_order
):
    """With the token's ten streams open, the server answers 429; the client waits
    Retry-After and tries again, and gets in once a slot is free (those streams may
    be its own half-open connections, which the server drops only later)."""
    order = make_order()
    url, token = quick_server.url(events_path(order)), make_token(order)
    holders = [
        Recorder(url, {"Authorization": f"Bearer {token}"}).start()
        for _ in range(STREAMS_PER_TOKEN)
    ]
    for holder in holders:
        holder.wait_for_events(1)
    follower = Follower(kind, url, token).start()
    wait_until(lambda: len(follower.reconnects) >= 1, 10, "a refused attempt")
    for holder in holders:
        holder.stop()
    record_event(order, "delivered", status="delivered")
    follower.finish()

    assert "429" in follower.reconnects[0].reason
    assert_every_event_once(follower, total=2)


@pytest.mark.parametrize("kind", KINDS)
def test_a_finished_order_seen_to_the_end_stops_on_204(kind, quick_server, make_order):
    """The stream ends after the delivery; the one reconnect gets 204 and iteration
    ends. A client that starts at the end gets 204 at once."""
    order = finished_order(make_order, notes=3)
    url, token = quick_server.url(events_path(order)), make_token(order)

    follower = Follower(kind, url, token).start().finish()
    again = Follower(kind, url, token, last_event_id="5").start().finish()

    assert_every_event_once(follower, total=5)
    assert follower.reasons() == [ENDED]
    assert again.events == []
    assert again.reconnects == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_tracking_link_is_followed_as_it_is(kind, quick_server, make_order):
    """The URL ``manage.py tracking_link`` prints carries its token in the query;
    the client follows it with no token of its own, to the 204."""
    from tracking.links import stream_url

    order = finished_order(make_order, notes=1)
    link = stream_url(order, quick_server.base_url, 600)

    follower = Follower(kind, link, None).start().finish()

    assert_every_event_once(follower, total=3)
    assert follower.reasons() == [ENDED]


def test_heartbeats_alone_keep_the_clients_connected(quick_server, make_order):
    """Heartbeats every 0.25 s and a read timeout of 1 s: three seconds without an
    event bring no reconnect, and the next event still arrives."""
    order = make_order()
    url, token = quick_server.url(events_path(order)), make_token(order)
    followers = [
        Follower(kind, url, token, read_timeout=READ_TIMEOUT_S).start()
        for kind in KINDS
    ]
    for follower in followers:
        follower.wait_for_events(1)

    time.sleep(3 * READ_TIMEOUT_S)
    quiet = [follower.reasons() for follower in followers]
    record_event(order, "delivered", status="delivered")
    for follower in followers:
        follower.finish()

    assert quiet == [[], []]
    for follower in followers:
        assert follower.ids() == [1, 2]
        assert follower.reasons() == [ENDED]


@pytest.mark.parametrize(("backend", "kind"), PAIRS)
def test_a_silent_connection_is_taken_for_dead(kind, quick_server, make_order):
    """The proxy keeps two connections open but passes nothing more: once after the
    headers, once after the first event. Each time the client gives up on it after
    its read timeout and resumes on a new connection."""
    order = make_order()
    record_event(order, "note", {"n": 0, "message": MULTIBYTE})
    plan = planned(Fault("silence", 0), Fault("silence", 200))

    with FaultyProxy(quick_server.port, plan) as proxy:
        url = proxy.url(events_path(order))
        follower = Follower(kind, url, make_token(order), read_timeout=READ_TIMEOUT_S)
        follower.start().wait_for_events(2)
        record_event(order, "delivered", status="delivered")
        follower.finish()

    assert_every_event_once(follower, total=3)
    dead = f"no byte arrived for {READ_TIMEOUT_S:g} s, so the connection is dead"
    assert follower.reasons() == [dead, dead, ENDED]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_cli_follows_the_demo_order_through_a_restart(alias, tmp_path):
    """``python -m tracking.client URL --token T --json``, as the README shows, on
    the order ``make demo`` sets up: a SIGKILL and a restart of the server lose no
    line, and the delivery ends the command with status 0."""
    from orders.models import Order

    server = Server(database_url(alias), overrides=QUICK, name="client-cli").start()
    try:
        stream_url, token = demo_setup(server)
        order = Order.objects.using(alias).get(reference=stream_url.split("/")[-2])
        command = [stream_url, "--token", token, "--json"]
        with CommandLine(command, tmp_path / "stderr.txt") as cli:
            cli.wait_for_lines(3)  # the demo order's creation, note and payment

            server.stop(signal.SIGKILL)
            record_event(order, "note", {"message": MULTIBYTE})
            server.start()
            record_event(order, "note", {"message": "after the restart"})
            record_event(order, "delivered", status="delivered")
            returncode = cli.finish()
    finally:
        server.stop()

    printed = [json.loads(line) for line in cli.lines]
    assert returncode == 0, cli.stderr()
    assert [line["id"] for line in printed] == ["1", "2", "3", "4", "5", "6"]
    assert [line["event"] for line in printed][-3:] == ["note", "note", "delivered"]
    assert json.loads(printed[3]["data"])["message"] == MULTIBYTE
    assert "reconnecting in " in cli.stderr()
    assert token not in cli.stderr()


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_shop_with_djangos_gzip_middleware_still_reaches_the_client(
    kind, alias, make_order
):
    """Django's GZipMiddleware makes each event a gzip member of its own, of which
    httpx reads only the first: the client asks for the stream uncompressed."""
    server = Server(
        database_url(alias),
        overrides=QUICK,
        name="client-gzip",
        settings_module="tests.gzip_settings",
    ).start()
    try:
        order = finished_order(make_order, notes=3)
        url, token = server.url(events_path(order)), make_token(order)
        follower = Follower(kind, url, token).start().finish()
    finally:
        server.stop()

    assert_every_event_once(follower, total=5)


def demo_setup(server: Server) -> tuple[str, str]:
    """Run ``manage.py demo_setup`` for ``server``; return its stream URL and token."""
    result = subprocess.run(
        [sys.executable, "manage.py", "demo_setup", "--base-url", server.base_url],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": server.settings_module,
            "DATABASE_URL": server.database_url,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    stream = re.search(r"^Stream: (\S+)$", result.stdout, re.MULTILINE)
    token = re.search(r"Authorization: Bearer ([^']+)'", result.stdout)
    assert stream and token, result.stdout
    return stream.group(1), token.group(1)


class CommandLine:
    """``python -m tracking.client`` in a process, its stdout read line by line."""

    def __init__(self, arguments: list[str], stderr_path: Path) -> None:
        self.lines: list[str] = []
        self._stderr_path = stderr_path
        with stderr_path.open("w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tracking.client", *arguments],
                cwd=ROOT,
                env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Kill the process if it still runs, then release its pipe."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self._reader.join(10)
        assert self.process.stdout is not None
        self.process.stdout.close()

    def _read(self) -> None:
        assert self.process.stdout is not None
        # Ends when the process exits, which __exit__ forces if need be.
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_lines(self, count: int, timeout: float = 20.0) -> None:
        wait_until(
            lambda: len(self.lines) >= count or self.process.poll() is not None,
            timeout,
            f"{count} lines from the client (has {self.lines})",
        )

    def finish(self, timeout: float = FOLLOW_TIMEOUT_S) -> int:
        """Wait for the process to exit and for its last line to be read."""
        returncode = self.process.wait(timeout)
        self._reader.join(10)
        return returncode

    def stderr(self) -> str:
        return self._stderr_path.read_text()
