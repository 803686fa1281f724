"""Adapter for our own server, ``config.asgi`` from this repository.

Everything the harness assumes about the product is in this module, so a renamed
function or URL is fixed here alone:

- served by ``uvicorn config.asgi:application`` from the repository root, with the
  database in ``DATABASE_URL``;
- streams at ``GET /orders/<reference>/events`` with ``Authorization: Bearer <token>``;
- orders are ``orders.Order`` rows, tokens come from ``tracking.access.make_token``,
  and events are recorded by ``tracking.recording.record_event``.

By default the server runs from an export of the committed ``HEAD`` (under
``bench/.envs``), so work in progress in the shared working tree neither breaks a run
nor slips into published figures; ``--tracking-source worktree`` measures the working
tree instead.

Events are recorded the way a shop records them, by calling ``record_event`` from
another process. That process is a *writer*: this module run as
``python -m bench.servers.tracking``, which reads one JSON request per line and
answers with the harness's clock right after the commit returned.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.envs import ENVS_DIR
from bench.pg import BenchDatabase
from bench.publish import PublishError
from bench.servers.base import UVICORN_FLAGS, Launch, Server, ServerError, Subscription

REPO = Path(__file__).resolve().parents[2]
PYTHON = Path(sys.executable)
EVENT_KIND = "bench"
TOKEN_SECONDS = 24 * 3600
SERVER_PATHS = ("manage.py", "config", "orders", "tracking")
REQUIRED_FILES = ("config/asgi.py", "tracking/recording.py", "tracking/access.py")


def available() -> str:
    """Return ``""`` when our server can be benchmarked, else why not."""
    missing = [name for name in REQUIRED_FILES if not (REPO / name).exists()]
    return f"missing {', '.join(missing)}" if missing else ""


def source_tree(source: str) -> tuple[Path, str]:
    """Return the directory to run our server from, and a label for the report.

    ``source`` is ``"HEAD"`` or ``"worktree"``. For ``HEAD`` the server's files are
    exported as of the last commit that changed them, and that commit names the
    figures: commits that touch only other files (such as ``bench/``) do not.
    """
    if source == "worktree":
        return REPO, "working tree, uncommitted changes included"
    commit = _git("log", "-1", "--format=%h", "HEAD", "--", *SERVER_PATHS).strip()
    root = ENVS_DIR / f"tracking-{commit}"
    if not (root / "manage.py").exists():
        root.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", "--format=tar", commit, *SERVER_PATHS],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    return root, f"commit {commit}"


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout


class Writer:
    """A writer process: records events and creates orders, one request per line."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self._proc = subprocess.Popen(
            [str(PYTHON), "-m", "bench.servers.tracking"],
            cwd=root,
            env={**os.environ, **env, "PYTHONPATH": str(REPO)},
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def ask(self, request: dict[str, Any]) -> Any:
        """Send one request and return the answer; raise if the writer failed."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise PublishError(f"The tracking writer exited ({self._proc.poll()}).")
        answer = json.loads(line)
        if "error" in answer:
            raise PublishError(answer["error"])
        return answer["ok"]

    def ready(self, keys: list[str]) -> None:
        """Wait until Django is set up and these orders are loaded."""
        self.ask({"op": "load", "references": keys})

    def publish(self, key: str, data: dict[str, Any]) -> float:
        """Record one event for the order ``key``; return the commit time."""
        return float(self.ask({"op": "record", "reference": key, "data": data}))

    def close(self) -> None:
        """End the writer by closing its input, killing it if it lingers."""
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)


class TrackingServer(Server):
    """Our server on Postgres (LISTEN/NOTIFY) or SQLite (poller)."""

    def __init__(self, backend: str, pg_connection_limit: int, source: str) -> None:
        self.backend = backend
        self.name = f"tracking-{backend}"
        self.root, label = source_tree(source)
        self.description = (
            f"our server (config.asgi, {label}) on "
            f"{'Postgres (LISTEN/NOTIFY)' if backend == 'pg' else 'SQLite (poller)'}"
            ", uvicorn"
        )
        self.tmp: Path | None = None
        self.url = ""
        if backend == "pg":
            self.database = BenchDatabase("tracking", pg_connection_limit)

    def prepare(self) -> None:
        if self.database is not None:
            self.database.create()
            self.url = self.database.url
        else:
            self.tmp = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
            self.url = f"sqlite:///{self.tmp / 'db.sqlite3'}"
        done = subprocess.run(
            [str(PYTHON), "manage.py", "migrate", "--verbosity", "0"],
            cwd=self.root,
            env={**os.environ, **self._env()},
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise ServerError(f"Migrating {self.name} failed:\n{done.stderr[-2000:]}")

    def _env(self) -> dict[str, str]:
        return {
            "DATABASE_URL": self.url,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "0",
        }

    def launch(self, port: int) -> Launch:
        argv = [
            str(PYTHON),
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--port",
            str(port),
            *UVICORN_FLAGS,
        ]
        return Launch(argv, self.root, self._env())

    def subscriptions(
        self, count: int, prefix: str, per_order: int = 1
    ) -> list[Subscription]:
        """Create ``count`` orders and ``per_order`` distinct tokens for each.

        Each client gets its own token, as each customer's link would carry one; the
        server limits the streams one token may hold.
        """
        writer = Writer(self.root, self._env())
        try:
            pairs = writer.ask({"op": "orders", "count": count, "per_order": per_order})
        finally:
            writer.close()
        return [
            Subscription(
                ref, f"/orders/{ref}/events", {"Authorization": f"Bearer {token}"}
            )
            for ref, token in pairs
        ]

    def publisher(self, port: int) -> Writer:
        return Writer(self.root, self._env())

    def versions(self) -> str:
        out = subprocess.run(
            [str(PYTHON), "-m", "pip", "freeze", "--disable-pip-version-check"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        wanted = ("django=", "psycopg", "uvicorn", "uvloop", "httptools", "asgiref")
        return ", ".join(
            line for line in out.split() if line.lower().startswith(wanted)
        )

    def cleanup(self) -> None:
        super().cleanup()
        if self.tmp is not None:
            for path in self.tmp.iterdir():
                path.unlink()
            self.tmp.rmdir()


def _serve_writer() -> None:
    """Answer the harness's requests on stdin until it closes; runs under Django."""
    import time

    import django

    django.setup()
    from django.db import connections, transaction

    from orders.models import Order
    from tracking.access import make_token
    from tracking.recording import record_event

    orders: dict[str, Any] = {}

    def create(count: int, per_order: int) -> list[list[str]]:
        made = []
        with transaction.atomic():
            for _ in range(count):
                order = Order.objects.create()
                # Tokens made in the same second for the same lifetime are equal.
                made += [
                    [order.reference, make_token(order, TOKEN_SECONDS + i)]
                    for i in range(per_order)
                ]
        connections.close_all()
        return made

    def load(references: list[str]) -> None:
        orders.update(
            (order.reference, order)
            for order in Order.objects.filter(reference__in=references)
        )
        connections.close_all()

    def record(reference: str, data: dict[str, Any]) -> float:
        # A shop records an event for an order it has in hand: a writer not readied
        # with this order (``load``) looks it up once.
        if reference not in orders:
            orders[reference] = Order.objects.get(reference=reference)
        record_event(orders[reference], EVENT_KIND, data)
        return time.time()

    for line in sys.stdin:
        request = json.loads(line)
        try:
            if request["op"] == "orders":
                answer: dict[str, Any] = {
                    "ok": create(request["count"], request["per_order"])
                }
            elif request["op"] == "load":
                load(request["references"])
                answer = {"ok": None}
            else:
                answer = {"ok": record(request["reference"], request["data"])}
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    _serve_writer()
