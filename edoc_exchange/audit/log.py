"""The audit log read back, and its signed checkpoints.

Entries (their format: :mod:`.entry`) are appended by :mod:`.appending`, inside the
caller's transaction, a step's events in one statement under the office's head row.
Periodic checkpoints record the tree size and root and are signed with the office's key,
so that rewriting the whole chain is detected too. A checkpoint also records (signed) the
tree's right edge, its *frontier*, so the next one folds only the entries added since; it
only ever extends the office's previous signed checkpoint, and is also appended to a
checkpoint file outside the database when given one.

This module re-exports the entry format and the append functions under their old names
(``audit.log.GENESIS``, ``audit.log.append``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from sqlalchemy import BindParameter, Connection, bindparam, insert, select
from sqlalchemy import event as sa_event

from ..store.tables import audit_checkpoints, audit_entries, audit_heads
from . import merkle
from ._errors import AuditVerificationError
from .appending import Pending, append, batch, create_log, flush, locked_head
from .checkpoint import Checkpoint, signature_verifies
from .checkpoint_file import append_checkpoint, last_filed_checkpoint
from .entry import GENESIS, AuditEntry, AuditEvent, canonical_json, iso, now

__all__ = [
    "GENESIS",
    "AuditEntry",
    "AuditEvent",
    "Checkpoint",
    "CheckpointSigner",
    "Pending",
    "append",
    "batch",
    "canonical_json",
    "create_log",
    "entries",
    "flush",
    "last_event",
    "latest_checkpoint",
    "log_size",
    "make_checkpoint",
]

_office: BindParameter[str] = bindparam("office_id")
_ENTRIES = (
    select(audit_entries)
    .where(audit_entries.c.office_id == _office, audit_entries.c.seq >= bindparam("start"))
    .order_by(audit_entries.c.seq)
    # On the statement: Connection.execution_options() changes the caller's connection in
    # place, and on PostgreSQL every later statement in its transaction (the checkpoint's
    # INSERT) would then run through a server-side cursor and fail.
    .execution_options(yield_per=5000)
)
_ENTRIES_UNTIL = _ENTRIES.where(audit_entries.c.seq < bindparam("stop"))
_LOG_SIZE = select(audit_heads.c.size).where(audit_heads.c.office_id == _office)
_LAST_EVENT = (
    select(audit_entries)
    .where(audit_entries.c.office_id == _office, audit_entries.c.event == bindparam("event"))
    .order_by(audit_entries.c.seq.desc())
    .limit(1)
)
_CHECKPOINTS = (
    select(audit_checkpoints)
    .where(audit_checkpoints.c.office_id == _office)
    .order_by(audit_checkpoints.c.tree_size)
)
_LATEST_CHECKPOINT = (
    select(audit_checkpoints)
    .where(audit_checkpoints.c.office_id == _office)
    .order_by(audit_checkpoints.c.tree_size.desc())
    .limit(1)
)
_ADD_CHECKPOINT = insert(audit_checkpoints)


def _entry_from_row(row: Any) -> AuditEntry:
    return AuditEntry(
        row.office_id,
        int(row.seq),
        row.event,
        row.body.encode("utf-8"),
        row.prev_hash,
        row.entry_hash,
    )


def entries(
    conn: Connection, office_id: str, *, start: int = 0, stop: int | None = None
) -> Iterator[AuditEntry]:
    """The office's entries in sequence order, streamed (a log may hold millions)."""
    params: dict[str, Any] = {"office_id": office_id, "start": start}
    query = _ENTRIES
    if stop is not None:
        query, params["stop"] = _ENTRIES_UNTIL, stop
    for row in conn.execute(query, params):
        yield _entry_from_row(row)


def log_size(conn: Connection, office_id: str) -> int:
    """How many entries the office's log holds (its head row; 0 before the first)."""
    size = conn.execute(_LOG_SIZE, {"office_id": office_id}).scalar_one_or_none()
    return int(size or 0)


def last_event(conn: Connection, office_id: str, event: AuditEvent | str) -> AuditEntry | None:
    """The office's most recent entry of ``event``, or None."""
    row = conn.execute(_LAST_EVENT, {"office_id": office_id, "event": str(event)}).one_or_none()
    return _entry_from_row(row) if row is not None else None


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
    rows = conn.execute(_CHECKPOINTS, {"office_id": office_id})
    return [_checkpoint_from_row(row) for row in rows]


def latest_checkpoint(conn: Connection, office_id: str) -> Checkpoint | None:
    """The newest checkpoint, or None before the first: one query on the primary key."""
    row = conn.execute(_LATEST_CHECKPOINT, {"office_id": office_id}).one_or_none()
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
    size, last_hash = locked_head(conn, office_id)
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
    when = at or now()
    body = canonical_json(
        {
            "office": office_id,
            "tree_size": size,
            "root_hash": root.hex(),
            "last_entry_hash": prev,
            "time": iso(when),
            "frontier": [h.hex() for h in acc.frontier()],
        }
    )
    signature = signer.sign_bytes(body) if signer is not None else None
    certificate = signer.certificate_pem if signer is not None else None
    conn.execute(
        _ADD_CHECKPOINT,
        {
            "office_id": office_id,
            "tree_size": size,
            "root_hash": root.hex(),
            "created_at": when,
            "body": body.decode("utf-8"),
            "signature": signature,
            "certificate": certificate,
        },
    )
    made = Checkpoint(office_id, size, root.hex(), body, signature, certificate)
    if checkpoint_file is not None:
        _file_on_commit(conn, checkpoint_file, made)
    return made
