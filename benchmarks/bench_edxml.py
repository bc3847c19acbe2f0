"""Throughput and peak memory of edXML read + write, against bare lxml on the same bytes.

Run::

    python benchmarks/bench_edxml.py [--quick]

Three messages are measured: a ~5 KB commune plan (Vietnamese header, a ~2 KB
attachment), the same header with one 10 MB attachment of random bytes, and a real message
as the national axis delivered it (``../shared/samples/edxml-field/
axis-2025-petrolimex-to-btc.edxml``, 434 KB: a PDF and a .doc the SDK zipped, which the
reader unzips, hops without OrganId, CRLF line ends; skipped where ../shared is absent).
For each, one operation is ``edxml.write(edxml.read(data).message)`` (read the bytes into
a model, write the model back; the field message unchecked, deviations and all), timed in
the same run and the same loop as a bare lxml baseline on the same bytes:
``etree.tostring(etree.fromstring(data, parser))`` with a parser configured like the
reader's. Machines are noisy, so only the ratio matters (a time ratio: above 1 means the
project is slower); nothing here asserts a timing.

Read rates: ``edxml.read`` alone of an 8 KB and a 370 KB message built deterministically here
(the same commune plan with a ~4.5 KB and a ~270 KB attachment of seeded random bytes),
printed as messages/s and MB/s, to set beside the official Java parser's rates (which
cannot be measured here). The small message's read+write ratio has a target of 5x.

Peak memory is measured in fresh subprocesses (``--child``) that import the library, warm
up on a tiny message, note the peak RSS, then ``read_file`` + ``write`` the 10 MB message
the parent prepared on disk; the multiple is (peak RSS - baseline RSS) / file size. The
peak RSS is ``VmHWM`` where /proc has it, else ``ru_maxrss`` (see ``_bench.peak_rss``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _bench import peak_rss
from lxml import etree

from edoc_exchange import edxml

FIELD_MESSAGE = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "samples"
    / "edxml-field"
    / "axis-2025-petrolimex-to-btc.edxml"
)
SMALL_ATTACHMENT = 2 * 1024
READ_RATE_SIZES = ((8 * 1024, "8 KB"), (370 * 1024, "370 KB"))  # file sizes aimed at
SMALL_TARGET = 5.0
LARGE_ATTACHMENT = 10 * 1024 * 1024
MEMORY_TARGET = 3.0


@dataclass(frozen=True)
class Settings:
    """Repetitions and batch lengths for one run."""

    reps_small: int
    reps_large: int
    batch_seconds: float  # the least time one timed batch of the small case takes
    memory_runs: int


FULL = Settings(reps_small=21, reps_large=15, batch_seconds=0.2, memory_runs=3)
QUICK = Settings(reps_small=5, reps_large=3, batch_seconds=0.05, memory_runs=1)


# --- the messages --------------------------------------------------------------------------


def make_document(attachment: bytes, name: str, content_type: str) -> edxml.Document:
    """A commune's plan sent to the district, with one attached file."""
    return edxml.Document(
        sender=edxml.OrganizationInfo(
            organ_id="000.05.12.H29",
            organ_name="Ủy ban nhân dân xã Nậm Khánh",
            organ_add="Xã Nậm Khánh, huyện Bắc Hà, tỉnh Lào Cai",
        ),
        recipients=[
            edxml.OrganizationInfo(
                organ_id="000.00.12.H29", organ_name="Ủy ban nhân dân huyện Bắc Hà"
            ),
        ],
        document_id="000.05.12.H29,2020/06/04,12/KH-UBND",
        code=edxml.Code(number="12", notation="KH-UBND"),
        promulgation=edxml.PromulgationInfo(place="Nậm Khánh", date=dt.date(2020, 6, 4)),
        document_type=edxml.DocumentType(type="1", type_name="Kế hoạch"),
        subject=(
            "Kế hoạch triển khai chuyển đổi số trong hoạt động của Ủy ban nhân dân "
            "xã Nậm Khánh năm 2020"
        ),
        signer=edxml.SignerInfo(
            competence="TM. ỦY BAN NHÂN DÂN",
            position="CHỦ TỊCH",
            full_name="Nguyễn Văn Hùng",
        ),
        other_info=edxml.OtherInfo(priority=0),
        trace=[
            edxml.TraceHeader(
                organ_id="000.05.12.H29",
                timestamp=dt.datetime(2020, 6, 4, 8, 30, 15, tzinfo=edxml.VN_TZ),
            )
        ],
        business=edxml.Bussiness(doc_type=0),
        attachments=[
            edxml.Attachment(
                content_id="cid:7c1f3a52-9d0e-4d6b-8a57-2f1e6b0c9a11",
                name=name,
                content_type=content_type,
                data=attachment,
            )
        ],
    )


