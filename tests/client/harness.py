"""Run a client against a scripted server and record what it did, without waiting.

The client's sleep is replaced by a recorder that notes each wait and moves a fake
clock, so reconnection delays are checked exactly and cost no time. A ``release``
reply in the script ends the run while the client is still open: the reconnect hook
sees the cut and stops the client, which is then reported as ``OPEN``.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from tracking.client import (
    Event,
    EventSourceClient,
    Reconnect,
    ReconnectPolicy,
    SyncEventSourceClient,
    TrackingClientError,
)

from .scripted_server import ScriptedServer

Flavour = Literal["sync", "async"]
FLAVOURS: tuple[Flavour, ...] = ("sync", "async")

# More waits than any test scripts: a client past this is in a loop it should not be.
MAX_SLEEPS = 50

# Loading the CA bundle takes longer than a whole scripted run; every run shares one
# context. The runs use plain HTTP on loopback, so it is never used anyway.
TLS = ssl.create_default_context()


class Released(Exception):
    """The server cut a ``release`` reply: the client was open until the end."""


class RunawayClient(Exception):
    """The client kept reconnecting past what any test scripts."""


@dataclass
class Outcome:
    """What a client did in one run."""

    events: list[Event] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    reconnects: list[Reconnect] = field(default_factory=list)
    final_state: Literal["OPEN", "CLOSED"] = "CLOSED"
    error: TrackingClientError | None = None
    last_event_id: str = ""

    @property
    def error_events(self) -> int:
        """What a browser would count: one per reconnect, one for a final failure."""
        return len(self.reconnects) + (self.final_state == "CLOSED")

    def event_dicts(self) -> list[dict[str, str]]:
        return [{"type": e.type, "data": e.data, "id": e.id} for e in self.events]


class Recorder:
    """The fake clock, sleep and reconnect hook given to the client."""

    def __init__(self, server: ScriptedServer, outcome: Outcome) -> None:
        self._server = server
        self._outcome = outcome
        self._releases_seen = server.releases
        self.time = 1000.0

    def clock(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        if len(self._outcome.delays) >= MAX_SLEEPS:
            raise RunawayClient(f"More than {MAX_SLEEPS} reconnects.")
        self._outcome.delays.append(seconds)
        self.time += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def on_reconnect(self, reconnect: Reconnect) -> None:
        if self._server.releases > self._releases_seen:
            raise Released
        self._outcome.reconnects.append(reconnect)


def follow(
    flavour: Flavour,
    server: ScriptedServer,
    *,
    url: str | None = None,
    default_retry_ms: int = 3000,
    random: float = 0.0,
    policy: dict[str, Any] | None = None,
    **options: Any,
) -> Outcome:
    """Follow the server's stream with one client flavour until the run ends."""
    outcome = Outcome()
    recorder = Recorder(server, outcome)
    settings: dict[str, Any] = {
        "url": url or server.url(),
        "policy": ReconnectPolicy(
            default_retry_ms=default_retry_ms,
            clock=recorder.clock,
            random=lambda: random,
            **(policy or {}),
        ),
        "on_reconnect": recorder.on_reconnect,
        **options,
    }
    if flavour == "sync":
        _follow_sync(settings, recorder, outcome)
    else:
        asyncio.run(_follow_async(settings, recorder, outcome))
    return outcome


def _follow_sync(
    settings: dict[str, Any], recorder: Recorder, outcome: Outcome
) -> None:
    http = httpx.Client(verify=TLS)
    client = SyncEventSourceClient(sleep=recorder.sleep, http_client=http, **settings)
    try:
        with http, client:
            for event in client:
                outcome.events.append(event)
    except Released:
        outcome.final_state = "OPEN"
    except TrackingClientError as exc:
        outcome.error = exc
    outcome.last_event_id = client.last_event_id


async def _follow_async(
    settings: dict[str, Any], recorder: Recorder, outcome: Outcome
) -> None:
    http = httpx.AsyncClient(verify=TLS)
    client = EventSourceClient(sleep=recorder.async_sleep, http_client=http, **settings)
    try:
        async with http, client:
            async for event in client:
                outcome.events.append(event)
    except Released:
        outcome.final_state = "OPEN"
    except TrackingClientError as exc:
        outcome.error = exc
    outcome.last_event_id = client.last_event_id
