"""The event log: one immutable row per change of an order."""

from typing import Any

from django.db import models
from django.utils import timezone

from tracking.conf import order_model_label
from tracking.feed import TransactionId


class OrderEvent(models.Model):
    """One change of an order, numbered ``seq`` = 1, 2, 3... per order without gaps.

    Rows are written only by ``tracking.recording`` and are never changed afterwards;
    only the retention and erasure commands delete them, through querysets.
    """

    order = models.ForeignKey(
        order_model_label(), on_delete=models.CASCADE, related_name="tracking_events"
    )
    seq = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=32)
    data = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    # The global feed's clock (see ``tracking.feed``): the writing transaction's id,
    # at least the order's previous event's. The database fills it in on insert.
    feed_xid = models.BigIntegerField(db_default=TransactionId(), editable=False)

    class Meta:
        ordering = ["order", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["order", "seq"], name="tracking_event_seq")
        ]
        indexes = [models.Index(fields=["feed_xid", "id"], name="tracking_event_feed")]
        verbose_name = "order event"

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Insert the row; an event that is already stored cannot be changed."""
        if not self._state.adding:
            raise TypeError("Order events are immutable; record a new event instead.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        """Refuse: events are removed only by the prune_events and erase commands."""
        raise TypeError(
            "Order events are deleted only by the prune_events and erase_order_events "
            "commands."
        )


class LinkRevocation(models.Model):
    """When every tracking link of one order was last revoked.

    A stream token issued at or before ``revoked_at`` is refused; tokens made later
    work. One row per order, so revoking is one write however many links exist.
    """

    order = models.OneToOneField(
        order_model_label(),
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="tracking_revocation",
    )
    revoked_at = models.DateTimeField()

    class Meta:
        verbose_name = "tracking link revocation"

    def __str__(self) -> str:
        return f"links of order {self.pk} revoked at {self.revoked_at.isoformat()}"


def order_key_param(pk: Any, connection: Any) -> Any:
    """Return an order's primary key as raw SQL takes it (a UUID is text on SQLite).

    For the queries written by hand on hot paths (``tracking.recording``,
    ``tracking.live.reader``).
    """
    order_key = OrderEvent._meta.get_field("order").target_field
    return order_key.get_db_prep_value(pk, connection)
