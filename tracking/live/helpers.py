"""Threads that help the reader thread through a burst of reads, then leave.

Each helper has a database connection of its own while it lives. A helper that finds
no work for ``idle_seconds`` closes its connection and ends, so a burst borrows
connections only while it lasts, without opening one per read.
"""

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from django.db import connections

Work = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...]]


class HelperPool:
    """Up to ``size`` threads that run reads and end when idle."""

    def __init__(self, size: int, idle_seconds: float, alias: str) -> None:
        self._size = size
        self._idle_seconds = idle_seconds
        self._alias = alias
        self._queue: queue.SimpleQueue[Work] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def submit(self, function: Callable[..., Any], *args: Any) -> "Future[Any]":
        """Queue ``function(*args)``; start a helper if none is free."""
        future: Future[Any] = Future()
        self._queue.put((future, function, args))
        with self._lock:
            if self._idle == 0 and self._threads < self._size:
                self._threads += 1
                threading.Thread(
                    target=self._work, name="tracking-db-helper", daemon=True
                ).start()
        return future

    def _work(self) -> None:
        while (work := self._next()) is not None:
            future, function, args = work
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(function(*args))
            except BaseException as exc:
                future.set_exception(exc)
        connections[self._alias].close()

    def _next(self) -> Work | None:
        """Return the next work, or None once there has been none for a while.

        The queue is checked again under the lock before leaving: work queued just
        as the wait ran out is taken, not left waiting for the next burst.
        """
        while True:
            with self._lock:
                self._idle += 1
            try:
                work = self._queue.get(timeout=self._idle_seconds)
            except queue.Empty:
                with self._lock:
                    self._idle -= 1
                    if self._queue.empty():
                        self._threads -= 1
                        return None
                continue
            with self._lock:
                self._idle -= 1
            return work
