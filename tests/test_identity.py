"""Trust as a type, identity that cannot collide (issue 10), over the real local axis.

A third office on the axis sends first a document carrying the commune's next DocumentId,
signed with its own (trusted) key; the commune then sends its real, signed document. The
district must store, acknowledge and answer the commune's document, and keep the third
office's under the third office's own identity, flagged or refused by its trust policy.
The inbox takes a verified document only as a record made from a ``VerifiedMessage``:
anything else is refused at runtime.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import pickle
from pathlib import Path
from typing import Any

import pytest
from axis_fixtures import COMMUNE_A, COMMUNE_B, DISTRICT, NAMES, make_document, make_status
from daemon_fixtures import Exchange, make_office, sqlite_db
from sqlalchemy import func, select

from edoc_exchange import audit, edxml, signing
from edoc_exchange import office as steps
from edoc_exchange.axis import MessageType
from edoc_exchange.office import _inbound
from edoc_exchange.sandbox import TestIdentity, new_test_identity
from edoc_exchange.store import InboxVerdict, MessageForm, StoreError
from edoc_exchange.store import inbox as inbox_store
from edoc_exchange.store.tables import inbox, outbox, recipient_statuses

#: The commune's next document, and the number the third office takes from it.
NUMBER = "12"


@dataclasses.dataclass
class Third:
    """A third office (commune B) on the same axis, trusted by the district's policy."""

    office: steps.Office
    identity: TestIdentity


@pytest.fixture
def third(exchange: Exchange, tmp_path: Path) -> Third:
    ex = exchange
    identity = new_test_identity(organ_id=COMMUNE_B, name=NAMES[COMMUNE_B])
    roots = [ex.identities[COMMUNE_A].ca_cert, ex.identities[DISTRICT].ca_cert, identity.ca_cert]
    db = sqlite_db(tmp_path / "third.sqlite3")
    ex.databases.append(db)
    office = make_office(ex.axis, "xa-b", COMMUNE_B, db, identity, roots, ex.clock, "third-1")
    for trusting in (ex.district, ex.commune):
        trusting.policy = signing.TrustPolicy(roots=tuple(roots))
    return Third(office, identity)


def _strict(office: steps.Office) -> None:
    office.policy = dataclasses.replace(office.trust(), strict_identity=True)


def _inbox_rows(office: steps.Office) -> list[dict[str, Any]]:
    with office.db.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(inbox).order_by(inbox.c.id))]


def _statuses_at(office: steps.Office) -> list[edxml.StatusMessage]:
    """The status messages waiting for ``office`` at the axis, read (not acknowledged)."""
    found = []
    for item in office.axis.list_received(MessageType.STATUS):
        message = edxml.read(office.axis.fetch(item.doc_id)).message
        assert isinstance(message, edxml.StatusMessage)
        found.append(message)
    return found


def _shadowing_document(ex: Exchange, third: Third) -> edxml.Document:
    """The third office's own document, carrying the commune's next DocumentId."""
    theirs = make_document(COMMUNE_B, [DISTRICT], NUMBER, attachment_size=300)
    return theirs.model_copy(update={"document_id": ex.plan(NUMBER).document_id})


