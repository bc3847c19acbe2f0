"""The axis clients: :class:`AxisClient` (blocking) and :class:`AsyncAxisClient`.

Both are thin: every step that does not wait on the network (signing, the upload stream,
parsing, error mapping, the retry decision) is the shared :class:`~._protocol.Protocol`,
and each verb is one line building a :class:`~._protocol.Call`. Only ``_call`` differs
between the two, the way httpx's ``Client`` and ``AsyncClient`` differ.

Every attempt of a call has a total deadline (``deadline``: connect, send and every read
of the answer, however slowly it trickles; see :mod:`._deadline`) besides each step's
``timeout``, and ends past it with :class:`~._errors.AxisTimeout`. A call is retried on
transient failures only (connection errors, timeouts, 5xx, 429), with exponential backoff
and jitter, bounded in attempts and time.
A send is retried too: the axis de-duplicates a message by sender, DocumentId and file
hash, so a send whose answer was lost does not arrive twice.
"""

from __future__ import annotations

import os
import ssl
import time
import urllib.parse
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import anyio
import httpx

from ._auth import TimestampStyle
from ._deadline import deadline, deadline_transport
from ._errors import AxisSettingsError
from ._models import AckStatus, Agency, MessageType, ReceivedItem, RecipientStatus, SendResult
from ._protocol import (
    AnswerScanner,
    Base64File,
    Call,
    FetchedFile,
    Framing,
    Progress,
    Protocol,
    RetryPolicy,
    StreamError,
    Upload,
    calls,
)
from ._settings import AxisSettings
from ._wire import HashStyle

__all__ = ["AsyncAxisClient", "AxisClient"]

T = TypeVar("T")
Source = str | os.PathLike[str] | bytes


def _protocol(settings: AxisSettings) -> Protocol:
    return Protocol(
        endpoint=settings.endpoint,
        systemid=settings.systemid,
        secret=settings.secret,
        timeout=settings.timeout,
        deadline=settings.deadline,
        deadline_per_mib=settings.deadline_per_mib,
        retry=RetryPolicy(
            attempts=settings.retries + 1,
            max_time=settings.max_retry_time,
            wait_initial=settings.backoff_initial,
            wait_max=settings.backoff_max,
            max_retry_after=settings.max_retry_after,
        ),
        timestamp_style=TimestampStyle(settings.timestamp_style),
        framing=Framing(settings.upload_framing),
        hash_style=HashStyle(settings.hash_file_style),
        file_path=_file_path(settings),
    )


def _file_path(settings: AxisSettings) -> str:
    """The download folder as getEdoc signs it: absolute, like the SDK's.

    A header is ASCII on the wire, so other characters are percent-encoded (the axis does
    not use the value; a Vietnamese folder name must not make every fetch fail).
    """
    path = os.path.abspath(settings.download_folder)
    return "".join(c if c.isascii() else urllib.parse.quote(c) for c in path)


def _ssl_context(settings: AxisSettings) -> ssl.SSLContext:
    """Verify the axis with the CA bundle (or the system store); present a client cert."""
    context = ssl.create_default_context(
        cafile=str(settings.ca_bundle) if settings.ca_bundle else None
    )
    if settings.client_cert is not None:
        context.load_cert_chain(
            str(settings.client_cert),
            str(settings.client_key) if settings.client_key else None,
        )
    return context


def _limits(settings: AxisSettings) -> httpx.Limits:
    return httpx.Limits(
        max_connections=settings.max_connections,
        max_keepalive_connections=settings.max_connections,
    )


def _client_kwargs(settings: AxisSettings, context: ssl.SSLContext) -> dict[str, Any]:
    return {
        "verify": context,
        "timeout": httpx.Timeout(settings.timeout),
        "limits": _limits(settings),
        "follow_redirects": False,
    }


def _upload(source: Source, filename: str | None) -> Upload:
    if isinstance(source, bytes):
        return Upload.from_bytes(source, filename or "message.edxml")
    return Upload.from_path(source)


