"""Large received messages on files (issue 11): judged on the file, kept as blobs.

The inbox keeps a large message's signed content (or, for a rejection, the bytes as
delivered) as a content-addressed blob beside the database, the row its hash and size;
extraction streams from the blob. Bad inputs become clear rejections, stored as evidence;
nothing stored before is lost, and no temporary file is left.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from signing_fixtures import RECEIVER, SENDER, document, pki
from sqlalchemy import select

from edoc_exchange import edxml, signing
from edoc_exchange.axis import FetchedFile
from edoc_exchange.edxml import large
from edoc_exchange.office import large as office_large
from edoc_exchange.store import (
    Database,
    InboxVerdict,
    MessageForm,
    StoreError,
    open_database,
    upgrade,
)
from edoc_exchange.store import inbox as inbox_store
from edoc_exchange.store.blobs import BlobStore, StagedFile
from edoc_exchange.store.tables import inbox

FILE_PATH = edxml.ReadLimits(large_message_bytes=0)  # every message judged on its file
NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def signed() -> bytes:
    return signing.sign(document(attachments=2, size=200_000), pki().signer())


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = open_database(f"sqlite:///{tmp_path / 'edoc.sqlite3'}")
    upgrade(database)
    return database


def _fetched(folder: Path, data: bytes, name: str = "item.edxml") -> FetchedFile:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return FetchedFile(path, len(data), hashlib.sha256(data).hexdigest())


def _receive(
    db: Database, folder: Path, data: bytes, axis_doc_id: str, limits: edxml.ReadLimits = FILE_PATH
) -> tuple[inbox_store.InboxRow, bool, office_large.Judgement]:
    fetched = _fetched(folder, data, f"{axis_doc_id}.edxml")
    judged = None
    try:
        judged = office_large.judge_fetched(
            fetched, pki().policy(), axis_doc_id=axis_doc_id, listed_sender=SENDER, limits=limits
        )
        record = judged.record
        blobs = BlobStore.beside(db.engine)
        with db.transaction() as conn:
            if isinstance(record, inbox_store.VerifiedRecord):
                row, new = inbox_store.store_incoming_verified(
                    conn, record, office_id=RECEIVER, axis_doc_id=axis_doc_id, state="01",
                    now=NOW, blobs=blobs,
                )
            else:
                row, new = inbox_store.store_incoming_rejected(
                    conn, record, office_id=RECEIVER, axis_doc_id=axis_doc_id, state="02",
                    now=NOW, blobs=blobs,
                )
        return row, new, judged
    finally:
        office_large.discard(fetched, judged)


def test_a_large_message_is_kept_as_a_blob_and_extracted(
    tmp_path: Path, db: Database, signed: bytes
) -> None:
    folder = tmp_path / "in"
    row, new, judged = _receive(db, folder, signed, "a1")
    assert new
    assert row.verdict is InboxVerdict.VERIFIED
    assert isinstance(judged.verified, signing.LargeVerifiedMessage)
    assert list(folder.iterdir()) == []  # temporary files removed
    blobs = BlobStore.beside(db.engine)
    with db.read() as conn:
        stored = conn.execute(select(inbox.c.message, inbox.c.sha256)).one()
        doc = inbox_store.verified_document(conn, row, blobs=blobs)
        bare = inbox_store.verified_document(conn, row)  # the clerk's projection: no bytes
    assert (bare.content, bare.content_file, bare.content_blob) == (b"", None, row.message_blob)
    assert stored.message == b""
    assert doc.content_file is not None
    kept = doc.content_file.read_bytes()
    assert stored.sha256 == row.message_blob == hashlib.sha256(kept).hexdigest()
    assert row.message_size == len(kept)
    assert kept == signing.signed_message(signing.verify(signed, pki().policy()))
    assert doc.content_file == blobs.path(stored.sha256)
    written = large.extract_file(doc.content_file, tmp_path / "out")
    want = document(attachments=2, size=200_000).attachments
    assert [p.read_bytes() for p in written] == [a.data for a in want]
    with pytest.raises(FileExistsError):
        large.extract_file(doc.content_file, tmp_path / "out")
    # Delivered again: recognised, nothing new, nothing left behind.
    again, new_again, _ = _receive(db, folder, signed, "a1")
    assert (again.id, new_again) == (row.id, False)
    assert list(folder.iterdir()) == []


def _tampered(signed: bytes) -> bytes:
    at = signed.index(b"<edXML:ContentTransferEncoded>") + 30 + 100_000
    return signed[:at] + (b"B" if signed[at : at + 1] != b"B" else b"C") + signed[at + 1 :]


def _doctype(signed: bytes) -> bytes:
    at = signed.index(b"<edXML ")
    return signed[:at] + b'<!DOCTYPE x [<!ENTITY a "&#38;a;">]>\n' + signed[at:]


@pytest.mark.parametrize(
    ("name", "limits", "expected"),
    [
        ("tampered", FILE_PATH, "digest-mismatch"),
        ("doctype", FILE_PATH, "DOCTYPE"),
        ("too-large", edxml.ReadLimits(large_message_bytes=0, max_bytes=100_000), "100000"),
        ("attachments", edxml.ReadLimits(large_message_bytes=0, max_attachments=1), "limit is 1"),
    ],
)
def test_bad_inputs_are_clear_rejections_and_lose_nothing(
    tmp_path: Path, db: Database, signed: bytes, name: str, limits: edxml.ReadLimits,
    expected: str,
) -> None:
    folder = tmp_path / "in"
    good, _, _ = _receive(db, folder, signed, "good")
    data = {"tampered": _tampered, "doctype": _doctype}.get(name, lambda d: d)(signed)
    row, new, _judged = _receive(db, folder, data, "bad", limits)
    assert new
    assert row.verdict is InboxVerdict.REJECTED
    assert row.message_form is MessageForm.RAW
    assert row.reason is not None
    assert expected in row.reason
    assert "Traceback" not in row.reason
    assert row.message_blob == hashlib.sha256(data).hexdigest()  # evidence, as delivered
    blobs = BlobStore.beside(db.engine)
    assert blobs.path(row.message_blob).read_bytes() == data
    assert list(folder.iterdir()) == []
    with db.read() as conn:  # what was stored before is intact
        doc = inbox_store.verified_document(conn, good, blobs=blobs)
    assert doc.content_file is not None
    assert signing.verify(doc.content_file, pki().policy()).message.sender.organ_id == SENDER


def test_a_blob_that_does_not_match_is_not_kept(tmp_path: Path) -> None:
    staged = tmp_path / "x"
    staged.write_bytes(b"abc")
    blobs = BlobStore(tmp_path / "blobs")
    wrong = StagedFile(staged, 3, hashlib.sha256(b"abd").hexdigest())
    with pytest.raises(StoreError):
        blobs.put(wrong)
    assert not blobs.path(wrong.sha256).exists()
    assert staged.read_bytes() == b"abc"
    right = StagedFile(staged, 3, hashlib.sha256(b"abc").hexdigest())
    assert blobs.put(right).read_bytes() == b"abc"
    with pytest.raises(StoreError):
        blobs.open(right.sha256, size=4)


def test_a_missing_blob_is_a_clear_error(tmp_path: Path, db: Database, signed: bytes) -> None:
    row, _, _ = _receive(db, tmp_path / "in", signed, "m1")
    blobs = BlobStore.beside(db.engine)
    assert row.message_blob is not None
    blobs.path(row.message_blob).unlink()
    with db.read() as conn, pytest.raises(StoreError) as info:
        inbox_store.verified_document(conn, row, blobs=blobs)
    assert "missing" in info.value.en


def test_a_small_message_is_judged_in_memory_as_before(
    tmp_path: Path, db: Database, signed: bytes
) -> None:
    row, new, judged = _receive(db, tmp_path / "in", signed, "s1", edxml.DEFAULT_LIMITS)
    assert new
    assert row.message_blob is None
    assert not isinstance(judged.verified, signing.LargeVerifiedMessage)


def test_a_large_outgoing_message_is_queued_as_a_blob_and_sent_streamed(
    tmp_path: Path, db: Database, signed: bytes
) -> None:
    import httpx

    from edoc_exchange.axis import AxisClient
    from edoc_exchange.axis._wire import SEND_TRAILER, HashStyle, hash_file
    from edoc_exchange.config import AxisSettings
    from edoc_exchange.store import outbox as outbox_store

    staged_path = tmp_path / "out.edxml"
    staged_path.write_bytes(signed)
    sha = hashlib.sha256(signed).hexdigest()
    staged = StagedFile(staged_path, len(signed), sha)
    blobs = BlobStore.beside(db.engine)
    with db.transaction() as conn:
        row_id, new = outbox_store.enqueue_file(
            conn, office_id=SENDER, kind="edoc", document_id="d", staged=staged, blobs=blobs,
            recipients=[RECEIVER], now=NOW,
        )
        again, new_again = outbox_store.enqueue_file(
            conn, office_id=SENDER, kind="edoc", document_id="d", staged=staged, blobs=blobs,
            recipients=[RECEIVER], now=NOW,
        )
    assert new
    assert (again, new_again) == (row_id, False)
    with db.read() as conn:
        row = outbox_store.get(conn, row_id)
    assert (row.message, row.message_blob, row.message_size) == (b"", sha, len(signed))
    source = outbox_store.message_source(row, blobs)
    assert isinstance(source, Path)
    with pytest.raises(StoreError):
        outbox_store.message_source(row)
    seen: list[tuple[bytes, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.read(), request.headers["XroadVnpt-hash-file"]))
        return httpx.Response(200, json={"status": "OK", "ErrorCode": "0", "DocId": "x1"})

    settings = AxisSettings(endpoint="http://axis", systemid="s", secret="s3cret", retries=0)
    with AxisClient(settings, transport=httpx.MockTransport(answer)) as client:
        assert client.send(source, sender=SENDER).doc_id == "x1"
    body, hashed = seen[0]
    assert body == signed + SEND_TRAILER
    assert hashed == hash_file(bytes.fromhex(sha), HashStyle.SDK)


def test_a_postgresql_office_keeps_large_messages_only_in_a_named_blob_folder(
    pg_server: object, tmp_path: Path
) -> None:
    """Beside PostgreSQL there is no database file to put blobs next to: without ``[store]
    blob_dir`` a large message is refused storage with an error naming that setting (the
    item stays listed at the axis); with it, blobs go there."""
    from postgres import PostgresServer

    from edoc_exchange.office import Office, OfficeIdentity
    from edoc_exchange.store import StoreError, open_database, upgrade

    assert isinstance(pg_server, PostgresServer)
    db = open_database(pg_server.create_database("blob_dir"))
    upgrade(db)
    office = Office(
        identity=OfficeIdentity(organ_id=RECEIVER, organ_name="UBND huyện"),
        db=db,
        client=None,
        signer=None,
        policy=None,
        worker="t",
    )
    with pytest.raises(StoreError, match=r"\[store\] blob_dir"):
        office_large.blob_store(office)
    office.blob_dir = tmp_path / "blobs"
    assert office_large.blob_store(office).folder == tmp_path / "blobs"
    db.dispose()
