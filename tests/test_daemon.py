"""The daemon's steps end to end: a commune and its district exchange a plan and statuses
through the local axis over real HTTP, with real signatures, real SQLite stores and audit
logs that verify; and the faults the issue lists end in a clear state with nothing lost."""

from __future__ import annotations

import base64
import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from axis_fixtures import AXIS_ORGAN, COMMUNE_A, DISTRICT, VENDOR
from daemon_fixtures import Exchange
from sqlalchemy import Table, select

from edoc_exchange import audit, edxml, signing
from edoc_exchange import office as steps
from edoc_exchange.axis import MessageType
from edoc_exchange.sandbox import new_test_identity
from edoc_exchange.store import (
    DatabaseReadOnlyError,
    InboxVerdict,
    StoreError,
    as_utc,
    open_database,
)
from edoc_exchange.store import inbox as inbox_store
from edoc_exchange.store.tables import inbox, outbox, recipient_statuses, status_history


def _rows(ex: Exchange, which: str, table: Table) -> list[dict[str, Any]]:
    office = ex.commune if which == "commune" else ex.district
    with office.db.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table))]


def _events(office: steps.Office) -> list[str]:
    with office.db.engine.connect() as conn:
        return [e.event for e in audit.entries(conn, office.office_id)]


def test_plan_and_statuses_reach_both_stores(exchange: Exchange) -> None:
    ex = exchange
    doc = ex.plan()
    steps.queue_message(ex.commune, edxml.write(doc), composed=True)
    assert steps.send_due(ex.commune).done == 1

    got = steps.receive_documents(ex.district)
    assert (got.done, got.rejected) == (1, 0)
    [stored] = _rows(ex, "district", inbox)
    assert stored["document_id"] == doc.document_id
    assert stored["verdict"] == InboxVerdict.VERIFIED
    assert stored["clerk_state"] == "01"
    assert "UBND xã Nậm Khánh" in str(stored["signer_subject"])
    # the exact signed bytes are kept, and they verify again later
    again = signing.verify(bytes(stored["message"]), ex.district.trust()).message
    assert isinstance(again, edxml.Document)
    assert again.document_id == doc.document_id

    # acknowledged at the axis: a second pass sees nothing
    assert steps.receive_documents(ex.district).done == 0
    assert ex.district.axis.list_received(MessageType.EDOC) == []

    # status 01 goes back automatically, then the clerk accepts (03)
    assert steps.send_due(ex.district).done == 1
    assert steps.receive_statuses(ex.commune).done == 1
    steps.mark(ex.district, doc.document_id or "", "03", "Vào sổ văn bản đến số 45")
    assert steps.send_due(ex.district).done == 1
    assert steps.receive_statuses(ex.commune).done == 1

    [recipient] = _rows(ex, "commune", recipient_statuses)
    assert (recipient["organ_id"], recipient["status_code"]) == (DISTRICT, "03")
    codes_in = [r["status_code"] for r in _rows(ex, "commune", status_history)]
    assert codes_in == ["01", "03"]
    codes_out = [r["status_code"] for r in _rows(ex, "district", status_history)]
    assert codes_out == ["01", "03"]
    [accepted] = _rows(ex, "district", inbox)
    assert accepted["clerk_state"] == "03"
    assert accepted["accepted_at"] is not None

    assert _events(ex.commune) == [
        "composed",
        "queued",
        "signed",
        "sent",
        "status_received",
        "acknowledged",
        "status_received",
        "acknowledged",
    ]
    assert _events(ex.district) == [
        "received",
        "verified",
        "queued",
        "acknowledged",
        "signed",
        "status_sent",
        "clerk_action",
        "queued",
        "signed",
        "status_sent",
    ]
    for office in (ex.commune, ex.district):
        steps.checkpoint_now(office)
        report = steps.verify_log(office)
        assert report.signed_checkpoints == 1
        assert report.entries == len(_events(office))


