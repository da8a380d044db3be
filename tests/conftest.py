"""Shared test fixtures: the project root and the read-only ``../shared`` folder beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = PROJECT_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ``../shared`` folder (data, spec); tests that need it are skipped without it."""
    if not SHARED_DIR.is_dir():
        pytest.skip("../shared is not beside the project")
    return SHARED_DIR
