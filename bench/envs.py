"""Virtual environments for the peers, built on demand under ``bench/.envs``.

Every package is pinned, transitive ones included, so a figure in BENCHMARKS.md can
be traced to exact versions. An environment is rebuilt only when its pin list
changes; the list is stored inside it as ``bench-requirements.txt``.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

ENVS_DIR = Path(__file__).resolve().parent / ".envs"

_SERVER = [
    "uvicorn==0.55.0",
    "uvloop==0.23.0",
    "httptools==0.9.0",
    "click==8.5.1",
    "h11==0.16.0",
]
_DJANGO = ["Django==5.2.19", "asgiref==3.13.0", "sqlparse==0.6.1"]

PINS: dict[str, list[str]] = {
    "raw": ["uvloop==0.23.0"],
    "bare": _DJANGO + _SERVER,
    "eventstream": _DJANGO
    + _SERVER
    + [
        "django-eventstream==5.3.4",
        "django-grip==3.5.2",
        "gripcontrol==4.4.0",
        "pubcontrol==3.5.0",
        "PyJWT==2.10.1",
        "six==1.17.0",
        "requests==2.32.5",
        "psycopg[binary]==3.3.9",
        "psycopg-binary==3.3.9",
        "typing_extensions==4.16.0",
        "certifi==2026.10.19.post1",
        "charset-normalizer==3.5.3",
        "idna==3.20",
        "urllib3==2.8.0",
        "MarkupSafe==3.0.4",
        "Werkzeug==3.1.9",
    ],
}


class EnvError(Exception):
    """A peer's virtual environment could not be built."""


def python_for(name: str) -> Path:
    """Return the interpreter of environment ``name``, building it if needed."""
    env = ENVS_DIR / name
    wanted = "\n".join(PINS[name]) + "\n"
    marker = env / "bench-requirements.txt"
    if marker.exists() and marker.read_text() == wanted:
        return env / "bin" / "python"

    logger.info("Building the %s environment in %s.", name, env)
    _run([sys.executable, "-m", "venv", "--clear", str(env)])
    _run(
        [
            str(env / "bin" / "pip"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *PINS[name],
        ]
    )
    marker.write_text(wanted)
    return env / "bin" / "python"


def versions(name: str) -> str:
    """Return ``pip freeze`` of environment ``name`` on one line."""
    pip = ENVS_DIR / name / "bin" / "pip"
    out = subprocess.run(
        [str(pip), "freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return ", ".join(out.split())


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise EnvError(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")
