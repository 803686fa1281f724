"""Publishing events into a server under test, timed by the harness's clock.

A publisher's :meth:`~Publisher.publish` returns ``time.time()`` taken right after
the event was committed. Fan-out latency is measured from that moment to arrival in
the load client; all clocks are this machine's.
"""

from __future__ import annotations

import http.client
import json
from typing import Any, Protocol


class PublishError(Exception):
    """The server refused or failed to record an event."""


class Publisher(Protocol):
    """Something that records one event for a key and says when it was committed."""

    def ready(self, keys: list[str]) -> None:
        """Get ready to publish to these keys, before any publish is timed."""
        ...

    def publish(self, key: str, data: dict[str, Any]) -> float:
        """Record ``data`` as an event of ``key``; return the commit time."""
        ...

    def close(self) -> None:
        """Release the connection or process behind the publisher."""
        ...


class HttpPublisher:
    """POST each event to ``/publish/<key>`` over one keep-alive connection.

    The peers answer with their own ``time.time()`` taken right after the event was
    stored and handed to their fan-out, which is the commit moment of a server with
    no database. Taking the time when the answer arrives instead would count the
    reply's trip back, which at high fan-out waits behind the deliveries themselves.
    """

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def ready(self, keys: list[str]) -> None:
        """Connect now; the peers need nothing else."""
        self._conn.connect()

    def publish(self, key: str, data: dict[str, Any]) -> float:
        """Send one event and wait for the server's answer."""
        body = json.dumps(data)
        try:
            self._conn.request(
                "POST",
                f"/publish/{key}",
                body=body,
                headers={"Content-Type": "application/json"},
            )
            response = self._conn.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._conn.close()
            raise PublishError(f"Publishing to {key} failed: {exc!r}.") from exc
        if response.status != 200:
            raise PublishError(f"Publishing to {key} answered {response.status}.")
        return float(answer)

    def close(self) -> None:
        """Close the keep-alive connection."""
        self._conn.close()
