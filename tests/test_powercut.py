"""Durable before acknowledged: power cuts at random moments lose nothing the axis was told
was taken in, nor anything a clerk was told was queued.

Both offices keep their stores on a real ext4 filesystem in an image file, loop-mounted.
The commune's daemon sends what its clerk (a process of its own) queues; the district's
daemon receives, stores, acknowledges at the axis and answers; the commune's daemon takes
the answers in and acknowledges them. At random moments every process writing to the
filesystem is frozen (SIGSTOP), the axis's record and the clerk's answers are read, and the
image file is copied: the copy holds what reached the (virtual) disk, as after a power cut,
not what sat in the page cache. Each copy is repaired (fsck) and mounted, and checked:

- every document the axis marked "done" for the district is in the district's inbox;
- every status the axis marked "done" for the commune is in the commune's history;
- every document the clerk was told was queued is in the commune's outbox.

With SQLite's ``synchronous=NORMAL`` (``EDOC_STORE__SQLITE_SYNCHRONOUS=normal`` in the
environment) this test fails: the last commits before each cut are lost.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from axis_fixtures import COMMUNE_A, DISTRICT, NAMES
from loopfs import LoopFilesystem, loop_filesystem

from edoc_exchange.sandbox import Sandbox, free_port

CLERK = Path(__file__).with_name("powercut_clerk.py")
CUTS = 6


@dataclass
class Cut:
    """What one cut found missing from the copy (all empty when nothing was lost)."""

    acknowledged_documents: int
    acknowledged_statuses: int
    queued: int
    lost_documents: set[str] = field(default_factory=set)
    lost_statuses: set[str] = field(default_factory=set)
    lost_queued: set[str] = field(default_factory=set)

    @property
    def lost(self) -> bool:
        return bool(self.lost_documents or self.lost_statuses or self.lost_queued)


def _done(axis_db: Path, kind: str, to: str) -> set[str]:
    """Receivers' DocIds the axis marked done: what it was told was taken in."""
    with contextlib.closing(sqlite3.connect(f"file:{axis_db}?mode=ro", uri=True)) as con:
        rows = con.execute(
            "SELECT doc_id FROM deliveries WHERE kind = ? AND to_organ = ? AND state = 'done'",
            (kind, to),
        ).fetchall()
    return {str(r[0]) for r in rows}


def _queued(log: Path) -> set[str]:
    """DocumentIds the clerk was told were queued (whole lines only)."""
    text = log.read_text(encoding="utf-8", errors="replace")
    return {
        line.removeprefix("queued ").rstrip("\n")
        for line in text.splitlines(keepends=True)
        if line.startswith("queued ") and line.endswith("\n")
    }


def _column(db: Path, query: str) -> set[str]:
    """The values of a query in a store of the copy; nothing when the store or its table
    did not survive the cut (then everything acknowledged is lost)."""
    if not db.exists():
        return set()
    with contextlib.closing(sqlite3.connect(db)) as con:
        try:
            return {str(r[0]) for r in con.execute(query).fetchall()}
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return set()
            raise


@contextlib.contextmanager
def _frozen(procs: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    """Every process writing to the filesystem stopped, as by a power cut, then resumed."""
    for proc in procs:
        proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGCONT)


def _cut(
    n: int,
    disk: LoopFilesystem,
    procs: list[subprocess.Popen[bytes]],
    axis_db: Path,
    clerk_log: Path,
    work: Path,
) -> Cut:
    copy = work / f"cut-{n}.img"
    with _frozen(procs):
        documents = _done(axis_db, "edoc", DISTRICT)
        statuses = _done(axis_db, "status", COMMUNE_A)
        queued = _queued(clerk_log)
        disk.snapshot(copy)
    try:
        with disk.mounted_copy(copy, work / f"cut-{n}") as mnt:
            inbox = _column(mnt / "district.sqlite3", "SELECT axis_doc_id FROM inbox")
            history = _column(
                mnt / "commune.sqlite3",
                "SELECT axis_doc_id FROM status_history WHERE direction = 'in'",
            )
            outbox = _column(
                mnt / "commune.sqlite3", "SELECT document_id FROM outbox WHERE kind = 'edoc'"
            )
    finally:
        copy.unlink()
    return Cut(
        len(documents),
        len(statuses),
        len(queued),
        lost_documents=documents - inbox,
        lost_statuses=statuses - history,
        lost_queued=queued - outbox,
    )


@pytest.mark.slow
def test_power_cuts_lose_nothing_acknowledged_or_queued(tmp_path: Path) -> None:
    seed = random.SystemRandom().randrange(1 << 32)
    rng = random.Random(seed)
    with loop_filesystem(tmp_path / "disk", size_mb=128) as disk:
        stores = disk.mountpoint
        box = Sandbox.create(
            tmp_path / "sandbox",
            [(COMMUNE_A, NAMES[COMMUNE_A]), (DISTRICT, NAMES[DISTRICT])],
            daemon={
                "inbound_interval": 0.2,
                "outbound_interval": 0.2,
                "directory_interval": 3600.0,
                "retry_initial": 0.5,
                "retry_max": 2.0,
            },
            store_urls={
                COMMUNE_A: f"sqlite:///{stores / 'commune.sqlite3'}",
                DISTRICT: f"sqlite:///{stores / 'district.sqlite3'}",
            },
        )
        axis = box.start_axis()
        procs: list[subprocess.Popen[bytes]] = []
        clerk_log = tmp_path / "clerk.log"
        cuts: list[Cut] = []
        try:
            for organ in (COMMUNE_A, DISTRICT):
                port = free_port()
                procs.append(box.start_daemon(organ, health_port=port))
                box.wait_for_daemon(procs[-1], port)
            with clerk_log.open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, str(CLERK), str(box.offices[COMMUNE_A].config),
                         "100000", str(seed)],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env={**os.environ, "PYTHONPATH": str(CLERK.parent)},
                    )
                )
            time.sleep(2.0)  # let documents flow before the first cut
            for n in range(CUTS):
                time.sleep(rng.uniform(0.5, 3.0))  # a random moment of the work
                for proc in procs:
                    assert proc.poll() is None, f"a process exited with {proc.returncode}"
                cuts.append(_cut(n, disk, procs, box.root / "axis" / "local-axis.db",
                                 clerk_log, tmp_path))
        finally:
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGCONT)
                    proc.kill()
                proc.wait(30)
            axis.terminate()
            axis.wait(30)
    report = [
        f"cut {n}: {c.acknowledged_documents} documents and {c.acknowledged_statuses} statuses "
        f"acknowledged, {c.queued} queued; lost {len(c.lost_documents)} documents, "
        f"{len(c.lost_statuses)} statuses, {len(c.lost_queued)} queued"
        for n, c in enumerate(cuts)
    ]
    print(f"seed {seed}\n" + "\n".join(report))
    # Not vacuous: the cuts came while work flowed and had been acknowledged.
    assert cuts[-1].acknowledged_documents > 0, report
    assert cuts[-1].acknowledged_statuses > 0, report
    assert cuts[-1].queued > 0, report
    assert not any(c.lost for c in cuts), "\n".join([f"seed {seed}", *report])
