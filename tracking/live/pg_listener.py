"""The Postgres source: one LISTEN connection per process, shared by every stream.

The connection is psycopg's own async connection in autocommit (a listener inside a
transaction would receive nothing until it ended), never one of Django's: it lives as
long as the process. After every (re)connect the hub makes all streams re-read the
database, because notifications sent while nobody listened are gone.
"""

import asyncio
import logging
import math
import os
import time
from typing import Any

import psycopg
from psycopg import sql

from tracking.live.hub import Hub
from tracking.pg_append import NOTIFY_CHANNEL

logger = logging.getLogger(__name__)

# Operators (and the tests) find the listener of each process in pg_stat_activity
# as "tracking-listener:<pid>".
APPLICATION_NAME = "tracking-listener"
# How long to wait for notifications before checking that the connection is alive.
PROBE_SECONDS = 10.0
RECONNECT_FIRST_SECONDS = 0.2
RECONNECT_MAX_SECONDS = 5.0
# The most digits of a seq in a hint: a bigint's.
MAX_SEQ_DIGITS = 19
MALFORMED_WARNING_SECONDS = 60.0

# Find a dead peer in about 20 s even when no FIN or RST ever arrives.
KEEPALIVE: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 2,
    "tcp_user_timeout": 20000,
}


def conninfo_from_django(settings: dict[str, Any]) -> str:
    """Return a libpq connection string for the Django database ``settings``.

    Like Django's own connections, it takes the ``OPTIONS`` that are libpq parameters
    (``sslmode``, ``port``, ``sslrootcert``...), overridden by ``NAME``, ``USER``,
    ``PASSWORD``, ``HOST`` and ``PORT`` where those are set; Django's other options
    (``pool``, ``isolation_level``...) mean nothing to libpq and are left out.
    """
    known = {option.keyword.decode() for option in psycopg.pq.Conninfo.get_defaults()}
    params = {
        key: value for key, value in settings.get("OPTIONS", {}).items() if key in known
    }
    main = {
        "dbname": settings.get("NAME"),
        "user": settings.get("USER"),
        "password": settings.get("PASSWORD"),
        "host": settings.get("HOST"),
        "port": settings.get("PORT"),
    }
    params.update({key: value for key, value in main.items() if value})
    return psycopg.conninfo.make_conninfo(**params)


class PgListener:
    """Follows ``NOTIFY tracking_order_events`` and tells the hub which order moved."""

    def __init__(self, hub: Hub, conninfo: str) -> None:
        self._hub = hub
        self._conninfo = conninfo
        self._task: asyncio.Task[None] | None = None
        self._lost = False
        # Malformed hints ignored since the last warning, and when that was.
        self._malformed = 0
        self._warned_at = -math.inf
        self.connected = False
        self.reconnects = 0

    def start(self) -> None:
        """Start listening in a background task of the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        delay = RECONNECT_FIRST_SECONDS
        while True:
            try:
                await self._listen()
            except (psycopg.Error, OSError, TimeoutError) as exc:
                self._report_loss(exc)
            except Exception:
                # A bug must not end the listener for good, unseen: the streams of
                # this process would wait for events that never come.
                logger.exception("Listener failed; reconnecting.")
                self._lost = True
            if self.connected:
                delay = RECONNECT_FIRST_SECONDS
            self.connected = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _listen(self) -> None:
        conn = await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            application_name=f"{APPLICATION_NAME}:{os.getpid()}",
            options="-c idle_session_timeout=0",
            **KEEPALIVE,
        )
        async with conn:
            await conn.execute(
                sql.SQL("LISTEN {}").format(sql.Identifier(NOTIFY_CHANNEL))
            )
            self._report_connected()
            self._hub.wake_all()
            while True:
                async for notify in conn.notifies(timeout=PROBE_SECONDS):
                    self._dispatch(notify.payload)
                async with asyncio.timeout(PROBE_SECONDS):
                    await conn.execute("SELECT 1")

    def _dispatch(self, payload: str) -> None:
        """Hand a hint to the hub. Any role that may connect can send one, so it is
        checked: ASCII digits only (``"²".isdigit()`` is true), no more than a
        ``bigint`` holds."""
        key, _, seq = payload.rpartition(":")
        if key and seq.isascii() and seq.isdigit() and len(seq) <= MAX_SEQ_DIGITS:
            self._hub.notify(key, int(seq))
            return
        # At most one warning a minute: a flood of them would flood the log.
        self._malformed += 1
        now = time.monotonic()
        if now - self._warned_at >= MALFORMED_WARNING_SECONDS:
            logger.warning(
                "Ignored %s malformed notification payloads since the last such "
                "warning, the latest %.80r.",
                self._malformed,
                payload,
            )
            self._malformed, self._warned_at = 0, now

    def _report_connected(self) -> None:
        self.connected = True
        if self._lost:
            self.reconnects += 1
            logger.info("Listener reconnected; every stream re-reads its order.")
        self._lost = False

    def _report_loss(self, exc: BaseException) -> None:
        """Log the first failure of an outage as a warning, the retries quietly."""
        if self._lost:
            logger.debug("Listener still cannot connect: %s", exc)
            return
        self._lost = True
        logger.warning("Listener connection lost (%s); reconnecting.", exc)
