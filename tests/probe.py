"""A shop's own middleware, for the servers of ``tests/e2e/test_handler.py``.

It is written the old way (``MiddlewareMixin``, sync hooks), as most shops' middleware
is, and it can say how many requests the server process still holds.
"""

import gc
import threading

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin

LIVE_REQUESTS_PATH = "/test/live-requests"


class ProbeMiddleware(MiddlewareMixin):
    """Marks every response, and answers ``LIVE_REQUESTS_PATH`` by itself."""

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        request.META["probe.thread"] = threading.current_thread().name
        if request.path_info != LIVE_REQUESTS_PATH:
            return None
        gc.collect()
        alive = sum(isinstance(o, ASGIRequest) for o in gc.get_objects())
        # This request is one of them.
        return JsonResponse({"others": alive - 1})

    def process_response(
        self, request: HttpRequest, response: HttpResponse
    ) -> HttpResponse:
        response["X-Probe"] = request.META.get("probe.thread", "no process_request")
        return response
