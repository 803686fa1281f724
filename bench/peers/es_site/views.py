"""The harness's publish hook: one ``send_event`` per request."""

import json
import time

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django_eventstream import send_event  # type: ignore[import-not-found]


@csrf_exempt
def publish(request: HttpRequest, key: str) -> HttpResponse:
    """Send the JSON request body as a ``message`` event on channel ``order-<key>``.

    The view is synchronous, as a shop's own views calling ``send_event`` would be.
    The answer is ``time.time()`` right after ``send_event`` returned: the event is
    stored and queued for this process's listeners by then.
    """
    send_event(f"order-{key}", "message", json.loads(request.body))
    return HttpResponse(repr(time.time()), content_type="text/plain")
