"""The HTML pages: the customer's tracking page and the staff's live board.

Both render what is already stored on the server, so they work without JavaScript,
and hand the script the position to follow the stream from. The tracking page is
authorised exactly as its stream is (``tracking.views.authorise``); the board, like
the feed behind it, is for staff who may view orders.
"""

from typing import Any
from urllib.parse import quote

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.dateparse import parse_datetime

from tracking import access
from tracking.access import AccessDenied
from tracking.feed import START
from tracking.feed_stream import FORBIDDEN_REASON, may_watch_all
from tracking.live import reader
from tracking.live.reader import FeedEvent
from tracking.ordermodel import get_order_model
from tracking.timeline import load_timeline, status_labels, title
from tracking.views import authorise

# The tracking page's URL holds the token: no request it makes, and no link followed
# from it, may carry that URL on in a Referer header. It shows one customer's order,
# so no cache keeps it and no search engine lists it.
PAGE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
}
# How many of the newest events the board shows when it opens.
BOARD_SIZE = 100
PK_PLACEHOLDER = "__pk__"


async def order_page(request: HttpRequest, reference: str) -> HttpResponse:
    """Show one order's status and history, then follow it live in the browser.

    Opened from a tracking link (``?token=``), or by the order's customer or staff
    through their session; refused with the stream's own status and reason.
    """
    if request.method not in ("GET", "HEAD"):
        return _with_page_headers(_refused(405, "Only GET opens a tracking page."))
    try:
        grant, state = await authorise(request, reference)
    except AccessDenied as denied:
        return _with_page_headers(_refused(denied.status, denied.reason))
    token = access.token_from_request(request) if grant.reason == "token" else None
    timeline = await sync_to_async(load_timeline)(state.order, token)
    html = render_to_string("tracking/order_page.html", {"timeline": timeline})
    return _with_page_headers(HttpResponse(html))


async def staff_board(request: HttpRequest) -> HttpResponse:
    """Show the newest events of every order, then follow the global feed live.

    ``?status=`` keeps only events that left their order in that status.
    """
    user = await request.auser()
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path(), _login_url())
    if not await may_watch_all(user):
        return _refused(403, FORBIDDEN_REASON)
    labels = status_labels(get_order_model())
    chosen = request.GET.get("status", "")
    chosen = chosen if chosen in labels else ""
    events = await reader.run(reader.feed_tail, BOARD_SIZE)
    admin_url = _admin_url_template()
    context = {
        "rows": [
            _board_row(event, labels, admin_url)
            for event in events
            if not chosen or event.data.get("status") == chosen
        ],
        "last_id": str(events[0].position if events else START),
        "labels": labels,
        "chosen": chosen,
        "chosen_label": labels.get(chosen, ""),
        "admin_url": admin_url,
        "size": BOARD_SIZE,
    }
    response = HttpResponse(render_to_string("tracking/board.html", context))
    # Every order's events: no shared cache may keep a copy.
    response["Cache-Control"] = "no-store"
    return response


def _board_row(event: FeedEvent, labels: dict[str, str], admin_url: str) -> Any:
    status = str(event.data.get("status", ""))
    message = event.data.get("message")
    return {
        "id": str(event.position),
        "order": event.order,
        "admin_url": admin_url.replace(PK_PLACEHOLDER, quote(str(event.order_pk))),
        "seq": event.seq,
        "kind": event.kind,
        "title": title(event.kind, status, labels),
        "status": status,
        "status_label": labels.get(status, status),
        "message": message if isinstance(message, str) else "",
        "at": parse_datetime(str(event.data.get("at", ""))),
    }


def _admin_url_template() -> str:
    """Return the admin change URL of an order with a placeholder key, or ''."""
    meta = get_order_model()._meta
    name = f"admin:{meta.app_label}_{meta.model_name}_change"
    try:
        return reverse(name, args=[PK_PLACEHOLDER])
    except NoReverseMatch:
        return ""


def _login_url() -> str:
    try:
        return reverse("admin:login")
    except NoReverseMatch:
        return str(settings.LOGIN_URL)


def _refused(status: int, reason: str) -> HttpResponse:
    html = render_to_string("tracking/refused.html", {"reason": reason})
    return HttpResponse(html, status=status)


def _with_page_headers(response: HttpResponse) -> HttpResponse:
    for name, value in PAGE_HEADERS.items():
        response[name] = value
    return response
