"""What the tracking commands share: finding the order a command names."""

from typing import Any

from django.core.management.base import CommandError

from tracking.ordermodel import get_order_model


def order_named(reference: str) -> Any:
    """Return the order with this public reference, or stop the command saying so."""
    order = get_order_model()._base_manager.filter(reference=reference).first()
    if order is None:
        raise CommandError(f"No order has the reference {reference!r}.")
    return order
