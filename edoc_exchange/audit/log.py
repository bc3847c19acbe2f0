"""The append-only audit log: one append function, hash-chained entries, signed checkpoints.

Every entry is canonical JSON (sorted keys, no spaces, UTF-8, NFC text) holding its own
sequence number, the office, the event, the time, the event's data and the hash of the
previous entry. Its ``entry_hash`` (SHA-256 of the JSON) chains it to the next entry; the
same JSON is an RFC 6962 Merkle leaf. Periodic checkpoints record the tree size and root
and are signed with the office's key, so that rewriting the whole chain is detected too.
A checkpoint also records (signed) the tree's right edge, its *frontier*, so the next one
folds only the entries added since; it only ever extends the office's previous signed
checkpoint, and is also appended to a checkpoint file outside the database when given one.

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
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from sqlalchemy import Connection, insert, select, update
from sqlalchemy import event as sa_event

from ..store.tables import audit_checkpoints, audit_entries, audit_heads
from . import merkle
from ._errors import AuditVerificationError
from .checkpoint import Checkpoint, signature_verifies
from .checkpoint_file import append_checkpoint, last_filed_checkpoint

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
        """The PEM certificate whose key signs (then, optionally, its chain)."""
        ...

    def sign_bytes(self, data: bytes) -> bytes:
        """Sign ``data`` (RSA PKCS#1 v1.5 or ECDSA, with SHA-256)."""
        ...


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
    """Every checkpoint of the office, smallest first (for verification, which is linear)."""
    rows = conn.execute(
        select(audit_checkpoints)
        .where(audit_checkpoints.c.office_id == office_id)
        .order_by(audit_checkpoints.c.tree_size)
    )
    return [_checkpoint_from_row(row) for row in rows]


def latest_checkpoint(conn: Connection, office_id: str) -> Checkpoint | None:
    """The newest checkpoint, or None before the first: one query on the primary key."""
    row = conn.execute(
        select(audit_checkpoints)
        .where(audit_checkpoints.c.office_id == office_id)
        .order_by(audit_checkpoints.c.tree_size.desc())
        .limit(1)
    ).one_or_none()
    return _checkpoint_from_row(row) if row is not None else None


def _not_signing(seq: int | None, vi: str, en: str) -> AuditVerificationError:
    return AuditVerificationError(
        seq,
        f"Không ký điểm kiểm tra: {vi}",
        f"not signing a checkpoint: {en}",
        step="audit checkpoint (signing)",
    )


def _signer_key(signer: CheckpointSigner | None) -> Any:
    if signer is None:
        return None
    return x509.load_pem_x509_certificates(signer.certificate_pem)[0].public_key()


def _usable_base(
    candidate: Checkpoint, office_id: str, key: Any
) -> merkle.MerkleAccumulator | None:
    """The Merkle state to extend, if ``candidate`` is the office's own signed checkpoint.

    A base must be signed by the key that signs now (the database may hold a checkpoint
    someone else made, and the office must never sign an extension of it); without a
    signer, only unsigned checkpoints qualify. After a key change there is no base, and the
    first checkpoint with the new key recomputes from the first entry.
    """
    if candidate.fields().get("office") != office_id:
        return None
    if key is None:
        signed_by_us = candidate.signature is None
    else:
        signed_by_us = candidate.signature is not None and signature_verifies(
            key, candidate.signature, candidate.body
        )
    return candidate.accumulator() if signed_by_us else None


def _file_on_commit(conn: Connection, path: Path, checkpoint: Checkpoint) -> None:
    """Append ``checkpoint`` to the checkpoint file when the caller's transaction commits.

    Written as the commit starts (the head row is still locked, so lines stay in order); a
    failure to write aborts the commit, so the database never holds a checkpoint the file
    lacks because of a full disk. A rollback (also of a savepoint) cancels the write.
    """
    state = {"pending": True}

    def on_commit(_conn: Connection) -> None:
        if state["pending"]:
            state["pending"] = False
            append_checkpoint(path, checkpoint)

    def on_rollback(*_args: Any) -> None:
        state["pending"] = False

    sa_event.listen(conn, "commit", on_commit, once=True)
    sa_event.listen(conn, "rollback", on_rollback, once=True)
    sa_event.listen(conn, "rollback_savepoint", on_rollback, once=True)


def make_checkpoint(
    conn: Connection,
    office_id: str,
    signer: CheckpointSigner | None,
    *,
    at: dt.datetime | None = None,
    checkpoint_file: Path | None = None,
) -> Checkpoint:
    """Record (and sign, when a signer is given) a checkpoint of the log as it is now.

    The head row stays locked while the root is computed, so the checkpoint describes a
    real state of the log. Re-checkpointing an unchanged log returns the existing one.

    The work is proportional to the entries added since the office's last checkpoint: its
    signed frontier is resumed and only the new entries are read. The new checkpoint only
    ever *extends* the last one (in the database, or in ``checkpoint_file`` when that one
    is newer): if the entries no longer chain from it, or the log holds fewer entries than
    a checkpoint records, nothing is signed and :class:`AuditVerificationError` says why.
    So the office key never signs a history that contradicts what it signed before. Without
    a checkpoint file, an attacker who deleted every checkpoint row leaves nothing to extend,
    and the log is then signed as found (``edoc audit verify --checkpoints`` catches that).

    ``checkpoint_file``: also append the checkpoint there when the caller's transaction
    commits (the file is created if missing); raises CheckpointFileError if it cannot be
    written, which aborts the commit.
    """
    size, last_hash = _lock_head(conn, office_id)
    latest = latest_checkpoint(conn, office_id)
    filed = last_filed_checkpoint(checkpoint_file, office_id) if checkpoint_file else None
    known = [cp for cp in (latest, filed) if cp is not None]
    for cp in known:
        if cp.tree_size > size:
            where = "tệp điểm kiểm tra" if cp is filed else "cơ sở dữ liệu"
            where_en = "the checkpoint file" if cp is filed else "the database"
            raise _not_signing(
                size,
                f"điểm kiểm tra {cp.tree_size} ({cp.time}) trong {where} ghi {cp.tree_size} mục "
                f"nhưng nhật ký chỉ còn {size}: các mục cuối đã bị xóa",
                f"checkpoint {cp.tree_size} ({cp.time}) in {where_en} records {cp.tree_size} "
                f"entries but the log holds {size}: entries at the end were deleted",
            )
    if latest is not None and latest.tree_size == size:
        if checkpoint_file is not None and (filed is None or filed.tree_size < size):
            _file_on_commit(conn, checkpoint_file, latest)
        return latest

    # 1. The state to extend: the newest of our own signed checkpoints that keeps a frontier.
    key = _signer_key(signer)
    acc, prev, start = merkle.MerkleAccumulator(), GENESIS, 0
    for cp in sorted(known, key=lambda c: c.tree_size, reverse=True):
        base = _usable_base(cp, office_id, key)
        if base is not None:
            acc, prev, start = base, str(cp.fields().get("last_entry_hash")), cp.tree_size
            break
    # Checkpoints beyond the base (another key's, or without a frontier) are still compared.
    must_match = {cp.tree_size: cp for cp in known if cp.tree_size > start}

    # 2. Fold the new entries, checking that they chain from the base.
    for entry in entries(conn, office_id, start=start, stop=size):
        if entry.seq != acc.size:
            raise _not_signing(acc.size, f"thiếu mục {acc.size}", f"entry {acc.size} is missing")
        if hashlib.sha256(entry.body).hexdigest() != entry.entry_hash or entry.prev_hash != prev:
            raise _not_signing(
                entry.seq,
                f"mục {entry.seq} không nối tiếp điểm kiểm tra {start} đã ký (nhật ký bị sửa)",
                f"entry {entry.seq} does not extend signed checkpoint {start} "
                "(the log was altered)",
            )
        acc.append(entry.leaf_hash)
        prev = entry.entry_hash
        match = must_match.get(acc.size)
        if match is not None and match.fields().get("root_hash") != acc.root().hex():
            raise _not_signing(
                acc.size - 1,
                f"các mục 0..{acc.size - 1} không khớp điểm kiểm tra {acc.size} đã ký",
                f"entries 0..{acc.size - 1} do not match signed checkpoint {acc.size}",
            )
    if acc.size != size:
        raise _not_signing(
            acc.size,
            f"đầu nhật ký ghi {size} mục nhưng đọc được {acc.size} (mục cuối bị xóa)",
            f"the log head records {size} entries but {acc.size} were read "
            "(entries at the end were deleted)",
        )
    if prev != last_hash:
        raise _not_signing(
            size - 1,
            f"mục cuối {size - 1} không khớp đầu nhật ký hoặc điểm kiểm tra {start} đã ký "
            "(nhật ký bị sửa)",
            f"the last entry {size - 1} does not match the log head or signed checkpoint "
            f"{start} (the log was altered)",
        )

    # 3. Sign the new state, frontier included (the next checkpoint resumes from it).
    root = acc.root()
    body = canonical_json(
        {
            "office": office_id,
            "tree_size": size,
            "root_hash": root.hex(),
            "last_entry_hash": prev,
            "time": _iso(at or _now()),
            "frontier": [h.hex() for h in acc.frontier()],
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
    made = Checkpoint(office_id, size, root.hex(), body, signature, certificate)
    if checkpoint_file is not None:
        _file_on_commit(conn, checkpoint_file, made)
    return made
