"""The body of one load-client process: many SSE streams on one event loop.

The parent sends commands over a pipe (see :mod:`bench.loadclient.pool`); the worker
opens, closes and resumes its streams and answers with counts and raw timings. Times
are ``time.time()`` so that they compare with the publisher's clock on this machine.
"""

from __future__ import annotations

import asyncio
import collections
import resource
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, cast

from bench.loadclient.httpparse import ResponseError, ResponseParser
from bench.loadclient.sse import SseDecoder


@dataclass
class StreamState:
    """What one client stream has seen, kept across reconnects."""

    cid: int
    path: str
    headers: dict[str, str]
    last_id: str | None = None
    status: int | None = None
    ready_at: float | None = None
    error: str | None = None
    ended: bool = False
    unmarked: int = 0
    events: list[tuple[float, int]] = field(default_factory=list)


class SseProtocol(asyncio.Protocol):
    """Read one SSE response and record every marked event with its arrival time."""

    def __init__(self, state: StreamState, request: bytes) -> None:
        self.state = state
        self.request = request
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self._parser = ResponseParser()
        self._decoder = SseDecoder()
        self._decoder.last_id = state.last_id
        self._closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        try:
            body = self._parser.feed(data)
        except (ResponseError, ValueError) as exc:
            self._fail(f"bad response: {exc}")
            return
        if self._parser.status is not None and not self.ready.done():
            self._on_head(now)
        if body:
            marks = self._decoder.feed(body)
            self.state.events.extend((now, mark) for mark in marks)
            self.state.last_id = self._decoder.last_id
            self.state.unmarked = self._decoder.unmarked

    def _on_head(self, now: float) -> None:
        self.state.status = self._parser.status
        self.state.ready_at = now
        self.ready.set_result(None)
        if self._parser.status != 200:
            self.close()

    def _fail(self, reason: str) -> None:
        self.state.error = reason
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._closing:
            self.state.ended = True
            if self.state.error is None and exc is not None:
                self.state.error = type(exc).__name__
        if not self.ready.done():
            self.ready.set_result(None)

    def close(self) -> None:
        """Close the connection on the client's own initiative."""
        self._closing = True
        if self.transport is not None:
            self.transport.close()


def build_request(host: str, port: int, state: StreamState) -> bytes:
    """Return the GET request for ``state``, resuming from its last event id."""
    lines = [
        f"GET {state.path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Accept: text/event-stream",
        "Cache-Control: no-cache",
    ]
    lines += [f"{name}: {value}" for name, value in state.headers.items()]
    if state.last_id:
        lines.append(f"Last-Event-ID: {state.last_id}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Worker:
    """Own a set of streams and carry out the parent's commands on them."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.states: dict[int, StreamState] = {}
        self.live: dict[int, SseProtocol] = {}

    async def open(
        self,
        specs: Iterable[tuple[int, str, dict[str, str]]],
        concurrency: int,
        timeout: float,
    ) -> dict[str, Any]:
        """Open new streams and wait until each has its response head or failed."""
        states = [StreamState(cid, path, headers) for cid, path, headers in specs]
        for state in states:
            self.states[state.cid] = state
        return await self._connect_all(states, concurrency, timeout)

    async def resume(self, concurrency: int, timeout: float) -> dict[str, Any]:
        """Reconnect every stream at once, each sending its ``Last-Event-ID``."""
        states = list(self.states.values())
        for state in states:
            state.status = state.ready_at = state.error = None
            state.ended = False
        return await self._connect_all(states, concurrency, timeout)

    def close_all(self) -> int:
        """Drop every open connection, keeping what each stream has seen."""
        count = len(self.live)
        for protocol in self.live.values():
            protocol.close()
        self.live.clear()
        return count

    async def _connect_all(
        self, states: list[StreamState], concurrency: int, timeout: float
    ) -> dict[str, Any]:
        gate = asyncio.Semaphore(concurrency)
        deadline = time.monotonic() + timeout
        await asyncio.gather(*(self._connect(s, gate, deadline) for s in states))
        return self._summary(states)

    async def _connect(
        self, state: StreamState, gate: asyncio.Semaphore, deadline: float
    ) -> None:
        loop = asyncio.get_running_loop()
        protocol = SseProtocol(state, build_request(self.host, self.port, state))
        try:
            async with gate:
                async with asyncio.timeout_at(_loop_deadline(deadline)):
                    await loop.create_connection(lambda: protocol, self.host, self.port)
            self.live[state.cid] = protocol
            async with asyncio.timeout_at(_loop_deadline(deadline)):
                await protocol.ready
        except TimeoutError:
            # Give up for good: a request left pending would still cost the server.
            state.error = state.error or "no response head in time"
            protocol.close()
            self.live.pop(state.cid, None)
        except OSError as exc:
            state.error = type(exc).__name__

    def _summary(self, states: Iterable[StreamState]) -> dict[str, Any]:
        statuses: collections.Counter[str] = collections.Counter()
        errors: collections.Counter[str] = collections.Counter()
        last_ready = 0.0
        for state in states:
            statuses[str(state.status)] += 1
            if state.error:
                errors[state.error] += 1
            if state.status == 200 and state.ready_at is not None:
                last_ready = max(last_ready, state.ready_at)
        return {
            "statuses": dict(statuses),
            "errors": dict(errors),
            "last_ready": last_ready,
        }

    def status(self) -> dict[str, Any]:
        """Counts over all streams: how many are open, ended, and events seen."""
        summary = self._summary(self.states.values())
        summary["open"] = sum(
            1
            for s in self.states.values()
            if s.status == 200 and not s.ended and s.cid in self.live
        )
        summary["ended"] = sum(1 for s in self.states.values() if s.ended)
        summary["events"] = sum(len(s.events) for s in self.states.values())
        summary["unmarked"] = sum(s.unmarked for s in self.states.values())
        return summary

    def collect(self) -> dict[int, list[tuple[float, int]]]:
        """Hand over and forget the events recorded so far, per stream id."""
        out = {cid: s.events for cid, s in self.states.items() if s.events}
        for state in self.states.values():
            state.events = []
        return out

    def forget(self) -> None:
        """Close everything and drop all stream state."""
        self.close_all()
        self.states.clear()


def _loop_deadline(monotonic_deadline: float) -> float:
    loop = asyncio.get_running_loop()
    return loop.time() + (monotonic_deadline - time.monotonic())


def cpu_seconds() -> float:
    """User plus system CPU time this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def serve(conn: Connection, host: str, port: int) -> None:
    """Answer the parent's commands until it says ``stop``."""
    loop = asyncio.get_running_loop()
    worker = Worker(host, port)
    while True:
        command, args = await loop.run_in_executor(None, conn.recv)
        if command == "stop":
            worker.forget()
            conn.send(None)
            return
        conn.send(await _dispatch(worker, command, args))


async def _dispatch(worker: Worker, command: str, args: dict[str, Any]) -> Any:
    if command == "open":
        return await worker.open(args["specs"], args["concurrency"], args["timeout"])
    if command == "resume":
        return await worker.resume(args["concurrency"], args["timeout"])
    if command == "close_all":
        return worker.close_all()
    if command == "status":
        return worker.status()
    if command == "collect":
        return worker.collect()
    if command == "cpu":
        return (cpu_seconds(), time.time())
    if command == "forget":
        worker.forget()
        return None
    raise ValueError(f"Unknown load-client command {command!r}.")


def main(conn: Connection, host: str, port: int) -> None:
    """Process entry point: raise the descriptor limit, then serve commands."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(conn, host, port))
    else:
        uvloop.run(serve(conn, host, port))
