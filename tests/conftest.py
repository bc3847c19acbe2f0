"""Shared fixtures: the official samples (read from ../shared, never copied) and helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres import PostgresServer, find_pg_bin, postgres_server

# Fixture modules shared by several test files.
pytest_plugins = ["daemon_fixtures", "pkcs11_fixtures"]

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO.parent / "shared" / "samples" / "edxml-official"
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The folder of official SDK samples; tests that need it skip where it is absent."""
    if not SAMPLES.is_dir():
        pytest.skip(f"official samples not found at {SAMPLES} (../shared is not beside the repo)")
    return SAMPLES


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for the whole session (skipped only if not installed)."""
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL server binaries are not installed (scripts/install.sh --dev)")
    with postgres_server() as server:
        yield server
