"""The client against a purpose-built faulty server: what it retries, when it stops, what
it raises. The server is a raw socket server, so it can misbehave in ways a framework
would not let it (drop a connection mid-body, never answer)."""

from __future__ import annotations

import asyncio
import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from axis_fixtures import (
    COMMUNE_A,
    DISTRICT,
    RunningAxis,
    local_axis,
    make_document,
)

from edoc_exchange import edxml
from edoc_exchange.axis import (
    AsyncAxisClient,
    AxisClient,
    AxisConnectionError,
    AxisProtocolError,
    AxisRateLimited,
    AxisServerError,
    AxisTimeout,
    AxisValidationError,
    MessageType,
)
from edoc_exchange.config import AxisSettings

__all__ = ["local_axis"]

Behaviour = Callable[["_Handler", bytes, dict[str, str], bytes], None]


def _ok_json(**fields: Any) -> bytes:
    return json.dumps({"status": "OK", "ErrorCode": "0", "ErrorDesc": "", **fields}).encode()


def respond(status: int, body: bytes, headers: dict[str, str] | None = None) -> Behaviour:
    def act(h: _Handler, head: bytes, hdrs: dict[str, str], req_body: bytes) -> None:
        h.reply(status, body, headers or {})

    return act


def ok(**fields: Any) -> Behaviour:
    return respond(200, _ok_json(**fields))


def hang(seconds: float) -> Behaviour:
    def act(h: _Handler, head: bytes, hdrs: dict[str, str], req_body: bytes) -> None:
        time.sleep(seconds)

    return act


def slow(seconds: float, then: Behaviour) -> Behaviour:
    def act(h: _Handler, head: bytes, hdrs: dict[str, str], req_body: bytes) -> None:
        time.sleep(seconds)
        then(h, head, hdrs, req_body)

    return act


def drop_mid_body() -> Behaviour:
    def act(h: _Handler, head: bytes, hdrs: dict[str, str], req_body: bytes) -> None:
        h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 1000\r\nConnection: close\r\n\r\n{\"status\": \"O")
        h.wfile.flush()
        h.connection.shutdown(socket.SHUT_RDWR)

    return act


def forward(upstream: str, *, drop_answer: bool = False) -> Behaviour:
    """Pass the request to the real (local) axis; with drop_answer, lose its answer."""

    def act(h: _Handler, head: bytes, hdrs: dict[str, str], req_body: bytes) -> None:
        method, path, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        headers = {k: v for k, v in hdrs.items()
                   if k.lower() not in ("host", "content-length", "connection")}
        answer = httpx.request(method, upstream + path, headers=headers, content=req_body)
        if drop_answer:
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        h.reply(answer.status_code, answer.content,
                {"Content-Type": answer.headers.get("content-type", "application/json")})

    return act


def trickle(*, head: bool, every: float = 1.0, length: int = 200) -> Behaviour:
    """Answer one byte every ``every`` seconds: the body (``head=False``, after whole
    headers) or the whole answer, headers included. Each read gets a byte well within the
    per-read timeout, so only a deadline on the whole call can end it."""

    def act(h: _Handler, head_: bytes, hdrs: dict[str, str], req_body: bytes) -> None:
        body = _ok_json(count=1).ljust(length)
        top = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        if not head:
            h.wfile.write(top)
            h.wfile.flush()
        for byte in (top + body if head else body):
            try:
                h.wfile.write(bytes([byte]))
                h.wfile.flush()
            except OSError:
                return  # the client gave up: what the test wants
            time.sleep(every)

    return act


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.rfile.readline()
            if not chunk:
                return
            head += chunk
        lines = head.decode("latin-1").split("\r\n")[1:]
        headers = {}
        for line in lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip()] = value.strip()
        length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), 0))
        body = self.rfile.read(length) if length else b""
        behaviour = self.server.next_behaviour()
        behaviour(self, head, headers, body)

    def reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        self.wfile.flush()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, script: list[Behaviour]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = script
        self.attempts = 0
        self.lock = threading.Lock()

    def next_behaviour(self) -> Behaviour:
        with self.lock:
            index = min(self.attempts, len(self.script) - 1)
            self.attempts += 1
            return self.script[index]


