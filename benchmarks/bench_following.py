"""Following sent documents: axis calls per minute after the recipients answered, the send
rate as history grows, and the memory of one following pass.

A sandbox (``sandbox.Sandbox``: the local axis in its own process, test keys, configs) holds
a commune and its district. The commune's office is the library's own (``build_office``
from the sandbox config) with an injected clock, so simulated minutes pass without waiting:

1. Sending: N documents (~6 KB signed) are queued and sent by ``office.send_due`` in ten
   batches, each followed by one ``office.follow_sent`` pass, as the daemon's outbound step
   does. Printed: documents/s of the first batch (empty history) and of the last (N-1
   documents of history); the last must not be slower.
2. Answers: the district receives every document (verify, store, its 01 queued), sends the
   01 status messages through the local axis, and the commune takes them in
   (``receive_statuses``): the protocol's push.
3. Following after the last 01: the clock then moves by 15 s steps (the daemon's outbound
   interval) for a simulated 12 hours, one ``follow_sent`` pass per step. Axis calls are
   counted at the local axis, from its request log (every ``getSentEdocList`` line), per
   simulated minute. Printed: the busiest minute, the mean, and both as a share of N; the
   target is at most 1 % of the documents per minute.
4. Memory: one following pass over every unfinished document at once (no per-pass bound),
   in a fresh process, prints its peak RSS; then three large documents are sent and the
   same pass runs again. The two figures must not differ by the large messages' size.

Usage: ``python benchmarks/bench_following.py [--quick] [--count N]`` (quick: 300
documents, 1 MiB large ones; default 5,000 documents, 20 MiB large ones). Exits 1 when a
bound is not met.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench import COMMUNE, DISTRICT, document

from edoc_exchange import edxml
from edoc_exchange.config import load_settings
from edoc_exchange.office import (
    FollowPolicy,
    Office,
    build_office,
    follow_sent,
    queue_message,
    receive_documents,
    receive_statuses,
    send_due,
)
from edoc_exchange.sandbox import Sandbox

OFFICES = [(COMMUNE, "UBND xã Nậm Khánh"), (DISTRICT, "UBND huyện Bắc Hà")]
STEP = dt.timedelta(seconds=15)  # the daemon's outbound interval
WATCH = dt.timedelta(hours=12)  # two cycles of the 6 h cap
TARGET = 0.01  # axis calls per minute, as a share of the documents sent
WARM_UP = 20  # documents sent before the first timed batch


class SimClock:
    """Real time until :meth:`freeze`; then only :meth:`advance` moves it."""

    def __init__(self) -> None:
        self.frozen: dt.datetime | None = None

    def __call__(self) -> dt.datetime:
        return self.frozen or dt.datetime.now(dt.UTC)

    def freeze(self) -> dt.datetime:
        self.frozen = dt.datetime.now(dt.UTC)
        return self.frozen

    def advance(self, by: dt.timedelta) -> None:
        assert self.frozen is not None
        self.frozen += by


class AxisLog:
    """Counts getSentEdocList requests in the local axis's access log as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def calls(self) -> int:
        """getSentEdocList requests logged since the last call."""
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        end = data.rfind(b"\n") + 1  # a line being written is counted next time
        self.offset += end
        return data[:end].count(b"/getSentEdocList ")


def send_batch(office: Office, numbers: range, attachment: int = 2048) -> float:
    """Queue and send these documents, then one following pass; documents/s."""
    started = time.perf_counter()
    for n in numbers:
        queue_message(office, edxml.write(document(n, attachment)))
    sent = 0
    while sent < len(numbers):
        report = send_due(office, limit=100)
        if report.done == 0:
            raise SystemExit(f"sending stalled after {sent} of {len(numbers)} documents")
        sent += report.done
    follow_sent(office)
    return len(numbers) / (time.perf_counter() - started)


def rss_pass(config: Path, at: str) -> dict[str, float]:
    """One following pass over every due document in a fresh process (see --rss-pass)."""
    proc = subprocess.run(
        [sys.executable, __file__, "--rss-pass", str(config), at],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"the following pass failed:\n{proc.stdout}{proc.stderr}")
    figures: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no {field} in /proc/self/status")


