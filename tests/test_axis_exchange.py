"""Two communes and their district exchange documents and status messages through the
local axis, over real HTTP on loopback, with the real client."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from axis_fixtures import (
    AXIS_ORGAN,
    COMMUNE_A,
    COMMUNE_B,
    DISTRICT,
    PROVINCE,
    RunningAxis,
    axis_factory,
    document_id_of,
    local_axis,
    make_document,
    make_status,
    split_axis_hop,
)

from edoc_exchange import edxml
from edoc_exchange.axis import (
    AckStatus,
    AsyncAxisClient,
    AxisNotFound,
    MessageType,
)

__all__ = ["axis_factory", "local_axis"]  # fixtures used by name


def test_document_and_statuses_both_ways(local_axis: RunningAxis, tmp_path: Path) -> None:
    a = local_axis.client("xa-a")
    b = local_axis.client("xa-b")
    district = local_axis.client("huyen")

    # The district sends one plan to both communes (from a file: streamed from disk).
    plan = make_document(DISTRICT, [COMMUNE_A, COMMUNE_B], "45")
    plan_file = tmp_path / "plan.edxml"
    edxml.write_file(plan, plan_file)
    sent = district.send(plan_file, sender=DISTRICT)

    for client, organ in ((a, COMMUNE_A), (b, COMMUNE_B)):
        items = client.list_received()
        assert [i.sender for i in items] == [DISTRICT]
        assert items[0].to == organ
        assert items[0].document_id == plan.document_id
        assert items[0].trace[0].organ_id == AXIS_ORGAN
        received = edxml.read(client.fetch(items[0].doc_id)).message
        assert isinstance(received, edxml.Document)
        assert received.document_id == plan.document_id
        assert received.attachments[0].data == plan.attachments[0].data
        # Unsigned: the axis appended its TraceHeader.
        assert [t.organ_id for t in received.trace] == [DISTRICT, AXIS_ORGAN]
        client.acknowledge(items[0].doc_id, AckStatus.DONE)
        # Each commune answers with a status message: it goes back to the district.
        client.send(edxml.write(make_status(organ, plan, "03")), message_type=MessageType.STATUS)

    statuses = district.list_received(MessageType.STATUS)
    assert sorted(s.sender or "" for s in statuses) == [COMMUNE_A, COMMUNE_B]
    for item in statuses:
        status = edxml.read(district.fetch(item.doc_id)).message
        assert isinstance(status, edxml.StatusMessage)
        assert status.response_for.document_id == plan.document_id
        district.acknowledge(item.doc_id)
    assert district.list_received(MessageType.STATUS) == []

    rows = district.sent_status(sent.doc_id)
    assert [(r.to_code, r.receive_status, r.last_status_code) for r in rows] == [
        (COMMUNE_A, "done", "03"),
        (COMMUNE_B, "done", "03"),
    ]
    assert all(r.sender_doc_id == sent.doc_id and r.receiver_doc_id for r in rows)

    # The other way: commune A reports to the district, the district answers "done".
    report = make_document(COMMUNE_A, [DISTRICT], "7", subject="Báo cáo kết quả")
    sent_back = a.send(edxml.write(report))
    [item] = district.list_received()
    assert item.sender == COMMUNE_A
    assert document_id_of(district.fetch(item.doc_id)) == report.document_id
    district.acknowledge(item.doc_id)
    district.send(edxml.write(make_status(DISTRICT, report, "06")),
                  message_type=MessageType.STATUS)
    [answer] = a.list_received(MessageType.STATUS)
    assert answer.sender == DISTRICT
    a.acknowledge(answer.doc_id)
    assert [r.last_status_code for r in a.sent_status(sent_back.doc_id)] == ["06"]
    # Commune B saw nothing of A's report.
    assert b.list_received() == []
    assert b.count() == 0


def test_receiver_sees_each_document_exactly_once_after_ack(local_axis: RunningAxis) -> None:
    a = local_axis.client("xa-a")
    district = local_axis.client("huyen")
    for n in range(5):
        a.send(edxml.write(make_document(COMMUNE_A, [DISTRICT], str(n + 1))))
    assert district.count() == 5
    seen: list[str] = []
    for _round in range(3):
        for item in district.list_received():
            district.fetch(item.doc_id)
            district.acknowledge(item.doc_id)
            seen.append(item.document_id or "")
    assert len(seen) == len(set(seen)) == 5
    assert district.list_received() == []
    assert district.count() == 0


def test_receiver_that_stops_before_ack_sees_the_document_again(local_axis: RunningAxis) -> None:
    a = local_axis.client("xa-a")
    a.send(edxml.write(make_document(COMMUNE_A, [DISTRICT], "9")))
    first = local_axis.client("huyen")
    [item] = first.list_received()
    data = first.fetch(item.doc_id)
    first.close()  # the receiver stops here, before acknowledging
    # ... and so does the axis: what it holds survives a restart.
    local_axis.restart()
    again = local_axis.client("huyen")
    [item_again] = again.list_received()
    assert item_again.doc_id == item.doc_id
    assert item_again.status == "fetched"
    assert again.fetch(item.doc_id) == data
    again.acknowledge(item.doc_id, AckStatus.DONE)
    again.acknowledge(item.doc_id, AckStatus.DONE)  # a retried acknowledgement is harmless
    assert again.list_received() == []


def test_resend_is_deduplicated(local_axis: RunningAxis) -> None:
    a = local_axis.client("xa-a")
    data = edxml.write(make_document(COMMUNE_A, [DISTRICT, COMMUNE_B], "3"))
    first = a.send(data)
    second = a.send(data)
    assert second.doc_id == first.doc_id
    assert second.duplicate
    assert not first.duplicate
    assert local_axis.client("huyen").count() == 1
    assert local_axis.client("xa-b").count() == 1


def test_signed_document_gets_only_the_axis_hop(local_axis: RunningAxis) -> None:
    """Like the national axis, the local one appends its hop to a signed document too, and
    changes no other byte: what the sender signed arrives exactly as it was written."""
    doc = make_document(COMMUNE_A, [DISTRICT], "21")
    # A stand-in for a signature (the axis treats signed and unsigned documents alike).
    signed = doc.model_copy(update={"signature": edxml.RawXml(
        xml='<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/>')})
    data = edxml.write(signed, check=False)
    local_axis.client("xa-a").send(data)
    district = local_axis.client("huyen")
    [item] = district.list_received()
    delivered = district.fetch(item.doc_id)
    sent, hop = split_axis_hop(delivered)
    assert sent == data
    assert hop.startswith(b"<edXML:TraceHeader><edXML:OrganId>" + AXIS_ORGAN.encode())
    assert item.trace[0].organ_id == AXIS_ORGAN  # also in the item's metadata
    assert item.size == len(delivered)


def test_trace_off_delivers_the_bytes_as_sent(axis_factory: Any) -> None:
    axis = axis_factory(trace=False)
    data = edxml.write(make_document(COMMUNE_A, [DISTRICT], "22"))
    axis.client("xa-a").send(data)
    district = axis.client("huyen")
    [item] = district.list_received()
    assert district.fetch(item.doc_id) == data


def test_multipart_upload_with_the_standard_hash(local_axis: RunningAxis) -> None:
    """For a deployment whose axis wants multipart/form-data and a 64-hex hash-file."""
    client = local_axis.client("xa-a", upload_framing="multipart", hash_file_style="hex")
    doc = make_document(COMMUNE_A, [DISTRICT], "23")
    data = edxml.write(doc)
    sent = client.send(data)
    district = local_axis.client("huyen")
    [item] = district.list_received()
    assert split_axis_hop(district.fetch(item.doc_id))[0] == data
    # The same message sent the SDK's way is recognised as the same message.
    again = local_axis.client("xa-a").send(data)
    assert again.doc_id == sent.doc_id
    assert again.duplicate


def test_wrong_system_cannot_fetch_or_ack(local_axis: RunningAxis) -> None:
    local_axis.client("xa-a").send(edxml.write(make_document(COMMUNE_A, [DISTRICT], "5")))
    [item] = local_axis.client("huyen").list_received()
    b = local_axis.client("xa-b")
    with pytest.raises(AxisNotFound) as info:
        b.fetch(item.doc_id)
    assert info.value.error_code == "NOT_FOUND"
    with pytest.raises(AxisNotFound):
        b.acknowledge(item.doc_id)


def test_agencies_directory(local_axis: RunningAxis) -> None:
    agencies = {a.organ_id: a for a in local_axis.client("xa-a").agencies()}
    assert set(agencies) == {COMMUNE_A, COMMUNE_B, DISTRICT, PROVINCE}
    assert agencies[COMMUNE_A].name == "UBND xã Nậm Khánh"
    assert agencies[COMMUNE_A].parent_id == PROVINCE


def test_async_client_does_the_same(local_axis: RunningAxis) -> None:
    async def scenario() -> None:
        a = AsyncAxisClient(local_axis.settings("xa-a"))
        district = AsyncAxisClient(local_axis.settings("huyen"))
        async with a, district:
            doc = make_document(COMMUNE_A, [DISTRICT], "77")
            sent = await a.send(edxml.write(doc))
            [item] = await district.list_received()
            assert document_id_of(await district.fetch(item.doc_id)) == doc.document_id
            await district.acknowledge(item.doc_id)
            rows = await a.sent_status(sent.doc_id)
            assert rows[0].receive_status == "done"
            assert await district.count() == 0
            assert len(await a.agencies()) == 4

    asyncio.run(scenario())
