"""The app installs with pip: a wheel with its migrations, types and assets."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHES = shutil.ignore_patterns("__pycache__", "*.pyc")


def test_the_wheel_builds_and_holds_what_the_app_needs(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "tracking", source / "tracking", ignore=CACHES)

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps",
         "--quiet", "-w", str(tmp_path), str(source)],
        check=True, timeout=300, capture_output=True,
    )  # fmt: skip

    (wheel,) = tmp_path.glob("django_live_order_tracking-0.1.0-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "tracking/py.typed" in names
    assert "tracking/migrations/0001_initial.py" in names
    assert "tracking/client/parser.py" in names
    assert "tracking/management/commands/record_event.py" in names
    assert not any(name.startswith(("orders/", "config/", "tests/")) for name in names)


BLOCK_PSYCOPG = """
import sys

class NoPsycopg:
    def find_spec(self, name, path=None, target=None):
        if name == "psycopg" or name.startswith("psycopg."):
            raise ImportError("psycopg is not installed")

sys.meta_path.insert(0, NoPsycopg())
import django
django.setup()
import tracking.admin, tracking.urls, tracking.views
from django.core.management import call_command
call_command("check")
print("ok")
"""


def test_a_sqlite_shop_needs_no_psycopg(tmp_path):
    """Regression: tracking.live imported the Postgres listener, and with it psycopg,
    at load time, so a SQLite site without psycopg could not even import the URLs."""
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_PSYCOPG],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok")
