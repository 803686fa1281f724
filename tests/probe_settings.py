"""Settings of a test server whose middleware ends with ``tests.probe``."""

from tests.server_settings import *  # noqa: F403
from tests.server_settings import MIDDLEWARE

MIDDLEWARE = [*MIDDLEWARE, "tests.probe.ProbeMiddleware"]
