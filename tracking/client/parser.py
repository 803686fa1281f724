"""An incremental parser for ``text/event-stream`` bodies, with no I/O.

It follows the WHATWG HTML rules for interpreting an event stream: the body is
decoded as UTF-8 (one leading byte order mark dropped, invalid bytes replaced by
U+FFFD), split into lines at CR LF, LF or CR, and the lines are grouped into events
by blank lines. Bytes may arrive split anywhere, including between the CR and the LF
of one line end or inside a multi-byte character; the result is the same as if the
whole body had arrived at once.

Work is done per line, not per byte, so that a client can keep up with thousands of
events per second.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import EventDataNotJSON

# A CR LF pair is one line end; the regex prefers it over a lone CR.
_LINE_END = re.compile(r"\r\n?|\n")

# Longest retry value, in significant digits, the parser accepts. Like a browser that
# parses into a 64-bit integer, it ignores longer values rather than fail on them.
_MAX_RETRY_DIGITS = 18


@dataclass(frozen=True, slots=True)
class Event:
    """One dispatched event.

    ``id`` is the last event id in effect when the event was dispatched: it carries
    over from earlier events that set one, and is ``""`` when none did. ``type`` is
    ``"message"`` unless the event named another one.
    """

    id: str
    type: str
    data: str

    def json(self) -> Any:
        """Decode the data as JSON, raising :class:`EventDataNotJSON` if it is not."""
        try:
            return json.loads(self.data)
        except json.JSONDecodeError as exc:
            raise EventDataNotJSON(self.type, self.id, str(exc)) from exc


class EventStreamParser:
    """Turn the bytes of one response body into events, as they arrive.

    Use one parser per response: a new body starts with a fresh decoder (so a byte
    order mark is dropped again) and no half-read block. Pass the previous
    connection's ``last_event_id`` so that events on the new connection that carry no
    id keep the one the client resumed from.

    Besides events, a stream carries comments, which servers send as heartbeats.
    ``comments_seen`` counts them and ``bytes_seen`` counts every byte fed, so a
    caller can tell a quiet but live stream from a dead one.
    """

    def __init__(self, last_event_id: str = "") -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        self._partial: list[str] = []
        self._after_cr = False
        self._data: list[str] = []
        self._event_type = ""
        self._id_buffer = last_event_id
        self._last_event_id = last_event_id
        self._retry_ms: int | None = None
        self._comments_seen = 0
        self._bytes_seen = 0

    @property
    def last_event_id(self) -> str:
        """The id a reconnect must send as ``Last-Event-ID`` (``""``: send none)."""
        return self._last_event_id

    @property
    def retry_ms(self) -> int | None:
        """The reconnection time the stream set with ``retry:``, or None."""
        return self._retry_ms

    @property
    def comments_seen(self) -> int:
        """How many comment lines (heartbeats) this body has carried so far."""
        return self._comments_seen

    @property
    def bytes_seen(self) -> int:
        """How many bytes of the body have been fed so far."""
        return self._bytes_seen

    def feed(self, chunk: bytes) -> list[Event]:
        """Parse the next bytes of the body and return the events they complete."""
        self._bytes_seen += len(chunk)
        events: list[Event] = []
        for line in self._complete_lines(self._decoder.decode(chunk)):
            event = self._process_line(line)
            if event is not None:
                events.append(event)
        return events

    def _complete_lines(self, text: str) -> list[str]:
        """Add decoded text to the unfinished line and return the lines it ends.

        A CR at the end of the text ends its line at once, so a blank line made of a
        lone CR dispatches without waiting; an LF that starts the next text is then
        the second half of that CR LF pair, not a line of its own.
        """
        if not text:
            return []
        if self._after_cr and text[0] == "\n":
            text = text[1:]
        self._after_cr = text[-1:] == "\r"
        if not text:
            return []

        lines = _LINE_END.split(text) if "\r" in text else text.split("\n")
        if len(lines) == 1:
            self._partial.append(text)
            return []

        if self._partial:
            self._partial.append(lines[0])
            lines[0] = "".join(self._partial)
        self._partial = [lines[-1]] if lines[-1] else []
        lines.pop()
        return lines

    def close(self) -> list[Event]:
        """Signal the end of the body; an event not closed by a blank line is lost.

        This never returns an event, since a block is only dispatched by a blank line.
        It returns a list anyway so that callers can treat it like :meth:`feed`.
        """
        self._decoder.reset()
        self._partial = []
        self._after_cr = False
        self._data = []
        self._event_type = ""
        self._id_buffer = self._last_event_id
        return []

    def _process_line(self, line: str) -> Event | None:
        """Apply one complete line, returning the event if it was a blank line."""
        if not line:
            return self._dispatch()
        if line[0] == ":":
            self._comments_seen += 1
            return None

        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        self._apply_field(name, value)
        return None

    def _apply_field(self, name: str, value: str) -> None:
        """Apply one field; unknown names are ignored, as the standard requires."""
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event_type = value
        elif name == "id":
            if "\0" not in value:
                self._id_buffer = value
        elif name == "retry":
            self._apply_retry(value)

    def _apply_retry(self, value: str) -> None:
        """Take a ``retry:`` value made only of ASCII digits; ignore anything else."""
        if not (value.isascii() and value.isdigit()):
            return
        if len(value.lstrip("0")) > _MAX_RETRY_DIGITS:
            return
        self._retry_ms = int(value)

    def _dispatch(self) -> Event | None:
        """End the current block: commit its id and build its event, if it has data."""
        self._last_event_id = self._id_buffer
        if not self._data:
            self._event_type = ""
            return None

        event = Event(
            id=self._last_event_id,
            type=self._event_type or "message",
            data="\n".join(self._data),
        )
        self._data = []
        self._event_type = ""
        return event
