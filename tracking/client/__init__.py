"""A Python client for the order-tracking event stream.

It follows a stream over Server-Sent Events, resumes with ``Last-Event-ID`` after
every break, and never imports Django, so programs without Django can use it::

    async with EventSourceClient(url, token=token) as stream:
        async for event in stream:
            print(event.id, event.type, event.json())

:class:`SyncEventSourceClient` does the same for blocking code.
"""

from ._async import EventSourceClient
from ._session import Reconnect
from ._sync import SyncEventSourceClient
from .errors import (
    BadStreamRequest,
    EventDataNotJSON,
    Forbidden,
    InvalidStreamURL,
    ReconnectGaveUp,
    StreamGone,
    StreamNotFound,
    StreamRejected,
    TooManyRedirects,
    TrackingClientError,
    Unauthorized,
    UnsendableEventId,
    UnsendableHeader,
    WrongContentType,
)
from .parser import Event, EventStreamParser
from .policy import ReconnectPolicy

__all__ = [
    "BadStreamRequest",
    "Event",
    "EventDataNotJSON",
    "EventSourceClient",
    "EventStreamParser",
    "Forbidden",
    "InvalidStreamURL",
    "Reconnect",
    "ReconnectGaveUp",
    "ReconnectPolicy",
    "StreamGone",
    "StreamNotFound",
    "StreamRejected",
    "SyncEventSourceClient",
    "TooManyRedirects",
    "TrackingClientError",
    "Unauthorized",
    "UnsendableEventId",
    "UnsendableHeader",
    "WrongContentType",
]
