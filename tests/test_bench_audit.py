"""The audit benchmark runs (quick mode) and prints every figure it promises.

Only the output's shape and the statement counts are checked, never a timing: machines
are noisy. Set ``EDOC_SKIP_BENCH=1`` to skip it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from postgres import find_pg_bin

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_audit.py"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("EDOC_SKIP_BENCH") == "1", reason="EDOC_SKIP_BENCH=1"),
]

RATE = r"[0-9][0-9,]*"
EXPECTED = {
    "log": rf"^audit log of 10,000 entries on SQLite, 10 checkpoints signed \(RSA-2048\), "
    rf"built with batched appends at {RATE} entries/s$",
    "wall": rf"^verification, median of 3 interleaved rounds: verify_database {RATE} "
    rf"entries/s \| stdlib sqlite3\+hashlib\+json {RATE} entries/s \| ratio [0-9.]+x "
    r"\(rounds [0-9.]+x\.\.[0-9.]+x\)$",
    "cpu": rf"^  by CPU time: verify_database {RATE} entries/s \| stdlib {RATE} entries/s "
    r"\| ratio [0-9.]+x$",
    "statements": r"^SQL statements per flush of 4 events: SQLite 3, PostgreSQL "
    r"(2|not measured \(no server\)) \(before: 4 per event, 16\)$",
}


@pytest.fixture(scope="module")
def output() -> str:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.parametrize("label", list(EXPECTED))
def test_prints_line(output: str, label: str) -> None:
    assert re.search(EXPECTED[label], output, re.MULTILINE), f"no '{label}' line in:\n{output}"


def test_postgres_statements_are_measured_where_a_server_can_start(output: str) -> None:
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL server binaries not installed")
    assert "PostgreSQL 2 (before" in output
