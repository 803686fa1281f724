"""What the harness needs from each server under test, and running its process.

A :class:`Server` knows how to prepare its environment and database, the command
that starts it on a port, how to name streams and authorise them, and how to
publish an event. :class:`ServerProcess` starts that command, waits until the port
answers, and stops exactly the process it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from bench import procstat
from bench.pg import BenchDatabase
from bench.publish import Publisher

BENCH_DIR = Path(__file__).resolve().parent.parent
PEERS_DIR = BENCH_DIR / "peers"
UVICORN_FLAGS = [
    "--host",
    "127.0.0.1",
    "--backlog",
    "4096",
    "--timeout-graceful-shutdown",
    "2",
    "--lifespan",
    "off",
    "--no-access-log",
    "--log-level",
    "warning",
]


class ServerError(Exception):
    """A server under test could not be prepared or started."""


@dataclass(frozen=True)
class Launch:
    """A command line, its working directory and extra environment."""

    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Subscription:
    """How one client follows one key: the stream path and extra headers."""

    key: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


class Server(ABC):
    """One server variant in the comparison."""

    name: str = ""
    description: str = ""
    database: BenchDatabase | None = None

    @abstractmethod
    def prepare(self) -> None:
        """Build the environment and database; called once before any scenario."""

    @abstractmethod
    def launch(self, port: int) -> Launch:
        """Return the command that serves on 127.0.0.1:``port``."""

    def subscriptions(
        self, count: int, prefix: str, per_order: int = 1
    ) -> list[Subscription]:
        """Create ``count`` keys (orders) and return how ``per_order`` clients each
        follow them, grouped by order: all of the first order's clients come first.
        """
        return [
            Subscription(f"{prefix}{i}", f"/orders/{prefix}{i}/events")
            for i in range(count)
            for _ in range(per_order)
        ]

    @abstractmethod
    def publisher(self, port: int) -> Publisher:
        """Return a new publisher; each one may be used from its own thread."""

    def versions(self) -> str:
        """Describe the package versions the server runs on."""
        return ""

    def cleanup(self) -> None:
        """Drop the database and temporary files made by :meth:`prepare`."""
        if self.database is not None:
            self.database.drop()


def free_port() -> int:
    """Return a loopback port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """Run one server under test for the span of a ``with`` block."""

    def __init__(self, server: Server, log_path: Path) -> None:
        self.server = server
        self.port = free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        launch = self.server.launch(self.port)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                launch.argv,
                cwd=launch.cwd,
                env={**os.environ, **launch.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._wait_ready(timeout=60.0)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        """The process id of the server's main process."""
        assert self.proc is not None
        return self.proc.pid

    def stat(self) -> procstat.TreeStat:
        """Memory, threads and CPU of the server and its children now."""
        return procstat.snapshot(self.pid)

    def stop(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL for it and its children."""
        if self.proc is None:
            return
        members = procstat.tree(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for pid in members[1:]:
            _kill_if_alive(pid)
        self.proc = None

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(
                    f"{self.server.name} exited with code "
                    f"{self.proc.returncode}; see {self.log_path}."
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise ServerError(
            f"{self.server.name} did not listen on port {self.port} "
            f"within {timeout:.0f} s; see {self.log_path}."
        )


def _kill_if_alive(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
