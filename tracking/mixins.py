"""A mixin for the shop's order model: saving a new status records its event.

Put it first among the bases: ``class Order(TrackedOrderMixin, models.Model)``. The
model needs a ``status`` field with choices and, for streams, a ``reference`` field.
"""

from typing import Any

from django.db import router, transaction

from tracking.recording import record_creation, record_status_change


class TrackedOrderMixin:
    """Records a ``created`` event for a new order and a ``status`` event whenever
    ``save()`` writes a changed status, in the same transaction as the row.

    Bulk ``QuerySet.update(status=...)`` does not call ``save()`` and records nothing.
    """

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any, **kwargs: Any) -> Any:
        """Remember the stored status, so ``save()`` can tell that it changed.

        Extra keyword arguments (Django 6.1's ``fetch_mode``) pass straight through.
        """
        instance = super().from_db(db, field_names, values, **kwargs)  # type: ignore[misc]
        instance._tracking_saved_status = instance.__dict__.get("status")
        return instance

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save the order and, in the same transaction, record its event."""
        order: Any = self
        adding = order._state.adding
        previous = getattr(order, "_tracking_saved_status", None)
        db = kwargs.get("using") or router.db_for_write(type(order), instance=order)
        with transaction.atomic(using=db):
            if not adding and order.status != previous:
                record_status_change(order, previous)
            super().save(*args, **kwargs)  # type: ignore[misc]
            if adding:
                record_creation(order)
        order._tracking_saved_status = order.status
