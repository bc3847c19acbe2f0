"""The append-only audit log: one append function, hash-chained entries, signed checkpoints.

Every entry is canonical JSON (sorted keys, no spaces, UTF-8, NFC text) holding its own
sequence number, the office, the event, the time, the event's data and the hash of the
previous entry. Its ``entry_hash`` (SHA-256 of the JSON) chains it to the next entry; the
same JSON is an RFC 6962 Merkle leaf. Periodic checkpoints record the tree size and root
and are signed with the office's key, so that rewriting the whole chain is detected too.

Appends happen inside the caller's transaction (the state change and its audit event commit
together or not at all) and are strictly ordered per office: the office's head row is
locked (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite write transactions are serial).
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, insert, select, update

from ..store.tables import audit_checkpoints, audit_entries, audit_heads
from . import merkle

__all__ = [
    "GENESIS",
    "AuditEntry",
    "AuditEvent",
    "Checkpoint",
    "CheckpointSigner",
    "append",
    "canonical_json",
    "entries",
    "last_event",
    "latest_checkpoint",
    "log_size",
    "make_checkpoint",
]

#: The "previous hash" of the first entry.
GENESIS = "0" * 64


class AuditEvent(enum.StrEnum):
    """What happened. The report and the inspector read these names: never rename one."""

    COMPOSED = "composed"
    SIGNED = "signed"
    QUEUED = "queued"
    SENT = "sent"
    SEND_FAILED = "send_failed"
    RECEIVED = "received"
    VERIFIED = "verified"
    REJECTED = "rejected"
    ACKNOWLEDGED = "acknowledged"
    STATUS_SENT = "status_sent"
    STATUS_RECEIVED = "status_received"
    CLERK_ACTION = "clerk_action"
    KEY_CHANGED = "key_changed"
    CONFIG_CHANGED = "config_changed"


def _nfc(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, Mapping):
        return {_nfc(k): _nfc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nfc(v) for v in value]
    return value


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, NFC strings: one byte string per meaning.

    Floats are refused: their text is not stable across implementations; use integers or
    strings for figures.
    """

    def refuse_floats(obj: Any) -> Any:
        raise TypeError(f"{type(obj).__name__} is not allowed in an audit entry")

    def check(obj: Any) -> None:
        if isinstance(obj, float):
            raise TypeError("floats are not allowed in audit entries; use int or str")
        if isinstance(obj, Mapping):
            for v in obj.values():
                check(v)
        elif isinstance(obj, list | tuple):
            for v in obj:
                check(v)

    normal = _nfc(value)
    check(normal)
    return json.dumps(
        normal, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=refuse_floats
    ).encode("utf-8")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One stored entry: its canonical JSON ``body`` is the truth, the rest is derived."""

    office_id: str
    seq: int
    event: str
    body: bytes
    prev_hash: str
    entry_hash: str

    @property
    def data(self) -> dict[str, Any]:
        """The decoded body."""
        decoded: dict[str, Any] = json.loads(self.body)
        return decoded

    @property
    def time(self) -> dt.datetime:
        """When the event was recorded (UTC), from the entry itself."""
        return dt.datetime.fromisoformat(str(self.data["time"]).replace("Z", "+00:00"))

    @property
    def leaf_hash(self) -> bytes:
        """This entry's RFC 6962 leaf hash."""
        return merkle.leaf_hash(self.body)


def _lock_head(conn: Connection, office_id: str) -> tuple[int, str]:
    head = select(audit_heads.c.size, audit_heads.c.last_hash).where(
        audit_heads.c.office_id == office_id
    )
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(
            pg_insert(audit_heads)
            .values(office_id=office_id, size=0, last_hash=GENESIS)
            .on_conflict_do_nothing()
        )
        locked = conn.execute(head.with_for_update()).one()
        return int(locked.size), str(locked.last_hash)
    row = conn.execute(head).one_or_none()
    if row is None:
        conn.execute(insert(audit_heads).values(office_id=office_id, size=0, last_hash=GENESIS))
        return 0, GENESIS
    return int(row.size), str(row.last_hash)


def append(
    conn: Connection,
    office_id: str,
    event: AuditEvent | str,
    data: Mapping[str, Any] | None = None,
    *,
    at: dt.datetime | None = None,
) -> AuditEntry:
    """Append one event to the office's log, in the caller's transaction.

    ``data`` must be JSON-able without floats (document ids, hashes, status codes, reasons).
    The entry commits or rolls back with the change it records.
    """
    seq, prev = _lock_head(conn, office_id)
    body = canonical_json(
        {
            "seq": seq,
            "office": office_id,
            "event": str(event),
            "time": _iso(at or _now()),
            "data": dict(data or {}),
            "prev": prev,
        }
    )
    entry_hash = hashlib.sha256(body).hexdigest()
    conn.execute(
        insert(audit_entries).values(
            office_id=office_id,
            seq=seq,
            event=str(event),
            body=body.decode("utf-8"),
            prev_hash=prev,
            entry_hash=entry_hash,
            created_at=at or _now(),
        )
    )
    conn.execute(
        update(audit_heads)
        .where(audit_heads.c.office_id == office_id)
        .values(size=seq + 1, last_hash=entry_hash)
    )
    return AuditEntry(office_id, seq, str(event), body, prev, entry_hash)


