"""The body of one order's event stream: replay, then follow, with heartbeats.

The stream subscribes to the hub before it reads anything, so an event committed
between the replay and the first wait is never missed; and it sends only the event
whose ``seq`` follows the last one sent, so nothing is ever sent twice.
"""

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.db import DatabaseError, connections

from tracking import metrics, wire
from tracking.asgi import prepared_by_handler
from tracking.live.hub import Hub
from tracking.live.reader import OrderState

logger = logging.getLogger(__name__)


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
    logger.info("Stream opened: order %s from %s.", plan.state.key, position)
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
                if not events:
                    yield wire.comment()
                    continue
                frames, finished = [], False
                for event in events:
                    frames.append(event.frame)
                    position, sent = event.seq, sent + 1
                    if event.status in plan.terminal:
                        finished = True
                        break
                metrics.EVENTS_SENT.inc(len(frames))
                yield b"".join(frames)
                if finished:
                    break
            why = "the order is finished"
    finally:
        logger.info(
            "Stream closed: order %s at %s, %s events in %.1f s; %s.",
            plan.state.key,
            position,
            sent,
            time.monotonic() - started,
            why,
        )


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
