"""The house rules that tools check: ruff and mypy --strict are clean on the whole tree."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from conftest import REPO


def _tool(name: str) -> list[str]:
    here = shutil.which(name, path=str(REPO / ".venv" / "bin")) or shutil.which(name)
    if here is None:
        pytest.fail(f"{name} is not installed: scripts/install.sh --dev installs it")
    return [here]


def test_ruff_is_clean() -> None:
    result = subprocess.run(
        [*_tool("ruff"), "check", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
