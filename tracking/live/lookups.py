"""Stream requests' order lookups, gathered into one query per batch.

Every stream request looks its order up before it streams, and in a reconnect storm
thousands arrive within seconds. A trip to the reader thread and a query for each
took about a third of the storm's time (BENCHMARKS.md). Here lookups asked while a
batch is being read wait, and go together in the next one.

Each lookup's query starts after it was asked, so it sees every change committed
before its request arrived, a revocation of the order's links included.

The batches belong to one event loop, the server's. Served without ASGI (``runserver``,
a threaded WSGI server), Django runs each async view in an event loop of its own;
a lookup from a loop other than the one whose batch is under way reads alone.
"""

import asyncio
import itertools
import threading

from tracking.live import reader
from tracking.live.reader import OrderState

Waiters = dict[str, list["asyncio.Future[OrderState | None]"]]


class OrderLookups:
    """The lookups of one event loop: those waiting, and the batch being read."""

    def __init__(self) -> None:
        self._waiting: Waiters = {}
        self._reading: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Guards the fields above against lookups from loops on other threads.
        self._lock = threading.Lock()

    async def find(self, reference: str) -> OrderState | None:
        """Return the state of the order with this reference, or None if none."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[OrderState | None] = loop.create_future()
        with self._lock:
            joined = self._join(loop, reference, future)
        if not joined:
            found = await reader.run(reader.find_orders, [reference])
            return found.get(reference)
        return await future

    def _join(
        self,
        loop: asyncio.AbstractEventLoop,
        reference: str,
        future: "asyncio.Future[OrderState | None]",
    ) -> bool:
        """Add ``future`` to the next batch, unless another loop's batch is under
        way; return whether it was added. Runs under the lock."""
        if loop is not self._loop:
            reading = self._reading is not None and not self._reading.done()
            busy = bool(self._waiting) or reading
            if busy and self._loop is not None and not self._loop.is_closed():
                return False
            # What a closed loop left behind can never be answered on it.
            self._loop, self._waiting, self._reading = loop, {}, None
        self._waiting.setdefault(reference, []).append(future)
        if self._reading is None or self._reading.done():
            self._reading = loop.create_task(self._read_all())
        return True

    async def _read_all(self) -> None:
        """Read batches until nobody waits; a failed read fails its batch alone."""
        while batch := self._take(reader.MAX_LOOKUPS):
            try:
                found = await reader.run(reader.find_orders, list(batch))
            except asyncio.CancelledError:
                with self._lock:
                    left = _pending(self._waiting)
                for _, future in [*_pending(batch), *left]:
                    future.cancel()
                raise
            except Exception as exc:
                for _, future in _pending(batch):
                    future.set_exception(exc)
                continue
            for reference, future in _pending(batch):
                future.set_result(found.get(reference))

    def _take(self, count: int) -> Waiters:
        with self._lock:
            batch = dict(itertools.islice(self._waiting.items(), count))
            for reference in batch:
                del self._waiting[reference]
        return batch


def _pending(
    waiters: Waiters,
) -> list[tuple[str, "asyncio.Future[OrderState | None]"]]:
    """Return each future still waiting, with its reference (a request that went
    away has cancelled its own)."""
    return [
        (reference, future)
        for reference, futures in waiters.items()
        for future in futures
        if not future.done()
    ]


lookups = OrderLookups()
