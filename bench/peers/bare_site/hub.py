"""In-process fan-out: one asyncio queue per open stream, history per key.

Everything runs on the server's event loop thread, so no lock is needed. History is
kept so a client that reconnects with ``Last-Event-ID`` is replayed what it missed.
"""

import asyncio
from collections import defaultdict

Event = tuple[int, str]

_subscribers: defaultdict[str, set[asyncio.Queue[Event]]] = defaultdict(set)
_history: defaultdict[str, list[Event]] = defaultdict(list)


def publish(key: str, data: str) -> int:
    """Store an event under ``key``, queue it for every subscriber, return its id."""
    events = _history[key]
    event = (len(events) + 1, data)
    events.append(event)
    for queue in _subscribers[key]:
        queue.put_nowait(event)
    return event[0]


def subscribe(
    key: str, last_id: int | None
) -> tuple[list[Event], asyncio.Queue[Event]]:
    """Register a new queue and return it with the events after ``last_id``.

    Without a ``last_id`` the client starts from now, as a first connection should.
    """
    queue: asyncio.Queue[Event] = asyncio.Queue()
    _subscribers[key].add(queue)
    if last_id is None:
        return [], queue
    return _history[key][last_id:], queue


def unsubscribe(key: str, queue: asyncio.Queue[Event]) -> None:
    """Forget a stream's queue once its response has ended."""
    _subscribers[key].discard(queue)
