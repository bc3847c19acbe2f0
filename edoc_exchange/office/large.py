"""Receiving on files (issue 11): a delivered item is fetched to a file, verified on the
file when it is large, and kept as a blob; memory stays a small multiple of a chunk.

What the receiving path calls, in order, for one claimed item (see ``receiving``)::

    fetched = fetch_item(office.axis, item, folder)       # AxisError: nothing to clean
    try:
        judged = judge_fetched(fetched, office.trust(), axis_doc_id=item.doc_id,
                               listed_sender=item.sender)
        with office.db.transaction() as conn:
            store_incoming_verified(conn, judged.record, ..., blobs=blob_store(office))
            #  or store_incoming_rejected(conn, judged.record, ..., blobs=blob_store(office))
            # audit RECEIVED's "sha256" is fetched.sha256 (of the bytes as delivered)
    finally:
        discard(fetched, judged)                           # temporary files removed

A small item (under ``ReadLimits.large_message_bytes``) is judged in memory by
:func:`._inbound.judge`, exactly as before; a large one by :func:`signing.verify_file`,
its signed message and evidence kept as blobs (``store.blobs``).
"""

from __future__ import annotations

import re
from pathlib import Path

from .. import edxml, signing
from ..axis import AxisClient, FetchedFile, ReceivedItem
from ..edxml import large
from ..store import inbox as inbox_store
from ..store.blobs import BlobStore, StagedFile
from ._inbound import Judgement, decide, judge, rejection
from ._office import Office

__all__ = ["Judgement", "blob_store", "discard", "fetch_item", "judge_fetched", "judge_file"]


def blob_store(office: Office) -> BlobStore:
    """The office's blob folder: ``[store] blob_dir``, or beside its SQLite database
    (StoreError naming the setting for a PostgreSQL store without one)."""
    if office.blob_dir is not None:
        return BlobStore(office.blob_dir)
    return BlobStore.beside(office.db.engine)


def fetch_item(
    axis: AxisClient,
    item: ReceivedItem,
    folder: str | Path,
    *,
    limits: edxml.ReadLimits = edxml.DEFAULT_LIMITS,
) -> FetchedFile:
    """Fetch a listed item into ``folder`` with ``axis`` (the office's ``office.axis``):
    streamed, refused past ``limits.max_bytes`` (AxisProtocolError naming the limit)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", item.doc_id)[:100] or "item"
    return axis.fetch_to_file(
        item.doc_id, Path(folder) / f"{name}.edxml", max_bytes=limits.max_bytes, size=item.size or 0
    )


def judge_fetched(
    fetched: FetchedFile,
    policy: signing.TrustPolicy,
    *,
    axis_doc_id: str,
    listed_sender: str | None,
    limits: edxml.ReadLimits = edxml.DEFAULT_LIMITS,
) -> Judgement:
    """Judge a fetched item: in memory when small, on its file when large."""
    if fetched.size < limits.large_message_bytes:
        data = fetched.path.read_bytes()
        return judge(data, policy, axis_doc_id=axis_doc_id, listed_sender=listed_sender)
    return judge_file(
        fetched, policy, axis_doc_id=axis_doc_id, listed_sender=listed_sender, limits=limits
    )


def judge_file(
    fetched: FetchedFile,
    policy: signing.TrustPolicy,
    *,
    axis_doc_id: str,
    listed_sender: str | None,
    limits: edxml.ReadLimits = edxml.DEFAULT_LIMITS,
) -> Judgement:
    """:func:`._inbound.judge` for a message verified on its file.

    A verified record carries the signed message as a file (``signed_file``), a rejection
    the bytes as delivered (``evidence_file``); the store keeps either as a blob.
    """
    fallback_id = f"axis:{axis_doc_id}"
    evidence = StagedFile(fetched.path, fetched.size, fetched.sha256)
    try:
        verified = signing.verify_file(fetched.path, policy, limits=limits)
    except (signing.SignatureError, edxml.EdxmlError) as exc:
        return _rejection(evidence, exc.diagnostics(), fallback_id, listed_sender, limits)

    def reject(reason: str, message: edxml.Document | edxml.StatusMessage) -> Judgement:
        _remove(verified.signed_file)  # refused: its signed copy is not kept
        return _rejection(evidence, reason, fallback_id, None, limits, message)

    return decide(verified, policy, fallback_id=fallback_id, reject=reject)


def _rejection(
    evidence: StagedFile,
    reason: str,
    fallback_id: str,
    listed_sender: str | None,
    limits: edxml.ReadLimits,
    message: edxml.Document | edxml.StatusMessage | None = None,
) -> Judgement:
    if message is None:
        message = _claimed_file(evidence.path, limits)
    return rejection(
        evidence, reason, message, fallback_id=fallback_id, listed_sender=listed_sender
    )


def _claimed_file(
    path: Path, limits: edxml.ReadLimits
) -> edxml.Document | edxml.StatusMessage | None:
    """Best-effort header of a large message that failed verification, to answer it."""
    from lxml import etree

    from ..edxml.untrusted import untrusted_parser

    try:
        skeleton = large.skeletonize(path, limits)
        root = etree.fromstring(skeleton.data, untrusted_parser(recover=True))
        return edxml.read_tree(root, limits=limits).message
    except edxml.EdxmlReadError as exc:
        return exc.partial.message if exc.partial is not None else None
    except (OSError, etree.XMLSyntaxError, ValueError):
        return None


def discard(fetched: FetchedFile | None, judged: Judgement | None = None) -> None:
    """Remove the temporary files of one item (the blob store keeps its own copies)."""
    if fetched is not None:
        _remove(fetched.path)
    record = judged.record if judged is not None else None
    if isinstance(record, inbox_store.VerifiedRecord) and record.signed_file is not None:
        _remove(record.signed_file.path)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
