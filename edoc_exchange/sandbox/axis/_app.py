"""The local axis: the national axis's protocol on one machine (starlette + SQLite).

It exists so the whole product can run, be tested and be shown without the private
network, and so a province can train its clerks. It speaks the same endpoints and the same
HMAC header authentication as the national axis, accepts what the official SDK really sends
(``shared/spec/axis-sdk-wire.md``: a raw body with a trailing CRLF, ``hash-file`` without
leading zeros, piled-up and differently-cased headers, a timestamp frozen at the SDK
object's creation) as well as multipart uploads from other clients, and answers every
refusal with the protocol's error JSON (``status: FAIL``, an ``ErrorCode`` and an
``ErrorDesc`` in Vietnamese and English; a sendEdoc answer always carries ``DocId``).
No answer holds a JSON ``null`` where the SDK reads a value: it would throw.

Routing: a document goes to the inbox of every ``To`` OrganId; a status message goes to
the original sender of the document it answers (found by DocumentId), and its StatusCode
is recorded on that recipient's row of the sender's ``getSentEdocList``.

What recipients get is what the national axis delivers: the message with the axis's own
TraceHeader appended to its TraceHeaderList (every document, signed or not: a receiver
treats hops appended after signing as unsigned; status messages have no TraceHeaderList and
are delivered as sent), and, with ``line_ends = "crlf"``, CRLF line ends. Both are byte
edits (:mod:`._trace`), never a re-serialisation of the message. ``trace = false`` delivers
the bytes as sent; the axis's trace is also in each item's metadata (``trace`` in
``getReceivedEdocList``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import secrets
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import (
    ColumnElement,
    Connection,
    RowMapping,
    case,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ... import edxml
from ...axis.server import (
    READ_ONLY_OPERATIONS,
    SEND_TRAILER,
    BodyDigest,
    CallRefused,
    HashStyle,
    SignedCall,
    expected_forms,
    match_hash_file,
    verify_headers,
)
from ...vntime import as_utc, format_timestamp
from ._config import LocalAxisConfig, load_directory
from ._db import (
    OPEN_STATES,
    BlobStore,
    DeliveryState,
    agencies,
    deliveries,
    messages,
    open_engine,
)
from ._trace import Hop, crlf_line_ends, traced

__all__ = ["LocalAxis", "create_app"]

# Room for the multipart boundary and part headers on top of the file itself.
_MULTIPART_SLACK = 16 * 1024
_B64_CHUNK = 3 * 64 * 1024
# Bodies of the other calls are "{}" or empty; more than this is not a protocol call.
_MAX_CALL_BODY = 64 * 1024
# What is read and dropped of a refused call's body, so the client reads the answer
# instead of a reset connection (Tomcat swallows 2 MiB the same way).
_MAX_SWALLOW = 2 * 1024 * 1024
_WRITE_BATCH = 1024 * 1024

_STATE_DESC = {
    DeliveryState.PENDING: "Chờ nhận / waiting to be fetched",
    DeliveryState.FETCHED: "Đã tải, chưa xác nhận / fetched, not yet acknowledged",
    DeliveryState.PROCESSING: "Đang xử lý / being processed",
    DeliveryState.DONE: "Đã nhận / received",
    DeliveryState.FAIL: "Nhận lỗi / receipt failed",
}


class _Fail(CallRefused):
    """A refusal: becomes the protocol's error JSON with this HTTP status."""

    def __init__(self, http_status: int, code: str, vi: str, en: str) -> None:
        super().__init__(code, vi, en, http_status=http_status)


def _fail_json(operation: str, http_status: int, code: str, vi: str, en: str) -> JSONResponse:
    body: dict[str, Any] = {"status": "FAIL", "ErrorCode": code, "ErrorDesc": f"{vi} / {en}"}
    if operation == "sendEdoc":
        body["DocId"] = ""  # the SDK reads it even from a FAIL: without it, it throws
    return JSONResponse(body, status_code=http_status)


