"""A Python client for the order-tracking event stream.

It imports nothing from Django, so programs without Django can follow an order.
"""

from .errors import (
    BadStreamRequest,
    EventDataNotJSON,
    Forbidden,
    ReconnectGaveUp,
    StreamGone,
    StreamNotFound,
    StreamRejected,
    TooManyRedirects,
    TrackingClientError,
    Unauthorized,
    WrongContentType,
)
from .parser import Event, EventStreamParser

__all__ = [
    "BadStreamRequest",
    "Event",
    "EventDataNotJSON",
    "EventStreamParser",
    "Forbidden",
    "ReconnectGaveUp",
    "StreamGone",
    "StreamNotFound",
    "StreamRejected",
    "TooManyRedirects",
    "TrackingClientError",
    "Unauthorized",
    "WrongContentType",
]
