"""The local axis against the official SDK's requests as captured on the wire, and our
client's requests against the same captures (``shared/spec/axis-sdk-wire.md``).

The SDK is played by ``tests/sdk_wire.py``, which shares no code with the package: if
these tests pass, a vendor's SDK talks to the local axis, and our client says on the wire
what the SDK says to the national axis.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from axis_fixtures import (
    COMMUNE_A,
    COMMUNE_B,
    DISTRICT,
    PROVINCE,
    SYSTEMS,
    RunningAxis,
    axis_factory,
    document_id_of,
    local_axis,
    make_document,
    make_status,
    split_axis_hop,
)
from sdk_wire import (
    CAPTURED_BODIES,
    CAPTURED_CONTENT_TYPES,
    CAPTURED_HEADER_NAMES,
    CAPTURED_SIGNED_NAMES,
    PREFIX,
    USER_AGENT,
    VN,
    Answer,
    SdkService,
    java_hex,
    sdk_read,
)

from edoc_exchange import edxml
from edoc_exchange.axis import AckStatus, AxisClient, MessageType

__all__ = ["axis_factory", "local_axis"]  # fixtures used by name


def sdk(axis: RunningAxis, systemid: str, **kwargs: Any) -> SdkService:
    """An SDK service object of ``systemid``, created now unless said otherwise."""
    return SdkService(axis.url, systemid, SYSTEMS[systemid][0], **kwargs)


def ok(operation: str, answer: Answer) -> dict[str, Any]:
    """The answer read as the SDK reads it, which must be a success."""
    body = sdk_read(operation, answer)
    assert (answer.http_status, body["status"], body["ErrorCode"]) == (200, "OK", "0"), body
    return body


def refused(operation: str, answer: Answer, http_status: int, code: str) -> str:
    """The answer read as the SDK reads it, which must be this refusal; its ErrorDesc."""
    body = sdk_read(operation, answer)
    assert (answer.http_status, body["status"], body["ErrorCode"]) == (
        http_status, "FAIL", code), body
    desc = body["ErrorDesc"]
    assert isinstance(desc, str)
    assert " / " in desc  # Vietnamese / English
    return desc


def document(number: str, *, sender: str = COMMUNE_A, to: Iterable[str] = (DISTRICT,)) -> bytes:
    return edxml.write(make_document(sender, list(to), number))


def fetched(service: SdkService, doc_id: str) -> bytes:
    return base64.b64decode(ok("getEdoc", service.get_edoc(doc_id))["data"])


# ----------------------------------------------------------------- the stand-in itself


def test_the_stand_in_sends_the_captured_requests(local_axis: RunningAxis) -> None:
    """A fresh SDK object per call (as captured) writes exactly the captured header names,
    in the captured order, with the captured bodies; and the local axis takes each one."""
    data = document("1")
    answers = {"sendEdoc": sdk(local_axis, "xa-a").send_edoc(data, sender=COMMUNE_A)}
    doc_id = ok("sendEdoc", answers["sendEdoc"])["DocId"]
    [item] = ok("getReceivedEdocList",
                sdk(local_axis, "huyen").get_received_edoc_list())["data"]
    calls: dict[str, Callable[[SdkService], Answer]] = {
        "getReceivedEdocList": lambda s: s.get_received_edoc_list(),
        "countReceiveEdoc": lambda s: s.count_receive_edoc(),
        "countReceiveStatus": lambda s: s.count_receive_status(),
        "getEdoc": lambda s: s.get_edoc(item["docId"]),
        "updateStatus": lambda s: s.update_status(item["docId"], "done"),
        "getAgenciesList": lambda s: s.get_agencies_list(),
    }
    for operation, call in calls.items():
        service = sdk(local_axis, "huyen")
        answers[operation] = call(service)
        [request] = service.sent
        assert [n for n, _ in request.headers] == CAPTURED_HEADER_NAMES[operation]
        assert request.body == CAPTURED_BODIES[operation]
    sender = sdk(local_axis, "xa-a")
    answers["getSentEdocList"] = sender.get_sent_edoc_list(doc_id)
    [request] = sender.sent
    assert [n for n, _ in request.headers] == CAPTURED_HEADER_NAMES["getSentEdocList"]
    for operation, answer in answers.items():
        ok(operation, answer)


# ----------------------------------------------------------------- every operation


def test_every_operation_the_sdk_way(local_axis: RunningAxis) -> None:
    """Each system keeps one SDK object for all its calls, as vendors do: its timestamp is
    frozen and its header map piles up parameters of earlier calls."""
    commune = sdk(local_axis, "xa-a")
    district = sdk(local_axis, "huyen")
    first, second = document("41"), document("42")

    sent = [ok("sendEdoc", commune.send_edoc(d, sender=COMMUNE_A))["DocId"]
            for d in (first, second)]
    assert all(sent)
    assert sent[0] != sent[1]
    assert commune.sent[0].body == first + b"\r\n"
    # Not fetched yet: the SDK reads receivedTime, so it is "" rather than null.
    rows = ok("getSentEdocList", commune.get_sent_edoc_list(sent[0]))["data"]
    assert [(r["toCode"], r["receiveStatus"], r["receivedTime"]) for r in rows] == [
        (DISTRICT, "pending", "")]

    assert ok("countReceiveEdoc", district.count_receive_edoc())["count"] == 2
    items = ok("getReceivedEdocList", district.get_received_edoc_list())["data"]
    assert [(i["from"], i["messageType"], i["serviceType"]) for i in items] == [
        (COMMUNE_A, "edoc", "eDoc")] * 2
    by_document = {i["documentId"]: i["docId"] for i in items}
    y1, y2 = by_document[document_id_of(first)], by_document[document_id_of(second)]

    # What the SDK downloads is what was sent, plus the hop the axis appended.
    assert split_axis_hop(fetched(district, y1))[0] == first
    ok("updateStatus", district.update_status(y1, "done", key="docId"))
    assert split_axis_hop(fetched(district, y2))[0] == second
    ok("updateStatus", district.update_status(y2, "done", key="docid"))
    # The last call carried both spellings, signed, with the same value.
    last = district.sent[-1]
    assert last.header(PREFIX + "docId") == last.header(PREFIX + "docid") == [y2]
    assert "docId" in last.header(PREFIX + "sign-header-key")[0].split(";")

    assert ok("countReceiveEdoc", district.count_receive_edoc())["count"] == 0
    assert ok("countReceiveStatus", district.count_receive_status())["count"] == 0
    assert ok("getReceivedEdocList", district.get_received_edoc_list())["data"] == []

    for doc_id in sent:
        [row] = ok("getSentEdocList", commune.get_sent_edoc_list(doc_id))["data"]
        assert (row["toCode"], row["receiveStatus"]) == (DISTRICT, "done")
        assert row["receivedTime"]
        assert row["senderDocId"] == doc_id

    agencies = {a["code"]: a for a in ok("getAgenciesList", commune.get_agencies_list())["data"]}
    assert set(agencies) == {COMMUNE_A, COMMUNE_B, DISTRICT, PROVINCE}
    assert (agencies[COMMUNE_A]["pid"], agencies[COMMUNE_A]["pcode"]) == (PROVINCE, PROVINCE)
    assert agencies[PROVINCE]["pid"] == ""
    assert agencies[COMMUNE_A]["name"] == "UBND xã Nậm Khánh"


def test_status_message_goes_back_to_the_sender(local_axis: RunningAxis) -> None:
    commune = sdk(local_axis, "xa-a")
    district = sdk(local_axis, "huyen")
    plan = make_document(COMMUNE_A, [DISTRICT], "43")
    doc_id = ok("sendEdoc", commune.send_edoc(edxml.write(plan), sender=COMMUNE_A))["DocId"]
    [item] = ok("getReceivedEdocList", district.get_received_edoc_list())["data"]
    fetched(district, item["docId"])
    ok("updateStatus", district.update_status(item["docId"], "done"))

    status = edxml.write(make_status(DISTRICT, plan, "03"))
    ok("sendEdoc", district.send_edoc(status, sender=DISTRICT, messagetype="status"))

    assert ok("countReceiveStatus", commune.count_receive_status())["count"] == 1
    [answer] = ok("getReceivedEdocList", commune.get_received_edoc_list("status"))["data"]
    assert (answer["from"], answer["messageType"]) == (DISTRICT, "status")
    # A status message has no TraceHeaderList: it arrives exactly as sent.
    assert fetched(commune, answer["docId"]) == status
    ok("updateStatus", commune.update_status(answer["docId"], "done"))
    [row] = ok("getSentEdocList", commune.get_sent_edoc_list(doc_id))["data"]
    assert (row["toCode"], row["lastStatusCode"]) == (DISTRICT, "03")


# ----------------------------------------------------------------- timestamps


@pytest.mark.parametrize("zone", [VN, dt.UTC], ids=["vietnam-time", "utc"])
def test_frozen_timestamp_in_either_zone_within_the_window(
    local_axis: RunningAxis, zone: dt.tzinfo
) -> None:
    created = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    district = sdk(local_axis, "huyen", zone=zone, created=created)
    for _ in range(2):  # the same frozen text, call after call
        assert ok("countReceiveEdoc", district.count_receive_edoc())["count"] == 0
    stamps = {r.header(PREFIX + "timestamp")[0] for r in district.sent}
    assert len(stamps) == 1


def test_frozen_timestamp_outside_the_window(axis_factory: Any) -> None:
    """An SDK object created 20 minutes ago: refused under the 5-minute window, accepted
    for the system whose window is "off" (and its HMAC is still checked)."""
    axis = axis_factory(system_settings={"xa-b": {"max_clock_skew_seconds": "off"}})
    created = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    desc = refused(
        "countReceiveEdoc",
        sdk(axis, "xa-a", created=created).count_receive_edoc(),
        401,
        "AUTH_CLOCK_SKEW",
    )
    assert "5 minutes" in desc
    assert "create the SDK's service object anew" in desc
    for zone in (VN, dt.UTC):
        lasting = sdk(axis, "xa-b", zone=zone, created=created)
        assert ok("countReceiveEdoc", lasting.count_receive_edoc())["count"] == 0
    wrong_secret = SdkService(axis.url, "xa-b", "not-the-secret", created=created)
    refused("countReceiveEdoc", wrong_secret.count_receive_edoc(), 401, "AUTH_BAD_HMAC")


# ----------------------------------------------------------------- hash-file and framing


def _short_form_document() -> bytes:
    """A document whose SHA-256 has a byte below 0x10 (the SDK's form is then shorter)."""
    for n in range(100):
        data = document(str(60 + n))
        if len(java_hex(data)) < 64:
            return data
    raise AssertionError("no document with a short hash in 100 tries")


def test_hash_file_in_either_form(local_axis: RunningAxis) -> None:
    commune = sdk(local_axis, "xa-a")
    data = _short_form_document()
    doc_id = ok("sendEdoc", commune.send_edoc(data, sender=COMMUNE_A))["DocId"]
    # The standard 64-hex form of the same file is the same message.
    standard = hashlib.sha256(data).hexdigest()
    again = ok("sendEdoc", commune.send_edoc(data, sender=COMMUNE_A, hash_file=standard))
    assert again["DocId"] == doc_id
    district = sdk(local_axis, "huyen")
    [item] = ok("getReceivedEdocList", district.get_received_edoc_list())["data"]
    assert split_axis_hop(fetched(district, item["docId"]))[0] == data


def test_the_trailing_crlf_belongs_to_the_file_only_when_the_hash_says_so(
    axis_factory: Any,
) -> None:
    axis = axis_factory(trace=False)
    commune = sdk(axis, "xa-a")
    # A file that itself ends in CRLF, sent with the SDK's framing: the framing is dropped.
    framed = document("71").rstrip(b"\n") + b"\r\n"
    ok("sendEdoc", commune.send_edoc(framed, sender=COMMUNE_A))
    # A raw body without framing whose hash covers the final CRLF: it is kept.
    unframed = document("72").rstrip(b"\n") + b"\r\n"
    ok("sendEdoc", commune.send_edoc(unframed, sender=COMMUNE_A, trailer=b""))
    district = sdk(axis, "huyen")
    items = ok("getReceivedEdocList", district.get_received_edoc_list())["data"]
    got = {i["documentId"]: fetched(district, i["docId"]) for i in items}
    assert got == {document_id_of(framed): framed, document_id_of(unframed): unframed}


def test_hash_file_in_neither_form_is_refused(local_axis: RunningAxis) -> None:
    data = document("44")
    answer = sdk(local_axis, "xa-a").send_edoc(data, sender=COMMUNE_A, hash_file="ab" * 30)
    desc = refused("sendEdoc", answer, 400, "HASH_MISMATCH")
    assert answer.body["DocId"] == ""
    assert hashlib.sha256(data).hexdigest() in desc
    assert java_hex(data) in desc
    assert "neither form" in desc
    assert ok("countReceiveEdoc", sdk(local_axis, "huyen").count_receive_edoc())["count"] == 0


def test_every_send_answer_carries_doc_id(local_axis: RunningAxis) -> None:
    """Refused before the body is read (wrong secret) or after (not edXML): DocId is there."""
    wrong = SdkService(local_axis.url, "xa-a", "not-the-secret")
    refused("sendEdoc", wrong.send_edoc(document("45"), sender=COMMUNE_A), 401, "AUTH_BAD_HMAC")
    junk = sdk(local_axis, "xa-a").send_edoc(b"<html/>", sender=COMMUNE_A)
    refused("sendEdoc", junk, 400, "EDXML_INVALID")
    wrong_method = httpx.get(f"{local_axis.url}/sendEdoc")
    refused("sendEdoc", Answer(wrong_method.status_code, wrong_method.json()), 405, "BAD_REQUEST")


# ----------------------------------------------------------------- piled-up parameters


def test_conflicting_docid_on_update_status_is_refused(local_axis: RunningAxis) -> None:
    """The SDK's bug: getEdoc(docId=Y2) after updateStatus(docid=Y1) leaves both keys in
    its map. A read takes the operation's own spelling; an acknowledgement is refused."""
    commune = sdk(local_axis, "xa-a")
    first, second = document("51"), document("52")
    for data in (first, second):
        ok("sendEdoc", commune.send_edoc(data, sender=COMMUNE_A))
    district = sdk(local_axis, "huyen")
    items = ok("getReceivedEdocList", district.get_received_edoc_list())["data"]
    by_document = {i["documentId"]: i["docId"] for i in items}
    y1, y2 = by_document[document_id_of(first)], by_document[document_id_of(second)]

    fetched(district, y1)
    ok("updateStatus", district.update_status(y1, "done", key="docid"))
    # getEdoc now carries docId=y2 and docid=y1, both signed: docId wins for a read.
    assert split_axis_hop(fetched(district, y2))[0] == second
    request = district.sent[-1]
    assert request.header(PREFIX + "docId") == [y2]
    assert request.header(PREFIX + "docid") == [y1]

    desc = refused(
        "updateStatus", district.update_status(y2, "done", key="docId"), 400, "PARAM_CONFLICT"
    )
    assert f"{PREFIX}docId={y2}" in desc
    assert f"{PREFIX}docid={y1}" in desc
    # Nothing was acknowledged by the refused call: y2 still waits, y1 stays done.
    [waiting] = ok("getReceivedEdocList", sdk(local_axis, "huyen").get_received_edoc_list())[
        "data"]
    assert waiting["docId"] == y2
    ok("updateStatus", sdk(local_axis, "huyen").update_status(y2, "done"))


# ----------------------------------------------------------------- our client


def _record(requests: list[httpx.Request]) -> Any:
    def hook(request: httpx.Request) -> None:
        requests.append(request)

    return hook


def _body(request: httpx.Request) -> bytes:
    # The upload stream can be iterated again (retries do), so reading it here is harmless.
    return b"".join(cast(Iterable[bytes], request.stream))


def test_our_client_sends_what_the_sdk_sends(local_axis: RunningAxis, tmp_path: Path) -> None:
    requests: list[httpx.Request] = []
    data = _short_form_document()
    file = tmp_path / "plan.edxml"
    file.write_bytes(data)
    progress: list[int] = []
    with httpx.Client(event_hooks={"request": [_record(requests)]}) as http:
        commune = AxisClient(local_axis.settings("xa-a"), http_client=http)
        district = AxisClient(local_axis.settings("huyen"), http_client=http)
        sent = commune.send(file, progress=lambda done, _total: progress.append(done))
        assert district.count() == 1
        assert district.count(MessageType.STATUS) == 0
        [item] = district.list_received()
        assert split_axis_hop(district.fetch(item.doc_id))[0] == data
        district.acknowledge(item.doc_id, AckStatus.DONE)
        assert commune.sent_status(sent.doc_id)[0].receive_status == "done"
        assert len(district.agencies()) == 4
    assert progress[-1] == len(data)

    seen = {r.url.path.rsplit("/", 1)[-1]: r for r in requests}
    assert set(seen) == set(CAPTURED_SIGNED_NAMES)
    download = os.path.abspath(local_axis.settings("huyen").download_folder)
    for operation, request in seen.items():
        headers = request.headers
        assert request.method == "POST", operation
        assert headers[PREFIX + "sign-header-key"] == CAPTURED_SIGNED_NAMES[operation]
        signed = json.loads(headers[PREFIX + "sign-header"])
        names = CAPTURED_SIGNED_NAMES[operation].split(";")
        assert list(signed) == [PREFIX + n for n in names], operation
        assert headers["Content-Type"] == CAPTURED_CONTENT_TYPES[operation]
        assert signed[PREFIX + "Content-Type"] == CAPTURED_CONTENT_TYPES[operation]
        # Header names are written with the SDK's casing (httpx keeps them on the wire).
        raw_names = [n.decode() for n, _ in headers.raw]
        assert [n for n in raw_names if n.startswith(PREFIX) and n[len(PREFIX):] in names] == [
            PREFIX + n for n in names], operation
        # A fresh timestamp in Vietnam time, milliseconds after the '+', as the SDK writes.
        stamp = signed[PREFIX + "timestamp"]
        assert re.fullmatch(r"\d{8}T\d{6}\+0\d{3}", stamp)
        written = dt.datetime.strptime(stamp[:15], "%d%m%YT%H%M%S").replace(tzinfo=VN)
        assert abs(written - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
        if operation == "sendEdoc":
            assert _body(request) == data + b"\r\n"
            assert signed[PREFIX + "hash-file"] == java_hex(data)
            assert headers["Content-Length"] == str(len(data) + 2)
        else:
            assert _body(request) == CAPTURED_BODIES[operation], operation
    assert json.loads(seen["getEdoc"].headers[PREFIX + "sign-header"])[
        PREFIX + "filePath"] == download
    assert seen["sendEdoc"].headers["User-Agent"] != USER_AGENT  # we say who we are
