"""A mixin for the shop's order model: saving a new status records its event.

Put it first among the bases: ``class Order(TrackedOrderMixin, models.Model)``. The
model needs a ``status`` field with choices and, for streams, a ``reference`` field.
"""

from typing import Any

from django.db import router, transaction

from tracking.recording import record_creation, record_status_change


class TrackedOrderMixin:
    """Records a ``created`` event for a new order and a ``status`` event whenever
    ``save()`` writes a status that differs from the stored one, in the same
    transaction as the row. A finished order's status cannot change.

    Bulk ``QuerySet.update(status=...)`` does not call ``save()`` and records nothing.
    """

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save the order and, in the same transaction, record its event."""
        order: Any = self
        adding = order._state.adding
        db = kwargs.get("using") or router.db_for_write(type(order), instance=order)
        with transaction.atomic(using=db):
            if not adding:
                record_status_change(order)
            super().save(*args, **kwargs)  # type: ignore[misc]
            if adding:
                record_creation(order)
