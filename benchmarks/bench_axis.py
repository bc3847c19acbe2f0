"""Throughput of the local axis on loopback, and the client's overhead over bare httpx.

Runs the local axis in a subprocess (its own interpreter, as in production), then:

1. sends N documents of ~5 KB from a commune to its district, lists them, fetches and
   acknowledges each one: prints documents per second for the whole round trip;
2. times the same calls (``countReceiveEdoc``, ``getEdoc``) made by ``AxisClient`` and by a
   bare ``httpx.Client`` with pre-signed headers against the same endpoint in the same run,
   and prints the ratio (client / bare): the cost of signing, retry bookkeeping and parsing.

Usage: ``python benchmarks/bench_axis.py [--quick]`` (quick: 50 documents instead of 1,000).
"""

from __future__ import annotations

import argparse
import datetime as dt
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from _bench import COMMUNE, DISTRICT, SECRETS, start_axis

from edoc_exchange import edxml
from edoc_exchange.axis import AxisClient, MessageType, sign_headers
from edoc_exchange.config import AxisSettings


def document(n: int) -> bytes:
    """A valid ~5 KB document (the attachment is sized so the whole file is about 5 KB)."""
    date = dt.date(2025, 1, 1)
    org = edxml.OrganizationInfo
    doc = edxml.Document(
        sender=org(organ_id=COMMUNE, organ_name="UBND xã Nậm Khánh"),
        recipients=[org(organ_id=DISTRICT, organ_name="UBND huyện Bắc Hà")],
        document_id=str(edxml.DocumentId(edxml.OrganId.parse(COMMUNE), date, str(n), "BC-UBND")),
        code=edxml.Code(number=str(n), notation="BC-UBND"),
        promulgation=edxml.PromulgationInfo(place="Nậm Khánh", date=date),
        document_type=edxml.DocumentType(type="1", type_name="Báo cáo"),
        subject=f"Báo cáo số {n}",
        signer=edxml.SignerInfo(position="CHỦ TỊCH", full_name="Nguyễn Văn An"),
        trace=[edxml.TraceHeader(organ_id=COMMUNE, timestamp=dt.datetime.now(edxml.VN_TZ))],
        attachments=[edxml.Attachment(name="bao-cao.pdf", content_type="application/pdf",
                                      data=bytes(range(256)) * 8)],
    )
    return edxml.write(doc)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def per_call(func: Callable[[], object], repeat: int) -> float:
    """Median seconds per call over ``repeat`` calls, after a few warm-up calls."""
    for _ in range(5):
        func()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 documents, fewer samples")
    args = parser.parse_args()
    count = 50 if args.quick else 1000
    repeat = 50 if args.quick else 300

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = start_axis(Path(tmp), port)
        try:
            url = f"http://127.0.0.1:{port}"

            def settings(systemid: str, organ: str) -> AxisSettings:
                return AxisSettings(endpoint=url, systemid=systemid, secret=SECRETS[systemid],
                                    organ_id=organ, timeout=30)

            messages = [document(n + 1) for n in range(count)]
            size = statistics.mean(len(m) for m in messages)
            with AxisClient(settings("xa", COMMUNE)) as commune, \
                    AxisClient(settings("huyen", DISTRICT)) as district:
                started = time.perf_counter()
                for data in messages:
                    commune.send(data)
                sent = time.perf_counter()
                items = district.list_received(MessageType.EDOC)
                listed = time.perf_counter()
                for item in items:
                    district.fetch(item.doc_id)
                    district.acknowledge(item.doc_id)
                done = time.perf_counter()
                if len(items) != count or district.count() != 0:
                    raise SystemExit(f"expected {count} items, got {len(items)}")

                # Client versus bare httpx on the same endpoints, in the same run.
                commune.send(document(count + 1))
                [item] = district.list_received()
                bare = httpx.Client()

                # Bare requests are signed once outside the timing: only the HTTP exchange.
                fixed: dict[str, dict[str, str]] = {}

                def bare_fixed(op: str, params: dict[str, str]) -> None:
                    # The SDK's way: POST, body "{}" for these two calls.
                    if op not in fixed:
                        fixed[op] = sign_headers(
                            secret=SECRETS["huyen"], systemid="huyen",
                            content_type="application/json", params=params,
                            now=dt.datetime.now(dt.UTC), user_agent="bench",
                        )
                    bare.post(f"{url}/{op}", headers=fixed[op], content=b"{}").json()

                fetch_params = {"docId": item.doc_id, "filePath": str(Path(tmp).resolve())}
                rows = [
                    ("countReceiveEdoc", per_call(district.count, repeat),
                     per_call(lambda: bare_fixed("countReceiveEdoc", {}), repeat)),
                    ("getEdoc (5 KB)", per_call(lambda: district.fetch(item.doc_id), repeat),
                     per_call(lambda: bare_fixed("getEdoc", fetch_params), repeat)),
                ]
                bare.close()
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    total = done - started
    print(f"local axis on loopback, {count} documents of {size / 1024:.1f} KB (mean)")
    print(f"  send:            {count / (sent - started):8.1f} documents/s")
    print(f"  list (1 call):   {(listed - sent) * 1000:8.1f} ms for {count} items")
    print(f"  fetch+ack:       {count / (done - listed):8.1f} documents/s")
    print(f"documents sent+listed+fetched+acknowledged per second: {count / total:.1f}")
    print("client time per call vs bare httpx (same endpoint, same run, median):")
    for name, client_s, bare_s in rows:
        print(f"  {name:18s} client {client_s * 1000:7.3f} ms   bare httpx {bare_s * 1000:7.3f} ms"
              f"   ratio {client_s / bare_s:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
