"""The global feed of every order's events, for staff: ``GET /tracking/events``.

Its ids are feed positions, ``<feed_xid>-<row id>`` (see ``tracking.feed``), and it
resumes from ``Last-Event-ID`` (or ``lastEventId``) like the per-order stream. Events
carry no ``event:`` type, so a browser's ``onmessage`` sees every kind; the kind is in
the data. The stream subscribes to the hub before its first read, reads only final
rows, and sends only rows after its position, so it never skips and never repeats.
"""

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DatabaseError, connections
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from tracking import conf, metrics, wire
from tracking.asgi import prepared_by_handler, stream_view
from tracking.errors import BadPosition
from tracking.feed import START, FeedPosition
from tracking.live import get_hub, reader
from tracking.live.hub import FeedWaiters, Hub
from tracking.ordermodel import get_order_model
from tracking.responses import (
    check_stream_request,
    open_stream,
    refusal,
)
from tracking.sends import ended_because

logger = logging.getLogger(__name__)

FORBIDDEN_REASON = "Only staff who may view orders can follow the feed of all orders."


@dataclass(frozen=True, slots=True)
class FeedPlan:
    """Everything a feed stream needs, decided by the view before the first byte."""

    position: FeedPosition
    # The newest final position when the stream opened; no valid id is past it.
    end: FeedPosition
    heartbeat: float
    # How soon to read again while an open transaction holds final rows back.
    recheck: float
    retry_ms: int
    batch_size: int
    deadline: float

    def needs_reset(self) -> bool:
        """Return whether the position is one this feed never handed out."""
        return self.position > self.end


@csrf_exempt
@stream_view
async def feed_events(request: HttpRequest) -> HttpResponse:
    """Stream every order's events, in feed order, to signed-in staff.

    Answers 403 to anyone else: the feed's existence is no secret, unlike an order's.
    """
    refused = check_stream_request(request)
    if refused is not None:
        return refused
    try:
        position = parse_feed_position(request)
    except BadPosition as exc:
        return refusal(400, str(exc))
    user = await request.auser()
    if not await may_watch_all(user):
        return refusal(403, FORBIDDEN_REASON)
    return await _open(request, user, position)


async def _open(
    request: HttpRequest, user: Any, position: FeedPosition
) -> HttpResponse:
    """Start the stream (or answer HEAD as it would), within the user's and the
    address's stream limits."""
    try:
        end = await reader.run(reader.feed_end)
    except DatabaseError:
        return refusal(503, "The feed cannot be read right now; try again shortly.")
    return open_stream(
        request,
        ("user", str(user.pk)),
        lambda: feed_stream(_plan(position, end), get_hub()),
    )


async def may_watch_all(user: Any) -> bool:
    """Return whether ``user`` is active staff with the view permission on orders."""
    if not (user.is_active and user.is_staff):
        return False
    meta = get_order_model()._meta
    return bool(await user.ahas_perm(f"{meta.app_label}.view_{meta.model_name}"))


def parse_feed_position(request: HttpRequest) -> FeedPosition:
    """Return the client's feed position; ``Last-Event-ID`` wins over the query."""
    header = request.headers.get("Last-Event-ID")
    if header is not None:
        return FeedPosition.parse(header, "The Last-Event-ID header")
    values = request.GET.getlist("lastEventId")
    if len(set(values)) > 1:
        raise BadPosition(
            "The lastEventId parameter is given twice with different values."
        )
    return (
        FeedPosition.parse(values[0], "The lastEventId parameter") if values else START
    )


def _plan(position: FeedPosition, end: FeedPosition) -> FeedPlan:
    return FeedPlan(
        position=position,
        end=end,
        heartbeat=conf.get("HEARTBEAT_SECONDS"),
        recheck=conf.get("POLL_SECONDS"),
        retry_ms=conf.get("RETRY_MILLISECONDS"),
        batch_size=conf.get("BATCH_SIZE"),
        deadline=time.monotonic() + conf.get("MAX_STREAM_SECONDS"),
    )


async def feed_stream(plan: FeedPlan, hub: Hub) -> AsyncIterator[bytes]:
    """Yield the feed's bytes until time is up or the client goes.

    Cleanup runs on cancellation too, so it only touches memory, never the ORM.
    """
    position, sent, why = plan.position, 0, "the client went away"
    logger.info("Feed stream opened from %s.", position)
    try:
        yield wire.retry(plan.retry_ms)
        if not prepared_by_handler.get():
            await sync_to_async(connections.close_all)()
        with hub.subscribe_feed() as feed:
            start = plan.position
            if plan.needs_reset():
                metrics.RESETS.inc()
                yield _reset(plan)
                start = START
            async for chunk, reached, count in _follow(plan, feed, start):
                yield chunk
                # Counted once written, as an order's stream counts.
                metrics.EVENTS_SENT.inc(count)
                position, sent = reached, sent + count
            why = "the server is shutting down" if feed.closing else "its time is up"
    except DatabaseError:
        # End cleanly: the client resumes from its position; the reader logs.
        why = "the database could not be read"
    finally:
        why = ended_because.get() or why
        logger.info(
            "Feed stream closed at %s after %s events; %s.", position, sent, why
        )


async def _follow(
    plan: FeedPlan, feed: FeedWaiters, position: FeedPosition
) -> AsyncIterator[tuple[bytes, FeedPosition, int]]:
    """Yield ``(bytes, new position, events in them)``: batches, or heartbeats.

    Notifications wake it; while an open transaction holds final rows back it also
    reads again every ``recheck`` seconds, since that transaction's end (a rollback,
    or a transaction that is not ours) may bring no notification.
    """
    quiet_since = time.monotonic()
    while not feed.closing and (now := time.monotonic()) < plan.deadline:
        seen = feed.version
        batch = await reader.run(reader.feed_after, position, plan.batch_size)
        if batch.events:
            position = batch.events[-1].position
            frames = b"".join(event.frame for event in batch.events)
            yield frames, position, len(batch.events)
            quiet_since = time.monotonic()
            continue
        if now - quiet_since >= plan.heartbeat:
            yield wire.comment(), position, 0
            quiet_since = now
        wait = plan.heartbeat - (now - quiet_since)
        if batch.held_back:
            wait = min(wait, plan.recheck)
        await feed.wait_after(seen, max(0.0, min(wait, plan.deadline - now)))


def _reset(plan: FeedPlan) -> bytes:
    """Tell the client to drop what it has: its position is not in this feed."""
    reason = f"Feed event {plan.position} does not exist; the newest is {plan.end}."
    data = {"reason": reason, "last_id": str(plan.end)}
    return wire.event(str(START), "reset", json.dumps(data, separators=(",", ":")))
