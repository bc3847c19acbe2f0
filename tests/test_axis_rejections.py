"""Each refusal of the local axis, asserted on its error answer (status FAIL, ErrorCode,
ErrorDesc), over real HTTP; and that nothing refused reaches an inbox."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from axis_fixtures import (
    COMMUNE_A,
    COMMUNE_B,
    DISTRICT,
    SYSTEMS,
    UNKNOWN,
    RunningAxis,
    axis_factory,
    local_axis,
    make_document,
)
from pydantic import SecretStr

from edoc_exchange import edxml
from edoc_exchange.axis import (
    AxisAuthError,
    AxisClient,
    AxisRejected,
    AxisValidationError,
    MessageType,
    Upload,
    sign_headers,
)
from edoc_exchange.axis._protocol import Protocol, RetryPolicy, calls
from edoc_exchange.axis._wire import HashStyle

__all__ = ["axis_factory", "local_axis"]


def _protocol(axis: RunningAxis, systemid: str = "xa-a") -> Protocol:
    return Protocol(
        endpoint=axis.url,
        systemid=systemid,
        secret=SecretStr(SYSTEMS[systemid][0]),
        timeout=10,
        retry=RetryPolicy(attempts=1),
    )


def _answer(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert isinstance(body, dict)
    assert body["status"] == "FAIL"
    return body


def _doc(*recipients: str, sender: str = COMMUNE_A) -> bytes:
    return edxml.write(make_document(sender, list(recipients) or [DISTRICT], "31"))


def _assert_nothing_delivered(axis: RunningAxis) -> None:
    for systemid in SYSTEMS:
        assert axis.client(systemid).count() == 0


def test_missing_hmac(local_axis: RunningAxis) -> None:
    response = httpx.post(f"{local_axis.url}/getReceivedEdocList",
                          headers={"XroadVnpt-systemid": "xa-a"})
    assert response.status_code == 401
    body = _answer(response)
    assert body["ErrorCode"] == "AUTH_MISSING"
    assert "missing authentication headers" in body["ErrorDesc"]


def test_wrong_hmac(local_axis: RunningAxis) -> None:
    client = local_axis.client("xa-a", secret="not-the-secret")
    with pytest.raises(AxisAuthError) as info:
        client.send(_doc())
    assert info.value.error_code == "AUTH_BAD_HMAC"
    assert info.value.http_status == 401
    assert "HMAC" in (info.value.error_desc or "")
    _assert_nothing_delivered(local_axis)


def test_tampered_signed_header(local_axis: RunningAxis) -> None:
    request = _protocol(local_axis).build_request(calls.list_received(MessageType.EDOC))
    request.headers["XroadVnpt-messagetype"] = "status"  # not what was signed
    response = httpx.Client().send(request)
    assert _answer(response)["ErrorCode"] == "AUTH_HEADER_MISMATCH"


def test_unknown_system(local_axis: RunningAxis) -> None:
    settings = local_axis.settings("xa-a").model_copy(update={"systemid": "nobody"})
    with AxisClient(settings) as client, pytest.raises(AxisAuthError) as info:
        client.count()
    assert info.value.error_code == "AUTH_UNKNOWN_SYSTEM"


@pytest.mark.parametrize(("minutes", "accepted"), [(-6, False), (6, False), (-4, True)])
def test_timestamp_skew(local_axis: RunningAxis, minutes: int, accepted: bool) -> None:
    headers = sign_headers(
        secret=SYSTEMS["xa-a"][0], systemid="xa-a", content_type="application/json",
        params={}, now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes),
        user_agent="test",
    )
    response = httpx.post(f"{local_axis.url}/countReceiveEdoc", headers=headers, content=b"{}")
    if accepted:
        assert response.status_code == 200
        assert response.json()["count"] == 0
    else:
        assert response.status_code == 401
        body = _answer(response)
        assert body["ErrorCode"] == "AUTH_CLOCK_SKEW"
        assert "5 minutes" in body["ErrorDesc"]


@pytest.mark.parametrize(
    ("method", "body"), [("POST", b"{}"), ("POST", b""), ("GET", b""), ("GET", b"{}")]
)
def test_counts_answer_post_and_get_with_the_sdk_bodies(
    local_axis: RunningAxis, method: str, body: bytes
) -> None:
    """The SDK sends POST with "{}"; older clients GET. Both are answered."""
    headers = sign_headers(
        secret=SYSTEMS["huyen"][0], systemid="huyen", content_type="application/json",
        params={}, now=dt.datetime.now(dt.UTC), user_agent="test",
    )
    for operation in ("countReceiveEdoc", "countReceiveStatus"):
        response = httpx.request(
            method, f"{local_axis.url}/{operation}", headers=headers, content=body
        )
        assert response.status_code == 200
        assert response.json() == {"status": "OK", "ErrorCode": "0", "ErrorDesc": "", "count": 0}


def test_call_body_is_bounded(local_axis: RunningAxis) -> None:
    headers = sign_headers(
        secret=SYSTEMS["huyen"][0], systemid="huyen", content_type="application/json",
        params={}, now=dt.datetime.now(dt.UTC), user_agent="test",
    )
    response = httpx.post(f"{local_axis.url}/countReceiveEdoc", headers=headers,
                          content=b"{" + b" " * 100_000 + b"}")
    assert response.status_code == 413
    assert _answer(response)["ErrorCode"] == "TOO_LARGE"


def test_hash_file_mismatch(local_axis: RunningAxis) -> None:
    data = _doc()
    lying = Upload(source=data, size=len(data), sha256="0" * 64, filename="x.edxml")
    proto = _protocol(local_axis)
    request = proto.build_request(
        calls.send(lying, sender=COMMUNE_A, message_type=MessageType.EDOC)
    )
    response = httpx.Client().send(request)
    assert response.status_code == 400
    body = _answer(response)
    assert body["ErrorCode"] == "HASH_MISMATCH"
    assert body["DocId"] == ""  # the SDK reads it even from a refusal
    assert Upload.from_bytes(data).sha256 in body["ErrorDesc"]
    assert Upload.from_bytes(data).hash_file(HashStyle.SDK) in body["ErrorDesc"]
    with pytest.raises(AxisValidationError):
        proto.parse_response(calls.send(lying, sender=COMMUNE_A,
                                        message_type=MessageType.EDOC), response)
    _assert_nothing_delivered(local_axis)


def test_from_header_differs_from_edxml_sender(local_axis: RunningAxis) -> None:
    with pytest.raises(AxisValidationError) as info:
        local_axis.client("xa-a").send(_doc(), sender=COMMUNE_B)
    assert info.value.error_code == "FROM_MISMATCH"
    assert COMMUNE_A in (info.value.error_desc or "")
    _assert_nothing_delivered(local_axis)


def test_sender_not_served_by_system(local_axis: RunningAxis) -> None:
    with pytest.raises(AxisAuthError) as info:
        local_axis.client("xa-a").send(_doc(sender=COMMUNE_B), sender=COMMUNE_B)
    assert info.value.error_code == "SENDER_NOT_SERVED"
    assert info.value.http_status == 403
    _assert_nothing_delivered(local_axis)


@pytest.mark.parametrize(
    ("data", "message_type", "fragment"),
    [
        (b"<html>not edXML</html>", MessageType.EDOC, "invalid edXML"),
        (b"\x00\x01binary", MessageType.EDOC, "invalid edXML"),
        (None, MessageType.STATUS, "but the file is a 'edoc' message"),
    ],
)
def test_edxml_validation_failure(
    local_axis: RunningAxis, data: bytes | None, message_type: MessageType, fragment: str
) -> None:
    with pytest.raises(AxisValidationError) as info:
        local_axis.client("xa-a").send(data or _doc(), message_type=message_type)
    assert info.value.error_code == "EDXML_INVALID"
    assert fragment in (info.value.error_desc or "")
    _assert_nothing_delivered(local_axis)


def test_unknown_recipient(local_axis: RunningAxis) -> None:
    with pytest.raises(AxisValidationError) as info:
        local_axis.client("xa-a").send(_doc(DISTRICT, UNKNOWN))
    assert info.value.error_code == "UNKNOWN_RECIPIENT"
    assert UNKNOWN in (info.value.error_desc or "")
    _assert_nothing_delivered(local_axis)


def test_oversize_upload_by_content_length(axis_factory: Any) -> None:
    axis = axis_factory(max_upload_bytes=20_000)
    big = edxml.write(make_document(COMMUNE_A, [DISTRICT], "8", attachment_size=200_000))
    with pytest.raises(AxisValidationError) as info:
        axis.client("xa-a").send(big)
    assert info.value.error_code == "TOO_LARGE"
    assert info.value.http_status == 413
    assert "20000" in (info.value.error_desc or "")
    _assert_nothing_delivered(axis)


def test_oversize_upload_while_streaming(axis_factory: Any) -> None:
    """Without a Content-Length (chunked), the bound is enforced while the body streams."""
    axis = axis_factory(max_upload_bytes=20_000)
    big = edxml.write(make_document(COMMUNE_A, [DISTRICT], "8", attachment_size=60_000))
    request = _protocol(axis).build_request(
        calls.send(Upload.from_bytes(big), sender=COMMUNE_A, message_type=MessageType.EDOC)
    )
    body = b"".join(request.stream)  # type: ignore[arg-type]
    del request.headers["Content-Length"]

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 4096):
            yield body[i : i + 4096]

    response = httpx.Client().post(request.url, headers=request.headers, content=chunks())
    assert response.status_code == 413
    assert _answer(response)["ErrorCode"] == "TOO_LARGE"
    _assert_nothing_delivered(axis)


def test_unknown_doc_id_and_bad_ack(local_axis: RunningAxis) -> None:
    client = local_axis.client("huyen")
    with pytest.raises(AxisRejected) as info:
        client.fetch("no-such-doc")
    assert info.value.error_code == "NOT_FOUND"
    response = httpx.post(f"{local_axis.url}/noSuchOperation")
    assert response.status_code == 404
    assert _answer(response)["ErrorCode"] == "NOT_FOUND"