def test_receiver_that_stops_before_acknowledging_stores_once(exchange: Exchange) -> None:
    ex = exchange
    steps.queue_message(ex.commune, edxml.write(ex.plan()))
    steps.send_due(ex.commune)
    # The district fetched and stored the item but died before acknowledging it.
    [item] = ex.district.axis.list_received(MessageType.EDOC)
    original = ex.district.axis.acknowledge
    calls: list[str] = []

    def crash(doc_id: str, status: object = None) -> None:
        calls.append(doc_id)
        raise KeyboardInterrupt("power cut")

    ex.district.axis.acknowledge = crash  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        steps.receive_documents(ex.district)
    ex.district.axis.acknowledge = original  # type: ignore[method-assign]
    assert calls == [item.doc_id]
    # After the restart: the item is listed again, recognised, acknowledged, not duplicated.
    again = steps.receive_documents(ex.district)
    assert (again.done, again.duplicates) == (0, 1)
    assert len(_rows(ex, "district", inbox)) == 1
    assert ex.district.axis.list_received(MessageType.EDOC) == []
    assert len([r for r in _rows(ex, "district", outbox) if r["kind"] == "status"]) == 1
    steps.verify_log(ex.district)


def test_untrusted_signature_is_rejected_and_answered_with_02(
    exchange: Exchange, tmp_path: Path
) -> None:
    ex = exchange
    stranger = new_test_identity(organ_id=COMMUNE_A, name="Kẻ giả mạo")
    forged = signing.sign(ex.plan("99"), stranger.signer())
    ex.commune.axis.send(forged, sender=COMMUNE_A)
    got = steps.receive_documents(ex.district)
    assert got.rejected == 1
    [row] = _rows(ex, "district", inbox)
    assert row["verdict"] == InboxVerdict.REJECTED
    assert row["clerk_state"] == "02"
    assert "trust" in str(row["reason"]).lower() or "tin cậy" in str(row["reason"])
    assert ex.district.axis.list_received(MessageType.EDOC) == []  # acknowledged as fail
    assert steps.send_due(ex.district).done == 1  # status 02 to the sender
    assert steps.receive_statuses(ex.commune).done == 1
    [hist] = _rows(ex, "commune", status_history)
    assert hist["status_code"] == "02"
    # The clerk cannot accept what failed verification.
    with pytest.raises(StoreError, match="failed signature verification"):
        steps.mark(ex.district, str(row["document_id"]), "03")
    assert "rejected" in _events(ex.district)
    steps.verify_log(ex.district)


def test_unsigned_and_unparseable_messages_are_rejected_with_reason(exchange: Exchange) -> None:
    ex = exchange
    ex.commune.axis.send(edxml.write(ex.plan("7")), sender=COMMUNE_A)  # unsigned
    got = steps.receive_documents(ex.district)
    assert got.rejected == 1
    [row] = _rows(ex, "district", inbox)
    assert "unsigned" in str(row["reason"]).lower() or "chữ ký" in str(row["reason"]).lower()


def test_clerk_moves_follow_the_workflow(exchange: Exchange) -> None:
    ex = exchange
    doc = ex.plan()
    steps.queue_message(ex.commune, edxml.write(doc))
    steps.send_due(ex.commune)
    steps.receive_documents(ex.district)
    doc_id = doc.document_id or ""
    with pytest.raises(StoreError, match="cannot move"):
        steps.mark(ex.district, doc_id, "05")
    with pytest.raises(StoreError, match="not valid"):
        steps.mark(ex.district, doc_id, "09")
    with pytest.raises(StoreError, match="no received document"):
        steps.mark(ex.district, "000.00.00.H01,2020/01/01,1/X", "03")
    for code in ("03", "04", "05", "06"):
        steps.mark(ex.district, doc_id, code)
    steps.send_due(ex.district)
    steps.receive_statuses(ex.commune)
    with ex.commune.db.engine.connect() as conn:
        sent = conn.execute(select(outbox.c.final_at).where(outbox.c.kind == "edoc")).scalar_one()
    assert sent is not None  # 06 from every recipient: no longer followed


def test_long_outage_grows_the_outbox_then_drains_once(exchange: Exchange) -> None:
    ex = exchange
    for n in range(5):
        steps.queue_message(ex.commune, edxml.write(ex.plan(str(100 + n))))
    ex.axis.server.stop()
    report = steps.send_due(ex.commune)
    assert report.failed == 5
    with ex.commune.db.engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.state, outbox.c.last_error, outbox.c.next_attempt_at)
        ).all()
    assert {r.state for r in rows} == {"queued"}
    assert all(
        "connect" in (r.last_error or "").lower() or "kết nối" in (r.last_error or "") for r in rows
    )
    # nothing is due before the backoff passes
    assert steps.send_due(ex.commune).done == 0
    # the link comes back, time passes (hours of outage are just a bigger jump)
    ex.axis.restart()  # on a new port: both offices reconnect
    ex.commune.client = ex.axis.client("xa-a")
    ex.district.client = ex.axis.client("huyen")
    ex.clock.advance(hours=2)
    assert steps.send_due(ex.commune).done == 5
    assert steps.receive_documents(ex.district).done == 5
    assert len(_rows(ex, "district", inbox)) == 5
    steps.verify_log(ex.commune)


