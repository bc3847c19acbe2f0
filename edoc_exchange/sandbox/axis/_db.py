"""The local axis's SQLite database (SQLAlchemy Core) and its content-addressed file store.

Tables: ``messages`` (one per accepted send, unique by its de-duplication key),
``deliveries`` (one per recipient: the receiver's DocId and its state) and ``agencies``
(the directory, reloaded from its file at start). Systems and secrets stay in the config
file: the database never holds a secret. SQLite runs in WAL mode so listing while another
system sends does not block.
"""

from __future__ import annotations

import enum
import hashlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
)

from ...store import sqlite_pragmas

__all__ = [
    "OPEN_STATES",
    "BlobStore",
    "DeliveryState",
    "agencies",
    "deliveries",
    "messages",
    "metadata",
    "open_engine",
]


class DeliveryState(enum.StrEnum):
    """Where one recipient's copy stands. Listed while pending, fetched or processing."""

    PENDING = "pending"  #: in the inbox, never fetched
    FETCHED = "fetched"  #: fetched at least once, not yet acknowledged (will be listed again)
    PROCESSING = "processing"  #: acknowledged as being handled: still listed
    DONE = "done"  #: acknowledged as taken in: no longer listed
    FAIL = "fail"  #: acknowledged as refused/unreadable: no longer listed


OPEN_STATES = (DeliveryState.PENDING, DeliveryState.FETCHED, DeliveryState.PROCESSING)


metadata = MetaData()

#: A message the axis accepted, as the sender sent it.
messages = Table(
    "messages",
    metadata,
    Column("doc_id", String(40), primary_key=True),
    Column("kind", String(10), nullable=False),
    Column("sender_organ", String(64), nullable=False),
    Column("sender_system", String(128), nullable=False),
    Column("document_id", String(256)),
    #: sender | kind | DocumentId | file SHA-256: the same message sent again has the same key
    Column("dedup_key", String(64), nullable=False, unique=True),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    #: SHA-256 (file name in the blob store) of the bytes delivered to recipients
    Column("delivered_sha256", String(64), nullable=False),
    Column("delivered_size", Integer, nullable=False),
    Column("title", String(600)),
    Column("notation", String(64)),
    Column("response_for", String(256)),
    Column("status_code", String(8)),
    Column("trace_organ", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    # A status message finds the document it answers by DocumentId.
    Index("ix_messages_document", "document_id", "kind"),
)

#: One recipient's copy of a message: the receiver's DocId and its state.
deliveries = Table(
    "deliveries",
    metadata,
    Column("doc_id", String(40), primary_key=True),
    Column("message_id", ForeignKey("messages.doc_id"), nullable=False, index=True),
    Column("to_organ", String(64), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("state", String(12), nullable=False, default=DeliveryState.PENDING.value),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("fetched_at", DateTime),
    #: the last StatusCode this recipient sent back about the message (documents only)
    Column("last_status_code", String(8)),
    Index("ix_deliveries_inbox", "to_organ", "kind", "state"),
)

#: An organisation of the directory.
agencies = Table(
    "agencies",
    metadata,
    Column("organ_id", String(64), primary_key=True),
    Column("name", String(300), nullable=False, default=""),
    Column("parent_id", String(64)),
    Column("email", String(200)),
    Column("telephone", String(50)),
    Column("address", String(300)),
)


def open_engine(path: Path) -> Engine:
    """The one place the local axis opens its database: WAL, foreign keys, busy timeout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # The store's one SQLite setup: durable like the real axis, which keeps what it
        # answered DocIds for.
        sqlite_pragmas(dbapi_connection)

    metadata.create_all(engine)
    # Indexes added after a database was made (create_all makes only missing tables).
    for table in metadata.tables.values():
        for index in table.indexes:
            index.create(engine, checkfirst=True)
    return engine


class BlobStore:
    """Message files by SHA-256, written to a temporary name and renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def temp(self) -> Path:
        """A fresh temporary file name inside the store (same file system: rename is atomic)."""
        return self.root / f".incoming-{secrets.token_hex(8)}"

    def commit(self, temp: Path, sha256: str) -> Path:
        """Move a finished temporary file into place (keeping an identical existing one)."""
        target = self.path(sha256)
        target.parent.mkdir(exist_ok=True)
        if target.exists():
            temp.unlink(missing_ok=True)
        else:
            os.replace(temp, target)
        return target

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        """Store bytes; return their SHA-256 and size."""
        return self.put_chunks([data])

    def put_chunks(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store a stream of bytes (never held whole in memory); return SHA-256 and size."""
        digest = hashlib.sha256()
        size = 0
        temp = self.temp()
        try:
            with temp.open("wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            sha256 = digest.hexdigest()
            self.commit(temp, sha256)
        finally:
            temp.unlink(missing_ok=True)
        return sha256, size
