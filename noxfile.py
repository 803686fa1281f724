"""The compatibility matrix: Python x Django, run with ``nox``.

``nox`` alone runs the core end-to-end tests on every combination; ``nox -s
"core(3.13-django6.1)"`` picks one. CI runs the full suite through
``make test`` and the core tests on the oldest and the newest combination.
"""

import glob
import os

import nox

DJANGO = {"5.2": "Django==5.2.19", "6.1": "Django==6.1.3"}
# Django 6 needs Python 3.12 or newer.
MATRIX = [
    ("3.11", "5.2"),
    ("3.12", "5.2"),
    ("3.13", "5.2"),
    ("3.12", "6.1"),
    ("3.13", "6.1"),
]
CORE_TESTS = [
    "tests/test_recording.py",
    "tests/e2e/test_stream.py",
    "tests/e2e/test_other_shop.py",
]

nox.options.default_venv_backend = "venv"


def interpreter(version: str) -> str:
    """Return pyenv's ``pythonX.Y`` where pyenv has it (its shims on PATH only work
    for the active version), else the version for nox to find on PATH."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"))
    return found[-1] if found else version


@nox.session
@nox.parametrize(
    ("python", "django"),
    [(interpreter(python), django) for python, django in MATRIX],
    ids=[f"{python}-django{django}" for python, django in MATRIX],
)
def core(session: nox.Session, django: str) -> None:
    """Install the pinned requirements with this Django and run the core tests."""
    session.install("-r", "requirements.txt")
    session.install(DJANGO[django])
    session.run("pytest", *(session.posargs or CORE_TESTS))
