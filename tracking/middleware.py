"""Middleware that keeps event streams intact."""

from typing import Any

from django.http import HttpRequest
from django.middleware.gzip import GZipMiddleware as DjangoGZipMiddleware

from tracking import wire


class GZipMiddleware(DjangoGZipMiddleware):
    """Django's GZip middleware, except for ``text/event-stream`` responses.

    Compressing a stream event by event makes every event a separate gzip member and
    invites proxies to buffer; streams are small text anyway.
    """

    def process_response(self, request: HttpRequest, response: Any) -> Any:
        if response.get("Content-Type", "").startswith(wire.CONTENT_TYPE):
            return response
        return super().process_response(request, response)
