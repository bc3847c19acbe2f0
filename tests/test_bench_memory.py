"""The memory benchmark (issue 11) at 12 MiB: the same phases and budgets as at 100 MiB.

send ≤ 1.2x, fetch ≤ 1.2x, receive+verify+store ≤ 2.5x the attachment's size (peak RSS
above each fresh process's warmed-up baseline), no temporary file left, the extracted
attachment equal to the one sent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_memory.py"


def test_bench_memory_at_12_mib() -> None:
    root = str(BENCH.parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, str(BENCH), "--size-mib", "12", "--check"],
        capture_output=True, text=True, timeout=300, check=False, env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for label in ("send", "fetch", "receive+verify+store", "extract"):
        assert label in out
    assert "OVER" not in out
    assert "temporary files left" not in out
    assert "baseline" in out