class Faulty:
    """A faulty server in a thread, following ``script`` (its last entry repeats)."""

    def __init__(self, *script: Behaviour) -> None:
        self.server = _Server(list(script))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def attempts(self) -> int:
        return self.server.attempts

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def faulty() -> Iterator[Callable[..., Faulty]]:
    servers: list[Faulty] = []

    def start(*script: Behaviour) -> Faulty:
        servers.append(Faulty(*script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def settings(url: str, **overrides: Any) -> AxisSettings:
    values: dict[str, Any] = {
        "endpoint": url, "systemid": "xa-a", "secret": "s", "organ_id": COMMUNE_A,
        "timeout": 2.0, "retries": 3, "max_retry_time": 10.0,
        "backoff_initial": 0.01, "backoff_max": 0.05,
    }
    values.update(overrides)
    return AxisSettings(**values)


def timed(func: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    try:
        return func(), time.monotonic() - started
    except Exception as exc:
        return exc, time.monotonic() - started


def test_500_then_success_is_retried(faulty: Callable[..., Faulty]) -> None:
    server = faulty(respond(500, b"oops"), respond(502, b""), ok(count=3))
    with AxisClient(settings(server.url)) as client:
        assert client.count() == 3
    assert server.attempts == 3


def test_500_forever_stops_after_the_attempt_bound(faulty: Callable[..., Faulty]) -> None:
    server = faulty(respond(500, json.dumps({"status": "FAIL", "ErrorCode": "E500",
                                             "ErrorDesc": "db down"}).encode()))
    with AxisClient(settings(server.url, retries=3)) as client:
        error, elapsed = timed(client.count)
    assert isinstance(error, AxisServerError)
    assert error.http_status == 500
    assert error.error_code == "E500"
    assert server.attempts == 4
    assert elapsed < 2.0


def test_retries_stop_at_the_time_bound(faulty: Callable[..., Faulty]) -> None:
    server = faulty(respond(503, b""))
    s = settings(server.url, retries=20, max_retry_time=0.5, backoff_initial=0.1,
                 backoff_max=0.1)
    with AxisClient(s) as client:
        error, elapsed = timed(client.count)
    assert isinstance(error, AxisServerError)
    assert 0.5 <= elapsed < 2.0
    assert 2 <= server.attempts < 21


def test_429_honours_retry_after(faulty: Callable[..., Faulty]) -> None:
    server = faulty(respond(429, b"", {"Retry-After": "1"}), ok(count=1))
    with AxisClient(settings(server.url)) as client:
        result, elapsed = timed(client.count)
    assert result == 1
    assert server.attempts == 2
    assert 0.9 <= elapsed < 3.0


def test_429_with_a_retry_after_beyond_the_bound_fails_at_once(
    faulty: Callable[..., Faulty],
) -> None:
    server = faulty(respond(429, b"", {"Retry-After": "3600"}))
    with AxisClient(settings(server.url)) as client:
        error, elapsed = timed(client.count)
    assert isinstance(error, AxisRateLimited)
    assert error.retry_after == 3600
    assert server.attempts == 1
    assert elapsed < 1.0


def test_timeout_is_retried_then_raised(faulty: Callable[..., Faulty]) -> None:
    server = faulty(hang(3))
    with AxisClient(settings(server.url, timeout=0.3, retries=1)) as client:
        error, elapsed = timed(client.count)
    assert isinstance(error, AxisTimeout)
    assert server.attempts == 2
    assert 0.6 <= elapsed < 2.5


def test_connection_dropped_mid_body_is_retried(faulty: Callable[..., Faulty]) -> None:
    server = faulty(drop_mid_body(), ok(count=7))
    with AxisClient(settings(server.url)) as client:
        assert client.count() == 7
    assert server.attempts == 2


def test_connection_dropped_every_time_raises(faulty: Callable[..., Faulty]) -> None:
    server = faulty(drop_mid_body())
    with AxisClient(settings(server.url, retries=2)) as client:
        error, _ = timed(client.count)
    assert isinstance(error, AxisConnectionError)
    assert server.attempts == 3


def test_connection_refused_is_retried(faulty: Callable[..., Faulty]) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with AxisClient(settings(f"http://127.0.0.1:{port}", retries=2)) as client:
        error, elapsed = timed(client.count)
    assert isinstance(error, AxisConnectionError)
    assert elapsed < 2.0


def test_invalid_json_is_not_retried(faulty: Callable[..., Faulty]) -> None:
    server = faulty(respond(200, b"<html>Proxy error</html>"))
    with AxisClient(settings(server.url)) as client:
        error, _ = timed(client.count)
    assert isinstance(error, AxisProtocolError)
    assert "Proxy error" in str(error)
    assert server.attempts == 1


def test_wrong_shape_is_a_protocol_error(faulty: Callable[..., Faulty]) -> None:
    server = faulty(ok(data="not a list"))
    with AxisClient(settings(server.url)) as client:
        error, _ = timed(client.list_received)
    assert isinstance(error, AxisProtocolError)
    assert server.attempts == 1


def test_validation_answer_is_never_retried(faulty: Callable[..., Faulty]) -> None:
    answer = {"status": "FAIL", "ErrorCode": "EDXML_INVALID", "ErrorDesc": "bad message"}
    server = faulty(respond(400, json.dumps(answer).encode()))
    with AxisClient(settings(server.url)) as client:
        error, _ = timed(lambda: client.send(b"<edXML/>"))
    assert isinstance(error, AxisValidationError)
    assert error.error_code == "EDXML_INVALID"
    assert error.error_desc == "bad message"
    assert server.attempts == 1


def test_fail_with_http_200_is_a_rejection(faulty: Callable[..., Faulty]) -> None:
    """The national axis answers refusals with HTTP 200 and status FAIL."""
    answer = {"status": "FAIL", "ErrorCode": "-1", "ErrorDesc": "Hệ thống không tồn tại"}
    server = faulty(respond(200, json.dumps(answer).encode()))
    with AxisClient(settings(server.url)) as client:
        error, _ = timed(client.agencies)
    assert type(error).__name__ == "AxisRejected"
    assert server.attempts == 1


def test_slow_server_within_the_timeout_succeeds(faulty: Callable[..., Faulty]) -> None:
    server = faulty(slow(0.5, ok(count=2)))
    with AxisClient(settings(server.url, timeout=2.0)) as client:
        result, elapsed = timed(client.count)
    assert result == 2
    assert server.attempts == 1
    assert 0.5 <= elapsed < 2.0


def test_async_client_retries_the_same_way(faulty: Callable[..., Faulty]) -> None:
    server = faulty(respond(500, b""), drop_mid_body(), ok(count=5))

    async def run() -> int:
        async with AsyncAxisClient(settings(server.url)) as client:
            return await client.count()

    assert asyncio.run(run()) == 5
    assert server.attempts == 3


def test_unknown_outcome_send_is_not_duplicated(
    faulty: Callable[..., Faulty], local_axis: RunningAxis
) -> None:
    """The axis takes the message but its answer is lost: the retry gets the same DocId."""
    proxy = faulty(forward(local_axis.url, drop_answer=True), forward(local_axis.url))
    sender = AxisClient(local_axis.settings("xa-a", endpoint=proxy.url))
    try:
        result = sender.send(edxml.write(make_document(COMMUNE_A, [DISTRICT], "88")))
    finally:
        sender.close()
    assert proxy.attempts == 2
    assert result.duplicate
    district = local_axis.client("huyen")
    [item] = district.list_received()
    assert district.count() == 1
    rows = local_axis.client("xa-a").sent_status(result.doc_id)
    assert [r.receiver_doc_id for r in rows] == [item.doc_id]


@pytest.mark.parametrize("head", [False, True], ids=["trickling-body", "trickling-headers"])
def test_a_trickling_answer_ends_at_the_call_deadline(
    faulty: Callable[..., Faulty], head: bool
) -> None:
    """One byte a second never trips the per-read timeout (2 s); the call's deadline (3 s)
    ends it, whether the headers or the body trickle, with a clear AxisTimeout."""
    server = faulty(trickle(head=head))
    with AxisClient(settings(server.url, timeout=2.0, deadline=3.0, retries=0)) as client:
        error, elapsed = timed(client.count)
    assert isinstance(error, AxisTimeout), error
    assert "deadline of 3 s" in error.en
    assert "thời hạn 3 giây" in error.vi
    assert error.step == "axis.countReceiveEdoc"
    assert server.attempts == 1
    # Ends at the deadline (not at the 200 s the answer would take); the upper bound leaves
    # room for a loaded machine, not for another read.
    assert 3.0 <= elapsed < 6.0


def test_retries_of_a_trickling_answer_stay_bounded(faulty: Callable[..., Faulty]) -> None:
    """Retried like any timeout, but no retry starts after max_retry_time: the whole call
    ends within max_retry_time + backoff_max + deadline."""
    server = faulty(trickle(head=False))
    s = settings(server.url, timeout=2.0, deadline=1.5, retries=10, max_retry_time=2.0)
    with AxisClient(s) as client:
        error, elapsed = timed(client.count)
    assert isinstance(error, AxisTimeout)
    assert 2 <= server.attempts <= 3
    assert elapsed < 2.0 + 0.05 + 1.5 + 2.0


def test_async_client_ends_a_trickling_answer_at_its_deadline(
    faulty: Callable[..., Faulty],
) -> None:
    server = faulty(trickle(head=False))

    async def run() -> int:
        async with AsyncAxisClient(
            settings(server.url, timeout=2.0, deadline=2.0, retries=0)
        ) as client:
            return await client.count()

    error, elapsed = timed(lambda: asyncio.run(run()))
    assert isinstance(error, AxisTimeout), error
    assert "deadline of 2 s" in error.en
    assert 2.0 <= elapsed < 5.0


def test_a_large_upload_gets_more_time(local_axis: RunningAxis) -> None:
    """The deadline grows with what is sent (deadline_per_mib), so a large document can
    still go out over a slow link; a call without an upload gets the plain deadline."""
    from edoc_exchange.axis import Upload
    from edoc_exchange.axis._protocol import calls

    client = local_axis.client("xa-a")
    proto = client._protocol
    assert proto.deadline_for(calls.count(MessageType.EDOC)) == client.settings.deadline
    upload = Upload.from_bytes(b"x" * (3 * 1024 * 1024))
    send = calls.send(upload, sender=COMMUNE_A, message_type=MessageType.EDOC)
    expected = client.settings.deadline + 3 * client.settings.deadline_per_mib
    assert proto.deadline_for(send) == pytest.approx(expected)
