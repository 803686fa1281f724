"""The public API for writing events: every change of an order goes through here.

``record_event`` numbers the event under a row lock on the order, inside the caller's
transaction, so that per order the commit order is the ``seq`` order and a rolled-back
transaction leaves neither a gap nor a phantom. Subscribers are woken only when the
transaction commits: on Postgres by a NOTIFY sent inside it, which Postgres delivers at
commit; on SQLite by the poller, which only sees committed rows. On Postgres the lock,
the numbering, the insert and the NOTIFY are one statement (``tracking.pg_append``).
"""

import functools
import json
import re
from typing import Any

from asgiref.sync import sync_to_async
from django.db import ProgrammingError, connections, models, router, transaction
from django.db.models import Value
from django.db.models.functions import Greatest
from django.utils import timezone

from tracking import conf, pg_append
from tracking.errors import DatabaseNotReady, InvalidEvent, OrderFinished
from tracking.feed import TransactionId
from tracking.models import OrderEvent, order_key_param
from tracking.ordermodel import get_order_model, status_choices, terminal_statuses
from tracking.pg_append import NOTIFY_CHANNEL

KIND_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,31}")
RESERVED_KINDS = frozenset({"reset", "message"})
RESERVED_KEYS = ("status", "at")
MAX_DEPTH = 32
SURROGATE = re.compile("[\ud800-\udfff]")


def record_event(
    order: models.Model,
    kind: str,
    data: dict[str, Any] | None = None,
    *,
    status: str | None = None,
) -> OrderEvent:
    """Store one event of ``order`` and return it; with ``status``, change it too.

    Runs in the caller's transaction when there is one. Raises ``InvalidEvent`` for a
    malformed kind, status or data, and ``OrderFinished`` once the order is in a
    terminal status.
    """
    check_kind(kind)
    fields = check_data(data)
    if status is not None:
        check_status(type(order), status)

    db = _database(order)
    if status is None:
        return _append(order, kind, fields, db)
    with transaction.atomic(using=db):
        lock_order(order, db)
        _set_status(order, status, db)
        return _append(order, kind, fields, db, allow_finished=True)


async def arecord_event(
    order: models.Model,
    kind: str,
    data: dict[str, Any] | None = None,
    *,
    status: str | None = None,
) -> OrderEvent:
    """Async twin of ``record_event``: the same work, run in a worker thread."""
    return await sync_to_async(record_event)(order, kind, data, status=status)


def record_status_change(order: models.Model) -> OrderEvent | None:
    """Record the ``status`` event of an order whose ``save()`` is running, if its
    status differs from the stored one; return the event, or None.

    It compares with the row as stored, under the row lock, not with what the object
    loaded: saving a stale object must neither skip an event nor move a finished
    order. Runs inside the save's transaction, so the change and its event commit
    together or not at all.
    """
    status = str(order.status)
    db = _database(order)
    with transaction.atomic(using=db):
        stored = lock_order(order, db, allow_finished=True)
        if status == stored:
            return None
        if stored in terminal_statuses(type(order)):
            raise OrderFinished(
                f"The order is {stored}, which is final: its status cannot change."
            )
        check_status(type(order), status)
        return _append(
            order,
            "status",
            {"previous": stored},
            db,
            status=status,
            allow_finished=True,
        )


def record_creation(order: models.Model) -> OrderEvent:
    """Record the first event of a new order, so every stream starts with its status."""
    return _append(
        order,
        "created",
        {},
        _database(order),
        status=str(order.status),
        allow_finished=True,
    )


def check_kind(kind: object) -> None:
    """Refuse a kind that is not a short lowercase word, or one the stream reserves."""
    if not isinstance(kind, str) or not KIND_PATTERN.fullmatch(kind):
        raise InvalidEvent(
            f"The event kind {kind!r} is invalid: use 1 to 32 lowercase letters, "
            "digits or underscores, starting with a letter."
        )
    if kind in RESERVED_KINDS:
        raise InvalidEvent(f"The event kind {kind!r} is reserved by the stream.")


