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
