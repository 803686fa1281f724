"""The stream view and the harness's publish hook."""

import asyncio
import time
from collections.abc import AsyncIterator

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from . import hub

KEEP_ALIVE_SECONDS = 15.0


async def events(request: HttpRequest, key: str) -> StreamingHttpResponse:
    """Stream the events of ``key``, first those after ``Last-Event-ID``."""
    last = request.headers.get("Last-Event-ID", "")
    last_id = int(last) if last.isdigit() else None
    response = StreamingHttpResponse(
        _stream(key, last_id), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    return response


async def _stream(key: str, last_id: int | None) -> AsyncIterator[str]:
    backlog, queue = hub.subscribe(key, last_id)
    try:
        yield ": open\n\n"
        for event_id, data in backlog:
            yield f"id: {event_id}\ndata: {data}\n\n"
        while True:
            try:
                event_id, data = await asyncio.wait_for(queue.get(), KEEP_ALIVE_SECONDS)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            yield f"id: {event_id}\ndata: {data}\n\n"
    finally:
        hub.unsubscribe(key, queue)


@csrf_exempt
async def publish(request: HttpRequest, key: str) -> HttpResponse:
    """Publish the request body to every stream of ``key``; answer the commit time.

    The answer is ``time.time()`` right after the event was stored and queued for
    every subscriber, the in-memory counterpart of a commit returning.
    """
    hub.publish(key, request.body.decode())
    return HttpResponse(repr(time.time()), content_type="text/plain")
