"""The streams' writes to their clients, each bounded in time, all watched by one task.

A client that takes no data for ``SEND_TIMEOUT_SECONDS`` is dropped, so that a stalled
consumer cannot hold a stream and its buffers forever. A timer per write
(``asyncio.timeout``) cost more than the rest of handing an event to a stream, and a
fan-out makes a write per stream. So each write only notes its deadline, and one
watchdog task cancels the writes past theirs, twice a second: a slow client is
dropped within half a second after its timeout. The watchdog runs on the event loop
of the latest write: a server process (a uvicorn worker) streams from one loop.

A dropped client's connection is aborted, not closed. A graceful close waits until
the client has taken what is queued for it, and one that keeps its window shut would
hold the socket, its buffers and the server's shutdown as long as it likes.
"""

import asyncio
import contextvars
import logging
import socket
import struct
from typing import Any

from tracking import metrics

logger = logging.getLogger(__name__)

# Why a write ended its stream, for the stream's log line.
ended_because: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "tracking_ended_because", default=None
)

WATCH_SECONDS = 0.5


class Writes:
    """The writes under way, by the task making each, with their deadline and
    timeout."""

    def __init__(self) -> None:
        self._deadlines: dict[asyncio.Task[Any], tuple[float, float]] = {}
        # The writes this module cancelled, and why.
        self._stopped: dict[asyncio.Task[Any], str] = {}
        self._watchdog: asyncio.Task[None] | None = None

    async def send(
        self, send: Any, message: Any, task: "asyncio.Task[Any]", timeout: float
    ) -> bool:
        """Send ``message`` from ``task``; return False if the client took none of
        it within ``timeout``, or the server is stopping while it waits."""
        loop = asyncio.get_running_loop()
        watchdog = self._watchdog
        if watchdog is None or watchdog.done() or watchdog.get_loop() is not loop:
            self._watchdog = loop.create_task(self._watch())
        self._deadlines[task] = (loop.time() + timeout, timeout)
        try:
            await send(message)
        except asyncio.CancelledError:
            why = self._stopped.pop(task, None)
            if why is None:
                raise
            task.uncancel()
            ended_because.set(why)
            _abort_connection(send)
            return False
        finally:
            del self._deadlines[task]
        return True

    def end_all(self) -> None:
        """End the writes waiting for a client that takes no data: the server is
        stopping, and they would hold up its exit until their timeout."""
        for task in list(self._deadlines):
            self._stop(task, "the server is shutting down")

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            now = loop.time()
            late = [
                (task, timeout)
                for task, (end, timeout) in self._deadlines.items()
                if end <= now
            ]
            for task, timeout in late:
                if self._stop(task, f"the client took no data for {timeout} s"):
                    logger.warning(
                        "Dropped a slow client: it took no data for %s s.", timeout
                    )
                    metrics.SLOW_CONSUMERS_DROPPED.inc()

    def _stop(self, task: "asyncio.Task[Any]", why: str) -> bool:
        """Cancel the write of ``task`` once; return whether this call did."""
        if task in self._stopped:
            return False
        self._stopped[task] = why
        task.cancel()
        return True


def _abort_connection(send: Any) -> None:
    """Drop the client's connection at once, with what is queued for it.

    ASGI has no message for that. Under uvicorn, ``send`` is a method of the
    request's cycle, which holds the connection's transport; under other servers the
    connection is closed as they close it, once the client has taken its data.
    """
    transport: Any = getattr(getattr(send, "__self__", None), "transport", None)
    if not hasattr(transport, "abort"):
        return
    # (uvloop's transports are not ``asyncio.Transport`` instances.)
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Linger zero: the kernel resets the connection and drops the queued bytes,
        # instead of keeping them, and the socket, until the client takes them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


writes = Writes()