def test_axis_refusal_fails_the_message_clearly(exchange: Exchange) -> None:
    ex = exchange
    ex.axis.config = ex.axis.config.model_copy(update={"max_upload_bytes": 256 * 1024})
    ex.axis.restart()
    ex.commune.client = ex.axis.client("xa-a")
    steps.queue_message(ex.commune, edxml.write(ex.plan(attachment_size=1024 * 1024)))
    report = steps.send_due(ex.commune)
    assert report.failed == 1
    with ex.commune.db.engine.connect() as conn:
        row = conn.execute(select(outbox.c.state, outbox.c.last_error)).one()
    assert row.state == "failed"  # a refusal is not retried: a person must act
    assert "large" in (row.last_error or "").lower() or "lớn" in (row.last_error or "")
    assert steps.send_due(ex.commune).done == 0
    assert "send_failed" in _events(ex.commune)
    # A message from another office cannot be queued by this one.
    with pytest.raises(StoreError, match="not this office"):
        steps.queue_message(ex.district, edxml.write(ex.plan()))


def test_read_only_database_loses_nothing(exchange: Exchange, tmp_path: Path) -> None:
    ex = exchange
    steps.queue_message(ex.commune, edxml.write(ex.plan()))
    steps.send_due(ex.commune)
    path = tmp_path / "district.sqlite3"
    good = ex.district.db
    ex.district.db = open_database(f"sqlite:///file:{path}?mode=ro&uri=true")
    with pytest.raises(DatabaseReadOnlyError):
        steps.receive_documents(ex.district)
    # The item is still waiting at the axis: nothing was acknowledged, nothing lost.
    assert len(ex.district.axis.list_received(MessageType.EDOC)) == 1
    ex.district.db.dispose()
    ex.district.db = good
    assert steps.receive_documents(ex.district).done == 1
    with good.engine.connect() as conn:
        assert (
            inbox_store.find_incoming(conn, DISTRICT, document_id=ex.plan().document_id) is not None
        )


def test_status_for_timestamp_is_vietnam_time(exchange: Exchange) -> None:
    ex = exchange
    msg = steps.status_message(ex.district, ex.plan(), "01")
    assert msg.timestamp is not None
    assert msg.timestamp.utcoffset() == dt.timedelta(hours=7)


def test_sender_not_allowed_for_its_key_is_rejected(exchange: Exchange) -> None:
    """A key may sign only for the OrganIds the policy names: a document claiming another
    sender (here commune B, signed with commune A's key) is rejected and answered 02."""
    from axis_fixtures import COMMUNE_B, make_document

    ex = exchange
    commune_a_key = ex.identities[COMMUNE_A].cert
    ex.district.policy = signing.TrustPolicy(
        roots=ex.district.trust().roots,
        organ_ids={signing.spki_sha256(commune_a_key): frozenset({COMMUNE_A})},
    )
    forged = make_document(COMMUNE_B, [DISTRICT], "5")
    data = signing.sign(forged, ex.identities[COMMUNE_A].signer())
    client_b = ex.axis.client("xa-b")
    client_b.send(data, sender=COMMUNE_B)
    assert steps.receive_documents(ex.district).rejected == 1
    [row] = _rows(ex, "district", inbox)
    assert row["verdict"] == InboxVerdict.REJECTED
    assert row["sender"] == COMMUNE_B
    assert "organ" in str(row["reason"]).lower()
    # A genuine document from commune A is still accepted under the same policy.
    steps.queue_message(ex.commune, edxml.write(ex.plan("6")))
    steps.send_due(ex.commune)
    assert steps.receive_documents(ex.district).done == 1


