"""Fixtures shared by the client tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cases import REPO_ROOT


@pytest.fixture
def repo_root() -> Path:
    """The repository's top folder, where ``python -m tracking.client`` runs."""
    return REPO_ROOT