def small_message() -> bytes:
    data = random.Random(102).randbytes(SMALL_ATTACHMENT)
    return edxml.write(make_document(data, "12-KH-UBND phụ lục.pdf", "application/pdf"))


def large_document() -> edxml.Document:
    data = random.Random(2016).randbytes(LARGE_ATTACHMENT)
    return make_document(data, "12-KH-UBND bản quét.pdf", "application/pdf")


def sized_message(file_size: int) -> bytes:
    """A commune plan whose written file is close to ``file_size`` bytes (deterministic)."""
    overhead = len(edxml.write(make_document(b"", "phu-luc.pdf", "application/pdf")))
    attachment = max(0, (file_size - overhead) * 3 // 4)
    data = random.Random(file_size).randbytes(attachment)
    return edxml.write(make_document(data, "12-KH-UBND phụ lục.pdf", "application/pdf"))


def tiny_message() -> bytes:
    return edxml.write(make_document(b"%PDF-1.4\n", "tep.pdf", "application/pdf"))


def bare_parser() -> etree.XMLParser:
    """A parser configured like the reader's, for the baseline."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


# --- timing --------------------------------------------------------------------------------


def _batch(fn: Callable[[], object], count: int) -> float:
    """Seconds per call of ``fn`` over ``count`` calls."""
    start = time.perf_counter()
    for _ in range(count):
        fn()
    return (time.perf_counter() - start) / count


def _calibrate(fn: Callable[[], object], seconds: float) -> int:
    """How many calls make a batch of at least ``seconds`` (one call at least)."""
    count = 1
    while True:
        start = time.perf_counter()
        for _ in range(count):
            fn()
        if time.perf_counter() - start >= seconds or count >= 1 << 20:
            return count
        count *= 2


@dataclass(frozen=True)
class Timing:
    project: float  # median seconds per operation
    bare: float
    ratio: float  # median of the per-repetition time ratios project / bare


def compare(
    project: Callable[[], object], bare: Callable[[], object], reps: int, seconds: float
) -> Timing:
    """Time both in alternating batches (so drift hits both alike) after a warm-up."""
    for _ in range(2):
        project()
        bare()
    n_project = _calibrate(project, seconds)
    n_bare = _calibrate(bare, seconds)
    projects: list[float] = []
    bares: list[float] = []
    ratios: list[float] = []
    for _ in range(reps):
        p = _batch(project, n_project)
        b = _batch(bare, n_bare)
        projects.append(p)
        bares.append(b)
        ratios.append(p / b)
    return Timing(statistics.median(projects), statistics.median(bares), statistics.median(ratios))


def _read_time(data: bytes, reps: int, seconds: float) -> float:
    """Median seconds of one ``edxml.read`` of ``data``."""
    def op() -> object:
        return edxml.read(data)

    op()
    count = _calibrate(op, seconds)
    return statistics.median(_batch(op, count) for _ in range(reps))


def _round_trip(data: bytes, *, check: bool = True) -> Callable[[], bytes]:
    def op() -> bytes:
        return edxml.write(edxml.read(data).message, check=check)

    return op


def _bare_round_trip(data: bytes) -> Callable[[], bytes]:
    parser = bare_parser()

    def op() -> bytes:
        return etree.tostring(etree.fromstring(data, parser))

    return op


def _check_round_trip(data: bytes) -> None:
    # Not a timing: a benchmark of a round trip that loses data would measure nothing.
    if edxml.write(edxml.read(data).message) != data:
        raise SystemExit("write(read(data)) differs from data: the round trip is not faithful")


# --- memory (child process) ----------------------------------------------------------------


def child(mode: str, path: Path) -> None:
    """Measure one case in this (fresh) process and print a JSON line of results."""
    tiny = tiny_message()
    tiny_path = path.with_name("tiny.edxml")
    tiny_path.write_bytes(tiny)
    parser = bare_parser()
    for _ in range(3):  # warm-up: every code path once, on a tiny message
        if mode == "project":
            edxml.write(edxml.read_file(tiny_path).message)
            edxml.write(edxml.read(tiny).message)
        else:
            etree.tostring(etree.parse(str(tiny_path), parser).getroot())
    baseline, source = peak_rss()
    if mode == "project":
        message = edxml.read_file(path).message
        after_read = peak_rss()[0]
        out = edxml.write(message)
    else:
        root = etree.parse(str(path), parser).getroot()
        after_read = peak_rss()[0]
        out = etree.tostring(root)
    peak = peak_rss()[0]
    result = {
        "mode": mode,
        "source": source,
        "file_size": path.stat().st_size,
        "output_size": len(out),
        "baseline": baseline,
        "after_read": after_read,
        "peak": peak,
    }
    print(json.dumps(result))


def run_child(mode: str, path: Path) -> dict[str, int | str]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"memory child ({mode}) failed:\n{proc.stderr}")
    line = proc.stdout.strip().splitlines()[-1]
    values = json.loads(line)
    if not isinstance(values, dict):
        raise SystemExit(f"memory child ({mode}) printed {line!r}")
    return {str(k): v if isinstance(v, str) else int(v) for k, v in values.items()}


@dataclass(frozen=True)
class Memory:
    total: float  # (peak - baseline) / file size, read + write
    read: float  # the same after the read alone
    source: str  # VmHWM or ru_maxrss


def memory(mode: str, path: Path, runs: int) -> Memory:
    totals: list[float] = []
    reads: list[float] = []
    source = ""
    for _ in range(runs):
        r = run_child(mode, path)
        peak, base, after_read, size = (
            int(r["peak"]),
            int(r["baseline"]),
            int(r["after_read"]),
            int(r["file_size"]),
        )
        totals.append((peak - base) / size)
        reads.append((after_read - base) / size)
        source = str(r["source"])
    return Memory(statistics.median(totals), statistics.median(reads), source)


# --- report --------------------------------------------------------------------------------


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    return f"{n / 1024:.1f} KB"


def _row(label: str, size: int, timing: Timing) -> str:
    return (
        f"{label} ({_size(size)} file): "
        f"project {1 / timing.project:,.1f} msg/s | "
        f"bare lxml {1 / timing.bare:,.1f} msg/s | "
        f"project / bare lxml = {timing.ratio:.1f}x"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (for tests)")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        mode, path = args.child
        if mode not in ("project", "lxml"):
            ap.error(f"unknown child mode {mode}")
        child(mode, Path(path))
        return 0

    settings = QUICK if args.quick else FULL
    started = time.perf_counter()
    print(
        f"edXML read+write benchmark ({'quick' if args.quick else 'full'}: "
        f"{settings.reps_small}/{settings.reps_large} reps, median) - "
        f"Python {platform.python_version()}, lxml {etree.__version__}, "
        f"libxml2 {'.'.join(map(str, etree.LIBXML_VERSION))}"
    )
    print("throughput: one op = read(bytes) + write(model); bare lxml = fromstring + tostring")
    print("ratio is time project / time bare lxml (>1 means slower)")

    small = small_message()
    _check_round_trip(small)
    timing = compare(
        _round_trip(small), _bare_round_trip(small), settings.reps_small, settings.batch_seconds
    )
    print(_row("small message", len(small), timing))
    verdict = "OK" if timing.ratio <= SMALL_TARGET else "ABOVE TARGET"
    print(f"small message read+write target: <= {SMALL_TARGET:g}x bare lxml: {verdict}")

    for size, label in READ_RATE_SIZES:
        data = sized_message(size)
        per_read = _read_time(data, settings.reps_small, settings.batch_seconds)
        print(
            f"read rate, {label} message ({_size(len(data))} file): "
            f"{1 / per_read:,.1f} msg/s, {len(data) / per_read / 1e6:,.1f} MB/s "
            f"(edxml.read alone, median of {settings.reps_small})"
        )

    if FIELD_MESSAGE.is_file():
        field = FIELD_MESSAGE.read_bytes()
        model = edxml.read(field).message
        if edxml.read(edxml.write(model, check=False)).message != model:
            raise SystemExit("the field message does not survive write(read(data))")
        timing = compare(
            _round_trip(field, check=False),
            _bare_round_trip(field),
            settings.reps_small,
            settings.batch_seconds,
        )
        print(_row("field message, zipped attachments", len(field), timing))
    else:
        print(f"field message: skipped ({FIELD_MESSAGE} not found: ../shared is absent)")

    with tempfile.TemporaryDirectory(prefix="bench-edxml-") as tmp:
        large_path = Path(tmp) / "large.edxml"
        edxml.write_file(large_document(), large_path)
        large = large_path.read_bytes()
        _check_round_trip(large)
        timing = compare(_round_trip(large), _bare_round_trip(large), settings.reps_large, 0.0)
        print(_row("large message", len(large), timing))
        del large

        print(
            f"peak memory, 10 MB attachment ({_size(large_path.stat().st_size)} file): "
            f"(peak RSS - baseline RSS) / file size, fresh subprocess, "
            f"median of {settings.memory_runs}"
        )
        project = memory("project", large_path, settings.memory_runs)
        bare = memory("lxml", large_path, settings.memory_runs)
        note = ""
        if project.source == "VmHWM":
            note = " (not ru_maxrss: Linux keeps it across fork+exec)"
        print(f"peak RSS source: {project.source}{note}")
    verdict = "OK" if project.total <= MEMORY_TARGET else "ABOVE TARGET"
    print(
        f"memory project read_file+write: {project.total:.2f}x file size "
        f"(read_file alone {project.read:.2f}x) [target <= {MEMORY_TARGET:g}x: {verdict}]"
    )
    print(
        f"memory bare lxml parse+tostring: {bare.total:.2f}x file size "
        f"(parse alone {bare.read:.2f}x)"
    )
    print(f"total time {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