def test_long_upload_keeps_its_claim_alive(exchange: Exchange) -> None:
    """While a large message uploads, the sending daemon beats its heartbeat, so a row
    being sent is never taken for one whose daemon died (and sent a second time)."""
    ex = exchange
    ex.commune.clock = lambda: dt.datetime.now(dt.UTC)  # real time: beats must move
    ex.commune.stale_after = dt.timedelta(0)  # beat on every chunk
    steps.queue_message(ex.commune, edxml.write(ex.plan("8", attachment_size=2 * 1024 * 1024)))
    assert steps.send_due(ex.commune).done == 1
    with ex.commune.db.engine.connect() as conn:
        beat = conn.execute(select(outbox.c.heartbeat_at)).scalar_one()
        signed = audit.last_event(conn, COMMUNE_A, "signed")
    assert signed is not None
    # Signing happens after the claim and before the upload: a later heartbeat was beaten
    # during the upload.
    assert as_utc(beat) > signed.time


def _sdk_zipped(doc: edxml.Document, inner: bytes) -> bytes:
    """``doc`` with its attachment zipped and labelled as the official SDK sends it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("32da2890-1a55-4ccd-9ac9-cd0d98559e67.doc", inner)
    placeholder = b"placeholder of the zip"
    att = edxml.Attachment(
        content_id="cid:plan", name="ke-hoach.doc", content_type="application/msword",
        data=placeholder,
    )
    data = edxml.write(doc.model_copy(update={"attachments": [att]}))
    data = data.replace(b"application/msword", b"application/zip")
    return data.replace(base64.b64encode(placeholder), base64.b64encode(buffer.getvalue()))


def test_a_signed_document_survives_the_axis_and_its_file_is_handed_out_unzipped(
    exchange: Exchange, tmp_path: Path
) -> None:
    """Signed by a peer whose SDK zips the file; the axis appends its hop and delivers CRLF;
    the district verifies, reports the hop as unsigned, and hands the clerk the Word file."""
    ex = exchange
    inner = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 Word 97 " * 200
    doc = ex.plan("31")
    signed = signing.sign(_sdk_zipped(doc, inner), ex.identities[COMMUNE_A].signer())
    ex.commune.axis.send(signed, sender=COMMUNE_A)  # as the peer's own software would

    [item] = ex.district.axis.list_received(MessageType.EDOC)
    delivered = ex.district.axis.fetch(item.doc_id)
    assert b"\r\n" in delivered
    assert delivered.count(b"<edXML:TraceHeader>") == 2  # the sender's and the axis's

    got = steps.receive_documents(ex.district)
    assert (got.done, got.rejected) == (1, 0)
    [stored] = _rows(ex, "district", inbox)
    assert stored["verdict"] == InboxVerdict.VERIFIED
    with ex.district.db.engine.connect() as conn:
        verified_event = audit.last_event(conn, DISTRICT, audit.AuditEvent.VERIFIED)
    assert verified_event is not None
    assert [h["organ_id"] for h in verified_event.data["data"]["unsigned_hops"]] == [AXIS_ORGAN]

    [handed] = steps.received_files(ex.district.db, DISTRICT, doc.document_id or "")
    assert (handed.name, handed.data) == ("ke-hoach.doc", inner)
    assert handed.content_type == "application/msword"


def test_files_of_a_rejected_document_are_not_handed_out(exchange: Exchange) -> None:
    ex = exchange
    doc = ex.plan("32")
    ex.commune.axis.send(edxml.write(doc), sender=COMMUNE_A)  # unsigned: rejected
    assert steps.receive_documents(ex.district).rejected == 1
    with pytest.raises(StoreError) as info:
        steps.received_files(ex.district.db, DISTRICT, doc.document_id or "")
    assert "rejected" in info.value.en
    with pytest.raises(StoreError):
        steps.received_files(ex.district.db, DISTRICT, "000.00.00.H17,2025/01/01,9/KH")


FIELD_SAMPLE = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "samples"
    / "edxml-field"
    / "axis-2025-petrolimex-to-btc.edxml"
)


def test_a_post_2020_sender_gets_its_answer(exchange: Exchange) -> None:
    """A real message of an enterprise (code 020100107370, hops without OrganId, a zipped
    .doc) reaches the district: it is read, stored, and answered with a status whose
    ResponseFor carries the sender's own codes, which the axis routes back to it."""
    if not FIELD_SAMPLE.is_file():
        pytest.skip(f"field sample not found at {FIELD_SAMPLE} (../shared is absent)")
    ex = exchange
    data = FIELD_SAMPLE.read_bytes()
    for to in (b"G12", b"000.00.00.G12"):  # addressed to our district instead of the ministry
        data = data.replace(
            b"<edXML:OrganId>" + to + b"</edXML:OrganId>",
            b"<edXML:OrganId>" + DISTRICT.encode() + b"</edXML:OrganId>",
        )
    vendor = ex.axis.client("vendor")
    vendor.send(data, sender=VENDOR)

    got = steps.receive_documents(ex.district)
    # It carries no XML signature: stored, refused by this office's policy, and answered.
    assert (got.done, got.rejected) == (0, 1)
    [stored] = _rows(ex, "district", inbox)
    document_id = "020100107370,2025/10/13,2440/PLX-HĐQT"
    assert (stored["document_id"], stored["sender"]) == (document_id, VENDOR)
    assert stored["subject"] == "Vv xin phép cử cán bộ đi công tác nước ngoài"
    assert steps.send_due(ex.district).done == 1  # the reply could be written and sent

    [item] = vendor.list_received(MessageType.STATUS)
    reply = edxml.read(vendor.fetch(item.doc_id), strict=True).message
    assert isinstance(reply, edxml.StatusMessage)
    assert reply.status_code == "02"
    assert (reply.response_for.organ_id, reply.response_for.document_id) == (VENDOR, document_id)
    assert reply.response_for.code == "2440/PLX-HĐQT"


