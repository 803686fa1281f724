"""Ending every stream when the server is told to stop.

uvicorn (and gunicorn's uvicorn workers) wait for open connections on SIGTERM or
SIGINT, then cancel what is left after their graceful timeout, which logs an error and
a traceback per stream and cuts each body short. Streams are endless, so they are
always what is left. This module chains a handler in front of the server's own: it
ends every stream at once, cleanly, and then lets the server shut down as it would.
Clients reconnect with ``Last-Event-ID`` to another process.
"""

import asyncio
import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

from tracking.live.hub import Hub
from tracking.sends import writes

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def end_streams_on_stop(hub: Hub, loop: asyncio.AbstractEventLoop) -> None:
    """Close the hub's streams on SIGTERM or SIGINT, then call the previous handler.

    Signal handlers can only be set from the main thread; elsewhere (some test
    runners) this does nothing and the server's own shutdown applies.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for number in SIGNALS:
        previous = signal.getsignal(number)
        signal.signal(number, _handler(hub, loop, previous))


def _handler(hub: Hub, loop: asyncio.AbstractEventLoop, previous: Any) -> Any:
    def handle(number: int, frame: FrameType | None) -> None:
        if not hub.closing:
            logger.info(
                "Stopping: ending %s streams; clients resume elsewhere.",
                hub.subscriber_count(),
            )
        loop.call_soon_threadsafe(hub.close_all)
        loop.call_soon_threadsafe(writes.end_all)
        if callable(previous):
            previous(number, frame)
        elif previous == signal.SIG_DFL:
            # No server handler: stop as the signal would have stopped us.
            signal.signal(number, signal.SIG_DFL)
            os.kill(os.getpid(), number)

    return handle
