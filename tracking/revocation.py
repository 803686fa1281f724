"""Revoking every tracking link of an order at once.

A stream token is stateless: nothing records that it was handed out. Revoking
therefore stores one time per order, and the view refuses every token of that order
issued at or before it. Links made afterwards work, so a shop can revoke a leaked link
and send the customer a new one.

Revocation is checked when a stream connects. A stream already open keeps running
until it reconnects, which it does at the latest after ``MAX_STREAM_SECONDS`` or when
its token expires; lower ``MAX_STREAM_SECONDS`` to shorten that window.
"""

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import models, router
from django.utils import timezone

from tracking.models import LinkRevocation

logger = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def revoke_links(order: models.Model) -> datetime:
    """Refuse every link of ``order`` issued until now; return the revocation time."""
    db = order._state.db or router.db_for_write(LinkRevocation, instance=order)
    now = timezone.now()
    LinkRevocation.objects.using(db).update_or_create(
        order_id=order.pk, defaults={"revoked_at": now}
    )
    logger.info("Revoked every tracking link of order %s.", order.pk)
    return now


def revoked_until(order_pk: Any, using: str | None = None) -> int | None:
    """Return when the order's links were last revoked, in epoch microseconds.

    None means they never were. Tokens carry their issue time in the same unit, so
    the comparison is exact.
    """
    manager = LinkRevocation.objects.db_manager(using)
    found = manager.filter(order_id=order_pk).values_list("revoked_at", flat=True)
    return micros(found.first())


def micros(moment: datetime | None) -> int | None:
    """Return ``moment`` in epoch microseconds, the unit tokens carry, or None."""
    if moment is None:
        return None
    return (moment - EPOCH) // timedelta(microseconds=1)