def _ok(**fields: Any) -> JSONResponse:
    return JSONResponse({"status": "OK", "ErrorCode": "0", "ErrorDesc": "", **fields})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _vn_text(value: dt.datetime | None) -> str:
    """Times as edXML writes them: ``yyyy/MM/dd HH:mm:ss`` in Vietnam time; "" for none."""
    if value is None:
        return ""
    return format_timestamp(as_utc(value))


@dataclass(frozen=True, slots=True)
class _Accepted:
    doc_id: str
    duplicate: bool


@dataclass(frozen=True, slots=True)
class _Received:
    """A send's body in a temporary file, and its hashes (with and without the trailer)."""

    digest: BodyDigest
    #: A raw body, which the SDK ends with CRLF framing (not a multipart part).
    framed: bool


class LocalAxis:
    """The local axis's state (database, file store, systems) and its starlette app."""

    def __init__(self, config: LocalAxisConfig) -> None:
        self.config = config
        self.engine = open_engine(config.database)
        self.blobs = BlobStore(config.blobs)
        self.systems = {s.systemid: s for s in config.systems}
        self._served: dict[str, set[str]] = {}
        for system in config.systems:
            for organ in system.organ_ids:
                self._served.setdefault(system.systemid, set()).add(organ)
        self._load_directory()
        with self.engine.connect() as conn:
            directory = set(conn.scalars(select(agencies.c.organ_id)))
        self.known_organs = directory | {o for organs in self._served.values() for o in organs}
        self.app = self._build_app()

    def _load_directory(self) -> None:
        if self.config.directory is None:
            return
        rows = {
            agency.organ_id: {
                "organ_id": agency.organ_id,
                "name": agency.name,
                "parent_id": agency.parent_id,
                "email": agency.email,
                "telephone": agency.telephone,
                "address": agency.address,
            }
            for agency in load_directory(self.config.directory)  # a later line wins
        }
        with self.engine.begin() as conn:
            conn.execute(delete(agencies))
            if rows:
                conn.execute(insert(agencies), list(rows.values()))

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ plumbing

    def _build_app(self) -> Starlette:
        both = ["POST", "GET"]
        routes = [
            self._route("sendEdoc", self._send, ["POST"], "from", "messagetype", "hash-file"),
            self._route("getReceivedEdocList", self._list, both, "messagetype"),
            self._route("getEdoc", self._get, both, "docId"),
            self._route("updateStatus", self._update, ["POST"], "docid", "status"),
            self._route("getSentEdocList", self._sent, both, "docId"),
            self._route("countReceiveEdoc", self._count_edoc, both),
            self._route("countReceiveStatus", self._count_status, both),
            self._route("getAgenciesList", self._agencies, both),
        ]

        async def http_error(request: Request, exc: Exception) -> Response:
            status = exc.status_code if isinstance(exc, HTTPException) else 500
            return _fail_json(
                request.url.path.rsplit("/", 1)[-1],
                status,
                "NOT_FOUND" if status == 404 else "BAD_REQUEST",
                f"Không có chức năng {request.url.path} (HTTP {status})",
                f"no such operation {request.url.path} (HTTP {status})",
            )

        async def server_error(request: Request, exc: Exception) -> Response:
            # Still the protocol's JSON (with DocId for a send): the SDK parses every answer.
            return _fail_json(
                request.url.path.rsplit("/", 1)[-1],
                500,
                "SERVER_ERROR",
                "Lỗi nội bộ của trục cục bộ: xem nhật ký của trục",
                "internal error of the local axis: see its log",
            )

        return Starlette(
            routes=routes,
            exception_handlers={404: http_error, 405: http_error, Exception: server_error},
        )

    def _route(
        self,
        operation: str,
        handler: Callable[[Request, SignedCall], Awaitable[Response]],
        methods: list[str],
        *required: str,
    ) -> Route:
        """One operation: verify the call, read its body, answer or refuse with JSON."""
        read_only = operation in READ_ONLY_OPERATIONS

        async def endpoint(request: Request) -> Response:
            try:
                signed = verify_headers(
                    request.headers.items(),
                    secret_for=self._secret_for,
                    max_skew_for=self.config.max_skew_for,
                    now=_now(),
                    required=required,
                    read_only=read_only,
                )
                if operation != "sendEdoc":
                    await self._call_body(request)
                return await handler(request, signed)
            except CallRefused as exc:
                await _swallow(request)
                return _fail_json(operation, exc.http_status, exc.code, exc.vi, exc.en)

        return Route("/" + operation, endpoint, methods=methods)

    async def _call_body(self, request: Request) -> None:
        """Read a call's body ("{}" or empty as the SDK sends, its content unused), bounded."""
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > _MAX_CALL_BODY:
                raise _Fail(
                    413,
                    "TOO_LARGE",
                    f"Thân yêu cầu quá lớn: tối đa {_MAX_CALL_BODY} byte",
                    f"request body too large: at most {_MAX_CALL_BODY} bytes",
                )

    def _secret_for(self, systemid: str) -> str | None:
        system = self.systems.get(systemid)
        return system.secret.get_secret_value() if system else None

    def _organs(self, signed: SignedCall) -> set[str]:
        return self._served.get(signed.systemid, set())

    # ------------------------------------------------------------------ sendEdoc

    async def _send(self, request: Request, signed: SignedCall) -> Response:
        kind = signed.param("messagetype")
        if kind not in ("edoc", "status"):
            raise _Fail(
                400,
                "BAD_REQUEST",
                f"messagetype '{kind}' không hợp lệ (edoc hoặc status)",
                f"messagetype '{kind}' is invalid (edoc or status)",
            )
        multipart = request.headers.get("content-type", "").startswith("multipart/form-data")
        slack = _MULTIPART_SLACK if multipart else len(SEND_TRAILER)
        limit = self.config.max_upload_bytes
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit + slack:
            raise self._too_large(int(length))
        temp = self.blobs.temp()
        try:
            if multipart:
                received = await self._receive_multipart(request, temp)
            else:
                received = await self._receive_raw(request, temp)
            accepted = await anyio.to_thread.run_sync(self._accept, signed, kind, temp, received)
        finally:
            temp.unlink(missing_ok=True)
        return _ok(DocId=accepted.doc_id, duplicate=accepted.duplicate)

    def _too_large(self, size: int | None) -> _Fail:
        limit = self.config.max_upload_bytes
        got = f" ({size} bytes)" if size is not None else ""
        return _Fail(
            413,
            "TOO_LARGE",
            f"Gói tin quá lớn{got}: tối đa {limit} byte",
            f"upload too large{got}: at most {limit} bytes",
        )

    async def _receive_raw(self, request: Request, temp: Path) -> _Received:
        """Stream the SDK's body (the file, then CRLF) to ``temp``, hashing as it comes."""
        bound = self.config.max_upload_bytes + len(SEND_TRAILER)
        digest = BodyDigest()
        batch = bytearray()
        with temp.open("wb") as out:

            def write(data: bytes) -> None:
                digest.update(data)
                out.write(data)

            async for chunk in request.stream():
                if digest.size + len(batch) + len(chunk) > bound:
                    raise self._too_large(None)
                batch += chunk
                if len(batch) >= _WRITE_BATCH:
                    data = bytes(batch)
                    batch.clear()
                    await anyio.to_thread.run_sync(write, data)
            await anyio.to_thread.run_sync(write, bytes(batch))
        return _Received(digest, framed=True)

    async def _receive_multipart(self, request: Request, temp: Path) -> _Received:
        """Stream a multipart body, bounded, and copy ``file_doc`` to ``temp`` while hashing."""
        limit = self.config.max_upload_bytes

        async def bounded() -> AsyncGenerator[bytes, None]:
            total = 0
            async for chunk in request.stream():
                total += len(chunk)
                if total > limit + _MULTIPART_SLACK:
                    raise self._too_large(None)
                yield chunk

        parser = MultiPartParser(
            request.headers, bounded(), max_files=1, max_fields=10, max_part_size=64 * 1024
        )
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise _Fail(
                400,
                "BAD_REQUEST",
                f"Phần multipart lỗi: {exc.message}",
                f"malformed multipart body: {exc.message}",
            ) from None
        try:
            upload = form.get("file_doc")
            if not isinstance(upload, UploadFile):
                raise _Fail(400, "BAD_REQUEST", "Thiếu phần file_doc", "missing file_doc part")
            digest = await anyio.to_thread.run_sync(self._copy, upload, temp, limit)
            return _Received(digest, framed=False)
        finally:
            await form.close()

    def _copy(self, upload: UploadFile, temp: Path, limit: int) -> BodyDigest:
        digest = BodyDigest()
        upload.file.seek(0)
        with temp.open("wb") as out:
            while chunk := upload.file.read(1024 * 1024):
                if digest.size + len(chunk) > limit:
                    raise self._too_large(None)
                digest.update(chunk)
                out.write(chunk)
        return digest

    def _kept_file(self, signed: SignedCall, temp: Path, received: _Received) -> tuple[str, int]:
        """The file's SHA-256 and size, by which form of ``hash-file`` matches (see _wire)."""
        given = signed.param("hash-file").strip().lower()
        kept = match_hash_file(given, received.digest, framed=received.framed)
        if kept is None:
            forms = expected_forms(received.digest, framed=received.framed)
            hex_form, sdk_form = forms[HashStyle.HEX], forms[HashStyle.SDK]
            raise _Fail(
                400,
                "HASH_MISMATCH",
                f"hash-file ({given}) không khớp tệp đã nhận ở dạng nào: SHA-256 dạng hex "
                f"chuẩn {hex_form}, hoặc dạng của SDK (mỗi byte không có số 0 đứng đầu) "
                f"{sdk_form}",
                f"hash-file ({given}) matches the received file in neither form: the "
                f"standard hex SHA-256 {hex_form}, or the SDK's form (each byte without its "
                f"leading zero) {sdk_form}",
            )
        if kept.size > self.config.max_upload_bytes:
            raise self._too_large(kept.size)
        if kept.size != received.digest.size:
            os.truncate(temp, kept.size)  # the SDK's CRLF framing is not part of the file
        return kept.sha256, kept.size

    def _accept(
        self, signed: SignedCall, kind: str, temp: Path, received: _Received
    ) -> _Accepted:
        """Check the message and route it; one transaction; the same message gives one DocId."""
        sha256, size = self._kept_file(signed, temp, received)
        try:
            message = edxml.read_file(temp).message
        except edxml.EdxmlReadError as exc:
            errors = [f for f in exc.findings if f.severity is edxml.Severity.ERROR][:3]
            vi = "; ".join(f"{f.path}: {f.vi}" for f in errors)
            en = "; ".join(f"{f.path}: {f.en}" for f in errors)
            raise _Fail(
                400,
                "EDXML_INVALID",
                f"Gói tin edXML không hợp lệ: {vi}",
                f"invalid edXML message: {en}",
            ) from None
        if message.kind != kind:
            raise _Fail(
                400,
                "EDXML_INVALID",
                f"messagetype là '{kind}' nhưng tệp là gói tin '{message.kind}'",
                f"messagetype is '{kind}' but the file is a '{message.kind}' message",
            )
        sender = message.sender.organ_id
        claimed = signed.param("from")
        if sender != claimed:
            raise _Fail(
                400,
                "FROM_MISMATCH",
                f"Tiêu đề from ({claimed}) khác nơi gửi trong gói tin ({sender})",
                f"the from header ({claimed}) differs from the sender in the edXML ({sender})",
            )
        if sender not in self._organs(signed):
            raise _Fail(
                403,
                "SENDER_NOT_SERVED",
                f"Hệ thống {signed.systemid} không được gửi thay cơ quan {sender}",
                f"system {signed.systemid} does not serve OrganId {sender}",
            )
        if isinstance(message, edxml.Document):
            key_doc = message.document_id or ""
        else:
            key_doc = f"{message.response_for.document_id}|{message.status_code}"
        dedup_key = hashlib.sha256(f"{sender}|{kind}|{key_doc}|{sha256}".encode()).hexdigest()
        try:
            with self.engine.begin() as conn:
                existing = conn.scalar(
                    select(messages.c.doc_id).where(messages.c.dedup_key == dedup_key)
                )
                if existing is not None:
                    return _Accepted(existing, True)
                now = _now()
                if isinstance(message, edxml.Document):
                    recipients = list(dict.fromkeys(r.organ_id for r in message.recipients))
                    unknown = [r for r in recipients if r not in self.known_organs]
                    if unknown:
                        raise _Fail(
                            400,
                            "UNKNOWN_RECIPIENT",
                            f"Nơi nhận không có trong danh bạ của trục: {', '.join(unknown)}",
                            f"recipient not known to the axis: {', '.join(unknown)}",
                        )
                    original: str | None = None
                else:
                    recipients, original = self._route_status(conn, message)
                delivered_sha, delivered_size = self._delivered(temp, sha256, size, now)
                doc_id = secrets.token_hex(16)
                conn.execute(
                    insert(messages).values(
                        doc_id=doc_id,
                        kind=kind,
                        sender_organ=sender,
                        sender_system=signed.systemid,
                        document_id=(
                            message.document_id if isinstance(message, edxml.Document) else None
                        ),
                        dedup_key=dedup_key,
                        sha256=sha256,
                        size=size,
                        delivered_sha256=delivered_sha,
                        delivered_size=delivered_size,
                        title=_title(message),
                        notation=_notation(message),
                        response_for=(
                            message.response_for.document_id
                            if isinstance(message, edxml.StatusMessage)
                            else None
                        ),
                        status_code=(
                            message.status_code
                            if isinstance(message, edxml.StatusMessage)
                            else None
                        ),
                        trace_organ=self.config.organ_id,
                        created_at=now,
                    )
                )
                if recipients:
                    conn.execute(
                        insert(deliveries),
                        [
                            {
                                "doc_id": secrets.token_hex(16),
                                "message_id": doc_id,
                                "to_organ": organ,
                                "kind": kind,
                                "state": DeliveryState.PENDING.value,
                                "created_at": now,
                                "updated_at": now,
                            }
                            for organ in recipients
                        ],
                    )
                if original is not None and isinstance(message, edxml.StatusMessage):
                    conn.execute(
                        update(deliveries)
                        .where(deliveries.c.doc_id == original)
                        .values(last_status_code=message.status_code, updated_at=now)
                    )
        except IntegrityError:
            # The same message arrived twice at once: the other request won; answer its id.
            with self.engine.connect() as conn:
                winner = conn.scalar(
                    select(messages.c.doc_id).where(messages.c.dedup_key == dedup_key)
                )
            if winner is None:
                raise
            return _Accepted(winner, True)
        return _Accepted(doc_id, False)

    def _route_status(
        self, conn: Connection, message: edxml.StatusMessage
    ) -> tuple[list[str], str | None]:
        """The original sender of the answered document, and the status sender's delivery
        (its DocId): one indexed statement (DocumentId, then the delivery by message)."""
        answered = message.response_for.document_id
        status_sender = message.sender.organ_id
        if answered:
            # Two senders may have used one DocumentId: the answered sender (ResponseFor's
            # OrganId) is preferred, so that a reply never reaches the other one.
            issuer = message.response_for.organ_id
            order: list[ColumnElement[Any]] = [messages.c.created_at.desc()]
            if issuer is not None:
                order.insert(0, case((messages.c.sender_organ == issuer, 0), else_=1))
            found = conn.execute(
                select(messages.c.sender_organ, deliveries.c.doc_id)
                .join(deliveries, deliveries.c.message_id == messages.c.doc_id)
                .where(
                    messages.c.kind == "edoc",
                    messages.c.document_id == answered,
                    deliveries.c.to_organ == status_sender,
                )
                .order_by(*order)
                .limit(1)
            ).first()
            if found is not None:
                return [found.sender_organ], found.doc_id
        fallback = message.response_for.organ_id
        if fallback and fallback in self.known_organs:
            return [fallback], None
        raise _Fail(
            400,
            "UNKNOWN_RECIPIENT",
            f"Không tìm thấy văn bản {answered} để chuyển thông điệp trạng thái",
            f"no document {answered} known to route this status message to its sender",
        )

    def _delivered(self, temp: Path, sha256: str, size: int, now: dt.datetime) -> tuple[str, int]:
        """Store the bytes recipients get: the axis's hop appended, line ends as configured."""
        config = self.config
        if not config.trace and config.line_ends == "keep":
            self.blobs.commit(temp, sha256)
            return sha256, size
        chunks: Iterable[bytes]
        if config.trace:
            chunks = traced(temp, Hop(organ_id=config.trace_organ, timestamp=now))
        else:
            chunks = _file_chunks(temp)
        if config.line_ends == "crlf":
            chunks = crlf_line_ends(chunks)
        return self.blobs.put_chunks(chunks)

    # ------------------------------------------------------------------ receiving

    def _refuse_unseen(self, signed: SignedCall, doc_id: str, to_organ: str | None) -> None:
        if to_organ is None or to_organ not in self._organs(signed):
            raise _Fail(
                404,
                "NOT_FOUND",
                f"Không có văn bản docId={doc_id} cho hệ thống {signed.systemid}",
                f"no item docId={doc_id} for system {signed.systemid}",
            )

    async def _list(self, request: Request, signed: SignedCall) -> Response:
        kind = signed.param("messagetype")
        return _ok(data=await anyio.to_thread.run_sync(self._list_sync, signed, kind))

    def _list_sync(self, signed: SignedCall, kind: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    deliveries.c.doc_id,
                    deliveries.c.to_organ,
                    deliveries.c.state,
                    deliveries.c.created_at,
                    deliveries.c.updated_at,
                    messages.c.sender_organ,
                    messages.c.kind,
                    messages.c.delivered_size,
                    messages.c.title,
                    messages.c.notation,
                    messages.c.trace_organ,
                    messages.c.created_at.label("message_created_at"),
                    messages.c.document_id,
                    messages.c.response_for,
                    messages.c.status_code,
                )
                .join(messages, messages.c.doc_id == deliveries.c.message_id)
                .where(
                    deliveries.c.to_organ.in_(self._organs(signed)),
                    deliveries.c.kind == kind,
                    deliveries.c.state.in_([s.value for s in OPEN_STATES]),
                )
                .order_by(deliveries.c.created_at, deliveries.c.doc_id)
            ).mappings()
            return [self._item(row) for row in rows]

    def _item(self, row: RowMapping) -> dict[str, Any]:
        item: dict[str, Any] = {
            "docId": row["doc_id"],
            "from": row["sender_organ"],
            "to": row["to_organ"],
            "status": row["state"],
            "status_desc": _STATE_DESC[DeliveryState(row["state"])],
            "created_time": _vn_text(row["created_at"]),
            "updated_time": _vn_text(row["updated_at"]),
            "messagetype": row["kind"],
            "messageType": row["kind"],
            "servicetype": "eDoc",
            "serviceType": "eDoc",
            "size": row["delivered_size"],
            "title": row["title"] or "",
            "notation": row["notation"] or "",
            "trace": [
                {"OrganId": row["trace_organ"], "Timestamp": _vn_text(row["message_created_at"])}
            ],
        }
        # Keys of our own are left out when there is nothing to say (never null).
        if document_id := row["document_id"] or row["response_for"]:
            item["documentId"] = document_id
        if row["status_code"]:
            item["statusCode"] = row["status_code"]
        return item

    async def _get(self, request: Request, signed: SignedCall) -> Response:
        doc_id = signed.param("docId")
        path, size = await anyio.to_thread.run_sync(self._mark_fetched, signed, doc_id)
        head = json.dumps({"status": "OK", "ErrorCode": "0", "ErrorDesc": "", "docId": doc_id})
        prefix = (head[:-1] + ',"data":"').encode("ascii")
        suffix = b'"}'

        def body() -> Iterator[bytes]:
            yield prefix
            with path.open("rb") as handle:
                while chunk := handle.read(_B64_CHUNK):
                    yield base64.b64encode(chunk)
            yield suffix

        length = len(prefix) + 4 * ((size + 2) // 3) + len(suffix)
        return StreamingResponse(
            body(), media_type="application/json", headers={"Content-Length": str(length)}
        )

    def _mark_fetched(self, signed: SignedCall, doc_id: str) -> tuple[Path, int]:
        with self.engine.begin() as conn:
            found = conn.execute(
                select(
                    deliveries.c.to_organ,
                    deliveries.c.state,
                    messages.c.delivered_sha256,
                    messages.c.delivered_size,
                )
                .join(messages, messages.c.doc_id == deliveries.c.message_id)
                .where(deliveries.c.doc_id == doc_id)
            ).first()
            self._refuse_unseen(signed, doc_id, found.to_organ if found else None)
            assert found is not None
            if found.state == DeliveryState.PENDING:
                now = _now()
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.doc_id == doc_id)
                    .values(state=DeliveryState.FETCHED.value, fetched_at=now, updated_at=now)
                )
            return self.blobs.path(found.delivered_sha256), found.delivered_size

    async def _update(self, request: Request, signed: SignedCall) -> Response:
        # docid or docId (one header, any case); variants that disagree are refused.
        doc_id = signed.param("docid")
        await anyio.to_thread.run_sync(self._update_sync, signed, doc_id, signed.param("status"))
        return _ok()

    def _update_sync(self, signed: SignedCall, doc_id: str, status: str) -> None:
        try:
            new = DeliveryState(status.lower())
        except ValueError:
            new = DeliveryState.PENDING
        if new not in (DeliveryState.DONE, DeliveryState.FAIL, DeliveryState.PROCESSING):
            raise _Fail(
                400,
                "BAD_REQUEST",
                f"status '{status}' không hợp lệ (done, fail, processing)",
                f"status '{status}' is invalid (done, fail or processing)",
            )
        with self.engine.begin() as conn:
            found = conn.execute(
                select(deliveries.c.to_organ, deliveries.c.state, deliveries.c.fetched_at).where(
                    deliveries.c.doc_id == doc_id
                )
            ).first()
            self._refuse_unseen(signed, doc_id, found.to_organ if found else None)
            assert found is not None
            current = DeliveryState(found.state)
            if current in (DeliveryState.DONE, DeliveryState.FAIL):
                if current == new:
                    return  # a retried acknowledgement: already done
                raise _Fail(
                    409,
                    "BAD_STATE",
                    f"Văn bản {doc_id} đã được xác nhận '{current}'",
                    f"item {doc_id} was already acknowledged as '{current}'",
                )
            now = _now()
            values: dict[str, Any] = {"state": new.value, "updated_at": now}
            if found.fetched_at is None:
                values["fetched_at"] = now
            conn.execute(update(deliveries).where(deliveries.c.doc_id == doc_id).values(**values))

    async def _sent(self, request: Request, signed: SignedCall) -> Response:
        doc_id = signed.param("docId")
        return _ok(data=await anyio.to_thread.run_sync(self._sent_sync, signed, doc_id))

    def _sent_sync(self, signed: SignedCall, doc_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            found = conn.execute(
                select(
                    messages.c.sender_organ,
                    messages.c.created_at,
                    messages.c.title,
                    messages.c.notation,
                    deliveries.c.doc_id.label("receiver_doc_id"),
                    deliveries.c.to_organ,
                    deliveries.c.state,
                    deliveries.c.fetched_at,
                    deliveries.c.last_status_code,
                )
                .outerjoin(deliveries, deliveries.c.message_id == messages.c.doc_id)
                .where(messages.c.doc_id == doc_id)
                .order_by(deliveries.c.to_organ)
            ).all()
        if not found or found[0].sender_organ not in self._organs(signed):
            raise _Fail(
                404,
                "NOT_FOUND",
                f"Không có văn bản đã gửi DocId={doc_id} của hệ thống {signed.systemid}",
                f"no sent message DocId={doc_id} for system {signed.systemid}",
            )
        rows = []
        for d in found:
            if d.receiver_doc_id is None:
                continue  # a message without recipients: the outer join's empty side
            row = {
                "toCode": d.to_organ,
                "sendStatus": "sent",
                "sendStatusDesc": "Đã chuyển tới hộp thư nơi nhận / delivered to the inbox",
                "receiveStatus": d.state,
                "receiveStatusDesc": _STATE_DESC[DeliveryState(d.state)],
                "sentTime": _vn_text(d.created_at),
                "receivedTime": _vn_text(d.fetched_at),
                "senderDocId": doc_id,
                "receiverDocId": d.receiver_doc_id,
                "title": d.title or "",
                "notation": d.notation or "",
            }
            if d.last_status_code:
                row["lastStatusCode"] = d.last_status_code
            rows.append(row)
        return rows

    async def _count_edoc(self, request: Request, signed: SignedCall) -> Response:
        return _ok(count=await anyio.to_thread.run_sync(self._count_sync, signed, "edoc"))

    async def _count_status(self, request: Request, signed: SignedCall) -> Response:
        return _ok(count=await anyio.to_thread.run_sync(self._count_sync, signed, "status"))

    def _count_sync(self, signed: SignedCall, kind: str) -> int:
        with self.engine.connect() as conn:
            return (
                conn.scalar(
                    select(func.count())
                    .select_from(deliveries)
                    .where(
                        deliveries.c.to_organ.in_(self._organs(signed)),
                        deliveries.c.kind == kind,
                        deliveries.c.state.in_([s.value for s in OPEN_STATES]),
                    )
                )
                or 0
            )

    async def _agencies(self, request: Request, signed: SignedCall) -> Response:
        return _ok(data=await anyio.to_thread.run_sync(self._agencies_sync))

    def _agencies_sync(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            # The SDK reads code, id, mail, name, pid and oldCode, every one a string.
            return [
                {
                    "code": a.organ_id,
                    "id": a.organ_id,
                    "name": a.name or "",
                    "pid": a.parent_id or "",
                    "pcode": a.parent_id or "",
                    "oldCode": "",
                    "mail": a.email or "",
                    "mobile": a.telephone or "",
                    "address": a.address or "",
                }
                for a in conn.execute(
                    select(
                        agencies.c.organ_id,
                        agencies.c.name,
                        agencies.c.parent_id,
                        agencies.c.email,
                        agencies.c.telephone,
                        agencies.c.address,
                    ).order_by(agencies.c.organ_id)
                )
            ]


def _title(message: edxml.Document | edxml.StatusMessage) -> str | None:
    if isinstance(message, edxml.Document):
        return message.subject
    return message.description


def _notation(message: edxml.Document | edxml.StatusMessage) -> str | None:
    if isinstance(message, edxml.Document) and message.code is not None:
        return "/".join(p for p in (message.code.number, message.code.notation) if p) or None
    return None


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            yield chunk


async def _swallow(request: Request) -> None:
    """Read and drop what is left of a refused call's body (bounded), so the client gets
    the answer rather than a connection reset while it is still sending."""
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > _MAX_SWALLOW:
                return
    except (RuntimeError, ClientDisconnect):
        return  # already read (or being read), or the client left


def create_app(config: LocalAxisConfig) -> Starlette:
    """A starlette app serving the local axis described by ``config``."""
    return LocalAxis(config).app
