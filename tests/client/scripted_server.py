"""A loopback HTTP server that answers each request with the next scripted reply.

It runs an asyncio server on 127.0.0.1 in a thread of its own, so that async tests,
blocking tests and a client in a subprocess can all talk to it over a real socket.
It records every request's head, raw header bytes included, for the tests to check.
When the script runs out it answers 204, which stops a client for good, so that a
client that makes one request too many still ends and the test can count it.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Literal

THREAD_JOIN_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP answer.

    ``body`` is sent at once, then each of ``later`` after its delay in seconds.
    ``end`` says how the answer finishes: ``eof`` ends the body properly,
    ``network_error`` closes the socket mid-body, ``hold`` keeps it open for
    ``hold_s`` seconds and then closes it mid-body, and ``release`` does the same
    but counts as the end of the test: the client was open until then.
    """

    status: int = 200
    headers: dict[str, str] = field(
        default_factory=lambda: {"Content-Type": "text/event-stream"}
    )
    body: bytes = b""
    later: tuple[tuple[float, bytes], ...] = ()
    end: Literal["eof", "network_error", "hold", "release"] = "eof"
    hold_s: float = 0.05


@dataclass(frozen=True)
class Drop:
    """Close the connection after reading the request, without any answer."""


Script = list[Reply | Drop]


@dataclass(frozen=True)
class Request:
    """The head of one request as it came over the wire."""

    method: str
    target: str
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> bytes | None:
        """The raw value of a header, by case-insensitive name, or None."""
        for key, value in self.headers:
            if key == name.lower():
                return value
        return None


class ScriptedServer:
    """Serve a script on 127.0.0.1 from a background thread; use it with ``with``."""

    def __init__(self, script: Script) -> None:
        self._script = list(script)
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._releases = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._port = 0

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        if not self._ready.wait(THREAD_JOIN_TIMEOUT_S):
            raise RuntimeError("The scripted server did not start in time.")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(THREAD_JOIN_TIMEOUT_S)

    def url(self, path: str = "/orders/1/events") -> str:
        return f"http://127.0.0.1:{self._port}{path}"

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    @property
    def releases(self) -> int:
        """How many ``release`` replies the server has cut so far."""
        with self._lock:
            return self._releases

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._stop())
        self._loop.close()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self._port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        tasks = asyncio.all_tasks() - {asyncio.current_task()}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._writers.add(writer)
        try:
            request = await _read_head(reader)
            if request is None:
                return
            with self._lock:
                self._requests.append(request)
                step = self._script.pop(0) if self._script else Reply(status=204)
            if isinstance(step, Reply):
                await self._answer(writer, step)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, reply: Reply) -> None:
        writer.write(_head(reply))
        if _has_body(reply.status):
            await _send_chunk(writer, reply.body)
            for delay, data in reply.later:
                await asyncio.sleep(delay)
                await _send_chunk(writer, data)
            if reply.end == "eof":
                writer.write(b"0\r\n\r\n")
        await writer.drain()
        if reply.end in ("hold", "release"):
            await asyncio.sleep(reply.hold_s)
        if reply.end == "release":
            with self._lock:
                self._releases += 1


async def _read_head(reader: asyncio.StreamReader) -> Request | None:
    """Read a request head; None if the client closed the connection first."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None
    lines = raw[:-4].split(b"\r\n")
    method, target, _version = lines[0].decode("ascii").split(" ", 2)
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.decode("ascii").lower(), value.strip(b" \t")))
    return Request(method, target, tuple(headers))


def _head(reply: Reply) -> bytes:
    phrase = HTTPStatus(reply.status).phrase
    lines = [f"HTTP/1.1 {reply.status} {phrase}"]
    lines += [f"{name}: {value}" for name, value in reply.headers.items()]
    lines.append("Connection: close")
    if _has_body(reply.status):
        lines.append("Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _has_body(status: int) -> bool:
    return status >= 200 and status not in (204, 304)


async def _send_chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    if data:
        writer.write(b"%x\r\n%s\r\n" % (len(data), data))
        await writer.drain()
