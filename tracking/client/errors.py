"""The errors the tracking client raises.

Every error derives from :class:`TrackingClientError`, so a caller that only wants to
know "the stream is over and will not come back" catches that one class. The
subclasses say what went wrong, and their messages say what to do about it.
"""

from __future__ import annotations


class TrackingClientError(Exception):
    """Base class of every error raised by ``tracking.client``."""


class InvalidStreamURL(TrackingClientError, ValueError):
    """The URL given to the client is not one it can connect to."""

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        super().__init__(
            f"Cannot follow {url!r}: {detail}. Pass the full http:// or https:// "
            "URL of the order's event stream."
        )


class EventDataNotJSON(TrackingClientError, ValueError):
    """An event's data was decoded as JSON but is not valid JSON.

    It is also a :class:`ValueError`, like the error :func:`json.loads` raises, so code
    written against the standard library keeps working.
    """

    def __init__(self, event_type: str, event_id: str, detail: str) -> None:
        self.event_type = event_type
        self.event_id = event_id
        super().__init__(
            f"The data of the {event_type!r} event with id {event_id!r} is not valid "
            f"JSON ({detail}). Read event.data as text for events that are not JSON."
        )


class StreamRejected(TrackingClientError):
    """The server answered with a status that means the client must not retry.

    ``status`` is the HTTP status and ``reason`` what the server said about it, or an
    empty string when it said nothing readable.
    """

    advice = "Check the stream URL and the server's logs, then start the client again."

    def __init__(self, url: str, status: int, reason: str = "") -> None:
        self.url = url
        self.status = status
        self.reason = reason
        said = f" The server said: {reason}" if reason else ""
        super().__init__(
            f"The server refused the event stream at {url} with HTTP {status}.{said} "
            f"{self.advice}"
        )


class BadStreamRequest(StreamRejected):
    """HTTP 400: the request was malformed, for example a bad ``Last-Event-ID``."""

    advice = "Check the URL's query string and the last event id the client sent."


class Unauthorized(StreamRejected):
    """HTTP 401: no token was sent, or the token is invalid or expired."""

    advice = "Pass a valid token (token=... or --token); it may have expired."


class Forbidden(StreamRejected):
    """HTTP 403: the token is valid but does not grant access to this stream."""

    advice = "Use a token that is allowed to follow this order."


class StreamNotFound(StreamRejected):
    """HTTP 404: there is no stream at this URL, for example an unknown order."""

    advice = "Check the order in the URL and the URL's path."


class StreamGone(StreamRejected):
    """HTTP 410: the stream existed once and has been removed for good."""

    advice = "The stream will not come back; stop following it."


class WrongContentType(TrackingClientError):
    """The server answered 200 but not with ``text/event-stream``.

    This usually means the URL points at a page, not at a stream, or a proxy replaced
    the answer. The body is not read, as browsers do not read it either.
    """

    def __init__(self, url: str, content_type: str) -> None:
        self.url = url
        self.content_type = content_type
        shown = content_type or "no content type"
        super().__init__(
            f"The server answered {url} with {shown} instead of text/event-stream. "
            "Check that the URL points at an event stream and not at a page."
        )


class TooManyRedirects(TrackingClientError):
    """The server kept redirecting the client, most likely in a loop."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(
            f"The server redirected the request for {url} too many times. "
            "Check the server's redirects, or use the URL it finally points to."
        )


class UnsendableHeader(TrackingClientError, ValueError):
    """A token or extra header given to the client cannot be sent in a request."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"The {name} header cannot be sent: its value has surrounding blanks or "
            "holds control characters. Check the token or header you passed."
        )


class UnsendableEventId(TrackingClientError):
    """The server sent an event id that cannot be sent back as a header.

    Some control characters are allowed in an id by the event-stream format but not
    in an HTTP header, so the client cannot resume from such an id.
    """

    def __init__(self, event_id: str) -> None:
        self.event_id = event_id
        super().__init__(
            f"The event id {event_id!r} cannot be sent as a Last-Event-ID header. "
            "Make the server use ids without control characters."
        )


class ReconnectGaveUp(TrackingClientError):
    """The client stopped reconnecting because of its deadline or attempt limit.

    ``attempts`` counts the connection attempts made since the last one that delivered
    an event, and ``last_failure`` says why the last of them failed.
    """

    def __init__(self, url: str, attempts: int, last_failure: str) -> None:
        self.url = url
        self.attempts = attempts
        self.last_failure = last_failure
        super().__init__(
            f"Gave up reconnecting to {url} after {attempts} attempt(s) without an "
            f"event; the last one failed because {last_failure}. Check that the "
            "server is up, or raise max_attempts or deadline."
        )
