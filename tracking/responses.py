"""The HTTP answers the stream views share: refusals, stream headers, the checks
every stream request passes first."""

import logging
from collections.abc import AsyncIterator, Callable

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from tracking import limits, wire
from tracking.limits import Key, TooManyStreams

logger = logging.getLogger(__name__)

STREAM_HEADERS = {
    # Never cached: every connection must reflect the current log.
    "Cache-Control": "no-store",
    # Ask nginx (and proxies that honour it) not to buffer the stream.
    "X-Accel-Buffering": "no",
}


class EventStreamResponse(StreamingHttpResponse):
    """An event stream, whose bytes are sent as the stream yields them.

    ``StreamingHttpResponse`` passes each part of async content through two
    generators of its own (one makes bytes of it, one serves ``async for``). A
    fan-out sends a part per stream per event, and those two were a tenth of handing
    an event to a stream; the streams here yield bytes already. Content that a
    middleware put in place of the stream goes through Django's generators as usual.
    """

    def __init__(self, stream: AsyncIterator[bytes]) -> None:
        super().__init__(stream, content_type=wire.CONTENT_TYPE)
        self._stream = stream

    def __aiter__(self) -> AsyncIterator[bytes]:
        # Django iterates ``_iterator``, which a middleware's content replaces.
        if self._iterator is self._stream:
            return self._stream
        return super().__aiter__()


def refusal(status: int, reason: str) -> HttpResponse:
    """Answer with ``status`` and the reason as one readable sentence."""
    return HttpResponse(reason + "\n", status=status, content_type="text/plain")


def with_stream_headers(response: HttpResponse) -> HttpResponse:
    """Add the headers every event stream (and its HEAD answer) carries."""
    for name, value in STREAM_HEADERS.items():
        response[name] = value
    return response


def stream_head() -> HttpResponse:
    """Answer HEAD with the headers of the stream GET would open, and no body.

    Streaming, so that no middleware adds the ``Content-Length: 0`` of an empty
    response: a stream has no length, and HEAD must not claim a different one.
    """
    return with_stream_headers(
        StreamingHttpResponse((), content_type=wire.CONTENT_TYPE)
    )


def open_stream(
    request: HttpRequest,
    holder: Key,
    make_stream: Callable[[], AsyncIterator[bytes]],
) -> HttpResponse:
    """Answer with the stream ``make_stream`` starts, within the stream limits of
    ``holder`` (a token, a user) and of the client's address; the stream's end frees
    its slots. HEAD gets the headers alone, refused or not as the GET it stands for
    would be, holding no slot."""
    address = ("address", limits.client_address(request))
    try:
        lease = limits.limiter.acquire([holder, address])
    except TooManyStreams as exc:
        return too_many(exc)
    if request.method == "HEAD":
        lease.release()
        return stream_head()
    response = EventStreamResponse(limits.hold(lease, make_stream()))
    return with_stream_headers(response)


def too_many(exc: TooManyStreams) -> HttpResponse:
    """Answer 429 with when to try again."""
    response = refusal(429, str(exc))
    response["Retry-After"] = str(exc.retry_after)
    return response


def check_stream_request(request: HttpRequest) -> HttpResponse | None:
    """Refuse what no stream view can serve: WSGI (an endless stream would be
    collected in memory and never sent) and methods other than GET and HEAD."""
    if not isinstance(request, ASGIRequest):
        logger.error("An event stream was requested through WSGI; serve ASGI instead.")
        return refusal(500, "This server cannot stream events: it is not running ASGI.")
    if request.method not in ("GET", "HEAD"):
        response = refusal(405, "Only GET and HEAD are allowed on an event stream.")
        response["Allow"] = "GET, HEAD"
        return response
    return None
