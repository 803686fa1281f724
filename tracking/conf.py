"""The ``TRACKING`` settings: their defaults, and the one place that reads them.

Every setting of the app lives in the ``TRACKING`` dict of the project's settings.
The one exception is ``TRACKING_ORDER_MODEL``, which names the order model: Django's
migrations can only follow a swappable model through a top-level setting, as with
``AUTH_USER_MODEL``.
"""

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Seconds between comment heartbeats on an idle stream. Proxies close idle
    # connections, and clients use the silence to detect a dead server.
    "HEARTBEAT_SECONDS": 15.0,
    # The reconnection delay, in milliseconds, sent to clients as ``retry:``.
    "RETRY_MILLISECONDS": 3000,
    # The longest a stream stays open, in seconds. Then it ends cleanly and the client
    # reconnects and resumes: every connection is authorised again that way.
    "MAX_STREAM_SECONDS": 3600.0,
    # A stream whose client takes no data for this many seconds is dropped; its
    # client resumes from its position when it reads again.
    "SEND_TIMEOUT_SECONDS": 30.0,
    # How often, in seconds, the SQLite poller looks for new rows.
    "POLL_SECONDS": 0.25,
    # Threads (each with its own database connection) that read for the streams: one
    # always, the others only while reads queue up, closing their connections after.
    "READ_THREADS": 4,
    # Events read from the database per query while a stream catches up. A stream
    # whose client stops reading holds at most one batch in memory.
    "BATCH_SIZE": 100,
    # The largest JSON encoding of an event's data that is accepted, in bytes.
    "MAX_DATA_BYTES": 16384,
    # Lifetime of a stream token made without an explicit lifetime, in seconds.
    "TOKEN_MAX_AGE_SECONDS": 7 * 24 * 3600,
    # The field of the order model that holds the customer (a user) who may follow it.
    "CUSTOMER_FIELD": "customer",
    # The dotted path of the shop's own rule, may_follow(user, order) -> bool (plain or
    # async), for signed-in users other than staff and the customer; None for none.
    "MAY_FOLLOW": None,
    # Serve Prometheus metrics of this process at /tracking/metrics.
    "METRICS": False,
    # The database alias streams read from and the listener follows.
    "DATABASE": "default",
    # A libpq connection string for the Postgres listener, when the application's
    # database goes through a transaction-pooling proxy that cannot keep LISTEN.
    "LISTENER_DSN": None,
    # The most streams one signed-in user, one token and one client address may keep
    # open at once, counted in each server process; None for no limit. Addresses are
    # unlimited by default because offices and mobile carriers share one address.
    "MAX_STREAMS_PER_USER": 20,
    "MAX_STREAMS_PER_TOKEN": 10,
    "MAX_STREAMS_PER_ADDRESS": None,
    # The Retry-After of a 429. Streams last minutes to hours, so a slot rarely frees
    # within seconds; but a client's own half-open connections hold slots too, and it
    # gets back in once the server notices them.
    "LIMIT_RETRY_AFTER_SECONDS": 30,
    # Addresses or networks of the proxies in front of the server. Only when the
    # connection comes from one of them is X-Forwarded-For read for the client address.
    "TRUSTED_PROXIES": [],
    # Origins (scheme://host[:port]) whose pages may follow streams cross-origin,
    # answered by django-cors-headers.
    "CORS_ALLOWED_ORIGINS": [],
    # The largest total size of a stream request's headers, in bytes; larger gets 431.
    "MAX_HEADER_BYTES": 32768,
}


def get(name: str) -> Any:
    """Return the ``TRACKING[name]`` setting, or its default."""
    overrides = getattr(settings, "TRACKING", {})
    if name in overrides:
        return overrides[name]
    return DEFAULTS[name]


def order_model_label() -> str:
    """Return the ``app_label.ModelName`` of the order model events belong to."""
    label: str = getattr(settings, "TRACKING_ORDER_MODEL", "orders.Order")
    return label
