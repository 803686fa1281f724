"""The shared conformance cases, read from the folder next to the repository."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE_DIR = Path(
    os.environ.get("CONFORMANCE_DIR", REPO_ROOT.parent / "shared" / "conformance")
)
CASES_FILE = CONFORMANCE_DIR / "sse-parse-cases.json"


def load_cases(area: str) -> list[dict[str, Any]]:
    """Return the shared conformance cases of one area ("parse" or "connect")."""
    if not CASES_FILE.exists():
        raise FileNotFoundError(
            f"The conformance cases are missing at {CASES_FILE}. Check out the shared "
            "folder next to the repository or set CONFORMANCE_DIR."
        )
    cases: list[dict[str, Any]] = json.loads(CASES_FILE.read_text(encoding="utf-8"))
    return [case for case in cases if case["area"] == area]


def b64(text: str) -> bytes:
    """Decode one base64 field of a case."""
    return base64.b64decode(text)
