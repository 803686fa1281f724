"""Incremental parsing of one HTTP/1.1 response head and its body framing.

Only what the servers under test send is handled: a status line, headers, and then
either a chunked body (as uvicorn sends it) or a body that runs until the connection
closes. The parser hands decoded body bytes back and never touches a socket.
"""

from __future__ import annotations

_HEAD_END = b"\r\n\r\n"


class ResponseError(Exception):
    """The server sent bytes that are not a valid HTTP/1.1 response."""


class ResponseParser:
    """Split a byte stream into the response head and the decoded body.

    Feed it whatever the transport delivers; :meth:`feed` returns the body bytes that
    became available, already stripped of chunk framing.
    """

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.finished = False
        self._buffer = b""
        self._chunked = False
        self._chunk_left = 0
        self._need_crlf = False

    @property
    def head_done(self) -> bool:
        """Whether the status line and every header have been read."""
        return self.status is not None

    def feed(self, data: bytes) -> bytes:
        """Consume ``data`` and return the body bytes it completed."""
        if self.finished:
            return b""
        if self.status is None:
            self._buffer += data
            end = self._buffer.find(_HEAD_END)
            if end < 0:
                return b""
            self._parse_head(self._buffer[:end])
            data = self._buffer[end + len(_HEAD_END) :]
            self._buffer = b""
        if not self._chunked:
            return data
        return self._dechunk(data)

    def _parse_head(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ResponseError(f"The status line {lines[0]!r} is not HTTP/1.x.")
        self.status = int(parts[1])

        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        encoding = self.headers.get("transfer-encoding", "").lower()
        self._chunked = "chunked" in encoding

    def _dechunk(self, data: bytes) -> bytes:
        buffer = self._buffer + data
        out: list[bytes] = []
        pos = 0
        while pos < len(buffer):
            if self._need_crlf:
                if len(buffer) - pos < 2:
                    break
                pos += 2
                self._need_crlf = False
            if self._chunk_left:
                take = min(self._chunk_left, len(buffer) - pos)
                out.append(buffer[pos : pos + take])
                pos += take
                self._chunk_left -= take
                self._need_crlf = self._chunk_left == 0
                continue
            line_end = buffer.find(b"\r\n", pos)
            if line_end < 0:
                break
            size = int(buffer[pos:line_end].split(b";", 1)[0], 16)
            pos = line_end + 2
            if size == 0:
                self.finished = True
                break
            self._chunk_left = size
        self._buffer = buffer[pos:]
        return b"".join(out)
