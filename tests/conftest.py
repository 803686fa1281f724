"""Fixtures shared by the whole suite: backends, servers, orders."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections

from tests.e2e.servers import Server
from tests.postgres import postgres_url, with_database

BACKENDS = ["sqlite", "postgres"]
ALIASES = {"sqlite": "sqlite", "postgres": "default"}


def database_url(alias: str) -> str:
    """Return the URL of the test database behind ``alias``, for server processes."""
    settings = connections[alias].settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    url = with_database(postgres_url(), settings["NAME"])
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}application_name=tracking-server"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Run the test once on SQLite and once on Postgres."""
    return str(request.param)


@pytest.fixture
def alias(backend: str) -> str:
    return ALIASES[backend]


@pytest.fixture(scope="session")
def servers(
    django_db_setup: Any, django_db_blocker: Any
) -> Iterator[dict[str, Server]]:
    """One long-lived server per backend, shared by the tests that only stream."""
    yield from servers_per_backend(django_db_blocker, "shared")


def servers_per_backend(
    django_db_blocker: Any, name: str, overrides: dict[str, Any] | None = None
) -> Iterator[dict[str, Server]]:
    """Start one server per backend with ``overrides``; stop them when done.

    The body of the fixtures that share servers across a module or the session.
    """
    with django_db_blocker.unblock():
        started = {
            backend: Server(
                database_url(ALIASES[backend]), overrides, name=f"{name}-{backend}"
            ).start()
            for backend in BACKENDS
        }
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture
def server(servers: dict[str, Server], backend: str) -> Server:
    return servers[backend]


@pytest.fixture
def make_order(alias: str) -> Any:
    """Create orders on the backend under test (the test needs a db marker)."""
    from orders.models import Order

    def make(**fields: Any) -> Order:
        return Order.objects.db_manager(alias).create(**fields)

    return make


@pytest.fixture
def token_headers() -> Any:
    from tracking.access import make_token

    def headers(order: Any, lifetime: float | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(order, lifetime)}"}

    return headers


def expired_token(order: Any, seconds_ago: int = 60) -> str:
    """A genuine token of ``order`` that expired ``seconds_ago``; ``make_token``
    refuses to make one, so the tests sign it themselves."""
    import time

    from django.core import signing

    from tracking.access import SALT

    now = time.time_ns() // 1000
    payload = {
        "o": order.reference,
        "i": now - 2 * seconds_ago * 1_000_000,
        "x": int(now / 1_000_000) - seconds_ago,
    }
    return str(signing.dumps(payload, salt=SALT, compress=False))
