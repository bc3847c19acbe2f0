"""What durable commits cost: one SQLite write transaction under ``synchronous=FULL`` (every
commit fsynced, the store's setting) against ``NORMAL`` (what a power cut loses), as the
daemon writes them (WAL, BEGIN IMMEDIATE, one audit-sized row per transaction).

Prints the median and 95th percentile commit time of each and their ratio. Run it on the
disk the store will live on: the fsync is the cost, and disks differ by orders of magnitude.

Usage: ``python benchmarks/bench_commit.py [--folder DIR] [--commits N]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Literal

from sqlalchemy import text

from edoc_exchange.store import open_database


def measure(folder: Path, synchronous: Literal["normal", "full"], commits: int) -> list[float]:
    """Seconds per commit of ``commits`` small write transactions."""
    db = open_database(
        f"sqlite:///{folder / f'commit-{synchronous}.sqlite3'}", synchronous=synchronous
    )
    with db.transaction() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT)"))
    times = []
    body = "x" * 400  # about an audit entry
    for _ in range(commits):
        started = time.perf_counter()
        with db.transaction() as conn:
            conn.execute(text("INSERT INTO t (body) VALUES (:b)"), {"b": body})
        times.append(time.perf_counter() - started)
    db.dispose()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--commits", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        modes: tuple[Literal["normal", "full"], ...] = ("normal", "full")
        results = {mode: measure(Path(tmp), mode, args.commits) for mode in modes}
    for mode, times in results.items():
        ms = sorted(t * 1000 for t in times)
        print(
            f"{mode:6s}: median {statistics.median(ms):.3f} ms, "
            f"p95 {ms[int(len(ms) * 0.95)]:.3f} ms per commit ({len(ms)} commits)"
        )
    ratio = statistics.median(results["full"]) / statistics.median(results["normal"])
    print(f"full / normal (median): {ratio:.2f}")


if __name__ == "__main__":
    main()
