"""Settings of a server started by the tests: the demo project, with overrides.

``TRACKING_OVERRIDES`` (a JSON object) replaces ``TRACKING`` keys, so a test can make
heartbeats or lifetimes short without touching the demo's settings.
"""

import json
import os

from config.settings import *  # noqa: F403
from config.settings import TRACKING

TRACKING = {**TRACKING, **json.loads(os.environ.get("TRACKING_OVERRIDES", "{}"))}
