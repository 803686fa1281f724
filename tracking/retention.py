"""Removing events: old events of finished orders, and one order's events on request.

These are the only ways events are deleted. A client that later resumes from a removed
position gets an ``event: reset`` and then whatever is still stored.
"""

import logging
from datetime import datetime, timedelta

from django.db import models, transaction
from django.db.models import Max
from django.utils import timezone

from tracking import conf
from tracking.models import OrderEvent
from tracking.ordermodel import get_order_model, terminal_statuses
from tracking.recording import insert_event, lock_order

logger = logging.getLogger(__name__)


def prune_finished(before: datetime, using: str | None = None) -> int:
    """Delete the events of finished orders whose last event is older than
    ``before``, all but that last one; return how many were deleted.

    The last event stays so that the order keeps its numbering and a client resuming
    from a removed position still learns the final state after its reset.
    """
    db = using or conf.get("DATABASE")
    model = get_order_model()
    finished = model._base_manager.using(db).filter(status__in=terminal_statuses(model))
    last_events = (
        OrderEvent.objects.using(db)
        .filter(order__in=finished)
        .values("order_id")
        .annotate(newest=Max("created_at"), last=Max("seq"))
        .filter(newest__lt=before)
    )
    deleted = 0
    for row in last_events:
        stale = OrderEvent.objects.using(db).filter(
            order_id=row["order_id"], seq__lt=row["last"]
        )
        deleted += stale.delete()[0]
    logger.info("Pruned %s events of orders finished before %s.", deleted, before)
    return deleted


def erase_order(order: models.Model) -> int:
    """Delete the order's events (its personal data) and return how many.

    One ``erased`` event, holding nothing but the status and time, takes the next
    ``seq``, so numbers are never reused: a client at an old position gets a reset,
    never a different event under an id it has already seen.
    """
    db = order._state.db or conf.get("DATABASE")
    with transaction.atomic(using=db):
        status = lock_order(order, db, allow_finished=True)
        events = OrderEvent.objects.using(db).filter(order_id=order.pk)
        last = events.aggregate(last=Max("seq"))["last"] or 0
        deleted, _ = events.delete()
        insert_event(order, last + 1, "erased", {}, status, db)
    logger.info("Erased %s events of order %s.", deleted, order.pk)
    return deleted


def cutoff(days: float) -> datetime:
    """Return the moment ``days`` days ago."""
    return timezone.now() - timedelta(days=days)