@pytest.mark.parametrize("strict", [False, True], ids=["flagged", "refused"])
def test_a_third_office_cannot_shadow_the_communes_next_document(
    exchange: Exchange, third: Third, strict: bool
) -> None:
    ex = exchange
    if strict:
        _strict(ex.district)
    real = ex.plan(NUMBER)
    document_id = real.document_id or ""
    # 1. The third office sends first, signing with its own trusted key.
    shadow = _shadowing_document(ex, third)
    third.office.axis.send(signing.sign(shadow, third.identity.signer()), sender=COMMUNE_B)
    first = steps.receive_documents(ex.district)
    assert (first.done, first.rejected) == ((0, 1) if strict else (1, 0))

    # 2. The commune sends its real, signed document with that DocumentId.
    steps.queue_message(ex.commune, edxml.write(real))
    assert steps.send_due(ex.commune).done == 1
    second = steps.receive_documents(ex.district)
    assert (second.done, second.duplicates, second.rejected) == (1, 0, 0)
    assert ex.district.axis.list_received(MessageType.EDOC) == []  # both acknowledged

    rows = {r["sender"]: r for r in _inbox_rows(ex.district)}
    assert set(rows) == {COMMUNE_A, COMMUNE_B}
    assert {r["document_id"] for r in rows.values()} == {document_id}
    ours = rows[COMMUNE_A]
    assert (ours["verdict"], ours["clerk_state"], ours["identity_finding"]) == (
        InboxVerdict.VERIFIED,
        "01",
        None,
    )
    theirs = rows[COMMUNE_B]
    if strict:
        assert theirs["verdict"] == InboxVerdict.REJECTED
        assert theirs["message_form"] == MessageForm.RAW  # kept as evidence, flagged
        assert "strict trust policy" in theirs["reason"]
        assert f"names {COMMUNE_A} as its issuer" in theirs["reason"]
    else:
        assert theirs["verdict"] == InboxVerdict.VERIFIED
        assert f"names {COMMUNE_A} as its issuer, not its sender {COMMUNE_B}" in str(
            theirs["identity_finding"]
        )
        with ex.district.db.engine.connect() as conn:
            flagged = [
                e
                for e in audit.entries(conn, DISTRICT)
                if e.event == audit.AuditEvent.VERIFIED and "identity_finding" in e.data["data"]
            ]
        assert len(flagged) == 1

    # 3. Each sender is answered, the commune with 01 for its own document.
    assert steps.send_due(ex.district).done == 2
    [to_third] = _statuses_at(third.office)
    assert (to_third.response_for.organ_id, to_third.status_code) == (
        COMMUNE_B,
        "02" if strict else "01",
    )
    assert steps.receive_statuses(ex.commune).done == 1
    with ex.commune.db.engine.connect() as conn:
        [recipient] = conn.execute(select(recipient_statuses)).all()
    assert (recipient.organ_id, recipient.status_code) == (DISTRICT, "01")

    # 4. The clerk's DocumentId means the commune's document (the issuer it names).
    steps.mark(ex.district, document_id, "03", "Vào sổ")
    assert steps.send_due(ex.district).done == 1
    assert steps.receive_statuses(ex.commune).done == 1
    with ex.commune.db.engine.connect() as conn:
        assert conn.execute(select(recipient_statuses.c.status_code)).scalar_one() == "03"
    details = steps.document_details(ex.district.db, DISTRICT, document_id)
    assert details.received is not None
    assert (details.received.sender, details.received.clerk_state) == (COMMUNE_A, "03")
    assert [r.sender for r in details.also_received] == [COMMUNE_B]
    assert [(h["direction"], h["counterpart"], h["status_code"]) for h in details.history] == [
        ("out", COMMUNE_A, "01"),
        ("out", COMMUNE_A, "03"),
    ]
    [handed] = steps.received_files(ex.district.db, DISTRICT, document_id)
    assert handed.data == real.attachments[0].data
    steps.verify_log(ex.district)


def test_a_rejected_forgery_does_not_take_the_real_documents_identity(
    exchange: Exchange,
) -> None:
    """A forgery claiming the commune (untrusted key) arrives first with the commune's
    DocumentId: it is rejected, and the real document is still stored and answered."""
    ex = exchange
    stranger = new_test_identity(organ_id=COMMUNE_A, name="Kẻ giả mạo")
    real = ex.plan(NUMBER)
    forged = real.model_copy(update={"subject": "Giả mạo"})
    ex.commune.axis.send(signing.sign(forged, stranger.signer()), sender=COMMUNE_A)
    assert steps.receive_documents(ex.district).rejected == 1
    steps.queue_message(ex.commune, edxml.write(real))
    steps.send_due(ex.commune)
    got = steps.receive_documents(ex.district)
    assert (got.done, got.duplicates) == (1, 0)
    verdicts = sorted((r["sender"], r["verdict"]) for r in _inbox_rows(ex.district))
    assert verdicts == [(COMMUNE_A, InboxVerdict.REJECTED), (COMMUNE_A, InboxVerdict.VERIFIED)]
    assert steps.send_due(ex.district).done == 2  # 02 for the forgery, 01 for the real one
    assert steps.receive_statuses(ex.commune).done == 2
    steps.mark(ex.district, real.document_id or "", "03")  # the verified one, not the forgery
    details = steps.document_details(ex.district.db, DISTRICT, real.document_id or "")
    assert details.received is not None
    assert details.received.verdict is InboxVerdict.VERIFIED
    assert details.received.subject == real.subject


