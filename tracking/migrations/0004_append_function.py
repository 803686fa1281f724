"""Write the Postgres function that records an event in one statement.

It is written from the project's order model as it is now (``tracking.pg_append``),
not from the migration state: it must match the code that calls it, and it is
written again after every ``migrate``. On other databases this does nothing.
"""

from typing import Any

from django.db import migrations

from tracking import pg_append


def write(apps: Any, schema_editor: Any) -> None:
    pg_append.write_function(schema_editor.connection)


def drop(apps: Any, schema_editor: Any) -> None:
    pg_append.drop_function(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("tracking", "0003_feed_position")]

    operations = [migrations.RunPython(write, drop)]
