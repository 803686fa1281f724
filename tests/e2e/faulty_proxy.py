"""A loopback TCP proxy that breaks the connections it carries, on purpose.

It listens on 127.0.0.1 and passes bytes between a client and a real server untouched
until the fault planned for that connection. The fault is placed a number of bytes
into the server's answer, counted from the end of its headers (the chunked framing
counts too), so that the break can fall inside a line or inside a UTF-8 character.
A planned fault is reproducible: the same plan cuts the same answer at the same byte.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Literal, Self

Action = Literal["pass", "close", "reset", "silence"]

# Every loop of the proxy is bounded: a connection lives at most this long, reads at
# most this often, and the proxy accepts at most this many connections.
CONNECTION_LIFETIME_S = 60.0
PROXY_LIFETIME_S = 300.0
MAX_READS = 100_000
MAX_CONNECTIONS = 500
READ_SIZE = 65536
# How much of each side of a break is kept, to say afterwards where it fell.
SHOWN_BYTES = 16
# A reset throws away what the client has not read yet; this lets it read first, so
# that the break falls where it was planned.
PAUSE_BEFORE_RESET_S = 0.05


@dataclass(frozen=True, slots=True)
class Fault:
    """What happens to one connection: ``action`` after ``after`` body bytes.

    ``close`` ends both sides with a FIN, ``reset`` with an RST, ``silence`` keeps the
    connection open but passes nothing more to the client; ``pass`` breaks nothing.
    """

    action: Action
    after: int = 0


PASS = Fault("pass")


@dataclass(frozen=True, slots=True)
class Cut:
    """Where one answer was broken: the bytes either side of the break."""

    connection: int
    fault: Fault
    before: bytes
    after: bytes

    @property
    def mid_character(self) -> bool:
        """Whether the break split a multi-byte UTF-8 character."""
        return bool(self.after) and 0x80 <= self.after[0] <= 0xBF

    @property
    def mid_line(self) -> bool:
        """Whether the break fell inside a line, not right after a line end."""
        return bool(self.before) and not self.before.endswith(b"\n")


def random_cuts(seed: int, count: int, longest: int) -> Callable[[int], Fault]:
    """A plan that breaks the first ``count`` connections at random, then none.

    Each break closes or resets the connection after 1 to ``longest`` body bytes,
    drawn from a generator seeded with ``seed``, so a failing run can be replayed.
    """
    rng = random.Random(seed)
    actions: tuple[Action, ...] = ("close", "reset")
    faults = [Fault(rng.choice(actions), rng.randint(1, longest)) for _ in range(count)]
    return lambda number: faults[number] if number < count else PASS


def planned(*faults: Fault) -> Callable[[int], Fault]:
    """A plan that applies ``faults`` to the first connections, in turn, then none."""
    return lambda number: faults[number] if number < len(faults) else PASS


class FaultyProxy:
    """The proxy, serving from a thread of its own while the ``with`` block runs."""

    def __init__(self, upstream_port: int, plan: Callable[[int], Fault]) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.connections = 0
        self.cuts: list[Cut] = []
        self._plan = plan
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the proxy did not start listening within 10 s")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._carry, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), PROXY_LIFETIME_S)
        # Leaving asyncio.run cancels the connections still open, which closes them.

    async def _carry(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        """Carry one connection both ways until either side ends it or its fault."""
        number, self.connections = self.connections, self.connections + 1
        if number >= MAX_CONNECTIONS:
            client_out.close()
            return
        fault = self._plan(number)
        try:
            server_in, server_out = await asyncio.open_connection(
                "127.0.0.1", self.upstream_port
            )
        except OSError:
            # The server is down: the client sees its connection closed.
            client_out.close()
            return
        except asyncio.CancelledError:
            client_out.close()
            raise

        requests = asyncio.create_task(_pump(client_in, server_out))
        answers = asyncio.create_task(
            self._answer(number, fault, server_in, client_out)
        )
        try:
            await asyncio.wait(
                {requests, answers},
                timeout=CONNECTION_LIFETIME_S,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            # Closed before anything else is awaited: the proxy's own shutdown may
            # cancel this very cleanup.
            client_out.close()
            server_out.close()
            for task in (requests, answers):
                task.cancel()
            await asyncio.gather(requests, answers, return_exceptions=True)

    async def _answer(
        self,
        number: int,
        fault: Fault,
        server_in: asyncio.StreamReader,
        client_out: asyncio.StreamWriter,
    ) -> None:
        """Pass the server's bytes to the client up to the fault, then apply it."""
        head = bytearray()
        limit: int | None = None
        sent, tail = 0, b""
        for _ in range(MAX_READS):
            data = await server_in.read(READ_SIZE)
            if not data:
                return
            if limit is None and fault.action != "pass":
                head += data
                end = head.find(b"\r\n\r\n")
                limit = None if end < 0 else end + 4 + fault.after
            if limit is not None and sent + len(data) > limit:
                kept, held = data[: limit - sent], data[limit - sent :]
                await _send(client_out, kept)
                before = (tail + kept)[-SHOWN_BYTES:]
                self.cuts.append(Cut(number, fault, before, held[:SHOWN_BYTES]))
                await _break(fault, server_in, client_out)
                return
            await _send(client_out, data)
            sent, tail = sent + len(data), (tail + data)[-SHOWN_BYTES:]


async def _break(
    fault: Fault, server_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
) -> None:
    """Apply a fault once its bytes are through; a close needs nothing more here."""
    if fault.action == "reset":
        await asyncio.sleep(PAUSE_BEFORE_RESET_S)
        linger = struct.pack("ii", 1, 0)
        client_out.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, linger
        )
        client_out.transport.abort()
    elif fault.action == "silence":
        await _drain_away(server_in)


async def _send(sink: asyncio.StreamWriter, data: bytes) -> None:
    sink.write(data)
    await sink.drain()


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy bytes from ``source`` to ``sink`` until ``source`` ends."""
    for _ in range(MAX_READS):
        data = await source.read(READ_SIZE)
        if not data:
            return
        await _send(sink, data)


async def _drain_away(source: asyncio.StreamReader) -> None:
    """Read and drop what the server sends, so that it never waits on a full pipe."""
    for _ in range(MAX_READS):
        if not await source.read(READ_SIZE):
            return