def test_several_senders_of_a_foreign_document_id_need_the_sender_named(
    exchange: Exchange, third: Third
) -> None:
    """Two trusted senders each send a document under a DocumentId naming neither: both
    are kept; the clerk must say which one is meant."""
    ex = exchange
    foreign = f"{DISTRICT},2025/03/14,7/KH-UBND"
    for office, identity in (
        (ex.commune, ex.identities[COMMUNE_A]),
        (third.office, third.identity),
    ):
        doc = make_document(office.office_id, [DISTRICT], "7")
        doc = doc.model_copy(update={"document_id": foreign})
        office.axis.send(signing.sign(doc, identity.signer()), sender=office.office_id)
    assert steps.receive_documents(ex.district).done == 2
    with pytest.raises(StoreError, match="several received documents") as info:
        steps.mark(ex.district, foreign, "03")
    assert COMMUNE_A in info.value.en
    assert COMMUNE_B in info.value.en
    steps.mark(ex.district, foreign, "03", sender=COMMUNE_B)
    states = {r["sender"]: r["clerk_state"] for r in _inbox_rows(ex.district)}
    assert states == {COMMUNE_A: "01", COMMUNE_B: "03"}
    with pytest.raises(StoreError, match="no received document"):
        steps.mark(ex.district, foreign, "03", sender=DISTRICT)


def test_a_status_counts_only_from_a_recipient_of_our_document(
    exchange: Exchange, third: Third
) -> None:
    """A status about the commune's document from an office it was not sent to (here a
    'done' that would end the follow-up) is kept in the history but changes nothing."""
    ex = exchange
    real = ex.plan(NUMBER)
    steps.queue_message(ex.commune, edxml.write(real))
    steps.send_due(ex.commune)
    fake_done = make_status(COMMUNE_B, real, "06")
    third.office.axis.send(
        signing.sign(fake_done, third.identity.signer()),
        sender=COMMUNE_B,
        message_type=MessageType.STATUS,
    )
    assert steps.receive_statuses(ex.commune).done == 1
    with ex.commune.db.engine.connect() as conn:
        recipients = conn.execute(select(recipient_statuses)).all()
        final_at = conn.execute(
            select(outbox.c.final_at).where(outbox.c.kind == "edoc")
        ).scalar_one()
    assert [(r.organ_id, r.status_code) for r in recipients] == [(DISTRICT, None)]
    assert final_at is None  # still followed: the recipient has not answered
    details = steps.document_details(ex.commune.db, COMMUNE_A, real.document_id or "")
    assert details.history == []
    # The district's real answer counts.
    steps.receive_documents(ex.district)
    steps.send_due(ex.district)
    assert steps.receive_statuses(ex.commune).done == 1
    details = steps.document_details(ex.commune.db, COMMUNE_A, real.document_id or "")
    assert [(h["counterpart"], h["status_code"]) for h in details.history] == [(DISTRICT, "01")]


# --- trust as a type: the store's runtime check ------------------------------------------


def _fields() -> inbox_store.DocumentFields:
    return inbox_store.DocumentFields(
        document_id=f"{COMMUNE_A},2025/03/14,1/KH-UBND", sender=COMMUNE_A
    )


def _store(
    db: Any, record: Any, axis_doc_id: str = "axis-1"
) -> tuple[inbox_store.InboxRow, bool]:
    with db.transaction() as conn:
        return inbox_store.store_incoming_verified(
            conn,
            record,
            office_id=DISTRICT,
            axis_doc_id=axis_doc_id,
            state=edxml.StatusCode.ARRIVED,
            now=dt.datetime.now(dt.UTC),
        )


def _count(db: Any) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(inbox)).scalar_one())


