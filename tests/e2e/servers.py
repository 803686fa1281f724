"""Real server processes for the end-to-end tests: uvicorn on a free loopback port."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent.parent
LOGS = ROOT / "var" / "test-logs"

# Short intervals so protocol timeouts can be tested quickly; bounds stay generous.
TEST_OVERRIDES = {"HEARTBEAT_SECONDS": 0.5, "POLL_SECONDS": 0.05}
# uvicorn's --timeout-graceful-shutdown: how long open streams may delay an exit.
GRACEFUL_SHUTDOWN_SECONDS = 2


def free_port() -> int:
    """Return a loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """One uvicorn process serving the demo project on ``database_url``."""

    def __init__(
        self,
        database_url: str,
        overrides: dict[str, Any] | None = None,
        port: int | None = None,
        name: str = "server",
        settings_module: str = "tests.server_settings",
        app: str = "config.asgi:application",
    ) -> None:
        self.database_url = database_url
        self.overrides = {**TEST_OVERRIDES, **(overrides or {})}
        self.port = port or free_port()
        self.name = name
        self.settings_module = settings_module
        self.app = app
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = LOGS / f"{name}-{self.port}.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self, timeout: float = 30.0) -> "Server":
        """Start the process and wait until it answers HTTP."""
        LOGS.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": self.settings_module,
            "DATABASE_URL": self.database_url,
            "TRACKING_OVERRIDES": json.dumps(self.overrides),
            "PYTHONPATH": str(ROOT),
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_ready(timeout)
        return self

    def command(self) -> list[str]:
        """The command line that serves the app; other servers override it."""
        return [
            sys.executable, "-m", "uvicorn", self.app,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--timeout-graceful-shutdown", str(GRACEFUL_SHUTDOWN_SECONDS),
            "--no-proxy-headers",
        ]  # fmt: skip

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; see {self.log_path}")
            try:
                httpx.get(self.url("/tracking/health"), timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer in {timeout} s")

    def health(self) -> dict[str, Any]:
        """Return the server's own account of its streams and listener."""
        response = httpx.get(self.url("/tracking/health"), timeout=5)
        return dict(response.json())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Stop the process with ``sig`` and return its exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
