"""The SQLite source: one poller per process looks for new rows.

SQLite has no notifications. A short autocommit read every ``POLL_SECONDS`` finds the
orders with new events, on the reader thread, and only while some stream is open.
"""

import asyncio
import logging

from tracking.live import reader
from tracking.live.hub import Hub

logger = logging.getLogger(__name__)


class SqlitePoller:
    """Tells the hub which orders have rows past the last one it saw."""

    def __init__(self, hub: Hub, interval: float) -> None:
        self._hub = hub
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start polling in a background task of the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        last_id = await self._first_id()
        while True:
            await asyncio.sleep(self._interval)
            if not self._hub.has_subscribers():
                continue
            try:
                changes, last_id = await reader.run(reader.changes_since, last_id)
            except Exception:
                logger.exception("Polling for new events failed; trying again.")
                continue
            for key, seq in changes:
                self._hub.notify(key, seq)

    async def _first_id(self) -> int:
        while True:
            try:
                return await reader.run(reader.newest_event_id)
            except Exception:
                logger.exception("The poller cannot read the event table; retrying.")
                await asyncio.sleep(self._interval)
