"""The asyncio client: follow a stream with ``async with`` and ``async for``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing, suppress
from types import TracebackType
from typing import Self

import httpx

from ._session import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    REASON_BODY_LIMIT,
    Reconnect,
    StreamSession,
    Verdict,
    has_readable_reason,
    retry_after,
    transport_failure,
)
from .errors import TooManyRedirects
from .parser import Event
from .policy import ReconnectPolicy


class EventSourceClient:
    """Follow an event stream from asyncio code, reconnecting until it is over.

    Iterating yields every event once, in order, across reconnections: each new
    request resumes with ``Last-Event-ID``. Iteration ends when the server answers
    204; an answer that means the client must stop (400, 401, 403, 404, other errors,
    a wrong content type) raises a :class:`~tracking.client.TrackingClientError`, as
    does reaching the policy's deadline or attempt limit.

    Pass ``http_client`` to share an :class:`httpx.AsyncClient` (the client then does
    not close it) or ``transport`` to give the client's own one a transport. ``sleep``
    replaces :func:`asyncio.sleep` between attempts, for tests.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        last_event_id: str = "",
        headers: Mapping[str, str] | None = None,
        policy: ReconnectPolicy | None = None,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        on_reconnect: Callable[[Reconnect], None] | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._session = StreamSession(
            url,
            token=token,
            last_event_id=last_event_id,
            headers=headers,
            policy=policy,
            on_reconnect=on_reconnect,
        )
        self._read_timeout = read_timeout
        self._timeout = httpx.Timeout(connect_timeout, read=read_timeout)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(transport=transport)
        self._sleep = sleep
        self._closed = False
        self._events: AsyncGenerator[Event, None] | None = None

    @property
    def url(self) -> str:
        """The stream's URL; every reconnect starts from it, not from a redirect."""
        return self._session.url

    @property
    def last_event_id(self) -> str:
        """The id of the last event received, which a reconnect resumes from."""
        return self._session.last_event_id

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        if self._closed:
            raise StopAsyncIteration
        if self._events is None:
            self._events = self._follow()
        return await anext(self._events)

    async def aclose(self) -> None:
        """Close the connection, and the HTTP client if this client made it.

        Iterating a closed client yields nothing more.
        """
        self._closed = True
        events, self._events = self._events, None
        if events is not None:
            await events.aclose()
        if self._owns_http:
            await self._http.aclose()

    async def _follow(self) -> AsyncGenerator[Event, None]:
        """Connect, yield events, and reconnect until the stream is over."""
        session = self._session
        while True:
            headers = session.start_attempt()
            wait_at_least: float | None = None
            try:
                async with self._http.stream(
                    "GET",
                    session.url,
                    headers=headers,
                    timeout=self._timeout,
                    follow_redirects=True,
                ) as response:
                    verdict = session.judge(response)
                    if verdict is Verdict.STOP:
                        return
                    if verdict is Verdict.REJECT:
                        raise session.rejection(response, await _start_of(response))
                    if verdict is Verdict.RETRY:
                        reason = f"the server answered {response.status_code}"
                        wait_at_least = retry_after(response)
                    else:
                        async with aclosing(self._read(response)) as events:
                            async for event in events:
                                yield event
                        reason = "the server ended the stream"
            except httpx.TooManyRedirects as exc:
                raise TooManyRedirects(session.shown_url) from exc
            except (httpx.TransportError, httpx.DecodingError) as exc:
                reason = transport_failure(exc, self._read_timeout)

            await self._sleep(session.plan_reconnect(reason, wait_at_least))

    async def _read(self, response: httpx.Response) -> AsyncGenerator[Event, None]:
        """Yield the events of one open stream until its body ends."""
        session = self._session
        parser = session.new_parser()
        async for chunk in response.aiter_bytes():
            for event in session.feed(parser, chunk):
                yield session.delivered(event)
            session.caught_up(parser)


async def _start_of(response: httpx.Response) -> bytes:
    """Read the start of an error answer's body, if it may hold a reason."""
    if not has_readable_reason(response):
        return b""
    body = b""
    # The reason only makes the error clearer; a body that fails to arrive must not
    # hide the status behind a network error.
    with suppress(httpx.HTTPError):
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) >= REASON_BODY_LIMIT:
                break
    return body[:REASON_BODY_LIMIT]
