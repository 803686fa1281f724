"""The default order model: what a small shop keeps about an order."""

import secrets

from django.conf import settings
from django.db import models

from tracking.mixins import TrackedOrderMixin


def new_reference() -> str:
    """Return an unguessable public reference, used in URLs instead of the key."""
    return "ord_" + secrets.token_urlsafe(12)


class Order(TrackedOrderMixin, models.Model):
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
