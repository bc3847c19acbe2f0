"""The local axis's SQLite database (SQLAlchemy 2) and its content-addressed file store.

Tables: ``messages`` (one per accepted send, unique by its de-duplication key),
``deliveries`` (one per recipient: the receiver's DocId and its state) and ``agencies``
(the directory, reloaded from its file at start). Systems and secrets stay in the config
file: the database never holds a secret. SQLite runs in WAL mode so listing while another
system sends does not block.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import (
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    create_engine,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ...store import sqlite_pragmas
from ...vntime import as_utc

__all__ = [
    "AgencyRow",
    "Base",
    "BlobStore",
    "DeliveryRow",
    "DeliveryState",
    "MessageRow",
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


class Base(DeclarativeBase):
    pass


class MessageRow(Base):
    """A message the axis accepted, as the sender sent it."""

    __tablename__ = "messages"

    doc_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    sender_organ: Mapped[str] = mapped_column(String(64))
    sender_system: Mapped[str] = mapped_column(String(128))
    document_id: Mapped[str | None] = mapped_column(String(256))
    #: sender | kind | DocumentId | file SHA-256: the same message sent again has the same key
    dedup_key: Mapped[str] = mapped_column(String(64), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    #: SHA-256 (file name in the blob store) of the bytes delivered to recipients
    delivered_sha256: Mapped[str] = mapped_column(String(64))
    delivered_size: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(String(600))
    notation: Mapped[str | None] = mapped_column(String(64))
    response_for: Mapped[str | None] = mapped_column(String(256))
    status_code: Mapped[str | None] = mapped_column(String(8))
    trace_organ: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)

    deliveries: Mapped[list[DeliveryRow]] = relationship(back_populates="message")

    @property
    def created(self) -> dt.datetime:
        return as_utc(self.created_at)


class DeliveryRow(Base):
    """One recipient's copy of a message: the receiver's DocId and its state."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_inbox", "to_organ", "kind", "state"),)

    doc_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.doc_id"), index=True)
    to_organ: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(12), default=DeliveryState.PENDING.value)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    fetched_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: the last StatusCode this recipient sent back about the message (documents only)
    last_status_code: Mapped[str | None] = mapped_column(String(8))

    message: Mapped[MessageRow] = relationship(back_populates="deliveries")


class AgencyRow(Base):
    """An organisation of the directory."""

    __tablename__ = "agencies"

    organ_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    parent_id: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(200))
    telephone: Mapped[str | None] = mapped_column(String(50))
    address: Mapped[str | None] = mapped_column(String(300))


def open_engine(path: Path) -> Engine:
    """The one place the local axis opens its database: WAL, foreign keys, busy timeout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # The store's one SQLite setup: durable like the real axis, which keeps what it
        # answered DocIds for.
        sqlite_pragmas(dbapi_connection)

    Base.metadata.create_all(engine)
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
