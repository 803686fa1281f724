"""What the app needs to know about the shop's order model, asked in one place."""

from typing import Any

from django.apps import apps
from django.db import models

DEFAULT_TERMINAL_STATUSES = frozenset({"delivered", "cancelled"})


def get_order_model() -> type[models.Model]:
    """Return the model named by ``TRACKING_ORDER_MODEL``."""
    from tracking.conf import order_model_label

    model: type[models.Model] = apps.get_model(order_model_label(), require_ready=False)
    return model


def terminal_statuses(model: type[models.Model] | None = None) -> frozenset[str]:
    """Return the statuses after which an order gets no more events.

    The order model declares them as ``TERMINAL_STATUSES``; without it, delivered and
    cancelled are terminal.
    """
    model = model or get_order_model()
    return frozenset(getattr(model, "TERMINAL_STATUSES", DEFAULT_TERMINAL_STATUSES))


def status_choices(model: type[models.Model]) -> set[str]:
    """Return the allowed values of the order model's ``status`` field."""
    field: Any = model._meta.get_field("status")
    return {str(value) for value, _label in field.flatchoices}
