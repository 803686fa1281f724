"""Reading real event streams in the tests, with the spec-conformant parser."""

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from tracking.client.parser import Event, EventStreamParser


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait until ``condition()`` holds; after ``timeout``, fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class Recorder:
    """Follows one stream in a thread and records its raw bytes and parsed events."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.headers = headers or {}
        self.events: list[Event] = []
        self.raw = bytearray()
        self.status: int | None = None
        self.response_headers: httpx.Headers | None = None
        self.ended = threading.Event()
        self.error: BaseException | None = None
        self.parser = EventStreamParser()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Recorder":
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            timeout = httpx.Timeout(10.0, read=30.0)
            with httpx.stream(
                "GET", self.url, headers=self.headers, timeout=timeout
            ) as r:
                self.status, self.response_headers = r.status_code, r.headers
                for chunk in r.iter_raw():
                    self.raw += chunk
                    self.events += self.parser.feed(chunk)
                    if self._stop.is_set():
                        return
                self.events += self.parser.close()
        except BaseException as exc:
            self.error = exc
        finally:
            self.ended.set()

    def stop(self) -> None:
        """Stop reading; the connection closes when the next bytes arrive."""
        self._stop.set()

    def ids(self) -> list[int]:
        return [int(event.id) for event in self.events if event.type != "reset"]

    def wait_for_events(self, count: int, timeout: float = 15.0) -> None:
        wait_until(
            lambda: len(self.events) >= count or self.ended.is_set(),
            timeout,
            f"{count} events on {self.url} (have {len(self.events)})",
        )

    def wait_ended(self, timeout: float = 15.0) -> None:
        wait_until(self.ended.is_set, timeout, f"the end of {self.url}")


def read_all(
    url: str, headers: dict[str, str] | None = None, **kwargs: Any
) -> Recorder:
    """Follow ``url`` until the server ends the stream; return what was read."""
    recorder = Recorder(url, headers).start()
    recorder.wait_ended(kwargs.get("timeout", 15.0))
    return recorder
