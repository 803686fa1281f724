"""An event stream's response: its own bytes as the stream yields them, and what a
middleware puts in their place as Django serves it."""

import asyncio
from collections.abc import AsyncIterator

from tracking.responses import EventStreamResponse


async def _stream() -> AsyncIterator[bytes]:
    yield b"retry: 1000\n\n"
    yield b"id: 1\ndata: {}\n\n"


async def _shout(parts: AsyncIterator[bytes]) -> AsyncIterator[str]:
    async for part in parts:
        yield part.decode().upper()


async def _sent(response: EventStreamResponse) -> list[bytes]:
    return [part async for part in response]


def test_the_streams_bytes_are_sent_as_yielded():
    response = EventStreamResponse(_stream())
    assert asyncio.run(_sent(response)) == [b"retry: 1000\n\n", b"id: 1\ndata: {}\n\n"]


def test_content_a_middleware_put_in_place_is_sent_and_made_bytes():
    response = EventStreamResponse(_stream())
    response.streaming_content = _shout(response.streaming_content)
    assert asyncio.run(_sent(response)) == [b"RETRY: 1000\n\n", b"ID: 1\nDATA: {}\n\n"]
