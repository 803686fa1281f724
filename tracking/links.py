"""Tracking links: a stream or page URL that carries its own token."""

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


def page_path(order: Any) -> str:
    """Return the path of the order's tracking page."""
    return reverse("tracking:order-page", kwargs={"reference": order.reference})


def page_url(order: Any, base_url: str, lifetime_seconds: float | None = None) -> str:
    """Return the full tracking page URL with a token valid for ``lifetime_seconds``.

    This is the link to send a customer: the page shows the order and follows its
    stream with the same token.
    """
    token = make_token(order, lifetime_seconds)
    return f"{base_url.rstrip('/')}{page_path(order)}?{urlencode({'token': token})}"
