"""The following benchmark's bound, fast: after the recipients answered 01, axis calls per
minute stay at most 1 % of the documents sent (in-process axis, 100 documents, 12 simulated
hours); and the benchmark itself in quick mode (slow tier) prints every figure it promises
and meets its bounds."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from daemon_fixtures import Exchange

from edoc_exchange import edxml
from edoc_exchange import office as steps

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_following.py"
COUNT = 100
STEP = dt.timedelta(seconds=15)  # the daemon's outbound interval


def test_axis_calls_after_the_last_01_stay_under_one_percent_a_minute(
    exchange: Exchange,
) -> None:
    ex = exchange
    calls = 0
    real = ex.commune.axis.sent_status

    def counting(doc_id: str) -> Any:
        nonlocal calls
        calls += 1
        return real(doc_id)

    ex.commune.axis.sent_status = counting  # type: ignore[method-assign]
    for n in range(COUNT):
        steps.queue_message(ex.commune, edxml.write(ex.plan(str(100 + n))))
    while steps.send_due(ex.commune).done:
        steps.follow_sent(ex.commune)
    assert steps.receive_documents(ex.district).done == COUNT
    while steps.send_due(ex.district).done:
        pass
    assert steps.receive_statuses(ex.commune).done == COUNT  # the last 01 is in
    calls = 0

    per_minute: list[int] = []
    for step in range(int(dt.timedelta(hours=12) / STEP)):
        ex.clock.advance(seconds=STEP.total_seconds())
        steps.follow_sent(ex.commune)
        if (step + 1) % 4 == 0:
            per_minute.append(calls)
            calls = 0
    busiest_10 = max(sum(per_minute[i : i + 10]) for i in range(len(per_minute) - 9)) / 10
    mean = sum(per_minute) / len(per_minute)
    assert sum(per_minute[:60]) == 0  # the hour after the 01s: push, not polls
    assert mean <= 0.005 * COUNT, per_minute
    assert busiest_10 <= 0.01 * COUNT, per_minute
    assert sum(per_minute) >= COUNT  # still a safety net: each polled at least once


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("EDOC_SKIP_BENCH") == "1", reason="EDOC_SKIP_BENCH=1")
def test_bench_following_quick() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for pattern in [
        r"following 300 sent documents",
        r"send rate, history 20 to .*documents/s",
        r"send rate, history .* to 300: .*ratio [0-9.]+x",
        r"axis calls per minute after the last 01, over 12:00:00 simulated: mean [0-9.]+ "
        r"\([0-9.]+% of documents\), busiest 10 minutes",
        r"calls in the first 10 minutes after the last 01: 0",
        r"one following pass over every due document \(\d+ calls\): peak RSS [0-9.]+ MB",
        r"the same with 3 documents of 1 MiB among them",
    ]:
        assert re.search(pattern, out), f"no /{pattern}/ in:\n{out}"
    assert "FAILED" not in out
