"""The floor for Python: a minimal SSE server on bare asyncio transports.

It speaks just enough HTTP/1.1 for the benchmark: ``GET /orders/<key>/events`` opens
a close-delimited event stream (resuming after ``Last-Event-ID``), and
``POST /publish/<key>`` appends the request body as an event, writes it to every
subscriber, and answers with the ``time.time()`` at which the event was stored.
Events are kept in memory, per key, so that a reconnecting client can be replayed
what it missed.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from collections import defaultdict
from typing import cast

_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Connection: close\r\n\r\n"
    b": open\n\n"
)
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


class Hub:
    """Subscribers and history per key, all on the event loop's thread."""

    def __init__(self) -> None:
        self.subscribers: defaultdict[bytes, set[asyncio.Transport]] = defaultdict(set)
        self.history: defaultdict[bytes, list[bytes]] = defaultdict(list)

    def publish(self, key: bytes, data: bytes) -> float:
        """Store the event, write it to every subscriber, return when it was stored."""
        events = self.history[key]
        frame = b"id: %d\ndata: %s\n\n" % (len(events) + 1, data)
        events.append(frame)
        stored = time.time()
        for transport in self.subscribers[key]:
            transport.write(frame)
        return stored

    def replay(self, key: bytes, last_id: int) -> bytes:
        """Return every stored frame after ``last_id`` in one buffer."""
        return b"".join(self.history[key][last_id:])


class Connection(asyncio.Protocol):
    """One client connection: either a stream or a series of publish requests."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.subscribed: bytes | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.subscribed is not None and self.transport is not None:
            self.hub.subscribers[self.subscribed].discard(self.transport)

    def data_received(self, data: bytes) -> None:
        if self.subscribed is not None:
            return
        self.buffer += data
        while self.transport is not None and self._handle_one():
            pass

    def _handle_one(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = self.buffer[:end].split(b"\r\n")
        headers = _headers(head[1:])
        length = int(headers.get(b"content-length", b"0"))
        if len(self.buffer) < end + 4 + length:
            return False
        body = self.buffer[end + 4 : end + 4 + length]
        self.buffer = self.buffer[end + 4 + length :]
        method, target = head[0].split(b" ")[:2]
        return self._route(method, target.split(b"/"), headers, body)

    def _route(
        self,
        method: bytes,
        parts: list[bytes],
        headers: dict[bytes, bytes],
        body: bytes,
    ) -> bool:
        assert self.transport is not None
        if method == b"GET" and len(parts) == 4 and parts[1] == b"orders":
            self._subscribe(parts[2], headers.get(b"last-event-id", b""))
            return False
        if method == b"POST" and len(parts) == 3 and parts[1] == b"publish":
            stored = repr(self.hub.publish(parts[2], body)).encode()
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                % (len(stored), stored)
            )
            return True
        self.transport.write(_NOT_FOUND)
        return True

    def _subscribe(self, key: bytes, last_id: bytes) -> None:
        assert self.transport is not None
        self.subscribed = key
        self.transport.write(_STREAM_HEAD)
        if last_id.isdigit():
            self.transport.write(self.hub.replay(key, int(last_id)))
        self.hub.subscribers[key].add(self.transport)


def _headers(lines: list[bytes]) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    for line in lines:
        name, _, value = line.partition(b":")
        out[name.strip().lower()] = value.strip()
    return out


async def serve(port: int) -> None:
    """Serve on 127.0.0.1:``port`` until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    hub = Hub()
    server = await loop.create_server(
        lambda: Connection(hub), "127.0.0.1", port, backlog=4096
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


def main() -> None:
    """Parse ``--port`` and serve, on uvloop when it is installed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(port))
    else:
        uvloop.run(serve(port))


if __name__ == "__main__":
    main()
