"""Settings of the test process: the demo project on two databases.

``default`` is Postgres (see ``tests/postgres.py``) and ``sqlite`` is a SQLite file, so
one run covers both backends. Servers started by the tests get the matching test
database through ``DATABASE_URL``.
"""

from config.database import database_from_url
from config.settings import *  # noqa: F403
from config.settings import BASE_DIR
from tests.postgres import postgres_url

DATABASES = {
    "default": database_from_url(postgres_url(), BASE_DIR),
    "sqlite": database_from_url(f"sqlite:///{BASE_DIR}/var/tests.sqlite3", BASE_DIR),
}