def test_a_large_document_is_received_on_files_and_kept_as_a_blob(exchange: Exchange) -> None:
    """Over ReadLimits.large_message_bytes the daemon's path fetches to a file, verifies on
    the file, keeps the signed message as a blob (not in the row) and hands its files out."""
    ex = exchange
    size = edxml.DEFAULT_LIMITS.large_message_bytes + 1024 * 1024
    plan = ex.plan("77", attachment_size=size)
    sent_bytes = plan.attachments[0].data
    steps.queue_message(ex.commune, edxml.write(plan))
    assert steps.send_due(ex.commune).done == 1
    report = steps.receive_documents(ex.district)
    assert (report.done, report.rejected) == (1, 0)
    [row] = _rows(ex, "district", inbox)
    assert row["verdict"] == "verified"
    assert row["message"] == b""  # outside the row
    assert row["message_blob"] is not None
    assert row["message_size"] > size
    files = steps.received_files(ex.district.db, DISTRICT, plan.document_id or "")
    assert [f.name for f in files] == ["ke-hoach.pdf"]
    assert files[0].data == sent_bytes
    assert ex.district.axis.list_received(MessageType.EDOC) == []  # acknowledged
    steps.verify_log(ex.district)


def test_a_large_signed_file_is_queued_as_a_blob_and_sent_streamed(
    exchange: Exchange, tmp_path: Path
) -> None:
    """`edoc send FILE` of a large signed message: kept as a blob (not in the row), sent
    streamed from it, received whole; queuing it again is the same row."""
    ex = exchange
    size = edxml.DEFAULT_LIMITS.large_message_bytes + 512 * 1024
    plan = ex.plan("78", attachment_size=size)
    assert ex.commune.signer is not None
    path = tmp_path / "plan.edxml"
    path.write_bytes(signing.sign(plan, ex.commune.signer))
    row_id, new = steps.queue_file(ex.commune, path)
    assert new
    assert steps.queue_file(ex.commune, path) == (row_id, False)
    [row] = [r for r in _rows(ex, "commune", outbox) if r["id"] == row_id]
    assert row["message"] == b""
    assert row["message_blob"] is not None
    assert row["message_size"] == path.stat().st_size
    assert steps.send_due(ex.commune).done == 1
    assert steps.receive_documents(ex.district).done == 1
    files = steps.received_files(ex.district.db, DISTRICT, plan.document_id or "")
    assert files[0].data == plan.attachments[0].data
    steps.verify_log(ex.commune)


def test_queuing_a_large_file_of_another_office_is_refused_and_stores_nothing(
    exchange: Exchange, tmp_path: Path
) -> None:
    ex = exchange
    plan = ex.plan("79", attachment_size=edxml.DEFAULT_LIMITS.large_message_bytes + 1024)
    path = tmp_path / "plan.edxml"
    assert ex.commune.signer is not None
    path.write_bytes(signing.sign(plan, ex.commune.signer))
    with pytest.raises(StoreError, match="not this office"):
        steps.queue_file(ex.district, path)
    assert _rows(ex, "district", outbox) == []