def check_data(data: object) -> dict[str, Any]:
    """Return ``data`` if it is a JSON object the stream can carry, else refuse it."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidEvent("Event data must be a JSON object (a dict).")
    taken = [key for key in RESERVED_KEYS if key in data]
    if taken:
        raise InvalidEvent(
            f"Event data may not set {', '.join(taken)}: the app fills them in."
        )
    _check_values(data, depth=1)
    try:
        encoded = json.dumps(data, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidEvent(f"Event data cannot be encoded as JSON: {exc}.") from exc
    limit = conf.get("MAX_DATA_BYTES")
    if len(encoded.encode()) > limit:
        raise InvalidEvent(f"Event data is larger than the limit of {limit} bytes.")
    return data


def _check_values(value: object, depth: int) -> None:
    """Refuse text that cannot be stored, and nesting that cannot be walked safely."""
    if depth > MAX_DEPTH:
        raise InvalidEvent(f"Event data is nested deeper than {MAX_DEPTH} levels.")
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                _check_text(key)
            _check_values(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_values(item, depth + 1)


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise InvalidEvent(
            "Event data may not contain the NUL character (U+0000): Postgres cannot "
            "store it in JSON."
        )
    if SURROGATE.search(text):
        raise InvalidEvent(
            "Event data contains a lone surrogate (U+D800 to U+DFFF), which is not "
            "valid Unicode text."
        )


def check_status(model: type[models.Model], status: object) -> None:
    """Refuse a status the order model does not define."""
    allowed = status_choices(model)
    if status not in allowed:
        raise InvalidEvent(
            f"The status {status!r} is unknown: use one of "
            f"{', '.join(sorted(allowed))}."
        )


def _database(order: models.Model) -> str:
    return order._state.db or router.db_for_write(type(order), instance=order)


def lock_order(order: models.Model, db: str, *, allow_finished: bool = False) -> str:
    """Lock the order's row until commit and return its stored status.

    The lock serialises every writer of this order, which is what makes ``seq``
    gapless and its commit order monotonic. (SQLite ignores row locks, but its
    IMMEDIATE transactions serialise all writers of the database.)
    """
    connection = connections[db]
    with connection.cursor() as cursor:
        cursor.execute(_lock_sql(db), [order_key_param(order.pk, connection)])
        row = cursor.fetchone()
    if row is None:
        raise _not_stored(order)
    status = str(row[0])
    if not allow_finished and status in terminal_statuses(type(order)):
        raise _finished(status)
    return status


def _not_stored(order: models.Model) -> InvalidEvent:
    return InvalidEvent(f"The order {order.pk!r} is not stored yet.")


def _finished(status: str) -> OrderFinished:
    return OrderFinished(
        f"The order is {status}, which is final: it takes no more events."
    )


def _set_status(order: models.Model, status: str, db: str) -> None:
    """Write the new status, and touch the model's ``auto_now`` fields as save would."""
    now = timezone.now()
    changes: dict[str, Any] = {"status": status}
    for field in order._meta.concrete_fields:
        if getattr(field, "auto_now", False):
            changes[field.attname] = now
            setattr(order, field.attname, now)
    type(order)._base_manager.using(db).filter(pk=order.pk).update(**changes)
    order.status = status


def _append(
    order: models.Model,
    kind: str,
    fields: dict[str, Any],
    db: str,
    *,
    status: str | None = None,
    allow_finished: bool = False,
) -> OrderEvent:
    """Lock the order, insert its next event and announce it at commit.

    The event reports ``status``, by default the stored one. Unless
    ``allow_finished``, an order in a terminal status is refused.
    """
    connection = connections[db]
    if connection.vendor == "postgresql":
        return _append_in_postgres(order, kind, fields, db, status, allow_finished)
    with transaction.atomic(using=db):
        stored = lock_order(order, db, allow_finished=allow_finished)
        with connection.cursor() as cursor:
            cursor.execute(_last_event_sql(db), [order_key_param(order.pk, connection)])
            last, feed_floor = cursor.fetchone()
        return insert_event(
            order,
            (last or 0) + 1,
            kind,
            fields,
            status or stored,
            db,
            feed_floor=feed_floor or 0,
        )


