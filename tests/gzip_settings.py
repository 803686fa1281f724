"""Settings of a test server compressing with Django's own ``GZipMiddleware``, as a
shop may have it (the system check ``tracking.W001`` warns against it)."""

from tests.server_settings import *  # noqa: F403
from tests.server_settings import MIDDLEWARE

MIDDLEWARE = ["django.middleware.gzip.GZipMiddleware", *MIDDLEWARE]
