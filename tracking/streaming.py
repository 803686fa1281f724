"""The body of one order's event stream: replay, then follow, with heartbeats.

The stream subscribes to the hub before it reads anything, so an event committed
between the replay and the first wait is never missed; and it sends only the event
whose ``seq`` follows the last one sent, so nothing is ever sent twice.
"""

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.db import DatabaseError, connections

from tracking import metrics, wire
from tracking.asgi import prepared_by_handler
from tracking.live.hub import Hub
from tracking.live.reader import OrderState, StoredEvent
from tracking.sends import ended_because

logger = logging.getLogger(__name__)

# The most bytes written to a stream at once (one event may be larger).
CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """Everything a stream needs, decided by the view before the first byte."""

    state: OrderState
    position: int
    heartbeat: float
    retry_ms: int
    terminal: frozenset[str]
    # When the stream must end (time.monotonic() seconds), and why.
    deadline: float
    deadline_reason: str

    def needs_reset(self) -> bool:
        """Return whether the client's position is not one this order can resume."""
        if self.position > self.state.last_seq:
            return True
        return 0 < self.position < self.state.first_seq - 1

    def finished_at(self, position: int) -> bool:
        """Return whether the order was final at opening and ``position`` its end."""
        return self.state.status in self.terminal and position >= self.state.last_seq


async def event_stream(plan: StreamPlan, hub: Hub) -> AsyncIterator[bytes]:
    """Yield the stream's bytes until the order finishes, time is up or the client goes.

    Cleanup runs on cancellation too, so it only touches memory, never the ORM.
    """
    started, sent, why = time.monotonic(), 0, "the client went away"
    position = plan.position
    # The closing line says it all; at INFO, a reconnect storm would log twice over.
    logger.debug("Stream opened: order %s from %s.", plan.state.key, position)
    if position:
        metrics.RESUMES.inc()
    try:
        yield wire.retry(plan.retry_ms)
        if not prepared_by_handler.get():
            # Middleware and authentication ran on the request's thread and may have
            # opened a connection there; release it rather than hold it for hours.
            # (``tracking.asgi`` does this, and frees the thread, before streaming.)
            await sync_to_async(connections.close_all)()
        with hub.subscribe(plan.state.key) as subscription:
            if plan.needs_reset():
                metrics.RESETS.inc()
                yield _reset(plan)
                position = 0
            while not plan.finished_at(position):
                remaining = plan.deadline - time.monotonic()
                if remaining <= 0:
                    why = plan.deadline_reason
                    return
                try:
                    events = await subscription.next_events(
                        position, min(plan.heartbeat, remaining)
                    )
                except DatabaseError:
                    # End cleanly, not with a traceback per stream: the client
                    # resumes from its position, and the reader logs the outage.
                    why = "the database could not be read"
                    return
                if hub.closing:
                    why = "the server is shutting down"
                    return
                if not events:
                    yield wire.comment()
                    continue
                finished = False
                for chunk in _chunks(events, plan.terminal):
                    yield b"".join(event.frame for event in chunk)
                    # Counted once written: a client that went away or was dropped
                    # during the write ends the stream at the ``yield``.
                    metrics.EVENTS_SENT.inc(len(chunk))
                    position, sent = chunk[-1].seq, sent + len(chunk)
                    finished = chunk[-1].status in plan.terminal
                if finished:
                    break
            why = "the order is finished"
    finally:
        why = ended_because.get() or why
        logger.info(
            "Stream closed: order %s from %s to %s, %s events in %.1f s; %s.",
            plan.state.key,
            plan.position,
            position,
            sent,
            time.monotonic() - started,
            why,
        )


def _chunks(
    events: list[StoredEvent], terminal: frozenset[str]
) -> Iterator[list[StoredEvent]]:
    """Group events into writes of about ``CHUNK_BYTES``, up to a final status.

    Each write waits for the client to take the previous ones (uvicorn's flow
    control), so a client that stops reading holds at most one chunk in the server's
    buffers, not a whole batch.
    """
    chunk: list[StoredEvent] = []
    size = 0
    for event in events:
        chunk.append(event)
        size += len(event.frame)
        if event.status in terminal:
            break
        if size >= CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _reset(plan: StreamPlan) -> bytes:
    """Tell the client to drop what it has: its position is unknown or was removed."""
    state = plan.state
    if plan.position > state.last_seq:
        reason = (
            f"Event {plan.position} does not exist; the newest is {state.last_seq}."
        )
    else:
        reason = (
            f"Events up to {state.first_seq - 1} were removed (retention or erasure)."
        )
    data = {"reason": reason, "status": state.status, "last_id": state.last_seq}
    return wire.event(0, "reset", json.dumps(data, separators=(",", ":")))