def _append_in_postgres(
    order: models.Model,
    kind: str,
    fields: dict[str, Any],
    db: str,
    status: str | None,
    allow_finished: bool,
) -> OrderEvent:
    """Do ``_append``'s work in one statement: ``tracking.pg_append``'s function."""
    connection = connections[db]
    now = timezone.now()
    at = now.isoformat()
    refuse = [] if allow_finished else sorted(terminal_statuses(type(order)))
    key = order_key_param(order.pk, connection)
    with connection.cursor() as cursor:
        try:
            cursor.execute(
                pg_append.CALL_SQL,
                [key, kind, json.dumps(fields), now, at, status, refuse],
            )
        except ProgrammingError as exc:
            if pg_append.FUNCTION in str(exc):
                raise DatabaseNotReady(
                    f"The database has no {pg_append.FUNCTION} function, which "
                    "records events on Postgres: run manage.py migrate."
                ) from exc
            raise
        row = cursor.fetchone()
    if row is None:
        raise _not_stored(order)
    stored, event_id, seq, feed_xid = row
    if event_id is None:
        raise _finished(stored)
    event = OrderEvent(
        id=event_id,
        order_id=order.pk,
        seq=seq,
        kind=kind,
        data={"status": status or stored, "at": at, **fields},
        created_at=now,
        feed_xid=feed_xid,
    )
    event._state.adding = False
    event._state.db = db
    return event


# Every event on SQLite runs the two queries below (and a status change anywhere, the
# lock). They are written once from the models' names: the ORM took longer to compile
# them than the database to run them.


@functools.cache
def _lock_sql(db: str) -> str:
    connection = connections[db]
    name = connection.ops.quote_name
    meta = get_order_model()._meta
    assert meta.pk is not None
    sql = (
        f"SELECT {name(meta.get_field('status').column)} FROM {name(meta.db_table)} "
        f"WHERE {name(meta.pk.column)} = %s"
    )
    # SQLite has no row locks: its IMMEDIATE transactions serialise the writers.
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    return sql


@functools.cache
def _last_event_sql(db: str) -> str:
    name = connections[db].ops.quote_name
    meta = OrderEvent._meta
    seq, feed_xid, order = (
        name(meta.get_field(field).column) for field in ("seq", "feed_xid", "order")
    )
    return (
        f"SELECT MAX({seq}), MAX({feed_xid}) FROM {name(meta.db_table)} "
        f"WHERE {order} = %s"
    )


def insert_event(
    order: models.Model,
    seq: int,
    kind: str,
    fields: dict[str, Any],
    status: str,
    db: str,
    *,
    feed_floor: int = 0,
) -> OrderEvent:
    """Insert event ``seq`` of an order locked by the caller; announce it at commit.

    Only this module and ``tracking.retention`` call it: the caller is responsible
    for ``seq`` being the next number of the order. ``feed_floor`` is the order's
    highest ``feed_xid`` so far: the new event's is at least that, which keeps the
    order's events in ``seq`` order in the global feed (``tracking.feed``).
    """
    now = timezone.now()
    event = OrderEvent(
        order_id=order.pk,
        seq=seq,
        kind=kind,
        data={"status": status, "at": now.isoformat(), **fields},
        created_at=now,
        feed_xid=Greatest(
            TransactionId(), Value(feed_floor, output_field=models.BigIntegerField())
        ),
    )
    event.save(using=db, force_insert=True)
    _announce(event, db)
    return event


def _announce(event: OrderEvent, db: str) -> None:
    """Send the wake-up hint; Postgres delivers it only if the transaction commits."""
    connection = connections[db]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_notify(%s, %s)",
            [NOTIFY_CHANNEL, f"{event.order_id}:{event.seq}"],
        )