def entries(
    conn: Connection, office_id: str, *, start: int = 0, stop: int | None = None
) -> Iterator[AuditEntry]:
    """The office's entries in sequence order, streamed (a log may hold millions)."""
    query = (
        select(audit_entries)
        .where(audit_entries.c.office_id == office_id, audit_entries.c.seq >= start)
        .order_by(audit_entries.c.seq)
    )
    if stop is not None:
        query = query.where(audit_entries.c.seq < stop)
    # The option goes on the statement: Connection.execution_options() changes the caller's
    # connection in place, and on PostgreSQL every later statement in its transaction (the
    # checkpoint's INSERT) would then run through a server-side cursor and fail.
    for row in conn.execute(query.execution_options(yield_per=5000)):
        yield AuditEntry(
            row.office_id,
            int(row.seq),
            row.event,
            row.body.encode("utf-8"),
            row.prev_hash,
            row.entry_hash,
        )


def log_size(conn: Connection, office_id: str) -> int:
    """How many entries the office's log holds (its head row; 0 before the first)."""
    size = conn.execute(
        select(audit_heads.c.size).where(audit_heads.c.office_id == office_id)
    ).scalar_one_or_none()
    return int(size or 0)


def last_event(conn: Connection, office_id: str, event: AuditEvent | str) -> AuditEntry | None:
    """The office's most recent entry of ``event``, or None."""
    row = conn.execute(
        select(audit_entries)
        .where(audit_entries.c.office_id == office_id, audit_entries.c.event == str(event))
        .order_by(audit_entries.c.seq.desc())
        .limit(1)
    ).one_or_none()
    if row is None:
        return None
    return AuditEntry(
        row.office_id,
        int(row.seq),
        row.event,
        row.body.encode("utf-8"),
        row.prev_hash,
        row.entry_hash,
    )


class CheckpointSigner(Protocol):
    """What a checkpoint needs of the office's signer: raw signatures and the certificate."""

    @property
    def certificate_pem(self) -> bytes:
        """The PEM certificate whose key signs."""
        ...

    def sign_bytes(self, data: bytes) -> bytes:
        """Sign ``data`` (RSA PKCS#1 v1.5 or ECDSA, with SHA-256)."""
        ...


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement: the office's log had ``tree_size`` entries with this root."""

    office_id: str
    tree_size: int
    root_hash: str
    body: bytes
    signature: bytes | None
    certificate: bytes | None


def make_checkpoint(
    conn: Connection,
    office_id: str,
    signer: CheckpointSigner | None,
    *,
    at: dt.datetime | None = None,
) -> Checkpoint:
    """Record (and sign, when a signer is given) a checkpoint of the log as it is now.

    The head row stays locked while the root is computed, so the checkpoint describes a
    real state of the log. Re-checkpointing an unchanged log returns the existing one.
    """
    size, last_hash = _lock_head(conn, office_id)
    existing = conn.execute(
        select(audit_checkpoints).where(
            audit_checkpoints.c.office_id == office_id, audit_checkpoints.c.tree_size == size
        )
    ).one_or_none()
    if existing is not None:
        return _checkpoint_from_row(existing)
    root = merkle.tree_root(e.leaf_hash for e in entries(conn, office_id, stop=size))
    body = canonical_json(
        {
            "office": office_id,
            "tree_size": size,
            "root_hash": root.hex(),
            "last_entry_hash": last_hash,
            "time": _iso(at or _now()),
        }
    )
    signature = signer.sign_bytes(body) if signer is not None else None
    certificate = signer.certificate_pem if signer is not None else None
    conn.execute(
        insert(audit_checkpoints).values(
            office_id=office_id,
            tree_size=size,
            root_hash=root.hex(),
            created_at=at or _now(),
            body=body.decode("utf-8"),
            signature=signature,
            certificate=certificate,
        )
    )
    return Checkpoint(office_id, size, root.hex(), body, signature, certificate)


def _checkpoint_from_row(row: Any) -> Checkpoint:
    return Checkpoint(
        row.office_id,
        int(row.tree_size),
        row.root_hash,
        row.body.encode("utf-8"),
        row.signature,
        row.certificate,
    )


def checkpoints(conn: Connection, office_id: str) -> list[Checkpoint]:
    """Every checkpoint of the office, smallest first."""
    rows = conn.execute(
        select(audit_checkpoints)
        .where(audit_checkpoints.c.office_id == office_id)
        .order_by(audit_checkpoints.c.tree_size)
    )
    return [_checkpoint_from_row(row) for row in rows]


def latest_checkpoint(conn: Connection, office_id: str) -> Checkpoint | None:
    """The newest checkpoint, or None before the first."""
    found = checkpoints(conn, office_id)
    return found[-1] if found else None
