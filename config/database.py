"""Turn ``DATABASE_URL`` into a Django ``DATABASES`` entry.

Only the two backends the product supports are understood, so a typo fails at start-up
instead of silently falling back to another database.
"""

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

SQLITE_OPTIONS = {
    # IMMEDIATE takes the write lock at BEGIN, where the busy timeout applies; a
    # DEFERRED transaction that reads then writes fails at once with "database is
    # locked" when another writer got in first.
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}


def database_from_url(url: str, base_dir: Path) -> dict[str, Any]:
    """Return the ``DATABASES["default"]`` entry that ``url`` describes."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return _sqlite(parts.path, base_dir)
    if parts.scheme in ("postgres", "postgresql"):
        return _postgres(parts)
    raise ValueError(
        f"DATABASE_URL must start with sqlite:/// or postgres://, not {parts.scheme!r}."
    )


def _sqlite(path: str, base_dir: Path) -> dict[str, Any]:
    name = path[1:] if path.startswith("//") else path.lstrip("/")
    file = Path(unquote(name)) if path.startswith("//") else base_dir / unquote(name)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(file),
        "OPTIONS": dict(SQLITE_OPTIONS),
        "TEST": {"NAME": str(file.with_name(f"test_{file.name}"))},
    }


def _postgres(parts: Any) -> dict[str, Any]:
    options = dict(parse_qsl(parts.query))
    host = options.pop("host", None) or unquote(parts.hostname or "")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")) or "postgres",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(parts.port or ""),
        "OPTIONS": options,
        # Persistent connections leak under ASGI: each request runs in its own thread.
        "CONN_MAX_AGE": 0,
    }
