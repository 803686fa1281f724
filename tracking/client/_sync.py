"""The blocking client: follow a stream with ``with`` and ``for``.

It mirrors :mod:`tracking.client._async` line for line, with the same session doing
all the deciding, so that the two cannot drift apart in behaviour.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Mapping
from contextlib import closing, suppress
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


class SyncEventSourceClient:
    """Follow an event stream from blocking code, reconnecting until it is over.

    It behaves as :class:`~tracking.client.EventSourceClient` does, with an
    :class:`httpx.Client` in place of the async one and ``sleep`` defaulting to
    :func:`time.sleep`.
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
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
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
        self._http = http_client or httpx.Client(transport=transport)
        self._sleep = sleep
        self._closed = False
        self._events: Generator[Event, None, None] | None = None

    @property
    def url(self) -> str:
        """The stream's URL; every reconnect starts from it, not from a redirect."""
        return self._session.url

    @property
    def last_event_id(self) -> str:
        """The id of the last event received, which a reconnect resumes from."""
        return self._session.last_event_id

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Event:
        if self._closed:
            raise StopIteration
        if self._events is None:
            self._events = self._follow()
        return next(self._events)

    def close(self) -> None:
        """Close the connection, and the HTTP client if this client made it.

        Iterating a closed client yields nothing more.
        """
        self._closed = True
        events, self._events = self._events, None
        if events is not None:
            events.close()
        if self._owns_http:
            self._http.close()

    def _follow(self) -> Generator[Event, None, None]:
        """Connect, yield events, and reconnect until the stream is over."""
        session = self._session
        while True:
            headers = session.start_attempt()
            wait_at_least: float | None = None
            try:
                with self._http.stream(
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
                        raise session.rejection(response, _start_of(response))
                    if verdict is Verdict.RETRY:
                        reason = f"the server answered {response.status_code}"
                        wait_at_least = retry_after(response)
                    else:
                        with closing(self._read(response)) as events:
                            yield from events
                        reason = "the server ended the stream"
            except httpx.TooManyRedirects as exc:
                raise TooManyRedirects(session.shown_url) from exc
            except (httpx.TransportError, httpx.DecodingError) as exc:
                reason = transport_failure(exc, self._read_timeout)

            self._sleep(session.plan_reconnect(reason, wait_at_least))

    def _read(self, response: httpx.Response) -> Generator[Event, None, None]:
        """Yield the events of one open stream until its body ends."""
        session = self._session
        parser = session.new_parser()
        for chunk in response.iter_bytes():
            for event in session.feed(parser, chunk):
                yield session.delivered(event)
            session.caught_up(parser)


def _start_of(response: httpx.Response) -> bytes:
    """Read the start of an error answer's body, if it may hold a reason."""
    if not has_readable_reason(response):
        return b""
    body = b""
    # The reason only makes the error clearer; a body that fails to arrive must not
    # hide the status behind a network error.
    with suppress(httpx.HTTPError):
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) >= REASON_BODY_LIMIT:
                break
    return body[:REASON_BODY_LIMIT]
