"""The default order model: what a small shop keeps about an order."""

import secrets
from typing import Any

from django.conf import settings
from django.db import models, router, transaction

from tracking.recording import record_creation, record_status_change


def new_reference() -> str:
    """Return an unguessable public reference, used in URLs instead of the key."""
    return "ord_" + secrets.token_urlsafe(12)


class Order(models.Model):
    """A customer's order; every change of its status is recorded as an event."""

    class Status(models.TextChoices):
        PLACED = "placed"
        PAID = "paid"
        PACKED = "packed"
        SHIPPED = "shipped"
        OUT_FOR_DELIVERY = "out_for_delivery"
        DELIVERED = "delivered"
        CANCELLED = "cancelled"

    TERMINAL_STATUSES = frozenset({Status.DELIVERED, Status.CANCELLED})

    reference = models.CharField(
        max_length=32, unique=True, default=new_reference, editable=False
    )
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="orders",
    )
    status = models.CharField(max_length=32, choices=Status, default=Status.PLACED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.reference

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any) -> "Order":
        """Remember the stored status, so ``save()`` can tell that it changed."""
        order: Order = super().from_db(db, field_names, values)
        order._tracking_saved_status = order.__dict__.get("status")
        return order

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save the order and, in the same transaction, record its status event."""
        adding = self._state.adding
        previous = getattr(self, "_tracking_saved_status", None)
        db = kwargs.get("using") or router.db_for_write(Order, instance=self)
        with transaction.atomic(using=db):
            if not adding and self.status != previous:
                record_status_change(self, previous)
            super().save(*args, **kwargs)
            if adding:
                record_creation(self)
        self._tracking_saved_status = self.status
