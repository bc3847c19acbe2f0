"""The I/O-free half of the axis client, shared by :class:`AxisClient` and its async twin.

Like httpx's ``BaseClient``, everything that does not wait on the network lives here once:
describing each operation (:class:`Call`), building and signing the request, streaming an
upload, turning a response or a transport failure into a result or the right
:class:`AxisError`, and deciding what a retry may fix. The two clients only move bytes.

By default a request is what the official SDK sends (``shared/spec/axis-sdk-wire.md``,
facts in :mod:`._wire`): the raw file and a trailing CRLF for a send, with ``hash-file`` in
the SDK's form; counts as POST; the SDK's bodies and signed names in the SDK's order. So
the national axis sees nothing it has not seen from every other vendor.
"""

from __future__ import annotations

import binascii
import datetime as dt
import enum
import hashlib
import json
import logging
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx
import stamina
from pydantic import SecretStr, ValidationError

from ..b64stream import Base64Stream, Base64StreamError
from ._auth import TimestampStyle, sign_headers
from ._errors import (
    AxisAuthError,
    AxisConnectionError,
    AxisError,
    AxisNotFound,
    AxisProtocolError,
    AxisRateLimited,
    AxisRejected,
    AxisServerError,
    AxisTimeout,
    AxisTransientError,
    AxisValidationError,
)
from ._models import AckStatus, Agency, MessageType, ReceivedItem, RecipientStatus, SendResult
from ._wire import (
    JSON_BODY,
    JSON_CONTENT_TYPE,
    SEND_CONTENT_TYPE,
    SEND_TRAILER,
    HashStyle,
    hash_file,
)

__all__ = [
    "AnswerScanner",
    "Base64File",
    "Call",
    "FetchedFile",
    "Framing",
    "MultipartUpload",
    "Progress",
    "Protocol",
    "RawUpload",
    "RetryPolicy",
    "Upload",
    "calls",
]

T = TypeVar("T")
Progress = Callable[[int, int], None]
"""Called with (bytes of the file sent so far, file size) while an upload streams."""

_log = logging.getLogger("edoc_exchange.axis")
_CHUNK = 64 * 1024
_USER_AGENT = "edoc-exchange/0.1 (XRoad/VPCP protocol)"


# --------------------------------------------------------------------------- uploads


class Framing(enum.StrEnum):
    """How a send's body carries the file."""

    RAW = "raw"  #: the file then CRLF, as application/octet-stream (the official SDK)
    MULTIPART = "multipart"  #: a multipart/form-data part named ``file_doc`` (other clients)


@dataclass(frozen=True, slots=True)
class Upload:
    """The file of a send: a path re-opened for every attempt, or caller's bytes.

    The SHA-256 is computed once, reading the file in chunks, so neither hashing nor
    sending ever holds a file in memory; bytes are sliced through a memoryview, never copied.
    """

    source: Path | bytes
    size: int
    sha256: str
    filename: str

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> Upload:
        """Hash a file by streaming it; raises OSError when it cannot be read."""
        file_path = Path(path)
        digest = hashlib.sha256()
        size = 0
        with file_path.open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
        return cls(file_path, size, digest.hexdigest(), _safe_filename(file_path.name))

    @classmethod
    def from_bytes(cls, data: bytes, filename: str = "message.edxml") -> Upload:
        """Wrap bytes already in memory (no copy is made)."""
        return cls(data, len(data), hashlib.sha256(data).hexdigest(), _safe_filename(filename))

    def hash_file(self, style: HashStyle) -> str:
        """The ``hash-file`` text of this file in ``style``."""
        return hash_file(bytes.fromhex(self.sha256), style)

    def chunks(self) -> Iterator[bytes]:
        """The file's bytes, chunk by chunk; a path is opened afresh on every call."""
        if isinstance(self.source, bytes):
            view = memoryview(self.source)
            for offset in range(0, self.size, _CHUNK):
                yield bytes(view[offset : offset + _CHUNK])
            return
        with self.source.open("rb") as handle:
            sent = 0
            while chunk := handle.read(_CHUNK):
                sent += len(chunk)
                if sent > self.size:
                    break  # the file grew: the server would refuse the hash anyway
                yield chunk


