"""Tracking links: a stream URL that carries its own token."""

from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from tracking.access import make_token


def stream_path(order: Any) -> str:
    """Return the path of the order's event stream."""
    return reverse("tracking:order-events", kwargs={"reference": order.reference})


def stream_url(order: Any, base_url: str, lifetime_seconds: float | None = None) -> str:
    """Return the full stream URL with a token valid for ``lifetime_seconds``.

    The token is in the query because browsers' EventSource cannot send headers.
    """
    token = make_token(order, lifetime_seconds)
    return f"{base_url.rstrip('/')}{stream_path(order)}?{urlencode({'token': token})}"
