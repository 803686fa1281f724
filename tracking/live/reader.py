"""Database reads for the streams, run on one dedicated thread and, in a burst, a few
more.

Streams never read through Django's per-request threads: a waiting stream would keep
that thread, and its database connection, for hours. Every read of every stream of the
process goes through one worker thread that keeps one connection, so the number of
connections per process stays the same whatever the number of streams. When reads
queue up behind it (a reconnect storm after a restart), up to ``READ_THREADS - 1``
helper threads take the overflow, each with a connection of its own that it closes as
soon as the burst is over.
"""

import asyncio
import functools
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.db import InterfaceError, OperationalError, connections
from django.db.models import (
    BooleanField,
    ExpressionWrapper,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.utils.dateparse import parse_datetime
from django.utils.timezone import is_aware, make_aware

from tracking import conf, wire
from tracking.feed import START, FeedPosition, VisibleHorizon
from tracking.live.helpers import HelperPool
from tracking.models import LinkRevocation, OrderEvent, order_key_param
from tracking.ordermodel import get_order_model
from tracking.revocation import micros

logger = logging.getLogger(__name__)

T = TypeVar("T")

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracking-db")
# Reads waiting for the main reader thread; past BURST_QUEUE, helpers take the rest.
_queued = 0
BURST_QUEUE = 4
_helpers: HelperPool | None = None
# How long a helper thread waits for more work before it closes its connection.
HELPER_IDLE_SECONDS = 2.0
# Whether the last read failed even after reconnecting; the reader threads set it
# under the lock.
_failing = False
_failing_lock = threading.Lock()


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
    reference: str
    status: str
    first_seq: int
    last_seq: int
    # When the order's links were last revoked, in epoch microseconds, or None.
    revoked_until: int | None = None


async def run(function: Callable[..., T], *args: Any) -> T:
    """Run ``function(*args)`` on the reader thread, or on a helper in a burst."""
    global _queued
    loop = asyncio.get_running_loop()
    if _queued < BURST_QUEUE or conf.get("READ_THREADS") < 2:
        _queued += 1
        try:
            return await loop.run_in_executor(_executor, _with_retry, function, args)
        finally:
            _queued -= 1
    return await asyncio.wrap_future(_helper_pool().submit(_with_retry, function, args))


def _helper_pool() -> HelperPool:
    global _helpers
    if _helpers is None:
        _helpers = HelperPool(
            conf.get("READ_THREADS") - 1, HELPER_IDLE_SECONDS, conf.get("DATABASE")
        )
    return _helpers


def _with_retry(function: Callable[..., T], args: tuple[Any, ...]) -> T:
    """Call ``function``; if the connection broke, reconnect once and call again.

    The thread keeps its connection between reads. After a database restart the first
    read finds it broken, so it is closed and the read retried on a new one. Only if
    that fails too is the database out of reach: that is logged once, when it starts,
    and once when reads work again, however many reads fail in between.
    """
    try:
        result = _call_reconnecting(function, args)
    except (OperationalError, InterfaceError) as exc:
        _report_failure(exc)
        raise
    _report_success()
    return result


def _call_reconnecting(function: Callable[..., T], args: tuple[Any, ...]) -> T:
    try:
        return function(*args)
    except (OperationalError, InterfaceError) as exc:
        logger.debug("Reader connection failed (%s); reconnecting once.", exc)
        connections[conf.get("DATABASE")].close()
        return function(*args)


def _report_failure(exc: BaseException) -> None:
    global _failing
    with _failing_lock:
        first, _failing = not _failing, True
    if not first:
        logger.debug("Database reads still fail: %s", exc)
        return
    logger.warning(
        "Database reads fail (%s); streams end and new ones get 503 until they work.",
        exc,
    )


def _report_success() -> None:
    global _failing
    with _failing_lock:
        recovered, _failing = _failing, False
    if recovered:
        logger.info("Database reads work again.")


def find_orders(references: Sequence[str]) -> dict[str, OrderState]:
    """Return the orders with these public references, by reference, each with its
    event range and last revocation; a reference with no order is left out.

    One query for them all: every stream connection looks its order up, thousands
    within seconds in a reconnect storm, and ``tracking.live.lookups`` gathers them.
    The rows go through the fields' own converters, as the ORM would convert them,
    but without a queryset: building one cost more than the query itself.
    """
    query = _find_orders_query(_batch_size(len(references)))
    connection = connections[query.alias]
    # Repeating a reference to fill the query's slots changes nothing it finds.
    padded = [*references, *[references[0]] * (query.slots - len(references))]
    with connection.cursor() as cursor:
        cursor.execute(query.sql, padded)
        rows = cursor.fetchall()
    found = {}
    for row in rows:
        state = _order_state(row, query, connection)
        found[state.reference] = state
    return found


def _order_state(
    row: Sequence[Any], query: "_OrderQuery", connection: Any
) -> OrderState:
    values = [
        _converted(value, column, connection)
        for value, column in zip(row, query.columns, strict=True)
    ]
    count = len(query.attnames)
    order = get_order_model().from_db(query.alias, query.attnames, values[:count])
    first, last, revoked = values[count:]
    return OrderState(
        order=order,
        key=str(order.pk),
        reference=str(order.reference),
        status=str(order.status),
        first_seq=first or 0,
        last_seq=last or 0,
        revoked_until=micros(_aware(revoked)),
    )


def _batch_size(count: int) -> int:
    """Round ``count`` up to a power of two, so that a few compiled queries serve
    every batch size up to ``MAX_LOOKUPS``."""
    if not 0 < count <= MAX_LOOKUPS:
        raise ValueError(f"Look up 1 to {MAX_LOOKUPS} orders at once, not {count}.")
    return 1 << (count - 1).bit_length()


@dataclass(frozen=True, slots=True)
class _OrderQuery:
    alias: str
    sql: str
    # How many references the query takes.
    slots: int
    # The selected expressions, in order: the order's fields, then the annotations.
    columns: tuple[Any, ...]
    attnames: tuple[str, ...]


@functools.cache
def _find_orders_query(slots: int) -> _OrderQuery:
    """Compile the query of ``find_orders`` for ``slots`` references, once: the ORM
    takes longer to compile it than the database takes to run it. Its parameters are
    the references, plain strings."""
    db = conf.get("DATABASE")
    placeholders = [f"{_REFERENCE}-{slot}" for slot in range(slots)]
    events = OrderEvent.objects.using(db).filter(order_id=OuterRef("pk"))
    revocations = LinkRevocation.objects.using(db).filter(order_id=OuterRef("pk"))
    query = (
        get_order_model()
        ._base_manager.using(db)
        .filter(reference__in=placeholders)
        .annotate(
            tracking_first=Subquery(events.order_by("seq").values("seq")[:1]),
            tracking_last=Subquery(events.order_by("-seq").values("seq")[:1]),
            tracking_revoked=Subquery(revocations.values("revoked_at")[:1]),
        )
    )
    compiler = query.query.get_compiler(using=db)
    sql, params = compiler.as_sql()
    if list(params) != placeholders:
        raise RuntimeError(f"find_orders's query has unexpected parameters {params}.")
    columns = tuple(expression for expression, _, _ in compiler.select)
    attnames = tuple(column.target.attname for column in columns[:-3])
    return _OrderQuery(db, sql, slots, columns, attnames)


def _converted(value: Any, column: Any, connection: Any) -> Any:
    """Convert one selected value as the ORM would (SQLite's dates, UUIDs, JSON)."""
    converters = connection.ops.get_db_converters(column)
    for converter in converters + column.get_db_converters(connection):
        value = converter(value, column, connection)
    return value


_REFERENCE = "tracking-reference-placeholder"
# The most references ``find_orders`` takes at once.
MAX_LOOKUPS = 1024


def _aware(moment: Any) -> datetime | None:
    """Turn a raw query's timestamp into an aware datetime: SQLite gives naive UTC,
    as a datetime or as text."""
    if moment is None:
        return None
    parsed = moment if isinstance(moment, datetime) else parse_datetime(str(moment))
    if parsed is None:
        return None
    return parsed if is_aware(parsed) else make_aware(parsed, UTC)


def events_after(order_key: str, after: int, limit: int) -> list[StoredEvent]:
    """Return up to ``limit`` events of the order with ``seq > after``, in order.

    Every replay and every shared read of a new event runs this, so its SQL is
    written once from the model's names rather than compiled by the ORM each time;
    the key and the data still go through the model's fields.
    """
    connection = connections[conf.get("DATABASE")]
    key = order_key_param(order_key, connection)
    with connection.cursor() as cursor:
        cursor.execute(_events_after_sql(connection.vendor), [key, after, limit])
        rows = cursor.fetchall()
    field = OrderEvent._meta.get_field("data")
    return [
        _stored_event(seq, kind, field.from_db_value(stored, None, connection))
        for seq, kind, stored in rows
    ]


def new_events(
    positions: Sequence[tuple[str, int]], limit: int
) -> list[list[StoredEvent]]:
    """Return, for each ``(order key, after)``, up to ``limit`` events of that order
    with ``seq > after``, in order: ``events_after`` for many orders in one query.

    The hub reads the new events of every order that a notification named while its
    previous read ran, all together: under a stream of commits to many orders, the
    benchmark then recorded about a fifth more events a second than with a query
    per event.
    """
    if not 0 < len(positions) <= MAX_NEW_EVENTS:
        raise ValueError(f"Read 1 to {MAX_NEW_EVENTS} orders at once.")
    connection = connections[conf.get("DATABASE")]
    params: list[Any] = []
    for key, after in positions:
        params += [order_key_param(key, connection), after, limit]
    with connection.cursor() as cursor:
        cursor.execute(_new_events_sql(connection.vendor, len(positions)), params)
        rows = cursor.fetchall()
    field = OrderEvent._meta.get_field("data")
    found: list[list[StoredEvent]] = [[] for _ in positions]
    for slot, seq, kind, stored in rows:
        data = field.from_db_value(stored, None, connection)
        found[slot].append(_stored_event(seq, kind, data))
    return found


# The most orders ``new_events`` reads at once.
MAX_NEW_EVENTS = 32


@functools.cache
def _new_events_sql(vendor: str, count: int) -> str:
    """The query of ``new_events`` for ``count`` orders: ``events_after``'s, once
    per order, numbered, in one ``UNION ALL``."""
    one = _events_after_sql(vendor)
    parts = [f"SELECT {n}, r{n}.* FROM ({one}) r{n}" for n in range(count)]
    return " UNION ALL ".join(parts) + " ORDER BY 1, 2"


@functools.cache
def _events_after_sql(vendor: str) -> str:
    """The query of ``events_after``, with the table's and columns' quoted names."""
    name = connections[conf.get("DATABASE")].ops.quote_name
    meta = OrderEvent._meta
    table = name(meta.db_table)
    seq, kind, data, order = (
        name(meta.get_field(field).column) for field in ("seq", "kind", "data", "order")
    )
    return (
        f"SELECT {seq}, {kind}, {data} FROM {table} "
        f"WHERE {order} = %s AND {seq} > %s ORDER BY {seq} LIMIT %s"
    )


def _stored_event(seq: int, kind: str, data: Any) -> StoredEvent:
    """Turn a selected row, its data converted, into the event the streams send."""
    frame = wire.event(seq, kind, wire.encode_data(data))
    return StoredEvent(seq, str(data.get("status", "")), frame)


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


def ping() -> float | None:
    """Tell whether the database answers, with a cheap query; on Postgres, return
    how full its notification queue is (0 to 1), else None.

    Every event's hint waits in that queue until every listening session of the
    cluster has taken it, and when it is full, recording fails.
    """
    connection = connections[conf.get("DATABASE")]
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute("SELECT 1")
            return None
        cursor.execute("SELECT pg_notification_queue_usage()")
        return float(cursor.fetchone()[0])


def newest_event_id() -> int:
    """Return the highest event row id, where the SQLite poller starts."""
    found = OrderEvent.objects.using(conf.get("DATABASE")).aggregate(top=Max("id"))
    return int(found["top"] or 0)


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """An event of the global feed: where it is, what it says, and its bytes."""

    position: FeedPosition
    order: str
    order_pk: Any
    seq: int
    kind: str
    data: dict[str, Any]
    frame: bytes


@dataclass(frozen=True, slots=True)
class FeedBatch:
    """The feed's next final events, and whether committed ones wait behind them.

    ``held_back`` means rows after these are visible but not final yet: an older
    transaction is still open, and no notification may come when it ends.
    """

    events: list[FeedEvent]
    held_back: bool


FEED_FIELDS = ("feed_xid", "id", "order__reference", "order_id", "seq", "kind", "data")


def feed_after(position: FeedPosition, limit: int) -> FeedBatch:
    """Return up to ``limit`` final feed events after ``position``, in feed order.

    Rows are read past the horizon too, in the same statement (one snapshot), only to
    tell whether some wait behind it; those are never handed out.
    """
    final = ExpressionWrapper(
        Q(feed_xid__lt=VisibleHorizon()), output_field=BooleanField()
    )
    after = Q(feed_xid__gt=position.xid) | Q(feed_xid=position.xid, id__gt=position.id)
    rows = list(
        _feed_rows()
        .filter(after, feed_xid__gte=position.xid)
        .annotate(final=final)
        .order_by("feed_xid", "id")
        .values_list(*FEED_FIELDS, "final")[: limit + 1]
    )
    ready = [row[:-1] for row in rows if row[-1]][:limit]
    held_back = any(not row[-1] for row in rows)
    return FeedBatch([_feed_event(*row) for row in ready], held_back)


def feed_end() -> FeedPosition:
    """Return the position of the newest final event: no feed id is past it."""
    newest = (
        _feed_rows()
        .filter(feed_xid__lt=VisibleHorizon())
        .order_by("-feed_xid", "-id")
        .values_list("feed_xid", "id")
        .first()
    )
    return FeedPosition(*newest) if newest else START


def feed_tail(limit: int) -> list[FeedEvent]:
    """Return the ``limit`` newest final feed events, newest first.

    The first one's position is the end of the feed, read in the same statement: a
    page that shows these and then follows the feed from there misses nothing.
    """
    rows = (
        _feed_rows()
        .filter(feed_xid__lt=VisibleHorizon())
        .order_by("-feed_xid", "-id")
        .values_list(*FEED_FIELDS)[:limit]
    )
    return [_feed_event(*row) for row in rows]


def _feed_rows() -> "QuerySet[OrderEvent]":
    return OrderEvent.objects.using(conf.get("DATABASE"))


def _feed_event(
    xid: int, row_id: int, order: str, order_pk: Any, seq: int, kind: str, data: Any
) -> FeedEvent:
    position = FeedPosition(xid, row_id)
    pk = order_pk if isinstance(order_pk, int) else str(order_pk)
    body = {"order": order, "order_pk": pk, "seq": seq, "kind": kind, "data": data}
    frame = wire.message(str(position), wire.encode_data(body))
    return FeedEvent(position, order, pk, seq, kind, data, frame)
