"""The other shop's order model: a UUID key, its own statuses, a ``buyer``."""

import secrets
import uuid

from django.conf import settings
from django.db import models

from tracking.mixins import TrackedOrderMixin


def new_reference() -> str:
    return "p-" + secrets.token_hex(8)


class Purchase(TrackedOrderMixin, models.Model):
    """An order as this shop calls it."""

    TERMINAL_STATUSES = frozenset({"received", "refunded"})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(max_length=40, unique=True, default=new_reference)
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    status = models.CharField(
        max_length=20,
        default="new",
        choices=[(s, s) for s in ("new", "sent", "received", "refunded")],
    )