def _safe_filename(name: str) -> str:
    # The part header is ASCII; the name is informative only (the axis assigns DocIds).
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:120]
    return cleaned or "message.edxml"


class _UploadStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A send's body streamed from an :class:`Upload`: ``head``, the file, ``tail``.

    It serves both clients (iterated by the sync transport, async-iterated by the async
    one) and can be iterated again for a retry. ``progress`` sees the file's bytes only. In
    the async client the file is read with blocking calls of 64 KiB: short enough not to
    stall the event loop noticeably.
    """

    head = b""
    tail = b""
    content_type = ""

    def __init__(self, upload: Upload, *, progress: Progress | None = None) -> None:
        self.upload = upload
        self.progress = progress

    @property
    def content_length(self) -> int:
        return len(self.head) + self.upload.size + len(self.tail)

    def __iter__(self) -> Iterator[bytes]:
        if self.head:
            yield self.head
        sent = 0
        if self.progress:
            self.progress(0, self.upload.size)
        for chunk in self.upload.chunks():
            yield chunk
            sent += len(chunk)
            if self.progress:
                self.progress(sent, self.upload.size)
        if self.tail:
            yield self.tail

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self:
            yield chunk


class RawUpload(_UploadStream):
    """The SDK's body: the file, then CRLF, as ``application/octet-stream``."""

    tail = SEND_TRAILER
    content_type = SEND_CONTENT_TYPE


class MultipartUpload(_UploadStream):
    """A one-part ``multipart/form-data`` body (part ``file_doc``), for an axis that wants it."""

    def __init__(self, upload: Upload, *, progress: Progress | None = None) -> None:
        super().__init__(upload, progress=progress)
        self.boundary = secrets.token_hex(16)
        self.head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="file_doc"; filename="{upload.filename}"\r\n'
            "Content-Type: application/xml\r\n\r\n"
        ).encode("ascii")
        self.tail = f"\r\n--{self.boundary}--\r\n".encode("ascii")
        self.content_type = f"multipart/form-data; boundary={self.boundary}"


