"""Cross-origin streams: which other sites' pages may follow orders.

django-cors-headers answers CORS for the whole project from its own settings. The
stream's allowed origins are ``TRACKING["CORS_ALLOWED_ORIGINS"]``, given to it through
its ``check_request_enabled`` signal: a request to a stream URL from a listed origin is
allowed, and only those get ``Access-Control-Allow-Origin`` (and, when the project sets
``CORS_ALLOW_CREDENTIALS``, ``Access-Control-Allow-Credentials``). Every other origin
gets no CORS headers, so browsers keep the answer from its page.
"""

from typing import Any

from corsheaders.signals import check_request_enabled
from django.http import HttpRequest
from django.urls import Resolver404, resolve

from tracking import conf

STREAM_URL_NAME = "tracking:order-events"


def allow_listed_origins(sender: Any, request: HttpRequest, **kwargs: Any) -> bool:
    """Say whether ``request`` is a stream request from an allowed origin."""
    origin = request.headers.get("Origin")
    if origin is None or origin not in conf.get("CORS_ALLOWED_ORIGINS"):
        return False
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    return match.view_name == STREAM_URL_NAME


def connect() -> None:
    """Let django-cors-headers ask this module about stream requests."""
    check_request_enabled.connect(allow_listed_origins, dispatch_uid=__name__)
