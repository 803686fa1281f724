"""The three peers: the raw asyncio floor, the bare Django view, django-eventstream.

Each runs from ``bench/peers`` in its own virtual environment (:mod:`bench.envs`) and
takes events through ``POST /publish/<key>``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench import envs
from bench.pg import BenchDatabase
from bench.publish import HttpPublisher, Publisher
from bench.servers.base import PEERS_DIR, UVICORN_FLAGS, Launch, Server, ServerError


class _HttpPeer(Server):
    env_name = ""

    def __init__(self) -> None:
        self.python: Path | None = None

    def prepare(self) -> None:
        self.python = envs.python_for(self.env_name)

    def publisher(self, port: int) -> Publisher:
        return HttpPublisher(port)

    def versions(self) -> str:
        return envs.versions(self.env_name)

    def _uvicorn(self, app: str, port: int, env: dict[str, str]) -> Launch:
        assert self.python is not None
        argv = [
            str(self.python),
            "-m",
            "uvicorn",
            app,
            "--port",
            str(port),
            *UVICORN_FLAGS,
        ]
        return Launch(argv, PEERS_DIR, {"PYTHONPATH": str(PEERS_DIR), **env})


class RawServer(_HttpPeer):
    """Hand-written asyncio protocol; the floor for a Python SSE server."""

    name = "raw"
    description = "raw asyncio SSE server (bench/peers/raw_sse.py), uvloop"
    env_name = "raw"

    def launch(self, port: int) -> Launch:
        assert self.python is not None
        argv = [str(self.python), str(PEERS_DIR / "raw_sse.py"), "--port", str(port)]
        return Launch(argv, PEERS_DIR)


class BareDjango(_HttpPeer):
    """Django async ``StreamingHttpResponse`` fed from an in-memory hub."""

    name = "bare"
    description = (
        "bare Django 5.2 async StreamingHttpResponse, in-memory fan-out, "
        "default middleware, uvicorn"
    )
    env_name = "bare"

    def __init__(self) -> None:
        super().__init__()
        self.tmp: Path | None = None

    def prepare(self) -> None:
        super().prepare()
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-bare-"))

    def launch(self, port: int) -> Launch:
        assert self.tmp is not None
        return self._uvicorn(
            "bare_site.asgi:application",
            port,
            {"BENCH_SQLITE": str(self.tmp / "db.sqlite3")},
        )

    def cleanup(self) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)


class EventStream(_HttpPeer):
    """django-eventstream 5 with ``DjangoModelStorage`` on SQLite or Postgres."""

    env_name = "eventstream"

    def __init__(self, backend: str, pg_connection_limit: int) -> None:
        super().__init__()
        self.backend = backend
        self.name = f"eventstream-{backend}"
        self.description = (
            f"django-eventstream 5.3.4, DjangoModelStorage on "
            f"{'SQLite' if backend == 'sqlite' else 'Postgres'}, "
            f"uvicorn"
        )
        self.tmp: Path | None = None
        if backend == "pg":
            self.database = BenchDatabase("eventstream", pg_connection_limit)

    def prepare(self) -> None:
        super().prepare()
        if self.database is not None:
            self.database.create()
            self.url = self.database.url
        else:
            self.tmp = Path(tempfile.mkdtemp(prefix="bench-es-"))
            self.url = f"sqlite:///{self.tmp / 'db.sqlite3'}"
        self._migrate()

    def _migrate(self) -> None:
        assert self.python is not None
        done = subprocess.run(
            [str(self.python), "-m", "django", "migrate", "--verbosity", "0"],
            cwd=PEERS_DIR,
            capture_output=True,
            text=True,
            env=self._env(),
        )
        if done.returncode != 0:
            raise ServerError(
                f"Migrating the {self.name} database failed:\n{done.stderr[-2000:]}"
            )

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(PEERS_DIR),
            "DJANGO_SETTINGS_MODULE": "es_site.settings",
            "BENCH_DATABASE": self.url,
        }

    def launch(self, port: int) -> Launch:
        return self._uvicorn(
            "es_site.asgi:application", port, {"BENCH_DATABASE": self.url}
        )

    def cleanup(self) -> None:
        super().cleanup()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
