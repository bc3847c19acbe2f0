"""The web benchmark runs (quick mode, fewer rows) and prints every line it promises.

Only the output's shape is checked, never a timing: machines are noisy. Set
``EDOC_SKIP_BENCH=1`` to skip it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_web.py"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("EDOC_SKIP_BENCH") == "1", reason="EDOC_SKIP_BENCH=1"),
]

MS = r"[0-9]+\.[0-9]+"
EXPECTED = {
    "list": rf"^incoming list \(2,000 of 50 shown, page [0-9.]+ KB\), median of 5: page {MS} "
    rf"ms \| office\.list_incoming {MS} ms \| bare SQL {MS} ms \| page / bare SQL = "
    rf"[0-9.]+x \| office API / bare SQL = [0-9.]+x$",
    "search": rf"^search 'ke hoach' \(200 of 50 shown, page [0-9.]+ KB\), median of 5: page "
    rf"{MS} ms .* page / bare SQL = [0-9.]+x",
    "count": rf"^  against bare SQL of the rows and their COUNT \({MS} ms\): page [0-9.]+x",
    "plan": r"^list page query plan: SEARCH inbox",
}


@pytest.fixture(scope="module")
def output() -> str:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--rows", "2000"],
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


def test_list_pages_stay_light(output: str) -> None:
    """Issue 12's weight budget for later pages on a weak link: a list of 50 rows, with
    the whole layout, under 50 KB (the figure the benchmark prints for the page it served)."""
    sizes = [float(kb) for kb in re.findall(r"shown, page ([0-9.]+) KB\)", output)]
    assert len(sizes) == 2, output
    assert all(0 < kb < 50 for kb in sizes), sizes
