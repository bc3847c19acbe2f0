"""The audit log: verification rate against a plain standard-library verifier, and the SQL
statements one flush of a step's events costs.

1. Verification: a log of 100,000 entries (the bodies a receiving daemon writes) is built
   on SQLite through ``audit.Pending`` and ``audit.flush`` in large batches, with a
   checkpoint signed by an RSA-2048 office key every ``--checkpoint-every`` entries.
   ``audit.verify_database`` (under the office certificate) and ``stdlib_verify`` below
   (the ``sqlite3`` module, ``hashlib`` and ``json``, written the plain way) verify it in
   turns, several rounds, alternating which goes first; the medians are printed.

   Both make the same checks, entry by entry: sequence numbers without gap or repeat, the
   body hashes to the stored hash, the body is JSON naming this sequence number, office and
   previous hash, that hash is the previous entry's; Merkle root, last entry hash and
   frontier at every checkpoint, each checkpoint's columns against its body; no checkpoint
   beyond the log, the head row equal to the end of the chain, no more entries after the
   last checkpoint than allowed, at least one entry per stored document. ``verify_database``
   also verifies every checkpoint's signature against the office certificate, which the
   standard library cannot do: that work counts against it only.
2. Statements: the SQL statements (``before_cursor_execute``) one ``audit.flush`` of 4
   events issues, on SQLite and, when Debian's PostgreSQL server binaries are installed,
   on a throwaway PostgreSQL server (the tests' ``tests/postgres.py``). Before issue 11
   each event cost 4 (insert-on-conflict of the head, SELECT … FOR UPDATE, INSERT, UPDATE).

Machines are noisy: read the medians and the ratio, not one round.

Usage: ``python benchmarks/bench_audit.py [--quick] [--entries N] [--checkpoint-every N]
[--rounds N] [--no-postgres]`` (quick: 10,000 entries, 3 rounds).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from postgres import find_pg_bin, postgres_server
from statements import statements

from edoc_exchange import audit
from edoc_exchange.store import Database, open_database, upgrade

OFFICE = "000.00.01.H17"
COMMUNE = "000.05.01.H17"
GENESIS = "0" * 64


class OfficeKey:
    """A checkpoint signer: an RSA-2048 key and its self-signed certificate."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "UBND huyện Bắc Hà")])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=30))
            .not_valid_after(now + dt.timedelta(days=365))
            .sign(self.key, hashes.SHA256())
        )
        self.certificate_pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def sign_bytes(self, data: bytes) -> bytes:
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def received(seq: int) -> dict[str, Any]:
    """The data of a ``received`` event, as the receiving step records it."""
    return {
        "axis_doc_id": f"{seq:032x}",
        "document_id": f"{COMMUNE},2026/07/01,{seq}/BC-UBND",
        "from": COMMUNE,
        "sha256": hashlib.sha256(str(seq).encode()).hexdigest(),
    }


def build_log(db: Database, count: int, checkpoint_every: int, key: OfficeKey) -> float:
    """Append ``count`` events through the batched path; return entries/s of the build."""
    audit.ensure_log(db, OFFICE)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=count)
    started = time.perf_counter()
    for first in range(0, count, checkpoint_every):
        with db.transaction() as conn:
            pending = audit.Pending(OFFICE)
            for seq in range(first, min(first + checkpoint_every, count)):
                pending.add("received", received(seq), at=start + dt.timedelta(seconds=seq))
            audit.flush(conn, pending)
            audit.make_checkpoint(conn, OFFICE, key, at=start + dt.timedelta(seconds=first))
    return count / (time.perf_counter() - started)


