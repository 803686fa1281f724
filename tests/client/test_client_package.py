"""The package's public surface, and its promise to work without Django."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tracking.client

# Imports every module of tracking.client with any import of Django made to fail, so
# a stray Django import anywhere in the client (or in tracking/__init__.py) shows up.
WITHOUT_DJANGO = """
import importlib, pkgutil, sys

class NoDjango:
    def find_spec(self, name, path=None, target=None):
        if name == "django" or name.startswith("django."):
            raise ImportError("Django is blocked for this test.")
        return None

sys.meta_path.insert(0, NoDjango())
import tracking.client
for module in pkgutil.walk_packages(tracking.client.__path__, "tracking.client."):
    importlib.import_module(module.name)
assert not any(name.split(".")[0] == "django" for name in sys.modules)
print("ok")
"""


def test_client_imports_without_django(repo_root: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_DJANGO],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"


def test_cli_help_runs_without_django(repo_root: Path) -> None:
    code = WITHOUT_DJANGO.replace(
        'print("ok")',
        'import runpy; sys.argv = ["tracking.client", "--help"]\n'
        'runpy.run_module("tracking.client", run_name="__main__")',
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: python -m tracking.client" in result.stdout


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(tracking.client) if not name.startswith("_")}
    modules = {"errors", "parser", "policy"}
    assert set(tracking.client.__all__) == public - modules
    assert tracking.client.__all__ == sorted(tracking.client.__all__)


def test_every_error_derives_from_the_one_base() -> None:
    for name in tracking.client.__all__:
        value = getattr(tracking.client, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, tracking.client.TrackingClientError), name


def test_package_is_typed() -> None:
    assert (Path(tracking.client.__file__).parent / "py.typed").exists()