# --------------------------------------------------------------------------- calls


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One operation of the protocol: where it goes, its signed parameters, how to read it.

    ``params`` are signed in their order between ``systemid`` and ``timestamp``,
    ``late_params`` after ``Content-Type``; ``body`` is sent when there is no upload.
    """

    operation: str
    params: Mapping[str, str]
    parse: Callable[[dict[str, Any]], T]
    upload: Upload | None = None
    body: bytes = b""
    late_params: Mapping[str, str] = field(default_factory=dict)
    method: str = "POST"
    #: Bytes the answer is expected to carry (a fetch of a listed item's size): each MiB
    #: adds ``deadline_per_mib`` to the attempt's deadline, as an upload's does.
    download_size: int = 0


def _items(body: dict[str, Any]) -> list[Any]:
    data = body.get("data", [])
    if data is None:
        return []
    if not isinstance(data, list):
        raise TypeError("'data' is not a list")
    return data


def _decode_edoc(body: dict[str, Any]) -> bytes:
    data = body.get("data")
    if not isinstance(data, str):
        raise TypeError("'data' is not a base64 string")
    # Non-strict: peers wrap base64 in lines; padding errors (truncation) still raise.
    return binascii.a2b_base64(data)


def _streamed_edoc(body: dict[str, Any]) -> None:
    if not isinstance(body.get("data"), str):
        raise TypeError("'data' is not a base64 string")


def _count(body: dict[str, Any]) -> int:
    value = body.get("count", body.get("data"))
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError("'count' is not a number")
    return int(value)


class calls:  # noqa: N801  (a namespace of constructors, read as calls.send(...))
    """Constructors of every :class:`Call`: the one place that knows the protocol's verbs.

    Names, their order and the bodies are those of the SDK's captured requests.
    """

    @staticmethod
    def send(
        upload: Upload,
        *,
        sender: str,
        message_type: MessageType,
        hash_style: HashStyle = HashStyle.SDK,
    ) -> Call[SendResult]:
        return Call(
            "sendEdoc",
            {
                "servicetype": "eDoc",
                "messagetype": MessageType(message_type).value,
                "hash-file": upload.hash_file(hash_style),
                "from": sender,
            },
            SendResult.model_validate,
            upload,
        )

    @staticmethod
    def list_received(message_type: MessageType) -> Call[list[ReceivedItem]]:
        return Call(
            "getReceivedEdocList",
            {"servicetype": "eDoc", "messagetype": MessageType(message_type).value},
            lambda body: [ReceivedItem.model_validate(item) for item in _items(body)],
        )

    @staticmethod
    def fetch(doc_id: str, *, file_path: str) -> Call[bytes]:
        # The SDK signs its download folder too; the axis does not use it.
        return Call(
            "getEdoc", {"docId": doc_id, "filePath": file_path}, _decode_edoc, body=JSON_BODY
        )

    @staticmethod
    def fetch_streamed(doc_id: str, *, file_path: str, size: int = 0) -> Call[None]:
        """getEdoc whose answer is streamed to a file (:class:`AnswerScanner`): its parse
        sees the answer with ``data`` emptied, and only checks that it was a string."""
        return Call(
            "getEdoc",
            {"docId": doc_id, "filePath": file_path},
            _streamed_edoc,
            body=JSON_BODY,
            download_size=max(0, size),
        )

    @staticmethod
    def acknowledge(doc_id: str, status: AckStatus) -> Call[None]:
        return Call(
            "updateStatus",
            {"docid": doc_id},
            lambda body: None,
            body=JSON_BODY,
            late_params={"status": AckStatus(status).value},
        )

    @staticmethod
    def sent_status(doc_id: str) -> Call[list[RecipientStatus]]:
        return Call(
            "getSentEdocList",
            {"servicetype": "eDoc", "messagetype": MessageType.EDOC.value, "docId": doc_id},
            lambda body: [RecipientStatus.model_validate(item) for item in _items(body)],
        )

    @staticmethod
    def count(message_type: MessageType) -> Call[int]:
        path = "countReceiveEdoc" if message_type == MessageType.EDOC else "countReceiveStatus"
        return Call(path, {}, _count, body=JSON_BODY)

    @staticmethod
    def agencies() -> Call[list[Agency]]:
        return Call(
            "getAgenciesList",
            {},
            lambda body: [Agency.model_validate(item) for item in _items(body)],
        )


# --------------------------------------------------------------------------- the protocol


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds on retries: at most ``attempts`` tries, none started after ``max_time`` seconds.

    Waits grow exponentially from ``wait_initial`` to ``wait_max`` with up to
    ``wait_initial`` of random jitter; a 429/503 ``Retry-After`` replaces the wait, and one
    longer than ``max_retry_after`` or than the time left is not waited for: the error is
    raised at once. Every attempt has its own total deadline (:attr:`Protocol.deadline`),
    so, worst case, a call returns after about ``max_time + wait_max + deadline`` seconds.
    """

    attempts: int = 5
    max_time: float = 60.0
    wait_initial: float = 0.5
    wait_max: float = 10.0
    max_retry_after: float = 60.0


