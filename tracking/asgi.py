"""Django's ASGI handler, made fit for streams that stay open for hours.

Django runs every ASGI request in its own thread-sensitive context, whose worker
thread (started by the sync receivers of ``request_started`` and by sync middleware)
lives until the response ends; the request's database connection lives on it too. For
an event stream that is one idle OS thread and one connection per open stream. This
handler, once the view has answered and before the first byte, closes the request's
connections and lets that thread go, so the threads and connections of a process do
not grow with its streams. It also bounds each write: a client that reads nothing for
``SEND_TIMEOUT_SECONDS`` is dropped, so a stalled consumer cannot hold a stream (and
its buffers) forever. Other responses are served exactly as Django serves them.
"""

import asyncio
import contextvars
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import django
from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.db import connections
from django.urls import Resolver404, get_resolver

from tracking import conf, metrics, wire

logger = logging.getLogger(__name__)

# Set while a stream is sent by this handler: the stream then knows that the request's
# connections are already closed.
prepared_by_handler: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "tracking_prepared_by_handler", default=False
)


# The sync parts (signal receivers, middleware hooks) of every stream request run on
# this one thread, instead of a thread started and joined per request: a reconnect
# storm of thousands of clients then costs no thread at all. They are short and hold
# the GIL anyway, so running them one after another costs little.
_STREAM_REQUESTS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracking-req")


def stream_view(view: Any) -> Any:
    """Mark ``view`` as one that answers event streams (see ``TrackingASGIHandler``)."""
    view.tracking_stream = True
    return view


class TrackingASGIHandler(ASGIHandler):
    """An ``ASGIHandler`` that releases per-request resources before streaming."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and _serves_streams(scope["path"]):
            async with ThreadSensitiveContext(executor=_STREAM_REQUESTS):
                await self.handle(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def send_response(self, response: Any, send: Any) -> None:
        if not _is_event_stream(response):
            await super().send_response(response, send)
            return
        await sync_to_async(connections.close_all)()
        _release_request_thread()
        prepared_by_handler.set(True)
        timeout = conf.get("SEND_TIMEOUT_SECONDS")
        await super().send_response(response, _bounded(send, timeout))


def get_asgi_application() -> TrackingASGIHandler:
    """Set Django up and return the handler; use it in the project's ``asgi.py``."""
    django.setup(set_prefix=False)
    return TrackingASGIHandler()


def _is_event_stream(response: Any) -> bool:
    content_type = response.get("Content-Type", "")
    return bool(response.streaming) and content_type.startswith(wire.CONTENT_TYPE)


def _serves_streams(path: str) -> bool:
    """Return whether ``path`` goes to a view marked with ``stream_view``."""
    try:
        match = get_resolver().resolve(path)
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


def _bounded(send: Any, timeout: float) -> Any:
    """Wrap ``send`` so that a write the client does not take within ``timeout``
    ends the response as a disconnect would."""

    async def bounded_send(message: Any) -> None:
        try:
            async with asyncio.timeout(timeout):
                await send(message)
        except TimeoutError:
            logger.warning("Dropped a slow client: it took no data for %s s.", timeout)
            metrics.SLOW_CONSUMERS_DROPPED.inc()
            # Django treats a cancelled send as a client that went away.
            raise asyncio.CancelledError from None

    return bounded_send