def stdlib_verify(path: Path, office: str, max_uncovered: int) -> tuple[int, str]:
    """The same checks as ``audit.verify_database`` (bar signatures), written plainly with
    the standard library; returns (entries, root hash), raises ValueError on damage."""
    con = sqlite3.connect(path)
    try:
        row = con.execute(
            "SELECT size, last_hash FROM audit_heads WHERE office_id = ?", (office,)
        ).fetchone()
        head_size, head_hash = row if row else (0, GENESIS)
        cps = []
        for size, root_hash, body, cp_office in con.execute(
            "SELECT tree_size, root_hash, body, office_id FROM audit_checkpoints "
            "WHERE office_id = ? ORDER BY tree_size",
            (office,),
        ):
            fields = json.loads(body)
            if (
                fields.get("tree_size") != size
                or fields.get("root_hash") != root_hash
                or fields.get("office") != office
                or cp_office != office
            ):
                raise ValueError(f"checkpoint {size} was edited")
            cps.append((size, root_hash, fields))

        stack: list[tuple[int, bytes]] = []  # (subtree size, hash), largest first

        def root() -> bytes:
            if not stack:
                return hashlib.sha256(b"").digest()
            digest = stack[-1][1]
            for _, left in reversed(stack[:-1]):
                digest = hashlib.sha256(b"\x01" + left + digest).digest()
            return digest

        next_cp = 0
        last_cp = 0
        prev = GENESIS
        expected = 0
        for seq, prev_hash, entry_hash, body in con.execute(
            "SELECT seq, prev_hash, entry_hash, body FROM audit_entries "
            "WHERE office_id = ? ORDER BY seq",
            (office,),
        ):
            if seq != expected:
                raise ValueError(f"entry {expected} missing or repeated")
            raw = body.encode("utf-8")
            if hashlib.sha256(raw).hexdigest() != entry_hash:
                raise ValueError(f"entry {seq} was edited")
            fields = json.loads(body)
            if fields.get("seq") != seq or fields.get("office") != office:
                raise ValueError(f"entry {seq} is out of place")
            if fields.get("prev") != prev_hash:
                raise ValueError(f"entry {seq}: previous-hash field differs")
            if prev_hash != prev:
                raise ValueError(f"entry {seq} does not follow entry {seq - 1}")
            size, node = 1, hashlib.sha256(b"\x00" + raw).digest()
            while stack and stack[-1][0] == size:
                left_size, left = stack.pop()
                size, node = left_size + size, hashlib.sha256(b"\x01" + left + node).digest()
            stack.append((size, node))
            prev = entry_hash
            expected += 1
            while next_cp < len(cps) and cps[next_cp][0] == expected:
                _, root_hash, fields = cps[next_cp]
                if (
                    root().hex() != root_hash
                    or fields.get("last_entry_hash") != prev
                    or fields.get("frontier") != [h.hex() for _, h in stack]
                ):
                    raise ValueError(f"entries do not match checkpoint {expected}")
                last_cp = expected
                next_cp += 1
        if next_cp < len(cps):
            raise ValueError(f"the log was truncated below checkpoint {cps[next_cp][0]}")
        if (head_size, head_hash) != (expected, prev):
            raise ValueError("the head does not match the end of the log")
        if expected - last_cp > max_uncovered:
            raise ValueError("too many entries after the last checkpoint")
        documents = sum(
            con.execute(f"SELECT count(*) FROM {table} WHERE office_id = ?", (office,)).fetchone()[
                0
            ]
            for table in ("inbox", "outbox")
        )
        if expected < documents:
            raise ValueError("fewer entries than documents")
        return expected, root().hex()
    finally:
        con.close()


@dataclass
class Rates:
    """Entries per second of one verifier: by the wall clock and by this process's CPU time
    (the second does not count the time other processes on a busy machine took)."""

    wall: list[float]
    cpu: list[float]

    def wall_rate(self, count: int) -> float:
        return count / statistics.median(self.wall)

    def cpu_rate(self, count: int) -> float:
        return count / statistics.median(self.cpu)