@dataclass(slots=True)
class Protocol:
    """Request building, signing, response parsing and error mapping for one system."""

    endpoint: str
    systemid: str
    secret: SecretStr = field(repr=False)
    timeout: float
    retry: RetryPolicy
    #: Seconds one attempt may take in all (connect, send, every read), plus
    #: ``deadline_per_mib`` for each MiB uploaded.
    deadline: float = 45.0
    deadline_per_mib: float = 20.0
    timestamp_style: TimestampStyle = TimestampStyle.MILLIS
    user_agent: str = _USER_AGENT

    #: How a send carries the file, and how its hash-file is written (SDK by default).
    framing: Framing = Framing.RAW
    hash_style: HashStyle = HashStyle.SDK
    #: The ``filePath`` getEdoc signs, as the SDK does (its download folder).
    file_path: str = "downloads"

    # -- deadlines

    def deadline_for(self, call: Call[Any]) -> float:
        """Seconds one attempt of ``call`` may take in all: :attr:`deadline`, plus
        :attr:`deadline_per_mib` for each MiB the call uploads."""
        size = call.upload.size if call.upload is not None else 0
        size += call.download_size
        return self.deadline + self.deadline_per_mib * size / (1024 * 1024)

    def deadline_error(self, call: Call[Any], seconds: float, exc: Exception | None) -> AxisTimeout:
        """The AxisTimeout of an attempt that reached its total deadline."""
        cause = f": {exc!r}" if exc is not None else ""
        return AxisTimeout(
            f"Trục liên thông không trả lời xong {call.operation} trong thời hạn {seconds:g} "
            f"giây ({self.endpoint}); sẽ thử lại sau",
            f"the axis did not complete {call.operation} within its deadline of {seconds:g} s "
            f"({self.endpoint}){cause}",
            operation=call.operation,
        )

    # -- requests

    def build_request(
        self,
        call: Call[Any],
        *,
        progress: Progress | None = None,
        remaining: float | None = None,
    ) -> httpx.Request:
        """A freshly signed request (a retry is re-signed: its timestamp must be fresh).

        ``remaining`` (seconds left of the attempt's deadline) caps each step's timeout, so
        even an HTTP client that is not the axis client's own never waits past it in one
        step.
        """
        stream: _UploadStream | None = None
        if call.upload is not None:
            kind = RawUpload if self.framing is Framing.RAW else MultipartUpload
            stream = kind(call.upload, progress=progress)
            content_type = stream.content_type
        else:
            content_type = JSON_CONTENT_TYPE
        headers = sign_headers(
            secret=self.secret.get_secret_value(),
            systemid=self.systemid,
            content_type=content_type,
            params=call.params,
            late_params=call.late_params,
            now=dt.datetime.now(dt.UTC),
            style=self.timestamp_style,
            user_agent=self.user_agent,
        )
        headers["Accept"] = "application/json"
        step = self.timeout if remaining is None else max(0.001, min(self.timeout, remaining))
        extensions = {"timeout": httpx.Timeout(step).as_dict()}
        url = self.endpoint.rstrip("/") + "/" + call.operation
        if stream is not None:
            # httpx adds Host and Content-Length itself only for bodies it encodes.
            headers["Host"] = httpx.URL(url).netloc.decode("ascii")
            headers["Content-Length"] = str(stream.content_length)
            return httpx.Request(
                call.method, url, headers=headers, stream=stream, extensions=extensions
            )
        return httpx.Request(
            call.method, url, headers=headers, content=call.body, extensions=extensions
        )

    # -- retries

    def retrying(self) -> Any:
        """A stamina retry context for one call: bounded in attempts and in time."""
        deadline = time.monotonic() + self.retry.max_time
        return stamina.retry_context(
            on=self._retry_hook(deadline),
            attempts=self.retry.attempts,
            timeout=self.retry.max_time,
            wait_initial=self.retry.wait_initial,
            wait_max=self.retry.wait_max,
            wait_jitter=self.retry.wait_initial,
        )

    def _retry_hook(self, deadline: float) -> Callable[[Exception], bool | float]:
        def hook(exc: Exception) -> bool | float:
            if not isinstance(exc, AxisTransientError):
                return False  # a refusal, a protocol error, a bug: retrying cannot help
            if exc.retry_after is None:
                return True
            wait = exc.retry_after
            if wait > self.retry.max_retry_after or time.monotonic() + wait > deadline:
                return False
            return wait

        return hook

    # -- responses

    def transport_error(self, call: Call[Any], exc: httpx.HTTPError) -> AxisError:
        """The most specific AxisError for an httpx failure (raise it ``from exc``)."""
        op = call.operation
        where = self.endpoint
        if isinstance(exc, httpx.TimeoutException):
            return AxisTimeout(
                f"Trục liên thông không trả lời trong {self.timeout:g} giây ({where})",
                f"the axis did not answer within {self.timeout:g} s ({where}): {exc!r}",
                operation=op,
            )
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
            return AxisProtocolError(
                f"Địa chỉ trục liên thông không dùng được: {where}",
                f"cannot talk to the axis at {where}: {exc}",
                operation=op,
            )
        return AxisConnectionError(
            f"Không kết nối được tới trục liên thông ({where}) hoặc kết nối bị ngắt",
            f"could not reach the axis at {where}, or the connection broke: {exc!r}",
            operation=op,
        )

    def parse_response(self, call: Call[T], response: httpx.Response) -> T:
        """The call's typed result, or the AxisError the answer stands for."""
        op = call.operation
        status = response.status_code
        body = _json_object(response.content)
        code = _text_field(body, "ErrorCode")
        desc = _text_field(body, "ErrorDesc")
        if status == 429:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            raise AxisRateLimited(
                "Trục liên thông đang quá tải (429): sẽ thử lại sau",
                f"the axis is rate limiting (429); Retry-After={retry_after}",
                operation=op,
                retry_after=retry_after,
                error_code=code,
                error_desc=desc,
            )
        if status >= 500:
            err = AxisServerError(
                f"Trục liên thông gặp lỗi máy chủ (HTTP {status}): {desc or ''}",
                f"the axis had a server error (HTTP {status}): {desc or ''}",
                operation=op,
                error_code=code,
                error_desc=desc,
                http_status=status,
            )
            err.retry_after = _retry_after(response.headers.get("Retry-After"))
            raise err
        if body is None:
            snippet = response.content[:80].decode("utf-8", "replace")
            raise AxisProtocolError(
                f"Trục trả lời không phải JSON (HTTP {status}): {snippet!r}",
                f"the axis answered something that is not JSON (HTTP {status}): {snippet!r}",
                operation=op,
                http_status=status,
            )
        ok = str(body.get("status", "")).upper() in {"OK", "SUCCESS"} and code in (None, "0")
        if status >= 400 or not ok:
            raise _rejection(op, status, code, desc)
        if status >= 300:
            raise AxisProtocolError(
                f"Trục trả lời chuyển hướng (HTTP {status}): kiểm tra địa chỉ endpoint",
                f"the axis answered a redirect (HTTP {status}): check the endpoint",
                operation=op,
                http_status=status,
            )
        try:
            return call.parse(body)
        except (ValidationError, TypeError, ValueError, KeyError, binascii.Error) as exc:
            raise AxisProtocolError(
                f"Câu trả lời của trục cho {op} không đúng giao thức: {exc}",
                f"the axis's answer to {op} does not follow the protocol: {exc}",
                operation=op,
                http_status=status,
            ) from exc

    def part_file(self, target: Path) -> Path:
        """The temporary name a streamed fetch writes under, beside ``target``."""
        return target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")

    def finish_streamed(
        self,
        call: Call[T],
        response: httpx.Response,
        scanner: AnswerScanner,
        failure: StreamError | None,
    ) -> T:
        """The result of a streamed answer, or the AxisError it stands for.

        An answer that is not 200 is mapped from what was kept of it, as usual; a 200
        answer that could not be scanned (cut off, invalid base64, over the size bound) is
        an :class:`AxisProtocolError` naming what was wrong.
        """
        if failure is not None and response.status_code == 200:
            raise AxisProtocolError(
                f"Câu trả lời của trục cho {call.operation} không dùng được: {failure}",
                f"the axis's answer to {call.operation} is unusable: {failure}",
                operation=call.operation,
                http_status=response.status_code,
            )
        headers = {k: v for k, v in response.headers.items() if k.lower() == "retry-after"}
        kept = httpx.Response(response.status_code, headers=headers, content=scanner.skeleton)
        return self.parse_response(call, kept)

    def log(self, call: Call[Any], response: httpx.Response | None, started: float) -> None:
        """One debug line per attempt; never headers (they carry the HMAC)."""
        _log.debug(
            "axis %s %s -> %s in %.3fs",
            self.systemid,
            call.operation,
            response.status_code if response is not None else "error",
            time.monotonic() - started,
        )


