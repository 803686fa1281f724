"""Write the recording function again: it now sends the event with its hint.

Server processes of the previous version keep working during a rolling deploy: they
listen for the hint alone, which is unchanged (``tracking.pg_append``). Undoing this
migration keeps the new function, which the previous version also understands.
"""

from typing import Any

from django.db import migrations

from tracking import pg_append


def write(apps: Any, schema_editor: Any) -> None:
    pg_append.write_function(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("tracking", "0004_append_function")]

    operations = [migrations.RunPython(write, migrations.RunPython.noop)]