def compare(
    db: Database, path: Path, key: OfficeKey, count: int, checkpoint_every: int, rounds: int
) -> tuple[Rates, Rates]:
    """Seconds per round of verify_database and of stdlib_verify, run in turns."""
    anchor = audit.OfficeCertificate((key.cert,))

    def ours() -> str:
        report = audit.verify_database(db, OFFICE, anchor=anchor, max_uncovered=checkpoint_every)
        if report.entries != count:
            raise SystemExit(f"verify_database read {report.entries} entries of {count}")
        return report.root_hash

    def plain() -> str:
        entries, root = stdlib_verify(path, OFFICE, checkpoint_every)
        if entries != count:
            raise SystemExit(f"stdlib_verify read {entries} entries of {count}")
        return root

    if ours() != plain():  # warm up both, and agree on the root
        raise SystemExit("the two verifiers computed different Merkle roots")

    def timed(run: Callable[[], str], into: Rates) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        into.cpu.append(time.process_time() - cpu)
        into.wall.append(time.perf_counter() - wall)

    ours_s, plain_s = Rates([], []), Rates([], [])
    for round_ in range(rounds):
        if round_ % 2:
            timed(plain, plain_s)
            timed(ours, ours_s)
        else:
            timed(ours, ours_s)
            timed(plain, plain_s)
    return ours_s, plain_s


def statements_per_flush(db: Database, events: int) -> int:
    """SQL statements one flush of ``events`` events issues (the transaction's own BEGIN
    and COMMIT are not statements of the flush)."""
    audit.ensure_log(db, OFFICE)
    with db.transaction() as conn:
        pending = audit.Pending(OFFICE)
        for n in range(events):
            pending.add("received", received(n))
        with statements(db.engine) as seen:
            audit.flush(conn, pending)
    return len(seen)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 entries, 3 rounds")
    parser.add_argument("--entries", type=int, default=None)
    parser.add_argument("--checkpoint-every", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite statements only")
    args = parser.parse_args()
    count = args.entries or (10_000 if args.quick else 100_000)
    rounds = args.rounds or (3 if args.quick else 7)
    every = args.checkpoint_every

    with tempfile.TemporaryDirectory(prefix="edoc-bench-audit-") as tmp:
        path = Path(tmp) / "audit.sqlite3"
        db = open_database(f"sqlite:///{path}")
        upgrade(db)
        key = OfficeKey()
        build_rate = build_log(db, count, every, key)
        ours, plain = compare(db, path, key, count, every, rounds)
        db.dispose()

        small = open_database(f"sqlite:///{Path(tmp) / 'statements.sqlite3'}")
        upgrade(small)
        sqlite_statements = statements_per_flush(small, 4)
        small.dispose()

    pg_statements: int | None = None
    if not args.no_postgres and find_pg_bin() is not None:
        with postgres_server() as server:
            pg = open_database(server.create_database("bench_audit"))
            upgrade(pg)
            pg_statements = statements_per_flush(pg, 4)
            pg.dispose()

    checkpoints = count // every
    print(
        f"audit log of {count:,} entries on SQLite, {checkpoints} checkpoints signed "
        f"(RSA-2048), built with batched appends at {build_rate:,.0f} entries/s"
    )
    ratios = [p / o for o, p in zip(ours.wall, plain.wall, strict=True)]
    print(
        f"verification, median of {rounds} interleaved rounds: verify_database "
        f"{ours.wall_rate(count):,.0f} entries/s | stdlib sqlite3+hashlib+json "
        f"{plain.wall_rate(count):,.0f} entries/s | ratio "
        f"{ours.wall_rate(count) / plain.wall_rate(count):.2f}x "
        f"(rounds {min(ratios):.2f}x..{max(ratios):.2f}x)"
    )
    print(
        f"  by CPU time: verify_database {ours.cpu_rate(count):,.0f} entries/s | stdlib "
        f"{plain.cpu_rate(count):,.0f} entries/s | ratio "
        f"{ours.cpu_rate(count) / plain.cpu_rate(count):.2f}x"
    )
    pg_text = str(pg_statements) if pg_statements is not None else "not measured (no server)"
    print(
        f"SQL statements per flush of 4 events: SQLite {sqlite_statements}, "
        f"PostgreSQL {pg_text} (before: 4 per event, 16)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
