"""The benchmark script runs (in quick mode) and prints every line it promises.

Only the output's shape is checked, never a timing: machines are noisy. Quick mode takes a
few seconds; the subprocess timeout bounds the cost if something hangs. Set
``EDOC_SKIP_BENCH=1`` to skip it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_edxml.py"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    os.environ.get("EDOC_SKIP_BENCH") == "1", reason="EDOC_SKIP_BENCH=1"
)]

NUMBER = r"[0-9][0-9,]*\.[0-9]+"
EXPECTED = {
    "small": rf"^small message \([0-9.]+ KB file\): project {NUMBER} msg/s \| "
    rf"bare lxml {NUMBER} msg/s \| project / bare lxml = (?P<ratio>{NUMBER})x$",
    "field": rf"^field message, zipped attachments \([0-9.]+ KB file\): project {NUMBER} msg/s "
    rf"\| bare lxml {NUMBER} msg/s \| project / bare lxml = (?P<ratio>{NUMBER})x$",
    "large": rf"^large message \([0-9.]+ MB file\): project {NUMBER} msg/s \| "
    rf"bare lxml {NUMBER} msg/s \| project / bare lxml = (?P<ratio>{NUMBER})x$",
    "memory project": rf"^memory project read_file\+write: (?P<multiple>{NUMBER})x file size "
    rf"\(read_file alone {NUMBER}x\) \[target <= 3x: (OK|ABOVE TARGET)\]$",
    "memory lxml": rf"^memory bare lxml parse\+tostring: (?P<multiple>{NUMBER})x file size "
    rf"\(parse alone {NUMBER}x\)$",
}


@pytest.fixture(scope="module")
def output() -> str:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("label", list(EXPECTED))
def test_prints_line(output: str, label: str) -> None:
    match = re.search(EXPECTED[label], output, re.MULTILINE)
    assert match is not None, f"no '{label}' line in:\n{output}"
    value = match.groupdict().get("ratio") or match.group("multiple")
    assert float(value.replace(",", "")) > 0


def test_memory_multiple_is_a_number(output: str) -> None:
    match = re.search(EXPECTED["memory project"], output, re.MULTILINE)
    assert match is not None
    multiple = float(match.group("multiple"))
    assert 0 < multiple < 100  # a sane measurement, not a target: the script reports that
