"""How a server process learns of new events: one hub fed by one source."""

import asyncio

from django.db import connections

from tracking import conf
from tracking.live import reader
from tracking.live.hub import Hub
from tracking.live.shutdown import end_streams_on_stop
from tracking.live.sqlite_poller import SqlitePoller

_hub: Hub | None = None


def current_hub() -> Hub | None:
    """Return the process's hub if a stream has started it, without starting it."""
    return _hub


def get_hub() -> Hub:
    """Return the process's hub, starting its source on first use.

    It must be called from the server's event loop: the source runs as a task of it.
    """
    global _hub
    if _hub is None:
        _hub = Hub(_fetch, _fetch_new, batch_size=conf.get("BATCH_SIZE"))
        _start_source(_hub)
        end_streams_on_stop(_hub, asyncio.get_running_loop())
    return _hub


async def _fetch(key: str, after: int, limit: int) -> list[reader.StoredEvent]:
    return await reader.run(reader.events_after, key, after, limit)


async def _fetch_new(
    positions: list[tuple[str, int]], limit: int
) -> list[list[reader.StoredEvent]]:
    return await reader.run(reader.new_events, positions, limit)


def _start_source(hub: Hub) -> None:
    alias = conf.get("DATABASE")
    connection = connections[alias]
    if connection.vendor == "postgresql":
        # Imported here: psycopg is only needed, and only installed, on Postgres.
        from tracking.live.pg_listener import PgListener, conninfo_from_django

        dsn = conf.get("LISTENER_DSN") or conninfo_from_django(connection.settings_dict)
        hub.source = PgListener(hub, dsn)
    else:
        hub.source = SqlitePoller(hub, conf.get("POLL_SECONDS"))
    hub.source.start()
