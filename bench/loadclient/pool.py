"""The parent side of the load client: spread streams over worker processes.

Every command goes to all workers at once and their answers are merged, so the
harness sees one client. Workers are started with ``spawn`` because the harness runs
publisher threads, and forking a threaded process is unsafe.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any

from bench.loadclient import worker


@dataclass(frozen=True)
class StreamSpec:
    """One stream to open: an id chosen by the harness, a path and extra headers."""

    cid: int
    path: str
    headers: dict[str, str]


@dataclass(frozen=True)
class WorkerReport:
    """Merged answer to ``open``/``resume``/``status`` from all workers."""

    statuses: Counter[str]
    errors: Counter[str]
    last_ready: float
    open: int = 0
    ended: int = 0
    events: int = 0

    @property
    def ok(self) -> int:
        """How many streams got a 200 response head."""
        return self.statuses.get("200", 0)


class LoadClient:
    """Hold SSE streams against ``host:port`` from ``workers`` processes."""

    def __init__(self, host: str, port: int, workers: int) -> None:
        self.host = host
        self.port = port
        self._pipes: list[Connection] = []
        self._procs: list[BaseProcess] = []
        self._cpu_mark: list[tuple[float, float]] = []
        context = multiprocessing.get_context("spawn")
        for _ in range(workers):
            parent, child = context.Pipe()
            proc = context.Process(
                target=worker.main, args=(child, host, port), daemon=True
            )
            proc.start()
            self._pipes.append(parent)
            self._procs.append(proc)

    def __enter__(self) -> LoadClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def open(
        self, specs: Sequence[StreamSpec], concurrency: int = 100, timeout: float = 60.0
    ) -> WorkerReport:
        """Open streams, dealt round-robin to workers; wait for their heads."""
        shares: list[list[tuple[int, str, dict[str, str]]]] = [[] for _ in self._pipes]
        for index, spec in enumerate(specs):
            shares[index % len(shares)].append((spec.cid, spec.path, spec.headers))
        for pipe, share in zip(self._pipes, shares, strict=True):
            pipe.send(
                (
                    "open",
                    {"specs": share, "concurrency": concurrency, "timeout": timeout},
                )
            )
        return _merge(self._receive_all())

    def resume(self, concurrency: int = 1000, timeout: float = 60.0) -> WorkerReport:
        """Reconnect every stream at once with its ``Last-Event-ID``."""
        return _merge(self._ask_all("resume", concurrency=concurrency, timeout=timeout))

    def close_all(self) -> int:
        """Drop every connection; the streams keep their last event ids."""
        return sum(self._ask_all("close_all"))

    def status(self) -> WorkerReport:
        """Counts over all streams in all workers."""
        return _merge(self._ask_all("status"))

    def collect(self) -> dict[int, list[tuple[float, int]]]:
        """Take the ``(arrival time, mark)`` records of every stream so far."""
        out: dict[int, list[tuple[float, int]]] = {}
        for part in self._ask_all("collect"):
            out.update(part)
        return out

    def forget(self) -> None:
        """Close and drop every stream, ready for the next scenario."""
        self._ask_all("forget")

    def wait_events(
        self, total: int, timeout: float, stall: float = 5.0, poll: float = 0.05
    ) -> int:
        """Wait until the streams together have recorded ``total`` events.

        Give up after ``timeout`` seconds, or once ``stall`` seconds pass without a
        single new event: a server that dropped its streams is not waited for.
        """
        now = time.monotonic()
        deadline, progress_at = now + timeout, now
        seen = self.status().events
        while seen < total and now < deadline and now - progress_at < stall:
            time.sleep(poll)
            count, now = self.status().events, time.monotonic()
            if count != seen:
                seen, progress_at = count, now
        return seen

    def mark_cpu(self) -> None:
        """Start a CPU-use measurement window for every worker."""
        self._cpu_mark = self._ask_all("cpu")

    def cpu_percent(self) -> float:
        """Highest CPU use of one worker since :meth:`mark_cpu`, in % of a core.

        Near 100 means the client, not the server, was the bottleneck.
        """
        now = self._ask_all("cpu")
        worst = 0.0
        for (cpu0, t0), (cpu1, t1) in zip(self._cpu_mark, now, strict=True):
            if t1 > t0:
                worst = max(worst, 100.0 * (cpu1 - cpu0) / (t1 - t0))
        return worst

    def stop(self) -> None:
        """Stop the workers, waiting briefly before killing any that hang."""
        for pipe in self._pipes:
            try:
                pipe.send(("stop", {}))
            except OSError:
                continue
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        self._pipes.clear()
        self._procs.clear()

    def _ask_all(self, command: str, **args: Any) -> list[Any]:
        for pipe in self._pipes:
            pipe.send((command, args))
        return self._receive_all()

    def _receive_all(self) -> list[Any]:
        return [pipe.recv() for pipe in self._pipes]


def _merge(parts: list[dict[str, Any]]) -> WorkerReport:
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for part in parts:
        statuses.update(part["statuses"])
        errors.update(part["errors"])
    return WorkerReport(
        statuses=statuses,
        errors=errors,
        last_ready=max((p["last_ready"] for p in parts), default=0.0),
        open=sum(p.get("open", 0) for p in parts),
        ended=sum(p.get("ended", 0) for p in parts),
        events=sum(p.get("events", 0) for p in parts),
    )