def test_the_inbox_refuses_a_verified_record_not_made_from_a_verified_message(
    exchange: Exchange,
) -> None:
    ex = exchange
    db = ex.district.db
    signer = inbox_store.SignerFacts(subject="CN=x", issuer="CN=y", serial="1", fingerprint="0")
    made: dict[str, Any] = {
        "fields": _fields(),
        "signed_message": b"<edXML/>",
        "signature_xml": b"<Signature/>",
        "signer": signer,
        "signing_time": None,
    }
    # No constructor call without the office's seal, and the seal is handed out once.
    with pytest.raises(inbox_store.UnverifiedRecordError):
        inbox_store.VerifiedRecord(object.__new__(inbox_store.RecordSeal), **made)
    with pytest.raises(inbox_store.UnverifiedRecordError) as taken:
        inbox_store.take_record_seal()
    assert "edoc_exchange.office" in taken.value.en
    assert taken.value.vi
    # A record that bypassed the constructor, or a look-alike, is refused by the store.
    forged = object.__new__(inbox_store.VerifiedRecord)
    for name, value in made.items():
        object.__setattr__(forged, f"_{name}", value)
    object.__setattr__(forged, "_identity_finding", None)

    @dataclasses.dataclass
    class LookAlike:
        fields: inbox_store.DocumentFields
        signed_message: bytes
        signature_xml: bytes
        signer: inbox_store.SignerFacts
        signing_time: None
        identity_finding: None = None

    for fake in (forged, LookAlike(**made)):
        with pytest.raises(inbox_store.UnverifiedRecordError) as refused:
            _store(db, fake)
        assert refused.value.step == "inbox.verified"
    # The office's verified path takes only a VerifiedMessage.
    with pytest.raises(inbox_store.UnverifiedRecordError):
        _inbound.verified_record(LookAlike(**made), fallback_id="x")  # type: ignore[arg-type]
    assert _count(db) == 0

    # The real path: a VerifiedMessage becomes a record the store takes; the record cannot
    # be copied, pickled or changed into another one.
    data = signing.sign(ex.plan(), ex.identities[COMMUNE_A].signer())
    verified = signing.verify(data, ex.district.trust())
    record = _inbound.verified_record(verified, fallback_id="x")
    for attempt in (copy.copy, copy.deepcopy, pickle.dumps):
        with pytest.raises(inbox_store.UnverifiedRecordError):
            attempt(record)
    with pytest.raises(AttributeError):
        record._fields = _fields()
    row, new = _store(db, record)
    assert new
    assert row.verified
    assert row.message_form is MessageForm.SIGNED
    # A look-alike of a real record is still refused: it is the object, not its fields.
    copied = LookAlike(
        fields=record.fields,
        signed_message=record.signed_message,
        signature_xml=record.signature_xml,
        signer=record.signer,
        signing_time=None,
    )
    with pytest.raises(inbox_store.UnverifiedRecordError):
        _store(db, copied, axis_doc_id="axis-2")
    assert _count(db) == 1


def test_the_stored_signed_message_verifies_alone_and_holds_nothing_unsigned(
    exchange: Exchange,
) -> None:
    """What the inbox keeps of a verified document is the signed message: the axis's hop
    is gone (it was never signed), the signature verifies again, the fields are the
    signed ones, and the clerk reads them without reading bytes."""
    ex = exchange
    doc = ex.plan()
    ex.commune.axis.send(signing.sign(doc, ex.identities[COMMUNE_A].signer()), sender=COMMUNE_A)
    [item] = ex.district.axis.list_received(MessageType.EDOC)
    delivered = ex.district.axis.fetch(item.doc_id)
    assert delivered.count(b"<edXML:TraceHeader>") == 2  # the sender's and the axis's
    steps.receive_documents(ex.district)
    [row] = _inbox_rows(ex.district)
    kept = bytes(row["message"])
    assert row["message_form"] == MessageForm.SIGNED
    assert kept.count(b"TraceHeader>") == 2  # one hop: open and close tags
    again = signing.verify(kept, ex.district.trust())
    assert again.unsigned_trace == ()
    assert again.signed_bytes == signing.verify(delivered, ex.district.trust()).signed_bytes
    assert row["signature_xml"]
    assert b"SignatureValue" in row["signature_xml"]
    assert row["signer_fingerprint"] == again.fingerprint
    assert row["code"] == f"{NUMBER}/KH-UBND"
    assert row["promulgation_date"] == "2025-03-14"
    with ex.district.db.engine.connect() as conn:
        stored = inbox_store.find_incoming(conn, DISTRICT, axis_doc_id=item.doc_id)
        assert stored is not None
        projection = inbox_store.verified_document(conn, stored)
    assert projection.content == kept
    assert projection.signer is not None
    assert projection.signer.serial == again.serial


def test_identity_findings() -> None:
    doc = make_document(COMMUNE_B, [DISTRICT])
    assert _inbound.identity_finding(doc) is None
    for document_id, part in (
        (f"{COMMUNE_A},2025/03/14,1/KH-UBND", f"names {COMMUNE_A} as its issuer"),
        ("9c5c2c4e-3f4e-4d6b-8d55-2f3f1f6f0a11", "names no issuer"),
        (None, "carries no DocumentId"),
    ):
        finding = _inbound.identity_finding(doc.model_copy(update={"document_id": document_id}))
        assert finding is not None
        assert part in finding.en
        assert finding.vi
        assert finding.vi != finding.en