def _rss_pass_child(config: Path, at: str) -> int:
    """The child's side: build the office, reset the peak, run one unbounded pass, print
    JSON. (getrusage's maxrss would report the parent's peak: Linux keeps it across exec.)"""
    now = dt.datetime.fromisoformat(at)
    office = build_office(load_settings(config))
    office.clock = lambda: now
    office.follow = FollowPolicy(per_pass=10**9)
    before = _status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM starts again from VmRSS
    started = time.perf_counter()
    report = follow_sent(office)
    elapsed = time.perf_counter() - started
    peak = _status_mb("VmHWM")
    print(json.dumps({"before": before, "peak": peak, "seconds": elapsed, "done": report.done}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 documents, 1 MiB large ones")
    parser.add_argument("--count", type=int, help="documents to send (default 5,000; >= 60)")
    parser.add_argument("--rss-pass", nargs=2, metavar=("CONFIG", "AT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_pass:
        return _rss_pass_child(Path(args.rss_pass[0]), args.rss_pass[1])
    count = max(60, args.count or (300 if args.quick else 5000))
    large = (1 if args.quick else 20) * 1024 * 1024

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # No daemon runs: the steps below are the office's own, called with this clock.
        box = Sandbox.create(root, OFFICES, daemon={"health_port": 0})
        axis = box.start_axis()
        clock = SimClock()
        try:
            commune = build_office(load_settings(box.offices[COMMUNE].config))
            district = build_office(load_settings(box.offices[DISTRICT].config))
            commune.clock = clock
            log = AxisLog(root / "axis" / "axis.log")

            # 1. sending, history growing (after a few documents that warm the path up)
            send_batch(commune, range(1, WARM_UP + 1))
            batch = max(1, (count - WARM_UP) // 10)
            rates = []
            for first in range(WARM_UP + 1, count + 1, batch):
                rates.append(send_batch(commune, range(first, min(first + batch, count + 1))))
            early, late = statistics.median(rates[:3]), statistics.median(rates[-3:])
            # 2. the district answers 01 to each, the commune takes the statuses in
            received = 0
            while received < count:
                got = receive_documents(district).done
                if got == 0:
                    raise SystemExit(f"the district received {received} of {count}")
                received += got
            while send_due(district, limit=1000).done:
                pass
            statuses = 0
            while statuses < count:
                got = receive_statuses(commune).done
                if got == 0:
                    raise SystemExit(f"the commune took {statuses} of {count} statuses in")
                statuses += got
                follow_sent(commune)  # the daemon's outbound loop runs meanwhile
            last_01 = clock.freeze()
            log.calls()  # calls before the last 01 are not counted
            # 3. following after the last 01
            per_minute: list[int] = []
            minute = 0
            steps_per_minute = int(dt.timedelta(minutes=1) / STEP)
            for step in range(int(WATCH / STEP)):
                clock.advance(STEP)
                follow_sent(commune)
                if (step + 1) % steps_per_minute == 0:
                    minute += log.calls()
                    per_minute.append(minute)
                    minute = 0
            # 4. memory of one pass, small messages, then with large ones among them
            # (7 h on, every document is due: waits are at most the 6 h cap)
            config = box.offices[COMMUNE].config
            small = rss_pass(config, (clock() + dt.timedelta(hours=7)).isoformat())
            small["calls"] = log.calls()
            for n in range(count + 1, count + 4):
                send_batch(commune, range(n, n + 1), attachment=large)
            log.calls()
            with_large = rss_pass(config, (clock() + dt.timedelta(hours=14)).isoformat())
            with_large["calls"] = log.calls()
        finally:
            axis.terminate()
            axis.wait(timeout=30)
            commune.db.dispose()
            district.db.dispose()

    busiest = max(per_minute)
    mean = sum(per_minute) / len(per_minute)
    window = max(sum(per_minute[i : i + 10]) for i in range(len(per_minute) - 9)) / 10
    print(f"following {count:,} sent documents through the local axis (request log counted)")
    print(
        f"  send rate, history {WARM_UP} to {WARM_UP + 3 * batch:,}: {early:8.1f} documents/s "
        f"(median of 3 batches of {batch}, each with its following pass)"
    )
    print(
        f"  send rate, history {count - 3 * batch:,} to {count:,}: {late:8.1f} documents/s "
        f"(the same; ratio {late / early:.2f}x)"
    )
    print(f"  01 statuses taken in: {statuses:,} (the last at simulated {last_01:%H:%M:%S} UTC)")
    print(
        f"  axis calls per minute after the last 01, over {WATCH} simulated: "
        f"mean {mean:.2f} ({mean / count:.2%} of documents), busiest 10 minutes "
        f"{window:.1f}/min ({window / count:.2%}), busiest minute {busiest} "
        f"({busiest / count:.2%}); target <= {TARGET:.0%} of documents per minute"
    )
    print(f"  calls in the first 10 minutes after the last 01: {sum(per_minute[:10])}")
    print(
        f"  one following pass over every due document ({small['calls']:.0f} calls): "
        f"peak RSS {small['peak']:.1f} MB (before the pass {small['before']:.1f} MB, "
        f"{small['seconds']:.2f} s)"
    )
    print(
        f"  the same with 3 documents of {large / 1024 / 1024:.0f} MiB among them "
        f"({with_large['calls']:.0f} calls): peak RSS {with_large['peak']:.1f} MB "
        f"(before {with_large['before']:.1f} MB)"
    )
    failures = []
    if window > TARGET * count:
        failures.append(f"busiest 10 minutes: {window:.1f} calls/min > {TARGET:.0%} of {count}")
    if late < 0.7 * early:
        failures.append("the send rate fell as history grew")
    if with_large["peak"] - small["peak"] > 0.5 * large / 1024 / 1024:
        failures.append("a following pass's memory grew with message sizes")
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
