"""The streamed fetch (issue 11): getEdoc's answer goes to a file, base64 decoded in batches.

Bad answers end in a clear AxisProtocolError with no file left behind: cut off, invalid
base64 in the middle, over the size bound; and the scanner reads the shapes peers write
(``data`` anywhere, ``\\/`` escapes, wrapped lines, split at any byte).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edoc_exchange.axis import AxisClient, AxisNotFound, AxisProtocolError
from edoc_exchange.axis._protocol import AnswerScanner, Base64File, StreamError
from edoc_exchange.config import AxisSettings

SETTINGS = AxisSettings(
    endpoint="http://axis", systemid="s", secret="hunter2-secret", retries=0
)


class _Chunks(httpx.SyncByteStream):
    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts

    def __iter__(self) -> Iterator[bytes]:
        yield from self.parts


def _client(body: bytes | list[bytes], status: int = 200) -> AxisClient:
    step = 7919  # a prime: chunks end anywhere
    if isinstance(body, bytes):
        body = [body[i : i + step] for i in range(0, len(body), step)]
    parts = body

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/getEdoc"
        return httpx.Response(status, stream=_Chunks(parts))

    return AxisClient(SETTINGS, transport=httpx.MockTransport(answer))


def _answer(data: str, *, first: bool = False) -> bytes:
    head = {"status": "OK", "ErrorCode": "0", "ErrorDesc": ""}
    if first:
        return json.dumps({"data": data, **head}).encode()
    return json.dumps({**head, "docId": "d1", "data": data}).encode()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("first", [False, True])
def test_fetch_to_file_decodes_in_chunks(tmp_path: Path, first: bool) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 5)
    text = base64.encodebytes(payload).decode()  # wrapped in lines of 76
    with _client(_answer(text, first=first)) as client:
        got = client.fetch_to_file("d1", tmp_path / "m.edxml")
    assert (tmp_path / "m.edxml").read_bytes() == payload
    assert got.size == len(payload)
    assert got.sha256 == hashlib.sha256(payload).hexdigest()
    assert _leftovers(tmp_path) == ["m.edxml"]


def test_scanner_takes_escapes_split_anywhere(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 40
    encoded = base64.b64encode(payload).decode()
    # Java's JSON writers escape "/" and may write a line break as \n or \u000a.
    text = encoded[:100] + "\\n" + encoded[100:].replace("/", "\\/").replace("A", "\\u0041", 3)
    body = ('{"status":"OK","ErrorCode":"0","nested":{"data":1},"data":"' + text + '"}').encode()
    out = tmp_path / "o"
    with out.open("wb") as handle:
        sink = Base64File(handle)
        scanner = AnswerScanner(sink)
        for i in range(len(body)):
            scanner.feed(body[i : i + 1])
        skeleton = scanner.finish()
    assert out.read_bytes() == payload
    assert json.loads(skeleton)["data"] == ""
    assert json.loads(skeleton)["nested"] == {"data": 1}


def test_truncated_answer_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    body = _answer(base64.b64encode(os.urandom(200_000)).decode())
    (tmp_path / "m.edxml").write_bytes(b"kept")  # what was there stays
    with _client(body[: len(body) // 2]) as client, pytest.raises(AxisProtocolError) as info:
        client.fetch_to_file("d1", tmp_path / "m.edxml")
    assert "cut off" in info.value.en
    assert (tmp_path / "m.edxml").read_bytes() == b"kept"
    assert _leftovers(tmp_path) == ["m.edxml"]


def test_truncated_base64_is_refused(tmp_path: Path) -> None:
    text = base64.b64encode(os.urandom(3000)).decode()[:-1]
    with _client(_answer(text)) as client, pytest.raises(AxisProtocolError) as info:
        client.fetch_to_file("d1", tmp_path / "m.edxml")
    assert "multiple of 4" in info.value.en
    assert _leftovers(tmp_path) == []


def test_invalid_base64_in_the_middle_is_refused(tmp_path: Path) -> None:
    text = base64.b64encode(os.urandom(3 * 1024 * 1024)).decode()
    middle = len(text) // 2
    bad = text[:middle] + "*" + text[middle + 1 :]
    with _client(_answer(bad)) as client, pytest.raises(AxisProtocolError) as info:
        client.fetch_to_file("d1", tmp_path / "m.edxml")
    assert "invalid base64" in info.value.en
    assert str(middle)[:3] in info.value.en  # the offset is named
    assert _leftovers(tmp_path) == []


def test_padding_in_the_middle_is_refused() -> None:
    sink = Base64File(open(os.devnull, "wb"))  # noqa: SIM115
    sink.feed(b"QUJD" * (1024 * 1024 // 4 - 1) + b"QQ==")
    with pytest.raises(StreamError, match="padding"):
        sink.feed(b"QUJD")


def test_message_over_the_bound_is_refused(tmp_path: Path) -> None:
    text = base64.b64encode(os.urandom(2 * 1024 * 1024)).decode()
    with _client(_answer(text)) as client, pytest.raises(AxisProtocolError) as info:
        client.fetch_to_file("d1", tmp_path / "m.edxml", max_bytes=1024 * 1024)
    assert "limit of 1048576 bytes" in info.value.en
    assert _leftovers(tmp_path) == []


def test_errors_are_mapped_as_for_fetch(tmp_path: Path) -> None:
    body = json.dumps({"status": "FAIL", "ErrorCode": "NOT_FOUND", "ErrorDesc": "no"}).encode()
    with _client(body, status=404) as client, pytest.raises(AxisNotFound):
        client.fetch_to_file("d1", tmp_path / "m.edxml")
    with _client(b"<html>oops</html>", status=200) as client, pytest.raises(AxisProtocolError):
        client.fetch_to_file("d1", tmp_path / "m.edxml")
    no_data = json.dumps({"status": "OK", "ErrorCode": "0"}).encode()
    with _client(no_data) as client, pytest.raises(AxisProtocolError):
        client.fetch_to_file("d1", tmp_path / "m.edxml")
    assert _leftovers(tmp_path) == []


def test_the_async_client_streams_too(tmp_path: Path) -> None:
    import anyio

    from edoc_exchange.axis import AsyncAxisClient

    payload = os.urandom(2 * 1024 * 1024 + 1)
    body = _answer(base64.b64encode(payload).decode())

    class _AsyncChunks(httpx.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[no-untyped-def]
            for i in range(0, len(body), 65536):
                yield body[i : i + 65536]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_AsyncChunks())

    async def main() -> None:
        async with AsyncAxisClient(SETTINGS, transport=httpx.MockTransport(answer)) as client:
            got = await client.fetch_to_file("d1", tmp_path / "m.edxml")
            assert got.size == len(payload)
            with pytest.raises(AxisProtocolError):
                await client.fetch_to_file("d1", tmp_path / "n.edxml", max_bytes=1000)

    anyio.run(main)
    assert (tmp_path / "m.edxml").read_bytes() == payload
    assert _leftovers(tmp_path) == ["m.edxml"]
