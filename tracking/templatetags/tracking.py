"""``{% load tracking %}``: the live timeline of an order, for a shop's own pages."""

from typing import Any

from django import template

from tracking.access import make_token
from tracking.timeline import load_timeline

register = template.Library()


@register.inclusion_tag("tracking/embed.html")
def tracking_timeline(order: Any, lifetime: float | None = None) -> dict[str, Any]:
    """Render ``order``'s status and history, followed live by the timeline script.

    The page that uses it has decided that its visitor may see the order, so the tag
    makes a stream token for it, valid ``lifetime`` seconds (``TOKEN_MAX_AGE_SECONDS``
    by default). It reads the database: render it from a synchronous view.
    """
    return {"timeline": load_timeline(order, make_token(order, lifetime)), "level": 2}
