"""Database reads for the streams, run on one dedicated thread.

Streams never read through Django's per-request threads: a waiting stream would keep
that thread, and its database connection, for hours. Every read of every stream of the
process goes through one worker thread that owns one connection, so the number of
connections per process stays the same whatever the number of streams.
"""

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import InterfaceError, OperationalError, connections
from django.db.models import Max, Min

from tracking import conf, wire
from tracking.models import OrderEvent
from tracking.ordermodel import get_order_model

logger = logging.getLogger(__name__)

T = TypeVar("T")

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracking-db")


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the streams need it: its number, the status it left, its bytes."""

    seq: int
    status: str
    frame: bytes


@dataclass(frozen=True, slots=True)
class OrderState:
    """What a stream needs to know about its order when it opens."""

    order: Any
    key: str
    status: str
    first_seq: int
    last_seq: int


async def run(function: Callable[..., T], *args: Any) -> T:
    """Run ``function(*args)`` on the reader thread and return its result."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor, _with_retry, function, args)


def _with_retry(function: Callable[..., T], args: tuple[Any, ...]) -> T:
    """Call ``function``; if the connection broke, reconnect once and call again.

    The thread keeps its connection between reads. After a database restart the first
    read finds it broken, so it is closed and the read retried on a new one.
    """
    try:
        return function(*args)
    except (OperationalError, InterfaceError) as exc:
        logger.warning("Reader connection failed (%s); reconnecting once.", exc)
        connections[conf.get("DATABASE")].close()
        return function(*args)


def find_order(reference: str) -> OrderState | None:
    """Return the order with this public reference and its event range, or None."""
    db = conf.get("DATABASE")
    model = get_order_model()
    order = model._base_manager.using(db).filter(reference=reference).first()
    if order is None:
        return None
    bounds = OrderEvent.objects.using(db).filter(order_id=order.pk)
    found = bounds.aggregate(first=Min("seq"), last=Max("seq"))
    return OrderState(
        order=order,
        key=str(order.pk),
        status=str(order.status),
        first_seq=found["first"] or 0,
        last_seq=found["last"] or 0,
    )


def events_after(order_key: str, after: int, limit: int) -> list[StoredEvent]:
    """Return up to ``limit`` events of the order with ``seq > after``, in order."""
    rows = (
        OrderEvent.objects.using(conf.get("DATABASE"))
        .filter(order_id=order_key, seq__gt=after)
        .order_by("seq")
        .values_list("seq", "kind", "data")[:limit]
    )
    return [
        StoredEvent(seq, str(data.get("status", "")), _frame(seq, kind, data))
        for seq, kind, data in rows
    ]


def _frame(seq: int, kind: str, data: Any) -> bytes:
    return wire.event(seq, kind, wire.encode_data(data))


def changes_since(last_id: int) -> tuple[list[tuple[str, int]], int]:
    """Return ``(order key, newest seq)`` per order with rows past ``last_id``.

    Only the SQLite poller uses this: SQLite serialises writers, so row ids there are
    assigned in commit order and paging by id cannot skip a late commit.
    """
    rows = list(
        OrderEvent.objects.using(conf.get("DATABASE"))
        .filter(id__gt=last_id)
        .values("order_id")
        .annotate(newest=Max("seq"), top=Max("id"))
    )
    changes = [(str(row["order_id"]), row["newest"]) for row in rows]
    newest_id = max((row["top"] for row in rows), default=last_id)
    return changes, newest_id


def ping() -> None:
    """Run the cheapest query there is, to tell whether the database answers."""
    with connections[conf.get("DATABASE")].cursor() as cursor:
        cursor.execute("SELECT 1")


def newest_event_id() -> int:
    """Return the highest event row id, where the SQLite poller starts."""
    found = OrderEvent.objects.using(conf.get("DATABASE")).aggregate(top=Max("id"))
    return int(found["top"] or 0)
