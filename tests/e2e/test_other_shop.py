"""The core end-to-end path in another shop: its own order model with a UUID key,
its own statuses and customer field, the app's URLs under its own prefix."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.servers import ROOT, Server
from tests.e2e.streams import Recorder, read_all
from tests.postgres import admin_connection, postgres_url, with_database

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

SETTINGS = "tests.shop.settings"


@pytest.fixture(params=["sqlite", "postgres"])
def shop_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database for the other shop, migrated with its own settings."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/shop.sqlite3"
        drop = None
    else:
        name = f"shop_{os.getpid()}"
        with admin_connection() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
        url, drop = with_database(postgres_url(), name), name
    shop(url, "migrate", "--noinput", "-v0")
    yield url
    if drop:
        with admin_connection() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {drop} WITH (FORCE)")


def shop(database_url: str, *args: str) -> str:
    """Run ``manage.py`` of the other shop and return what it printed."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "DATABASE_URL": database_url,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


NEW_PURCHASE = (
    "from tests.shop.models import Purchase; "
    "from tracking.access import make_token; "
    "p = Purchase.objects.create(); print(p.reference, make_token(p))"
)


def test_the_app_streams_another_shops_orders(shop_database):
    created = shop(shop_database, "shell", "-v", "0", "-c", NEW_PURCHASE)
    reference, token = created.split()
    server = Server(shop_database, name="shop", settings_module=SETTINGS,
                    app="tests.shop.asgi:application").start()  # fmt: skip
    try:
        url = server.url(f"/shop/orders/{reference}/events")
        auth = {"Authorization": f"Bearer {token}"}
        stream = Recorder(url, auth).start()
        stream.wait_for_events(1)

        assert shop(shop_database, "record_event", reference, "note") == "2"
        assert (
            shop(
                shop_database,
                "record_event",
                reference,
                "handover",
                "--status",
                "received",
            )
            == "3"
        )
        stream.wait_ended()

        assert stream.ids() == [1, 2, 3]
        assert stream.events[0].json()["status"] == "new"
        assert stream.events[2].json()["status"] == "received"
        resumed = read_all(url, {**auth, "Last-Event-ID": "1"})
        assert resumed.ids() == [2, 3]
        done = httpx.get(url, headers={**auth, "Last-Event-ID": "3"})
        assert done.status_code == 204
        anonymous = httpx.get(url)
        assert anonymous.status_code == 401
    finally:
        server.stop()