def _sender(settings: AxisSettings, sender: str | None) -> str:
    value = sender or settings.organ_id
    if not value:
        raise AxisSettingsError(
            "Chưa biết mã định danh nơi gửi: đặt axis.organ_id trong cấu hình",
            "no sender OrganId given and axis.organ_id is not configured",
            operation="sendEdoc",
        )
    return value


def _past(exc: httpx.HTTPError, at: float) -> bool:
    """Whether a timeout is the attempt's deadline rather than one step's timeout (a step
    cut to the time left times out right at the deadline)."""
    return isinstance(exc, httpx.TimeoutException) and time.monotonic() >= at - 0.05


class _Base:
    """What both clients hold: the settings, the protocol, and whether we own the pool."""

    _settings: AxisSettings
    _protocol: Protocol
    _owns_http: bool

    @property
    def settings(self) -> AxisSettings:
        return self._settings

    def __repr__(self) -> str:
        # The secret is a SecretStr and is never part of the repr.
        s = self._settings
        return (
            f"{type(self).__name__}(endpoint={s.endpoint!r}, systemid={s.systemid!r}, "
            "secret='**********')"
        )


class AxisClient(_Base):
    """A blocking client for one system id. Use as a context manager, or call :meth:`close`.

    ``http_client`` (used as given, not closed by us) or ``transport`` let the same client
    run against the national axis, the local axis, a test server or an ``httpx.MockTransport``.
    Raises :class:`~.AxisError` subclasses only; ``OSError`` when a file to send is unreadable.
    """

    def __init__(
        self,
        settings: AxisSettings,
        *,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._protocol = _protocol(settings)
        self._owns_http = http_client is None
        if http_client is None:
            context = _ssl_context(settings)
            # Our own pool enforces each attempt's deadline at the socket; a transport or
            # client given by the caller gets each step's timeout capped by it instead.
            own = transport or deadline_transport(context, _limits(settings))
            http_client = httpx.Client(transport=own, **_client_kwargs(settings, context))
        self._http = http_client

    def _call(self, call: Call[T], *, progress: Progress | None = None) -> T:
        proto = self._protocol
        for attempt in proto.retrying():
            with attempt:
                started = time.monotonic()
                seconds = proto.deadline_for(call)
                request = proto.build_request(call, progress=progress, remaining=seconds)
                try:
                    with deadline(started + seconds):
                        response = self._http.send(request)
                except httpx.HTTPError as exc:
                    proto.log(call, None, started)
                    if _past(exc, started + seconds):
                        raise proto.deadline_error(call, seconds, exc) from exc
                    raise proto.transport_error(call, exc) from exc
                proto.log(call, response, started)
                return proto.parse_response(call, response)
        raise AssertionError("unreachable: stamina re-raises the last failure")

    def send(
        self,
        source: Source,
        *,
        sender: str | None = None,
        message_type: MessageType = MessageType.EDOC,
        filename: str | None = None,
        progress: Progress | None = None,
    ) -> SendResult:
        """Send an .edxml (a path, streamed from disk, or bytes); returns the axis DocId.

        ``sender`` is the ``from`` header: the OrganId in the message (default: organ_id
        of the settings). Recipients are read by the axis from the message itself.
        """
        call = calls.send(
            _upload(source, filename),
            sender=_sender(self._settings, sender),
            message_type=message_type,
            hash_style=self._protocol.hash_style,
        )
        return self._call(call, progress=progress)

    def list_received(self, message_type: MessageType = MessageType.EDOC) -> list[ReceivedItem]:
        """Items waiting for this system; each stays listed until acknowledged."""
        return self._call(calls.list_received(message_type))

    def fetch(self, doc_id: str) -> bytes:
        """The .edxml bytes of a received item (base64-decoded)."""
        return self._call(calls.fetch(doc_id, file_path=self._protocol.file_path))

    def fetch_to_file(
        self,
        doc_id: str,
        target: str | os.PathLike[str],
        *,
        max_bytes: int | None = None,
        size: int = 0,
    ) -> FetchedFile:
        """Fetch a received item's .edxml straight into ``target``, never whole in memory.

        The answer streams through :class:`~._protocol.AnswerScanner`, which decodes the
        base64 in batches into a temporary file beside ``target``, renamed to ``target``
        only when the whole answer was read and found good. ``max_bytes`` bounds the
        decoded size (the reader's ``ReadLimits.max_bytes``); ``size`` (the listed item's)
        lengthens the deadline by ``deadline_per_mib`` per MiB. Raises
        :class:`~.AxisProtocolError` for a cut-off answer, invalid base64 or a message over
        ``max_bytes`` (the temporary file removed, ``target`` untouched), other
        :class:`~.AxisError` subclasses as :meth:`fetch`, and ``OSError`` when the folder
        cannot be written.
        """
        call = calls.fetch_streamed(doc_id, file_path=self._protocol.file_path, size=size)
        path = Path(target)
        proto = self._protocol
        for attempt in proto.retrying():
            with attempt:
                started = time.monotonic()
                seconds = proto.deadline_for(call)
                request = proto.build_request(call, remaining=seconds)
                part = proto.part_file(path)
                failure: StreamError | None = None
                try:
                    with deadline(started + seconds), part.open("wb") as out:
                        sink = Base64File(out, max_bytes=max_bytes)
                        scanner = AnswerScanner(sink)
                        response = self._http.send(request, stream=True)
                        try:
                            for chunk in response.iter_bytes():
                                scanner.feed(chunk)
                            scanner.finish()
                        except StreamError as exc:
                            failure = exc
                        finally:
                            response.close()
                    proto.log(call, response, started)
                    proto.finish_streamed(call, response, scanner, failure)
                except httpx.HTTPError as exc:
                    part.unlink(missing_ok=True)
                    proto.log(call, None, started)
                    if _past(exc, started + seconds):
                        raise proto.deadline_error(call, seconds, exc) from exc
                    raise proto.transport_error(call, exc) from exc
                except BaseException:
                    part.unlink(missing_ok=True)
                    raise
                part.replace(path)
                return FetchedFile(path, sink.size, sink.sha256)
        raise AssertionError("unreachable: stamina re-raises the last failure")

    def acknowledge(self, doc_id: str, status: AckStatus = AckStatus.DONE) -> None:
        """Tell the axis the item was taken in (done) or refused (fail)."""
        self._call(calls.acknowledge(doc_id, status))

    def sent_status(self, doc_id: str) -> list[RecipientStatus]:
        """Per-recipient delivery and receipt status of a document this system sent."""
        return self._call(calls.sent_status(doc_id))

    def count(self, message_type: MessageType = MessageType.EDOC) -> int:
        """How many items of that type wait for this system."""
        return self._call(calls.count(message_type))

    def agencies(self) -> list[Agency]:
        """The organisation directory the axis knows."""
        return self._call(calls.agencies())

    def close(self) -> None:
        """Close the connection pool (only when this client created it)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncAxisClient(_Base):
    """The asyncio/trio twin of :class:`AxisClient`: same verbs, same errors, awaited."""

    def __init__(
        self,
        settings: AxisSettings,
        *,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._protocol = _protocol(settings)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            transport=transport, **_client_kwargs(settings, _ssl_context(settings))
        )

    async def _call(self, call: Call[T], *, progress: Progress | None = None) -> T:
        proto = self._protocol
        async for attempt in proto.retrying():
            with attempt:
                started = time.monotonic()
                seconds = proto.deadline_for(call)
                request = proto.build_request(call, progress=progress, remaining=seconds)
                try:
                    # Cancelled at the deadline, whatever step the attempt is in.
                    with anyio.fail_after(seconds):
                        response = await self._http.send(request)
                except TimeoutError as exc:
                    proto.log(call, None, started)
                    raise proto.deadline_error(call, seconds, exc) from exc
                except httpx.HTTPError as exc:
                    proto.log(call, None, started)
                    if _past(exc, started + seconds):
                        raise proto.deadline_error(call, seconds, exc) from exc
                    raise proto.transport_error(call, exc) from exc
                proto.log(call, response, started)
                return proto.parse_response(call, response)
        raise AssertionError("unreachable: stamina re-raises the last failure")

    async def send(
        self,
        source: Source,
        *,
        sender: str | None = None,
        message_type: MessageType = MessageType.EDOC,
        filename: str | None = None,
        progress: Progress | None = None,
    ) -> SendResult:
        """See :meth:`AxisClient.send`."""
        call = calls.send(
            _upload(source, filename),
            sender=_sender(self._settings, sender),
            message_type=message_type,
            hash_style=self._protocol.hash_style,
        )
        return await self._call(call, progress=progress)

    async def list_received(
        self, message_type: MessageType = MessageType.EDOC
    ) -> list[ReceivedItem]:
        """See :meth:`AxisClient.list_received`."""
        return await self._call(calls.list_received(message_type))

    async def fetch(self, doc_id: str) -> bytes:
        """See :meth:`AxisClient.fetch`."""
        return await self._call(calls.fetch(doc_id, file_path=self._protocol.file_path))

    async def fetch_to_file(
        self,
        doc_id: str,
        target: str | os.PathLike[str],
        *,
        max_bytes: int | None = None,
        size: int = 0,
    ) -> FetchedFile:
        """See :meth:`AxisClient.fetch_to_file` (file writes are blocking, 1 MiB at most)."""
        call = calls.fetch_streamed(doc_id, file_path=self._protocol.file_path, size=size)
        path = Path(target)
        proto = self._protocol
        async for attempt in proto.retrying():
            with attempt:
                started = time.monotonic()
                seconds = proto.deadline_for(call)
                request = proto.build_request(call, remaining=seconds)
                part = proto.part_file(path)
                failure: StreamError | None = None
                try:
                    with anyio.fail_after(seconds), part.open("wb") as out:
                        sink = Base64File(out, max_bytes=max_bytes)
                        scanner = AnswerScanner(sink)
                        response = await self._http.send(request, stream=True)
                        try:
                            async for chunk in response.aiter_bytes():
                                scanner.feed(chunk)
                            scanner.finish()
                        except StreamError as exc:
                            failure = exc
                        finally:
                            await response.aclose()
                    proto.log(call, response, started)
                    proto.finish_streamed(call, response, scanner, failure)
                except TimeoutError as exc:
                    part.unlink(missing_ok=True)
                    proto.log(call, None, started)
                    raise proto.deadline_error(call, seconds, exc) from exc
                except httpx.HTTPError as exc:
                    part.unlink(missing_ok=True)
                    proto.log(call, None, started)
                    if _past(exc, started + seconds):
                        raise proto.deadline_error(call, seconds, exc) from exc
                    raise proto.transport_error(call, exc) from exc
                except BaseException:
                    part.unlink(missing_ok=True)
                    raise
                part.replace(path)
                return FetchedFile(path, sink.size, sink.sha256)
        raise AssertionError("unreachable: stamina re-raises the last failure")

    async def acknowledge(self, doc_id: str, status: AckStatus = AckStatus.DONE) -> None:
        """See :meth:`AxisClient.acknowledge`."""
        await self._call(calls.acknowledge(doc_id, status))

    async def sent_status(self, doc_id: str) -> list[RecipientStatus]:
        """See :meth:`AxisClient.sent_status`."""
        return await self._call(calls.sent_status(doc_id))

    async def count(self, message_type: MessageType = MessageType.EDOC) -> int:
        """See :meth:`AxisClient.count`."""
        return await self._call(calls.count(message_type))

    async def agencies(self) -> list[Agency]:
        """See :meth:`AxisClient.agencies`."""
        return await self._call(calls.agencies())

    async def aclose(self) -> None:
        """Close the connection pool (only when this client created it)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
