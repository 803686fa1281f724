"""Django's ASGI handler, made fit for streams that stay open for hours.

Django runs every ASGI request in its own thread-sensitive context, whose worker
thread (started by the sync receivers of ``request_started`` and by sync middleware)
lives until the response ends; the request's database connection lives on it too. For
an event stream that is one idle OS thread and one connection per open stream. This
handler runs the sync parts of stream requests on a few shared threads instead, and
closes the request's connections before the first byte, so the threads and
connections of a process do not grow with its streams.

Stream requests also go through the middleware in Django's sync mode, in one hop to
one of those threads, as under WSGI: in async mode every hook of every sync-style
middleware is a hop of its own, and with Django's default middleware those hops were
most of what a reconnecting client cost the server. The middleware, the view and its
authentication are the same in both modes; only where the hooks run differs.

It also bounds each write (``tracking.sends``): a client that reads nothing for
``SEND_TIMEOUT_SECONDS`` is dropped. Other responses are served exactly as Django
serves them.
"""

import asyncio
import contextvars
import functools
import gc
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from typing import Any

import django
from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.db import connections
from django.http import HttpRequest, HttpResponseBase
from django.http.response import ResponseHeaders
from django.urls import Resolver404, URLResolver, get_resolver, set_script_prefix

from tracking import conf, wire
from tracking.sends import writes

logger = logging.getLogger(__name__)

# Set while a stream is sent by this handler: the stream then knows that the request's
# connections are already closed.
prepared_by_handler: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "tracking_prepared_by_handler", default=False
)

# The sync parts (signal receivers, middleware, the view's sync calls) of every stream
# request run on these few threads, instead of a thread started and joined per request:
# a reconnect storm of thousands of clients then costs no thread at all. Each
# request's middleware and view run on one of them; there are a few, not one, so that
# a request stuck in its middleware (a slow session lookup) does not hold up the rest.
_STREAM_REQUESTS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tracking-req")


def stream_view(view: Any) -> Any:
    """Mark ``view`` as one that answers event streams (see ``TrackingASGIHandler``)."""
    view.tracking_stream = True
    return view


