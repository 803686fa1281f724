"""Turning events into ``text/event-stream`` bytes, and nothing else.

Event data is always a JSON encoding, which never contains a raw CR or LF, so a value
can never break an event's framing. Kinds are checked when recorded.
"""

import json
from typing import Any

CONTENT_TYPE = "text/event-stream"


def encode_data(data: Any) -> str:
    """Return the compact JSON text that goes on an event's ``data:`` line."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def event(seq: int | str, kind: str, data_json: str) -> bytes:
    """Return one complete event with its id, type and data."""
    return f"id: {seq}\nevent: {kind}\ndata: {data_json}\n\n".encode()


def message(event_id: str, data_json: str) -> bytes:
    """Return one complete event of the default type, with its id and data.

    The global feed sends these: a browser's EventSource has no listener for every
    type, but ``onmessage`` receives every event that has none.
    """
    return f"id: {event_id}\ndata: {data_json}\n\n".encode()


def retry(milliseconds: int) -> bytes:
    """Return the field that sets the client's reconnection delay."""
    return f"retry: {milliseconds}\n\n".encode()


def comment(text: str = "") -> bytes:
    """Return a comment block, which clients ignore; used as a heartbeat."""
    return f": {text}\n\n".encode() if text else b":\n\n"