def _json_object(content: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _text_field(body: dict[str, Any] | None, key: str) -> str | None:
    if body is None or body.get(key) is None:
        return None
    return str(body[key])


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


_AUTH_CODES = {"SENDER_NOT_SERVED"}
_NOT_FOUND_CODES = {"NOT_FOUND"}


def _rejection(op: str, status: int, code: str | None, desc: str | None) -> AxisRejected:
    kind: type[AxisRejected]
    if status in (401, 403) or (code or "").startswith("AUTH") or code in _AUTH_CODES:
        kind = AxisAuthError
    elif status == 404 or code in _NOT_FOUND_CODES:
        kind = AxisNotFound
    elif 400 <= status < 500:
        kind = AxisValidationError
    else:
        kind = AxisRejected
    text = desc or "(no ErrorDesc)"
    return kind(
        f"Trục liên thông từ chối {op} (mã lỗi {code}): {text}",
        f"the axis refused {op} (ErrorCode {code}): {text}",
        operation=op,
        error_code=code,
        error_desc=desc,
        http_status=status,
    )


# --------------------------------------------------------------------------- streamed fetch


class StreamError(ValueError):
    """A streamed answer that cannot be the one the protocol describes (English text)."""


@dataclass(frozen=True, slots=True)
class FetchedFile:
    """A message fetched to a file: where, its size and SHA-256 (hex) of the decoded bytes."""

    path: Path
    size: int
    sha256: str


_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


class Base64File(Base64Stream):
    """:class:`~edoc_exchange.b64stream.Base64Stream` into a binary file, its errors the
    fetch's :class:`StreamError` (a refused answer, its temporary file removed)."""

    def feed(self, text: bytes) -> None:
        try:
            super().feed(text)
        except Base64StreamError as exc:
            raise StreamError(str(exc)) from None

    def finish(self) -> None:
        try:
            super().finish()
        except Base64StreamError as exc:
            raise StreamError(str(exc)) from None


_SPECIAL = re.compile(rb'["\\]')
_SKELETON_MAX = 1024 * 1024  # bytes of the answer outside ``data`` kept to be parsed
_WS = b" \t\r\n"


class AnswerScanner:
    """An incremental scanner of getEdoc's answer: a JSON object whose ``data`` member is
    the base64 of the .edxml.

    Every byte but ``data``'s string content is kept (the *skeleton*, bounded by 1 MiB,
    parsed afterwards with :mod:`json` for ``status``/``ErrorCode``); that content goes
    through JSON's escapes (``\\/``, ``\\n``, ``\\uXXXX``) into a :class:`Base64File`.
    The answer is never held whole: memory is one network chunk and one base64 batch.
    An answer that does not begin with ``{`` is kept raw (bounded), for the error mapping.
    """

    def __init__(self, sink: Base64File) -> None:
        self._sink = sink
        self._skeleton = bytearray()
        self._state = "start"  # start, raw, value, data, end
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._key: bytearray | None = None  # a key string at depth 1 being read
        self._last_key = b""
        self._want_value = False  # after "key": at depth 1
        self._carry = b""  # an escape cut at a chunk's end, inside data
        self.saw_data = False

    @property
    def skeleton(self) -> bytes:
        return bytes(self._skeleton)

    def _keep(self, data: bytes) -> None:
        self._skeleton += data
        if len(self._skeleton) > _SKELETON_MAX:
            raise StreamError(f"more than {_SKELETON_MAX} bytes of the answer outside 'data'")

    def feed(self, chunk: bytes) -> None:
        pos = 0
        n = len(chunk)
        while pos < n:
            if self._state == "data":
                pos = self._feed_data(chunk, pos)
                continue
            if self._state == "raw":
                self._keep(chunk[pos:])
                return
            if self._state == "end":
                rest = chunk[pos:]
                if rest.strip(_WS):
                    raise StreamError("text after the answer's closing brace")
                return
            pos = self._feed_json(chunk, pos)

    def _feed_json(self, chunk: bytes, pos: int) -> int:
        start = pos
        n = len(chunk)
        while pos < n:
            b = chunk[pos]
            pos += 1
            if self._state == "start":
                if b in _WS:
                    continue
                self._state = "value" if b == 0x7B else "raw"
                if self._state == "raw":
                    self._keep(chunk[start:])
                    return n
                self._depth = 1
                continue
            if self._in_string:
                if self._escape:
                    self._escape = False
                elif b == 0x5C:
                    self._escape = True
                elif b == 0x22:
                    self._in_string = False
                    if self._key is not None:
                        self._last_key = bytes(self._key)
                        self._key = None
                    continue
                if self._key is not None and len(self._key) < 64:
                    self._key.append(b)
                continue
            if b in _WS:
                continue
            if b == 0x22:  # a string begins
                if self._depth == 1 and self._want_value and self._last_key == b"data":
                    if self.saw_data:
                        raise StreamError("the answer has 'data' twice")
                    self.saw_data = True
                    self._want_value = False
                    self._keep(chunk[start:pos])
                    self._state = "data"
                    return pos
                self._in_string = True
                if self._depth == 1 and not self._want_value:
                    self._key = bytearray()
                self._want_value = False
                continue
            if b == 0x3A and self._depth == 1:  # ':'
                self._want_value = True
                continue
            self._want_value = False
            if b in b"{[":
                self._depth += 1
            elif b in b"}]":
                self._depth -= 1
                if self._depth == 0:
                    self._state = "end"
                    self._keep(chunk[start:pos])
                    rest = chunk[pos:]
                    if rest.strip(_WS):
                        raise StreamError("text after the answer's closing brace")
                    return n
        self._keep(chunk[start:pos])
        return pos

    def _feed_data(self, chunk: bytes, pos: int) -> int:
        if self._carry:
            chunk = self._carry + chunk[pos:]
            pos = 0
            self._carry = b""
        n = len(chunk)
        while pos < n:
            found = _SPECIAL.search(chunk, pos)
            end = found.start() if found else n
            if end > pos:
                self._sink.feed(chunk[pos:end])
            if found is None:
                return n
            if chunk[end] == 0x22:  # the closing quote
                self._state = "value"
                self._keep(b'"')
                return end + 1
            # an escape: \/ \n \r \t or \uXXXX
            if end + 1 >= n or (chunk[end + 1] == 0x75 and end + 6 > n):
                self._carry = chunk[end:]
                return n
            kind = chunk[end + 1]
            if kind == 0x2F:
                self._sink.feed(b"/")
                pos = end + 2
            elif kind in b"nrt":
                pos = end + 2
            elif kind == 0x75:
                try:
                    char = bytes([int(chunk[end + 2 : end + 6], 16)])
                except ValueError:
                    raise StreamError("a malformed \\u escape in 'data'") from None
                if char not in _B64_ALPHABET and char not in _WS:
                    raise StreamError(f"invalid base64 character {char!r} in 'data'")
                self._sink.feed(char)
                pos = end + 6
            else:
                raise StreamError(f"invalid base64 character '\\{chr(kind)}' in 'data'")
        return n

    def finish(self) -> bytes:
        """The skeleton, once the whole answer went by; StreamError if it was cut off."""
        if self._state == "raw":
            return self.skeleton
        if self._state != "end":
            where = "inside 'data'" if self._state == "data" else "before its end"
            raise StreamError(f"the answer was cut off {where}")
        if self.saw_data:
            self._sink.finish()
        return self.skeleton
