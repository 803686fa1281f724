"""Many resuming subscribers on one event loop, for the fault tests.

A subscriber follows one order's stream over a plain socket and parses it with the
client's WHATWG parser. After anything goes wrong (a refused or reset connection, a
body cut short, an error status, a stream the server ended) it reconnects with
``Last-Event-ID``, moving to the next server of its list when the connection itself
failed, as a browser behind a load balancer would. It keeps every id it received, so
a test can compare them with the stored ``seq`` values: nothing lost, nothing twice.

Threads would cost too much for a thousand subscribers, so they are asyncio tasks,
all run by one ``Crowd`` on a loop in a background thread.
"""

import asyncio
import json
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterable

from tests.e2e.streams import wait_until
from tracking.client.parser import Event, EventStreamParser

TERMINAL = frozenset({"delivered", "cancelled"})
CONNECT_SECONDS = 5.0
# Longer than any heartbeat the test servers send: silence this long means a dead
# server, as it does for the real client.
READ_SECONDS = 10.0
RETRY_SECONDS = 0.1


class BadStatus(Exception):
    """The server answered the stream request with something other than 200 or 204."""


class Subscriber:
    """One client of one order, resuming from its last id after every failure."""

    def __init__(self, path: str, token: str, ports: list[int]) -> None:
        self.path = path
        self.token = token
        self.ports = ports
        self.events: list[Event] = []
        self.resets: list[Event] = []
        self.statuses: Counter[int] = Counter()
        self.failures: list[str] = []
        self.connections = 0
        self.done = False
        self._server = 0
        self._last_id = ""

    def ids(self) -> list[int]:
        return [int(event.id) for event in self.events]

    def port(self) -> int:
        """The port of the server this subscriber follows (or will try next)."""
        return self.ports[self._server % len(self.ports)]

    async def run(self) -> None:
        """Follow the stream until the order is finished; cancel the task to stop."""
        while not self.done:
            try:
                await self._follow(self.port())
            except (OSError, EOFError, TimeoutError, ValueError, BadStatus) as exc:
                self.failures.append(f"{self.port()}: {exc!r}")
                self._server += 1
            if not self.done:
                await asyncio.sleep(RETRY_SECONDS)

    async def _follow(self, port: int) -> None:
        async with asyncio.timeout(CONNECT_SECONDS):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            self.connections += 1
            writer.write(self._request(port))
            chunked = await self._head(reader)
            if self.done or not chunked:
                return
            parser = EventStreamParser(self._last_id)
            async for chunk in _chunks(reader):
                for event in parser.feed(chunk):
                    self._take(event)
                if self.done:
                    return
        finally:
            writer.close()

    def _request(self, port: int) -> bytes:
        lines = [
            f"GET {self.path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Accept: text/event-stream",
            f"Authorization: Bearer {self.token}",
        ]
        if self._last_id:
            lines.append(f"Last-Event-ID: {self._last_id}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def _head(self, reader: asyncio.StreamReader) -> bool:
        """Read the response head; return whether a chunked event stream follows."""
        async with asyncio.timeout(READ_SECONDS):
            head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ")[1])
        self.statuses[status] += 1
        headers = dict(
            line.lower().split(": ", 1) for line in header_lines if ": " in line
        )
        if status == 204:
            self.done = True
            return False
        if status != 200:
            length = int(headers.get("content-length", "0"))
            body = await reader.readexactly(length)
            raise BadStatus(f"{status} {body.decode(errors='replace').strip()}")
        return headers.get("transfer-encoding") == "chunked"

    def _take(self, event: Event) -> None:
        if event.type == "reset":
            self.resets.append(event)
            return
        self.events.append(event)
        self._last_id = event.id
        if json.loads(event.data).get("status") in TERMINAL:
            self.done = True


async def _chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """Yield the chunks of a chunked body; raise EOFError if it is cut short."""
    while True:
        async with asyncio.timeout(READ_SECONDS):
            size_line = await reader.readline()
            if not size_line.endswith(b"\n"):
                raise EOFError("the connection closed inside the body")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                return
            try:
                chunk = await reader.readexactly(size + 2)
            except asyncio.IncompleteReadError as exc:
                raise EOFError("the connection closed inside a chunk") from exc
        yield chunk[:-2]


class Crowd:
    """Runs subscribers on an event loop of its own, in a background thread."""

    def __init__(self, subscribers: Iterable[Subscriber], opening: int = 50) -> None:
        self.subscribers = list(subscribers)
        # How many connections may be opening at once when the crowd starts.
        self._opening = opening
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> "Crowd":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start_all(), self._loop).result(60)
        return self

    async def _start_all(self) -> None:
        for start in range(0, len(self.subscribers), self._opening):
            wave = self.subscribers[start : start + self._opening]
            self._tasks += [asyncio.create_task(s.run()) for s in wave]
            await asyncio.sleep(0.02)

    def wait_for_events(self, count: int, timeout: float) -> None:
        """Wait until every subscriber has received at least ``count`` events."""
        wait_until(
            lambda: all(len(s.events) >= count for s in self.subscribers),
            timeout,
            f"{count} events on each of {len(self.subscribers)} subscribers",
        )

    def wait_done(self, timeout: float) -> None:
        """Wait until every subscriber has seen its order finish."""
        wait_until(
            lambda: all(s.done for s in self.subscribers),
            timeout,
            f"the end of {len(self.subscribers)} streams "
            f"({sum(not s.done for s in self.subscribers)} not done)",
        )

    def wait_until_ids(self, expected: dict[str, list[int]], timeout: float) -> None:
        """Wait until every subscriber has exactly ``expected[its path]``."""
        wait_until(
            lambda: not self.mismatches(expected),
            timeout,
            f"every subscriber to catch up: {self.mismatches(expected)[:3]}",
        )

    def mismatches(self, expected: dict[str, list[int]]) -> list[str]:
        """Describe every subscriber whose ids differ from ``expected[its path]``,
        or that was told to reset; an empty list means all got exactly those."""
        wrong = []
        for number, subscriber in enumerate(self.subscribers):
            ids, want = subscriber.ids(), expected[subscriber.path]
            if ids != want or subscriber.resets:
                wrong.append(
                    f"subscriber {number} of {subscriber.path}: {len(ids)} ids, "
                    f"missing {sorted(set(want) - set(ids))[:10]}, "
                    f"repeated {len(ids) - len(set(ids))}, "
                    f"resets {len(subscriber.resets)}"
                )
        return wrong

    def stop(self) -> None:
        """Cancel every subscriber and stop the loop; safe to call twice."""
        if not self._loop.is_running():
            return
        for task in self._tasks:
            self._loop.call_soon_threadsafe(task.cancel)
        asyncio.run_coroutine_threadsafe(self._settle(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _settle(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)
