"""The stream view: check the request, authorise it, then hand over to the stream."""

import math
import re
import time

from django.db import DatabaseError
from django.http import (
    HttpRequest,
    HttpResponse,
    JsonResponse,
)
from django.views.decorators.csrf import csrf_exempt

from tracking import access, conf, metrics
from tracking.access import AccessDenied, Grant
from tracking.asgi import stream_view
from tracking.errors import BadPosition
from tracking.live import get_hub, reader
from tracking.live.lookups import lookups
from tracking.live.reader import OrderState
from tracking.ordermodel import get_order_model, terminal_statuses
from tracking.responses import (
    check_stream_request,
    open_stream,
    refusal,
)
from tracking.streaming import StreamPlan, event_stream

MAX_POSITION_DIGITS = 18
REFERENCE_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


@csrf_exempt
@stream_view
async def order_events(request: HttpRequest, reference: str) -> HttpResponse:
    """Stream the events of the order ``reference`` as ``text/event-stream``.

    It only reads, so CSRF protection has nothing to guard; exempting it lets other
    methods get their honest 405 instead of a CSRF 403.

    GET streams; HEAD answers the same headers without a body. A client whose order is
    finished and who has every event gets 204, which tells EventSource to stop.
    """
    refused = check_stream_request(request)
    if refused is not None:
        return refused
    if _header_bytes(request) > conf.get("MAX_HEADER_BYTES"):
        return refusal(431, "The request's headers are too large; send fewer.")
    try:
        position = parse_position(request)
        grant, state = await authorise(request, reference)
    except BadPosition as exc:
        return refusal(400, str(exc))
    except AccessDenied as denied:
        return _denial(denied)
    except DatabaseError:
        return _unavailable()

    plan = _plan(state, position, grant)
    if plan.finished_at(position):
        return _no_content()
    return open_stream(request, grant.holder, lambda: event_stream(plan, get_hub()))


def parse_position(request: HttpRequest) -> int:
    """Return the client's position: the last event id it has, 0 for none.

    The ``Last-Event-ID`` header wins over the ``lastEventId`` query parameter, which
    exists for clients that cannot set headers.
    """
    header = request.headers.get("Last-Event-ID")
    if header is not None:
        return _position(header, "The Last-Event-ID header")
    values = request.GET.getlist("lastEventId")
    if len(set(values)) > 1:
        raise BadPosition(
            "The lastEventId parameter is given twice with different values."
        )
    return _position(values[0], "The lastEventId parameter") if values else 0


def _position(text: str, where: str) -> int:
    if text == "":
        return 0
    if len(text) > MAX_POSITION_DIGITS or not (text.isascii() and text.isdigit()):
        raise BadPosition(
            f"{where} must be an event id: a whole number from 0 with at most "
            f"{MAX_POSITION_DIGITS} digits."
        )
    return int(text)


async def authorise(request: HttpRequest, reference: str) -> tuple[Grant, OrderState]:
    """Return why the request may follow the order, and the order's state.

    Without credentials the answer is 401 whatever the reference; with them, a missing
    order, a foreign one and a malformed reference all get the same 404. The tracking
    page (``tracking.pages``) is authorised by this same function, so the page and its
    stream always agree.
    """
    token = access.token_from_request(request)
    if token is not None:
        grant = access.check_token(token, reference)
        state = await _find(reference)
        access.check_not_revoked(grant, state.revoked_until)
        return grant, state
    user = await request.auser()
    if not user.is_authenticated:
        raise AccessDenied(401, "Sign in, or send a stream token as a Bearer token.")
    state = await _find(reference)
    return await access.check_user(user, state.order), state


async def _find(reference: str) -> OrderState:
    if not REFERENCE_PATTERN.fullmatch(reference):
        raise access.not_found()
    state = await lookups.find(reference)
    if state is None:
        raise access.not_found()
    return state


def _plan(state: OrderState, position: int, grant: Grant) -> StreamPlan:
    now = time.monotonic()
    deadline, reason = now + conf.get("MAX_STREAM_SECONDS"), "its time is up"
    if grant.expires_at is not None:
        token_left = grant.expires_at - time.time()
        if now + token_left < deadline:
            deadline, reason = now + token_left, "its token expired"
    return StreamPlan(
        state=state,
        position=position,
        heartbeat=conf.get("HEARTBEAT_SECONDS"),
        retry_ms=conf.get("RETRY_MILLISECONDS"),
        terminal=terminal_statuses(get_order_model()),
        deadline=deadline,
        deadline_reason=reason,
    )


def _header_bytes(request: HttpRequest) -> int:
    """Return about how many bytes the request's headers took on the wire.

    uvicorn's default parser accepts headers of any size; a proxy in front should
    refuse them first, and this keeps the view from working on them if none does.
    """
    return sum(len(name) + len(value) + 4 for name, value in request.headers.items())


def _no_content() -> HttpResponse:
    """Say the stream is over: 204 tells EventSource and our client to stop."""
    response = HttpResponse(status=204)
    del response["Content-Type"]
    return response


def _unavailable() -> HttpResponse:
    """Tell the client to come back when the database cannot be read.

    A 503 rather than a 500 and its traceback: the reader logs the outage once, and
    clients that retry on 503 (``tracking.client`` does) resume once it is over.
    """
    response = refusal(
        503, "The order's events cannot be read right now; try again shortly."
    )
    response["Retry-After"] = str(math.ceil(conf.get("RETRY_MILLISECONDS") / 1000))
    return response


def _denial(denied: AccessDenied) -> HttpResponse:
    response = refusal(denied.status, denied.reason)
    if denied.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="order-tracking"'
    return response


async def health(request: HttpRequest) -> JsonResponse:
    """Say whether this process can serve streams: for load balancers and operators.

    503 when the database cannot be read or the Postgres listener is down, so a
    balancer sends new streams elsewhere.
    """
    hub = get_hub()
    queue: float | None = None
    try:
        queue = await reader.run(reader.ping)
        database = True
    except DatabaseError:
        database = False
    listener = getattr(hub.source, "connected", True)
    body = {
        "database": database,
        "listener": listener,
        "streams": hub.subscriber_count(),
        "orders": len(hub.topics),
        "notify_queue_usage": queue,
    }
    return JsonResponse(body, status=200 if database and listener else 503)


async def metrics_view(request: HttpRequest) -> HttpResponse:
    """Serve this process's figures in Prometheus text format, when enabled."""
    if not conf.get("METRICS"):
        return refusal(404, "Metrics are off; set TRACKING['METRICS'] = True.")
    return HttpResponse(metrics.exposition(), content_type=metrics.CONTENT_TYPE)
