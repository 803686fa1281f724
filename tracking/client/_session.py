"""What the async and the sync client share: everything but the I/O.

A :class:`StreamSession` builds each request's headers, judges each answer, turns
body bytes into events while tracking the last event id and the server's ``retry:``,
and decides how long to wait before reconnecting. The two clients only move bytes
and sleep, each in its own way.
"""

from __future__ import annotations

import enum
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from .errors import (
    BadStreamRequest,
    Forbidden,
    InvalidStreamURL,
    ReconnectGaveUp,
    StreamGone,
    StreamNotFound,
    StreamRejected,
    TrackingClientError,
    Unauthorized,
    UnsendableEventId,
    UnsendableHeader,
    WrongContentType,
)
from .parser import Event, EventStreamParser
from .policy import Backoff, ReconnectPolicy

logger = logging.getLogger(__name__)

EVENT_STREAM = "text/event-stream"

# Three missed heartbeats of the server's 15 s interval: a connection that stays this
# long without a single byte is dead, even if no error reached the socket.
DEFAULT_READ_TIMEOUT = 45.0
DEFAULT_CONNECT_TIMEOUT = 10.0

# What a proxy answers while the server behind it restarts (502, 503, 504), and what
# the server answers while this token already holds its most streams (429): often
# its own half-open connections, which the server only notices minutes later.
# Browsers give up on these; this client waits (honouring Retry-After) and tries
# again, the one place where it departs from them.
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})

REJECTIONS: dict[int, type[StreamRejected]] = {
    400: BadStreamRequest,
    401: Unauthorized,
    403: Forbidden,
    404: StreamNotFound,
    410: StreamGone,
}

# How much of an error answer's body is read for its reason, and shown of it.
REASON_BODY_LIMIT = 4096
REASON_SHOWN_LIMIT = 200

_TOKEN_PARAMETER = re.compile(r"([?&]token=)[^&#]*")

# What h11, httpx's HTTP/1.1 layer, accepts as a header value.
_SENDABLE_HEADER_VALUE = re.compile(rb"[^\x00\s]+(?:[ \t]+[^\x00\s]+)*")


@dataclass(frozen=True, slots=True)
class Reconnect:
    """What the client reports to ``on_reconnect`` before it waits to reconnect.

    ``attempt`` is the number of the attempt about to be made, counted since the
    last connection that delivered an event; ``delay`` is the wait in seconds;
    ``reason`` says in words why the last connection ended; ``last_event_id`` is the
    id the next request will resume from.
    """

    attempt: int
    delay: float
    reason: str
    last_event_id: str


class Verdict(enum.Enum):
    """What to do with an answer, judged from its status and headers alone."""

    OPEN = "open"
    STOP = "stop"
    RETRY = "retry"
    REJECT = "reject"


class StreamSession:
    """The state of following one stream across connections, without any I/O."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None,
        last_event_id: str,
        headers: Mapping[str, str] | None,
        policy: ReconnectPolicy | None,
        on_reconnect: Callable[[Reconnect], None] | None,
    ) -> None:
        self.url = checked_url(url)
        self.shown_url = redacted(url)
        self.last_event_id = last_event_id
        self._token = token
        self._extra_headers = dict(headers or {})
        self._check_headers()
        self._backoff = Backoff(policy or ReconnectPolicy())
        self._on_reconnect = on_reconnect

    def start_attempt(self) -> list[tuple[bytes, bytes]]:
        """Count a connection attempt and return the headers for its request.

        Values are bytes so that a non-ASCII id goes out as its exact UTF-8 bytes.
        The client's own headers replace extra headers of the same name.
        """
        self._backoff.attempt_started()
        own = {
            b"accept": EVENT_STREAM.encode(),
            b"cache-control": b"no-cache",
            # Uncompressed: Django's GZipMiddleware makes each event a gzip member
            # of its own, and httpx reads only the first.
            b"accept-encoding": b"identity",
        }
        if self._token:
            own[b"authorization"] = b"Bearer " + self._token.encode("utf-8")
        last_event_id = last_event_id_header(self.last_event_id)
        if last_event_id:
            own[b"last-event-id"] = last_event_id

        extra = [
            (name.encode("ascii"), value.encode("utf-8"))
            for name, value in self._extra_headers.items()
            if name.lower().encode("ascii") not in own
        ]
        return extra + list(own.items())

    def _check_headers(self) -> None:
        """Refuse a token or header that could never be sent, rather than retry it."""
        values = dict(self._extra_headers)
        if self._token:
            values["Authorization"] = f"Bearer {self._token}"
        for name, value in values.items():
            if not _SENDABLE_HEADER_VALUE.fullmatch(value.encode("utf-8")):
                raise UnsendableHeader(name)

    def judge(self, response: httpx.Response) -> Verdict:
        """Say whether an answer opens the stream, ends it, or must be retried."""
        if response.status_code == 204:
            return Verdict.STOP
        if response.status_code in RETRYABLE_STATUSES:
            return Verdict.RETRY
        if response.status_code == 200 and content_type(response) == EVENT_STREAM:
            return Verdict.OPEN
        return Verdict.REJECT

    def rejection(self, response: httpx.Response, body: bytes) -> TrackingClientError:
        """Build the error for an answer judged REJECT, given the start of its body."""
        if response.status_code == 200:
            return WrongContentType(self.shown_url, content_type(response))
        error_class = REJECTIONS.get(response.status_code, StreamRejected)
        reason = reason_of(response, body)
        return error_class(self.shown_url, response.status_code, reason)

    def new_parser(self) -> EventStreamParser:
        """A parser for the next body, resuming from the last event id."""
        return EventStreamParser(self.last_event_id)

    def feed(self, parser: EventStreamParser, chunk: bytes) -> list[Event]:
        """Parse a chunk, take its ``retry:``, and count its events as progress.

        The caller yields the events one by one through :meth:`delivered`, then calls
        :meth:`caught_up`, so that ``last_event_id`` never runs ahead of what the
        application has seen.
        """
        events = parser.feed(chunk)
        if parser.retry_ms is not None:
            self._backoff.set_retry(parser.retry_ms)
        if events:
            self._backoff.events_delivered()
        return events

    def delivered(self, event: Event) -> Event:
        """Note that the application is about to receive the event."""
        self.last_event_id = event.id
        return event

    def caught_up(self, parser: EventStreamParser) -> None:
        """Take ids of blocks without data, which commit an id but fire no event."""
        self.last_event_id = parser.last_event_id

    def plan_reconnect(self, reason: str, retry_after_s: float | None = None) -> float:
        """Return the wait before reconnecting, after telling the hook and the log.

        Raises :class:`ReconnectGaveUp` when the policy's limits are reached.
        """
        delay = self._backoff.next_delay(retry_after_s)
        if delay is None:
            raise ReconnectGaveUp(self.shown_url, self._backoff.attempts, reason)

        report = Reconnect(
            attempt=self._backoff.attempts + 1,
            delay=delay,
            reason=reason,
            last_event_id=self.last_event_id,
        )
        logger.info(
            "Reconnecting to %s in %.1f s (attempt %s) because %s.",
            self.shown_url,
            delay,
            report.attempt,
            reason,
        )
        if self._on_reconnect is not None:
            self._on_reconnect(report)
        return delay


def checked_url(url: str) -> str:
    """Return the URL if the client can connect to it, or raise InvalidStreamURL."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidStreamURL(url, str(exc)) from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidStreamURL(url, "it must be an absolute http:// or https:// URL")
    return url


