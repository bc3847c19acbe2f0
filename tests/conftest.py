"""Shared fixtures: the official samples (read from ../shared, never copied) and helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO.parent / "shared" / "samples" / "edxml-official"
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The folder of official SDK samples; tests that need it skip where it is absent."""
    if not SAMPLES.is_dir():
        pytest.skip(f"official samples not found at {SAMPLES} (../shared is not beside the repo)")
    return SAMPLES