class TrackingASGIHandler(ASGIHandler):
    """An ``ASGIHandler`` that serves requests to stream views leanly."""

    def __init__(self) -> None:
        super().__init__()
        self._sync_handler = BaseHandler()
        self._sync_handler.load_middleware(is_async=False)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and _serves_streams(_path_info(scope)):
            await self._handle_stream_request(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def _handle_stream_request(self, scope: Any, receive: Any, send: Any) -> None:
        """Serve a request to a stream view: Django's ``handle``, for answers that
        may last hours.

        Django's ``handle`` keeps the request, the headers it sent and two tasks for
        as long as the response lasts; an event stream here keeps none of these but
        one task that watches for the client going away.
        """
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        async with ThreadSensitiveContext(executor=_STREAM_REQUESTS):
            response = await sync_to_async(self._respond)(scope, body_file)
        body_file.close()
        del body_file
        try:
            if _is_event_stream(response):
                await _send_stream(response, receive, send)
            else:
                await super().send_response(response, send)
        finally:
            await sync_to_async(
                response.close, thread_sensitive=False, executor=_STREAM_REQUESTS
            )()

    def _respond(self, scope: Any, body_file: Any) -> HttpResponseBase:
        """Answer the request in sync mode, in this one hop to a shared thread.

        As under WSGI: ``request_started``, then the middleware and the view. The
        connections they opened here are closed before returning: a stream holds
        none, and an error answer needs none either.
        """
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is None:
            return response
        try:
            response = self._sync_handler.get_response(request)
        finally:
            connections.close_all()
        if _is_event_stream(response):
            _close_request_now(request, response)
        return response

    async def send_response(self, response: Any, send: Any) -> None:
        """Send a response of Django's own ``handle``: a stream reaches it only when
        the URL resolver could not tell its view (a per-request ``urlconf``)."""
        if not _is_event_stream(response):
            await super().send_response(response, send)
            return
        await sync_to_async(connections.close_all)()
        _release_request_thread()
        prepared_by_handler.set(True)
        await super().send_response(response, _bounded(send))


def get_asgi_application() -> TrackingASGIHandler:
    """Set Django up and return the handler; use it in the project's ``asgi.py``."""
    django.setup(set_prefix=False)
    handler = TrackingASGIHandler()
    _tune_garbage_collection()
    return handler


def _tune_garbage_collection() -> None:
    """Put what start-up made (modules, models, URL patterns) out of the garbage
    collector's way, and collect less often.

    It lives as long as the process anyway. Left in, every full collection walks it
    again, and a collection pauses every stream of the process at once: with
    thousands of streams open, those pauses were the slowest deliveries of a
    fan-out.
    """
    get_resolver().url_patterns  # noqa: B018 (loads the URL configuration now)
    gc.collect()
    gc.freeze()
    # Each stream request leaves a hundred objects alive for the stream's life, so at
    # Python's default (a young collection every 700 survivors) a reconnect storm
    # collects every few requests. Collecting every 20,000 took 8-13 % off the
    # server's time per connection when 5,000 clients connected at once here.
    gc.set_threshold(20_000, 10, 10)


def _is_event_stream(response: Any) -> bool:
    content_type = response.get("Content-Type", "")
    return bool(response.streaming) and content_type.startswith(wire.CONTENT_TYPE)


def _path_info(scope: Any) -> str:
    """Return the path the URL resolver sees: without the prefix the app is mounted
    at, as Django's request computes it."""
    return str(scope["path"]).removeprefix(get_script_prefix(scope))


def _serves_streams(path: str) -> bool:
    """Return whether ``path`` goes to a view marked with ``stream_view``."""
    return _stream_path(get_resolver(), path)


@functools.lru_cache(maxsize=4096)
def _stream_path(resolver: URLResolver, path: str) -> bool:
    """Remembered per resolver and path: a reconnecting client asks for the same path
    again, and Django resolves it once more for the view anyway."""
    try:
        match = resolver.resolve(path)
    except Resolver404:
        return False
    return getattr(match.func, "tracking_stream", False)


def _release_request_thread() -> None:
    """Let the request context's idle worker thread exit.

    asgiref keeps one executor per thread-sensitive context until the context ends. A
    later thread-sensitive call of this request (``request_finished``) simply gets a
    new one for a moment. The shared thread of stream requests stays.
    """
    context = SyncToAsync.thread_sensitive_context.get(None)
    if context is None:
        return
    if SyncToAsync.context_to_thread_executor.get(context) is _STREAM_REQUESTS:
        return
    executor = SyncToAsync.context_to_thread_executor.pop(context, None)
    if executor is not None:
        executor.shutdown(wait=False)


def _bounded(send: Any) -> Any:
    """Wrap ``send`` so that a write the client does not take within
    ``SEND_TIMEOUT_SECONDS`` ends the response as a disconnect would."""
    task = asyncio.current_task()
    assert task is not None
    timeout = conf.get("SEND_TIMEOUT_SECONDS")

    async def bounded_send(message: Any) -> None:
        if not await writes.send(send, message, task, timeout):
            # Django treats a cancelled send as a client that went away.
            raise asyncio.CancelledError

    return bounded_send


def _close_request_now(request: HttpRequest, response: HttpResponseBase) -> None:
    """Close the request when the view has answered, not when the stream ends.

    The response would keep the request, its headers, session and user, for the
    stream's whole life only to close it at the end; a stream request is a GET with
    no uploads, so closing it now frees only memory.

    The request is left whole: a shop's middleware may still read it when the
    response closes. Its reference cycles (the lazy ``user`` closes over it) leave it
    to the garbage collector, which ``tracking.live.hub`` keeps away from a
    fan-out's writes.
    """
    closers = response._resource_closers
    if request.close in closers:
        closers.remove(request.close)
    request.close()


async def _send_stream(response: HttpResponseBase, receive: Any, send: Any) -> None:
    """Send an event stream until it ends, the client goes or stops reading."""
    start = {
        "type": "http.response.start",
        "status": response.status_code,
        "headers": _raw_headers(response),
    }
    # Sent once; the stream need not keep them.
    response.headers = ResponseHeaders({})
    prepared_by_handler.set(True)
    await send(start)
    streaming = asyncio.current_task()
    assert streaming is not None
    watcher = asyncio.create_task(_cancel_on_disconnect(receive, streaming))
    timeout = conf.get("SEND_TIMEOUT_SECONDS")
    try:
        async with aclosing(aiter(response)) as content:
            async for part in content:
                message = {
                    "type": "http.response.body",
                    "body": part,
                    "more_body": True,
                }
                if not await writes.send(send, message, streaming, timeout):
                    return
    except asyncio.CancelledError:
        if not watcher.done():
            raise
        # The client went away: the stream has ended, and so has this request.
        streaming.uncancel()
        return
    finally:
        watcher.cancel()
    await send({"type": "http.response.body"})


async def _cancel_on_disconnect(receive: Any, streaming: asyncio.Task[Any]) -> None:
    """Cancel the stream when the client goes: it may be waiting for hours."""
    while (await receive())["type"] != "http.disconnect":
        continue
    streaming.cancel()


def _raw_headers(response: HttpResponseBase) -> list[tuple[bytes, bytes]]:
    """Return the response's headers and cookies as ASGI wants them, as Django's
    ``send_response`` encodes them."""
    headers = [
        (name.encode("ascii"), value.encode("latin1"))
        for name, value in response.items()
    ]
    for cookie in response.cookies.values():
        headers.append(
            (b"Set-Cookie", cookie.output(header="").encode("ascii").strip())
        )
    return headers
