"""The axis benchmark runs (quick mode) and prints its figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_axis.py"


@pytest.mark.slow
def test_bench_axis_quick() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "documents sent+listed+fetched+acknowledged per second:" in result.stdout
    assert "client time per call vs bare httpx" in result.stdout
    assert "ratio" in result.stdout
