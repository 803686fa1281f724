"""What an open stream costs a server process, and what a stalled client cannot do."""

import socket
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import database_url
from tests.e2e.servers import Server
from tests.e2e.streams import Recorder, read_all, wait_until
from tracking.recording import record_event

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def events_path(order: Any) -> str:
    return f"/orders/{order.reference}/events"


def proc_status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def test_threads_do_not_grow_with_open_streams(make_order, token_headers, alias):
    """Django would keep one idle thread per open stream; the tracking handler lets
    it go before the first byte."""
    server = Server(database_url(alias), name=f"threads-{alias}").start()
    try:
        assert server.process is not None
        order = make_order()
        warm = Recorder(server.url(events_path(order)), token_headers(order)).start()
        warm.wait_for_events(1)
        before = proc_status(server.process.pid, "Threads")

        streams = [
            Recorder(server.url(events_path(order)), token_headers(order)).start()
            for _ in range(100)
        ]
        for stream in streams:
            stream.wait_for_events(1)
        wait_until(lambda: server.health()["streams"] == 101, 20, "101 streams")
        time.sleep(0.5)
        during = proc_status(server.process.pid, "Threads")
        for stream in [warm, *streams]:
            stream.stop()

        # At most the rest of the request threads (4 in all) and of the reader's
        # helpers (READ_THREADS - 1 = 3), whatever the number of streams.
        assert during - before <= 6, (before, during)
    finally:
        server.stop()


def stalled_client(port: int, path: str, headers: dict[str, str]) -> socket.socket:
    """Open a stream and never read it, with a small receive buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return sock


def drain(sock: socket.socket, seconds: float) -> int:
    """Read until the connection ends; return how many bytes were left to read."""
    sock.settimeout(seconds)
    received = 0
    try:
        while chunk := sock.recv(65536):
            received += len(chunk)
    except ConnectionResetError:
        pass
    return received


def test_a_stalled_client_is_dropped_and_does_not_hold_up_others(
    make_order, token_headers, alias
):
    """A client that stops reading while megabytes are written for it: the server's
    memory stays bounded, other streams keep flowing, the stalled one is dropped after
    the send timeout, and when it comes back it gets everything it missed."""
    server = Server(
        database_url(alias), {"SEND_TIMEOUT_SECONDS": 2.0}, name=f"slow-{alias}"
    ).start()
    try:
        assert server.process is not None
        order = make_order()
        stalled = stalled_client(server.port, events_path(order), token_headers(order))
        healthy = Recorder(server.url(events_path(order)), token_headers(order)).start()
        healthy.wait_for_events(1)
        rss_before = proc_status(server.process.pid, "VmRSS")

        bulk = "x" * 15000
        total = 1 + 500  # 500 events of 15 kB: 7.5 MB, past every socket buffer
        for number in range(500):
            record_event(order, "note", {"n": number, "bulk": bulk})
        healthy.wait_for_events(total, timeout=60)
        wait_until(lambda: "Dropped a slow client" in server.log(), 30, "the drop")
        wait_until(
            lambda: "the client took no data for 2.0 s." in server.log(),
            10,
            "the stalled stream's close line, with its reason",
        )
        rss_after = proc_status(server.process.pid, "VmRSS")
        healthy.stop()
        left_for_it = drain(stalled, 10)
        stalled.close()

        assert healthy.ids() == list(range(1, total + 1))
        assert rss_after - rss_before < 20_000, (rss_before, rss_after)  # kB
        # Its connection was aborted with what was queued for it: a graceful close
        # kept the socket, and megabytes for it, until the client read them all.
        assert left_for_it < 1_000_000
        record_event(order, "delivered", status="delivered")
        again = read_all(
            server.url(events_path(order)),
            {**token_headers(order), "Last-Event-ID": "0"},
        )
        assert again.ids() == list(range(1, total + 2))
    finally:
        server.stop()


def test_stalled_clients_replaying_a_large_order_hold_little_memory(
    make_order, token_headers, alias
):
    """Regression: a stream wrote a whole batch (500 events, megabytes) in one write,
    which uvicorn buffered in full for a client that read nothing: 60 stalled
    connections took the server from about 100 MB to about 1 GB."""
    server = Server(database_url(alias), name=f"stalled-replay-{alias}").start()
    try:
        assert server.process is not None
        order = make_order()
        bulk = "x" * 15000
        for number in range(300):  # 4.5 MB to replay
            record_event(order, "note", {"n": number, "bulk": bulk})
        rss_before = proc_status(server.process.pid, "VmRSS")

        stalled = [
            stalled_client(server.port, events_path(order), token_headers(order))
            for _ in range(20)
        ]
        wait_until(lambda: server.health()["streams"] == 20, 20, "20 streams")
        time.sleep(2)
        rss_after = proc_status(server.process.pid, "VmRSS")
        for sock in stalled:
            sock.close()

        # At most one batch (100 events of 15 kB, about 2 MB with its objects) each,
        # not the whole replay: measured 40-45 MB here, against 190 MB before.
        assert rss_after - rss_before < 100_000, (rss_before, rss_after)  # kB
    finally:
        server.stop()
