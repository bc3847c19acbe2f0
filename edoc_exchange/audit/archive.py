"""Verify the live log, export it for an inspector, verify an export offline, prove an entry.

An export is JSON lines: a header, then one record per entry in sequence order — the whole
entry inside the date range, only its hashes outside it (so the inspector can recompute every
checkpoint without seeing unrelated documents) — then every checkpoint with its signature and
certificate.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import select

from ..store.db import Database
from ..store.tables import audit_heads
from . import merkle
from .log import AuditEntry, Checkpoint, checkpoints, entries, latest_checkpoint
from .verify import AuditReport, AuditVerificationError, LeafRecord, verify_records

__all__ = [
    "EXPORT_FORMAT",
    "InclusionProof",
    "export_log",
    "prove",
    "verify_database",
    "verify_export",
]

EXPORT_FORMAT = "edoc-audit/1"


def verify_database(db: Database, office_id: str) -> AuditReport:
    """Verify the office's whole log as stored; raise AuditVerificationError if not intact."""
    with db.engine.connect() as conn:
        head_row = conn.execute(
            select(audit_heads.c.size, audit_heads.c.last_hash).where(
                audit_heads.c.office_id == office_id
            )
        ).one_or_none()
        head = (int(head_row.size), str(head_row.last_hash)) if head_row else (0, "0" * 64)
        return verify_records(
            office_id, entries(conn, office_id), checkpoints(conn, office_id), head=head
        )


def export_log(
    db: Database,
    office_id: str,
    out: TextIO,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> int:
    """Write the office's log as JSON lines; return the number of whole entries written.

    Entries whose time is outside [start, end) are written as hashes only.
    """
    out.write(
        json.dumps(
            {
                "type": "header",
                "format": EXPORT_FORMAT,
                "office": office_id,
                "from": start.isoformat() if start else None,
                "to": end.isoformat() if end else None,
            },
            ensure_ascii=False,
        )
        + "\n"
    )
    whole = 0
    with db.engine.connect() as conn:
        for entry in entries(conn, office_id):
            when = entry.time
            inside = (start is None or when >= start) and (end is None or when < end)
            record: dict[str, Any] = {
                "seq": entry.seq,
                "prev_hash": entry.prev_hash,
                "entry_hash": entry.entry_hash,
            }
            if inside:
                record.update(type="entry", body=entry.body.decode("utf-8"))
                whole += 1
            else:
                record.update(type="leaf", leaf_hash=entry.leaf_hash.hex())
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        for cp in checkpoints(conn, office_id):
            out.write(
                json.dumps(
                    {
                        "type": "checkpoint",
                        "tree_size": cp.tree_size,
                        "root_hash": cp.root_hash,
                        "body": cp.body.decode("utf-8"),
                        "signature": base64.b64encode(cp.signature).decode()
                        if cp.signature
                        else None,
                        "certificate": cp.certificate.decode() if cp.certificate else None,
                    }
                )
                + "\n"
            )
    return whole


def _bad_file(path: Path, line: int, what: str) -> AuditVerificationError:
    return AuditVerificationError(
        None, f"{path}, dòng {line}: {what}", f"{path}, line {line}: {what}"
    )


def verify_export(path: Path) -> AuditReport:
    """Verify an export file offline; raise AuditVerificationError naming the first bad entry."""
    office: str | None = None
    cps: list[Checkpoint] = []

    def records() -> Iterator[AuditEntry | LeafRecord]:
        nonlocal office
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    item = json.loads(line)
                    kind = item["type"]
                    if kind == "header":
                        if item.get("format") != EXPORT_FORMAT:
                            raise _bad_file(path, number, f"unknown format {item.get('format')}")
                        office = str(item["office"])
                    elif kind == "entry":
                        body = str(item["body"]).encode("utf-8")
                        yield AuditEntry(
                            str(office),
                            int(item["seq"]),
                            str(json.loads(body).get("event")),
                            body,
                            str(item["prev_hash"]),
                            str(item["entry_hash"]),
                        )
                    elif kind == "leaf":
                        yield LeafRecord(
                            int(item["seq"]),
                            str(item["prev_hash"]),
                            str(item["entry_hash"]),
                            bytes.fromhex(item["leaf_hash"]),
                        )
                    elif kind != "checkpoint":
                        raise _bad_file(path, number, f"unknown record type {kind!r}")
                except (ValueError, KeyError, TypeError) as exc:
                    raise _bad_file(path, number, f"unreadable record ({exc})") from None

    # Checkpoints sit at the end of the file: read them first, then stream the entries.
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                item = json.loads(line)
                if item.get("type") == "header":
                    office = str(item["office"])
                if item.get("type") == "checkpoint":
                    cps.append(
                        Checkpoint(
                            str(office),
                            int(item["tree_size"]),
                            str(item["root_hash"]),
                            str(item["body"]).encode("utf-8"),
                            base64.b64decode(item["signature"]) if item.get("signature") else None,
                            str(item["certificate"]).encode() if item.get("certificate") else None,
                        )
                    )
            except (ValueError, KeyError, TypeError) as exc:
                raise _bad_file(path, number, f"unreadable record ({exc})") from None
    if office is None:
        raise _bad_file(path, 1, "no header / thiếu phần đầu")
    return verify_records(office, records(), cps)


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """RFC 9162 inclusion proof of one entry against a signed checkpoint."""

    office_id: str
    seq: int
    leaf_hash: str
    tree_size: int
    root_hash: str
    path: tuple[str, ...]
    checkpoint_body: str

    def to_json(self) -> dict[str, Any]:
        return {
            "office_id": self.office_id,
            "seq": self.seq,
            "leaf_hash": self.leaf_hash,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "path": list(self.path),
            "checkpoint": json.loads(self.checkpoint_body),
        }

    def verify(self) -> bool:
        """Whether the path leads from the leaf to the root."""
        root = merkle.root_from_inclusion_proof(
            self.seq,
            self.tree_size,
            bytes.fromhex(self.leaf_hash),
            [bytes.fromhex(p) for p in self.path],
        )
        return root.hex() == self.root_hash


def prove(db: Database, office_id: str, seq: int) -> InclusionProof:
    """Prove that entry ``seq`` is in the log, against the latest checkpoint that holds it."""
    with db.engine.connect() as conn:
        cp = latest_checkpoint(conn, office_id)
        if cp is None or seq >= cp.tree_size:
            raise AuditVerificationError(
                seq,
                f"Mục {seq} chưa nằm trong điểm kiểm tra nào; tạo điểm kiểm tra mới rồi thử lại",
                f"entry {seq} is not covered by a checkpoint yet; make a checkpoint and retry",
            )
        leaves = [e.leaf_hash for e in entries(conn, office_id, stop=cp.tree_size)]
    if len(leaves) != cp.tree_size:
        raise AuditVerificationError(seq, "Nhật ký không đầy đủ", "the log is incomplete")
    path = merkle.inclusion_proof(seq, leaves)
    proof = InclusionProof(
        office_id,
        seq,
        leaves[seq].hex(),
        cp.tree_size,
        cp.root_hash,
        tuple(p.hex() for p in path),
        cp.body.decode("utf-8"),
    )
    if not proof.verify():
        raise AuditVerificationError(
            seq, "Nhật ký không khớp điểm kiểm tra", "the log does not match its checkpoint"
        )
    return proof