def redacted(url: str) -> str:
    """The URL with the value of a ``token`` query parameter hidden, for messages.

    Tracking links carry the stream token in the query string; it must not end up in
    logs or error output that people paste into tickets.
    """
    return _TOKEN_PARAMETER.sub(r"\1redacted", url)


def last_event_id_header(last_event_id: str) -> bytes:
    """Encode the id as the ``Last-Event-ID`` value: its raw UTF-8 bytes.

    Surrounding spaces and tabs are dropped, as browsers do for every header value;
    an empty result means that no header is sent.
    """
    value = last_event_id.encode("utf-8").strip(b" \t")
    if value and not _SENDABLE_HEADER_VALUE.fullmatch(value):
        raise UnsendableEventId(last_event_id)
    return value


def content_type(response: httpx.Response) -> str:
    """The answer's media type without parameters, lower case ("" when missing)."""
    value: str = response.headers.get("Content-Type", "")
    return value.partition(";")[0].strip().lower()


def has_readable_reason(response: httpx.Response) -> bool:
    """Whether an error answer's body is text or JSON that may say what went wrong.

    Other bodies are not read at all: an event stream sent with an error status must
    not be parsed, and a page is no use as a one-line reason.
    """
    kind = content_type(response)
    return kind in ("text/plain", "application/json") or kind.endswith("+json")


def reason_of(response: httpx.Response, body: bytes) -> str:
    """What the server said about an error, if it said it as text or JSON."""
    if not has_readable_reason(response):
        return ""
    text = body.decode("utf-8", errors="replace")
    if content_type(response) != "text/plain":
        text = _json_message(text)

    lines = text.strip().splitlines()
    first = lines[0].strip() if lines else ""
    if len(first) > REASON_SHOWN_LIMIT:
        return first[:REASON_SHOWN_LIMIT] + "…"
    return first


def _json_message(text: str) -> str:
    """The message of a JSON error body, under the keys servers commonly use."""
    try:
        document = json.loads(text)
    except ValueError:
        return ""
    if not isinstance(document, dict):
        return ""
    for key in ("detail", "reason", "message", "error", "title"):
        value = document.get(key)
        if isinstance(value, str):
            return value
    return ""


def retry_after(response: httpx.Response) -> float | None:
    """The answer's ``Retry-After`` in seconds, given as seconds or as a date.

    A date is measured against the answer's own ``Date`` header when there is one, so
    that a client whose clock is wrong still waits as long as the server meant.
    """
    value = response.headers.get("Retry-After", "").strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        until = parsedate_to_datetime(value)
        date = response.headers.get("Date")
        now = parsedate_to_datetime(date) if date else datetime.now(UTC)
    except (TypeError, ValueError):
        return None
    if until.tzinfo is None or now.tzinfo is None:
        return None
    return max(0.0, (until - now).total_seconds())


def transport_failure(exc: httpx.HTTPError, read_timeout: float) -> str:
    """Say in words why a connection failed, for the reconnect report."""
    if isinstance(exc, httpx.ReadTimeout):
        return f"no byte arrived for {read_timeout:g} s, so the connection is dead"
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return f"the connection could not be made ({exc or type(exc).__name__})"
    return f"the connection broke ({type(exc).__name__}: {exc})"
