"""The daemon benchmark runs (quick mode) and prints every figure it promises.

Only the output's shape is checked, never a timing: machines are noisy. Quick mode starts a
PostgreSQL server, five local axes and eight daemon processes in about 40 s; the subprocess
timeout bounds the cost if something hangs. Set ``EDOC_SKIP_BENCH=1`` to skip it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from postgres import find_pg_bin

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_daemon.py"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("EDOC_SKIP_BENCH") == "1", reason="EDOC_SKIP_BENCH=1"),
    pytest.mark.skipif(find_pg_bin() is None, reason="PostgreSQL server binaries not installed"),
]

RATE = r"[0-9][0-9,]*\.[0-9]+"
DAEMON_LINE = (
    rf"{RATE} documents/s   ratio to baseline +(?P<ratio>{RATE})x"
    rf"   CPU +{RATE} ms/document(   +{RATE} SQL statements/document)?$"
)
EXPECTED = {
    "baseline": rf"^  baseline: bare AxisClient list\+fetch\+ack, 1 process: +{RATE} documents/s$",
    "sqlite 1": rf"^  SQLite, +1 process +: +{DAEMON_LINE}",
    "postgres 1": rf"^  PostgreSQL, 1 process +: +{DAEMON_LINE}",
    "postgres 2": rf"^  PostgreSQL, 2 processes: +{DAEMON_LINE}",
    "postgres 4": rf"^  PostgreSQL, 4 processes: +{DAEMON_LINE}",
    "scaling": rf"^  PostgreSQL 4 processes vs 1: throughput (?P<ratio>{RATE})x "
    rf"\(target >= 1.0x\), CPU per document {RATE}x \(target <= 1.15x\)$",
    "sqlite vs baseline": rf"^  SQLite ingest vs bare baseline: (?P<ratio>{RATE})x "
    r"\(target >= 0.8x\)$",
    "statements": rf"^  SQL statements per incoming document on PostgreSQL .*: "
    rf"{RATE}, {RATE}, {RATE} \(target <= 14\)$",
    "audit": r"^audit verification, 10,000 entries on SQLite \(1 signed checkpoint\): "
    r"[0-9,]+ entries/s \| raw sha256 of the same bodies [0-9,]+ entries/s \| "
    rf"ratio (?P<ratio>{RATE})x$",
}


@pytest.fixture(scope="module")
def output() -> str:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.parametrize("label", list(EXPECTED))
def test_prints_line(output: str, label: str) -> None:
    match = re.search(EXPECTED[label], output, re.MULTILINE)
    assert match is not None, f"no '{label}' line in:\n{output}"
    ratio = match.groupdict().get("ratio")
    if ratio is not None:
        assert float(ratio.replace(",", "")) > 0


def test_says_what_the_window_covers(output: str) -> None:
    assert "status replies are sent after the window" in output
