"""Peak memory of a large message end to end, as a ratio to its attachment's size.

A signed message carrying one binary attachment of ``--size-mib`` MiB (default 100) is
sent through a local axis (its own process), fetched, received (fetched to a file,
verified on the file, stored as a blob) and its attachment extracted. Each phase runs in
a fresh interpreter, which first runs the same code on a tiny message (every import and
code path warmed up), reads its baseline peak RSS, then handles the large message and
reads its peak again. Printed per phase: ``(peak - baseline) / attachment size`` and the
baseline. Peak RSS is ``VmHWM`` where /proc has it (``ru_maxrss`` survives fork+exec on
Linux, so it would show the parent's peak), else ``ru_maxrss``.

Budgets (``--check`` exits 1 past them): receive+verify+store ≤ 2.5x, fetch ≤ 1.2x,
send ≤ 1.2x; extraction is printed too.

Usage: ``python benchmarks/bench_memory.py [--size-mib 100] [--check] [--json]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _bench import COMMUNE, DISTRICT, SECRETS, peak_rss, start_axis

BUDGETS = {"send": 1.2, "fetch": 1.2, "receive": 2.5}
PHASES = ("send", "fetch", "receive", "extract")
MIB = 1024 * 1024



def process_peak(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


# --- setup (a child: signing 100 MiB in memory is the slow, hungry part) ---------------------


def setup(work: Path, size: int) -> None:
    from edoc_exchange import edxml, signing
    from edoc_exchange.sandbox.pki import new_test_identity
    from edoc_exchange.store import open_database, upgrade

    identity = new_test_identity(organ_id=COMMUNE, name="UBND xã Nậm Khánh")
    identity.write(work / "keys")
    attachment = work / "attachment.bin"
    with attachment.open("wb") as out:
        left = size
        while left:
            out.write(os.urandom(min(MIB, left)))
            left -= min(MIB, left)

    def message(name: str, data: bytes, number: int) -> bytes:
        today = dt.date.today()
        org = edxml.OrganizationInfo
        doc = edxml.Document(
            sender=org(organ_id=COMMUNE, organ_name="UBND xã Nậm Khánh"),
            recipients=[org(organ_id=DISTRICT, organ_name="UBND huyện Bắc Hà")],
            document_id=str(
                edxml.DocumentId(edxml.OrganId.parse(COMMUNE), today, str(number), "BC-UBND")
            ),
            code=edxml.Code(number=str(number), notation="BC-UBND"),
            promulgation=edxml.PromulgationInfo(place="Nậm Khánh", date=today),
            document_type=edxml.DocumentType(type="1", type_name="Báo cáo"),
            subject=f"Bản đồ số {number}",
            signer=edxml.SignerInfo(position="CHỦ TỊCH", full_name="Nguyễn Văn An"),
            trace=[edxml.TraceHeader(organ_id=COMMUNE, timestamp=dt.datetime.now(edxml.VN_TZ))],
            attachments=[
                edxml.Attachment(name=name, content_type="application/octet-stream", data=data)
            ],
        )
        return signing.sign(doc, identity.signer())

    (work / "tiny.edxml").write_bytes(message("tiny.bin", os.urandom(2048), 1))
    (work / "big.edxml").write_bytes(message("big.bin", attachment.read_bytes(), 2))
    db = open_database(f"sqlite:///{work / 'store.sqlite3'}")
    upgrade(db)
    db.dispose()
    (work / "downloads").mkdir()
    (work / "extracted").mkdir()


# --- the phases (each in a fresh child) --------------------------------------------------------


def client(work: Path, systemid: str) -> Any:
    from edoc_exchange.axis import AxisClient
    from edoc_exchange.config import AxisSettings

    organ = COMMUNE if systemid == "xa" else DISTRICT
    url = (work / "url").read_text().strip()
    return AxisClient(
        AxisSettings(
            endpoint=url,
            systemid=systemid,
            secret=SECRETS[systemid],
            organ_id=organ,
            timeout=120,
            deadline=600,
            download_folder=work / "downloads",
        )
    )


def items(axis: Any) -> tuple[Any, Any]:
    listed = sorted(axis.list_received(), key=lambda item: item.size or 0)
    return listed[0], listed[-1]


def phase(name: str, work: Path) -> dict[str, Any]:
    if name == "send":
        with client(work, "xa") as axis:
            axis.send(work / "tiny.edxml")
            axis.send(work / "tiny.edxml")  # again: the de-duplicated answer too
            base = peak_rss()[0]
            axis.send(work / "big.edxml")
            return {"baseline": base, "peak": peak_rss()[0]}
    if name == "fetch":
        with client(work, "huyen") as axis:
            tiny, big = items(axis)
            axis.fetch_to_file(tiny.doc_id, work / "downloads" / "tiny.edxml")
            base = peak_rss()[0]
            got = axis.fetch_to_file(big.doc_id, work / "downloads" / "big.edxml")
            peak = peak_rss()[0]
            for path in (work / "downloads").iterdir():
                path.unlink()
            return {"baseline": base, "peak": peak, "fetched": got.size}
    if name == "receive":
        return receive(work)
    if name == "extract":
        return extract(work)
    raise SystemExit(f"unknown phase {name}")


def receive(work: Path) -> dict[str, Any]:
    from edoc_exchange import edxml, signing
    from edoc_exchange import office as steps
    from edoc_exchange.office import large
    from edoc_exchange.store import InboxVerdict, open_database
    from edoc_exchange.store import inbox as inbox_store
    from edoc_exchange.store.blobs import BlobStore

    policy = signing.TrustPolicy(roots=signing.load_roots(work / "keys" / "ca.pem"))
    db = open_database(f"sqlite:///{work / 'store.sqlite3'}")
    blobs = BlobStore.beside(db.engine)
    everything_small = edxml.ReadLimits(large_message_bytes=0)  # warm up the file path

    def one(item: Any, limits: edxml.ReadLimits) -> InboxVerdict:
        fetched = large.fetch_item(axis, item, work / "downloads", limits=limits)
        judged = None
        try:
            judged = large.judge_fetched(
                fetched, policy, axis_doc_id=item.doc_id, listed_sender=item.sender, limits=limits
            )
            record = judged.record
            with db.transaction() as conn:
                if isinstance(record, inbox_store.VerifiedRecord):
                    row, _new = inbox_store.store_incoming_verified(
                        conn, record, office_id=DISTRICT, axis_doc_id=item.doc_id,
                        state="01", now=dt.datetime.now(dt.UTC), blobs=blobs,
                    )
                else:
                    row, _new = inbox_store.store_incoming_rejected(
                        conn, record, office_id=DISTRICT, axis_doc_id=item.doc_id,
                        state="02", now=dt.datetime.now(dt.UTC), blobs=blobs,
                    )
            return row.verdict
        finally:
            large.discard(fetched, judged)

    with client(work, "huyen") as axis:
        tiny, _big = items(axis)
        assert one(tiny, everything_small) is InboxVerdict.VERIFIED
        # The large one goes through the daemon's own inbound pass: work list, fetch to a
        # file in the fetch thread, verify on the file, blob, audit events, the 01 reply
        # queued, acknowledgement (the tiny one, stored above, is left alone).
        office = steps.Office(
            identity=steps.OfficeIdentity(organ_id=DISTRICT, organ_name="UBND huyện Bắc Hà"),
            db=db,
            client=axis,
            signer=None,
            policy=policy,
            worker="bench-memory",
        )
        base = peak_rss()[0]
        report = steps.receive_documents(office)
        peak = peak_rss()[0]
    db.dispose()
    if (report.done, report.rejected) != (1, 0):
        raise SystemExit(f"the large message was not received as verified: {report}")
    left = sorted(p.name for p in (work / "downloads").iterdir())
    return {"baseline": base, "peak": peak, "leftovers": left}


def extract(work: Path) -> dict[str, Any]:
    from edoc_exchange.edxml.large import extract_file
    from edoc_exchange.store import inbox as inbox_store
    from edoc_exchange.store import open_database
    from edoc_exchange.store.blobs import BlobStore

    db = open_database(f"sqlite:///{work / 'store.sqlite3'}")
    blobs = BlobStore.beside(db.engine)
    with db.read() as conn:
        rows = [
            inbox_store.find_incoming(conn, DISTRICT, axis_doc_id=doc_id)
            for doc_id in _stored_ids(conn)
        ]
        docs = [inbox_store.verified_document(conn, row, blobs=blobs) for row in rows if row]
    db.dispose()
    small, large_doc = sorted(docs, key=lambda d: d.row.message_size or 0)
    assert small.content_file is not None
    assert large_doc.content_file is not None
    extract_file(small.content_file, work / "extracted", overwrite=True)
    base = peak_rss()[0]
    written = extract_file(large_doc.content_file, work / "extracted", overwrite=True)
    peak = peak_rss()[0]
    digest = hashlib.sha256()
    with written[0].open("rb") as handle:
        while chunk := handle.read(MIB):
            digest.update(chunk)
    want = hashlib.sha256()
    with (work / "attachment.bin").open("rb") as handle:
        while chunk := handle.read(MIB):
            want.update(chunk)
    if digest.hexdigest() != want.hexdigest():
        raise SystemExit("the extracted attachment differs from the one sent")
    return {"baseline": base, "peak": peak}


def _stored_ids(conn: Any) -> list[str]:
    from sqlalchemy import select

    from edoc_exchange.store.tables import inbox

    return [str(r.axis_doc_id) for r in conn.execute(select(inbox.c.axis_doc_id))]


# --- the parent -------------------------------------------------------------------------------


def run_child(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{proc.stdout}\n{proc.stderr}")
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=float, default=100.0, help="attachment size (MiB)")
    parser.add_argument("--check", action="store_true", help="exit 1 past the budgets")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--child", nargs=2, metavar=("PHASE", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        name, folder = args.child
        if name == "setup":
            setup(Path(folder), int(args.size))
            print("{}")
        else:
            result = phase(name, Path(folder))
            result["source"] = peak_rss()[1]
            print(json.dumps(result))
        return 0

    size = int(args.size_mib * MIB)
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        work = Path(tmp)
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, __file__, "--child", "setup", str(work), "--size", str(size)],
            capture_output=True, text=True, timeout=1800, check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"setup failed:\n{proc.stderr}")
        message_size = (work / "big.edxml").stat().st_size
        port = free_port()
        axis = start_axis(work, port)
        (work / "url").write_text(f"http://127.0.0.1:{port}")
        figures: dict[str, dict[str, Any]] = {}
        try:
            axis_base = process_peak(axis.pid)
            for name in PHASES:
                figures[name] = run_child(name, str(work))
            axis_peak = process_peak(axis.pid)
        finally:
            axis.terminate()
            axis.wait(timeout=30)
        elapsed = time.monotonic() - started

    print(
        f"attachment {size / MIB:.1f} MiB, message {message_size / MIB:.1f} MiB "
        f"({elapsed:.0f} s); peak RSS above each phase's baseline, / attachment size:"
    )
    failed = False
    source = ""
    for name in PHASES:
        f = figures[name]
        ratio = (f["peak"] - f["baseline"]) / size
        f["ratio"] = round(ratio, 3)
        source = f.get("source", source)
        budget = BUDGETS.get(name)
        verdict = ""
        if budget is not None:
            ok = ratio <= budget
            failed |= not ok
            verdict = f"  (budget {budget}x: {'ok' if ok else 'OVER'})"
        label = {"receive": "receive+verify+store"}.get(name, name)
        print(
            f"  {label:<22} {ratio:5.2f}x   baseline {f['baseline'] / MIB:6.1f} MiB, "
            f"peak {f['peak'] / MIB:6.1f} MiB{verdict}"
        )
    if axis_base is not None and axis_peak is not None:
        print(
            f"  local axis (server)    {(axis_peak - axis_base) / size:5.2f}x   "
            f"baseline {axis_base / MIB:6.1f} MiB, peak {axis_peak / MIB:6.1f} MiB"
        )
    print(f"peak RSS read from {source}")
    if figures["receive"].get("leftovers"):
        print(f"temporary files left: {figures['receive']['leftovers']}")
        failed = True
    if args.json:
        print(json.dumps({"attachment": size, "message": message_size, "phases": figures}))
    return 1 if (failed and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
