"""Just enough of an event-stream decoder to time events and follow their ids.

Lines end with LF or CRLF (every server under test uses one of these); ``id:`` sets
the last event id, ``data:`` lines are joined, a blank line dispatches. The harness
marks each event it publishes with ``"b": <number>`` in the data, and the decoder
pulls that number out with a regular expression instead of parsing JSON, which keeps
the client cheap enough to hold ten thousand streams.
"""

from __future__ import annotations

import re

_MARK = re.compile(rb'"b": ?(\d+)')


class SseDecoder:
    """Turn body bytes into ``(mark, ...)`` records of the events they complete."""

    def __init__(self) -> None:
        self.last_id: str | None = None
        self.unmarked = 0
        self._partial = b""
        self._data: list[bytes] = []

    def feed(self, body: bytes) -> list[int]:
        """Consume ``body`` and return the harness marks of the dispatched events.

        Events without a mark (keep-alives, stream-open notices) are only counted.
        """
        lines = (self._partial + body).split(b"\n")
        self._partial = lines.pop()
        marks: list[int] = []
        for raw in lines:
            line = raw[:-1] if raw.endswith(b"\r") else raw
            if not line:
                self._dispatch(marks)
            elif line.startswith(b"data:"):
                self._data.append(line[5:])
            elif line.startswith(b"id:"):
                self._set_id(line[3:])
        return marks

    def _set_id(self, value: bytes) -> None:
        if b"\0" not in value:
            self.last_id = value.removeprefix(b" ").decode("utf-8", "replace")

    def _dispatch(self, marks: list[int]) -> None:
        if not self._data:
            return
        data = b"\n".join(self._data)
        self._data = []
        found = _MARK.search(data)
        if found is None:
            self.unmarked += 1
            return
        marks.append(int(found.group(1)))
