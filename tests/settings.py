"""Settings of the test process: the demo project on two databases.

``default`` is Postgres (see ``tests/postgres.py``) and ``sqlite`` is a SQLite file, so
one run covers both backends. Servers started by the tests get the matching test
database through ``DATABASE_URL``. Test databases are named after the process, so two
test runs on one machine do not trample each other's data.
"""

import os

from config.database import database_from_url
from config.settings import *  # noqa: F403
from config.settings import BASE_DIR
from tests.postgres import postgres_url

RUN = os.getpid()

DATABASES = {
    "default": {
        **database_from_url(postgres_url(), BASE_DIR),
        "TEST": {"NAME": f"test_tracking_{RUN}"},
    },
    "sqlite": database_from_url(
        f"sqlite:///{BASE_DIR}/var/tests-{RUN}.sqlite3", BASE_DIR
    ),
}
