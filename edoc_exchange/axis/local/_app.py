"""The local axis: the national axis's protocol on one machine (starlette + SQLite).

It exists so the whole product can run, be tested and be shown without the private
network, and so a province can train its clerks. It speaks the same endpoints and the same
HMAC header authentication as the national axis, and answers every refusal with the
protocol's error JSON (``status: FAIL``, an ``ErrorCode`` and an ``ErrorDesc`` in Vietnamese
and English).

Routing: a document goes to the inbox of every ``To`` OrganId; a status message goes to
the original sender of the document it answers (found by DocumentId), and its StatusCode
is recorded on that recipient's row of the sender's ``getSentEdocList``.

The TraceHeader decision. A signature (``Reference URI=""``, enveloped) covers the whole
message, the TraceHeaderList included, so appending a TraceHeader to a signed document
would break its signature at every receiver. The local axis therefore never changes a
signed message: it is delivered byte for byte, and the axis's trace (its OrganId and the
time it accepted the message) is recorded in the item's metadata (``trace`` in
``getReceivedEdocList``). An unsigned document gets the TraceHeader appended, as the
standard asks of every system a message passes (``trace_mode = "append-unsigned"``,
the default); ``trace_mode = "metadata"`` never touches any message's bytes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ... import edxml
from ...edxml.formats import format_timestamp
from .._auth import AuthFailure, SignedCall, verify_headers
from ._config import LocalAxisConfig, load_directory
from ._db import (
    OPEN_STATES,
    AgencyRow,
    BlobStore,
    DeliveryRow,
    DeliveryState,
    MessageRow,
    open_engine,
)

__all__ = ["LocalAxis", "create_app"]

# Room for the multipart boundary and part headers on top of the file itself.
_MULTIPART_SLACK = 16 * 1024
_B64_CHUNK = 3 * 64 * 1024

_STATE_DESC = {
    DeliveryState.PENDING: "Chờ nhận / waiting to be fetched",
    DeliveryState.FETCHED: "Đã tải, chưa xác nhận / fetched, not yet acknowledged",
    DeliveryState.PROCESSING: "Đang xử lý / being processed",
    DeliveryState.DONE: "Đã nhận / received",
    DeliveryState.FAIL: "Nhận lỗi / receipt failed",
}


class _Fail(Exception):  # noqa: N818  (an answer, not a bug)
    """A refusal: becomes the protocol's error JSON with this HTTP status."""

    def __init__(self, http_status: int, code: str, vi: str, en: str) -> None:
        self.http_status = http_status
        self.code = code
        self.vi = vi
        self.en = en
        super().__init__(en)

    def response(self) -> JSONResponse:
        return _fail_json(self.http_status, self.code, self.vi, self.en)


def _fail_json(http_status: int, code: str, vi: str, en: str) -> JSONResponse:
    return JSONResponse(
        {"status": "FAIL", "ErrorCode": code, "ErrorDesc": f"{vi} / {en}"},
        status_code=http_status,
    )


def _ok(**fields: Any) -> JSONResponse:
    return JSONResponse({"status": "OK", "ErrorCode": "0", "ErrorDesc": "", **fields})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _vn_text(value: dt.datetime | None) -> str | None:
    """Times as edXML writes them: ``yyyy/MM/dd HH:mm:ss`` in Vietnam time."""
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back the UTC it stored, without a zone
        value = value.replace(tzinfo=dt.UTC)
    return format_timestamp(value)


@dataclass(frozen=True, slots=True)
class _Accepted:
    doc_id: str
    duplicate: bool


class LocalAxis:
    """The local axis's state (database, file store, systems) and its starlette app."""

    def __init__(self, config: LocalAxisConfig) -> None:
        self.config = config
        self.engine = open_engine(config.database)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.blobs = BlobStore(config.blobs)
        self.systems = {s.systemid: s for s in config.systems}
        self._served: dict[str, set[str]] = {}
        for system in config.systems:
            for organ in system.organ_ids:
                self._served.setdefault(system.systemid, set()).add(organ)
        self._load_directory()
        with self.sessions() as session:
            directory = set(session.scalars(select(AgencyRow.organ_id)))
        self.known_organs = directory | {o for organs in self._served.values() for o in organs}
        self.app = self._build_app()

    def _load_directory(self) -> None:
        if self.config.directory is None:
            return
        agencies = load_directory(self.config.directory)
        with self.sessions.begin() as session:
            session.query(AgencyRow).delete()
            for agency in agencies:
                session.merge(
                    AgencyRow(
                        organ_id=agency.organ_id,
                        name=agency.name,
                        parent_id=agency.parent_id,
                        email=agency.email,
                        telephone=agency.telephone,
                        address=agency.address,
                    )
                )

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ plumbing

    def _build_app(self) -> Starlette:
        routes = [
            Route(
                "/sendEdoc",
                self._endpoint(self._send, "from", "messagetype", "hash-file"),
                methods=["POST"],
            ),
            Route(
                "/getReceivedEdocList", self._endpoint(self._list, "messagetype"), methods=["POST"]
            ),
            Route("/getEdoc", self._endpoint(self._get, "docId"), methods=["POST", "GET"]),
            Route(
                "/updateStatus", self._endpoint(self._update, "docid", "status"), methods=["POST"]
            ),
            Route("/getSentEdocList", self._endpoint(self._sent, "docId"), methods=["POST"]),
            Route("/countReceiveEdoc", self._endpoint(self._count_edoc), methods=["GET", "POST"]),
            Route(
                "/countReceiveStatus", self._endpoint(self._count_status), methods=["GET", "POST"]
            ),
            Route("/getAgenciesList", self._endpoint(self._agencies), methods=["POST", "GET"]),
        ]

        async def http_error(request: Request, exc: Exception) -> Response:
            status = exc.status_code if isinstance(exc, HTTPException) else 500
            return _fail_json(
                status,
                "NOT_FOUND" if status == 404 else "BAD_REQUEST",
                f"Không có chức năng {request.url.path} (HTTP {status})",
                f"no such operation {request.url.path} (HTTP {status})",
            )

        return Starlette(routes=routes, exception_handlers={404: http_error, 405: http_error})

    def _endpoint(
        self,
        handler: Callable[[Request, SignedCall], Awaitable[Response]],
        *required: str,
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                signed = verify_headers(
                    request.headers,
                    secret_for=self._secret_for,
                    now=_now(),
                    max_skew=dt.timedelta(seconds=self.config.max_clock_skew_seconds),
                    required=required,
                )
                return await handler(request, signed)
            except AuthFailure as exc:
                return _fail_json(401, exc.code, exc.vi, exc.en)
            except _Fail as exc:
                return exc.response()

        return endpoint

    def _secret_for(self, systemid: str) -> str | None:
        system = self.systems.get(systemid)
        return system.secret.get_secret_value() if system else None

    def _organs(self, signed: SignedCall) -> set[str]:
        return self._served.get(signed.systemid, set())

    # ------------------------------------------------------------------ sendEdoc

    async def _send(self, request: Request, signed: SignedCall) -> Response:
        kind = signed.values["messagetype"]
        if kind not in ("edoc", "status"):
            raise _Fail(
                400,
                "BAD_REQUEST",
                f"messagetype '{kind}' không hợp lệ (edoc hoặc status)",
                f"messagetype '{kind}' is invalid (edoc or status)",
            )
        limit = self.config.max_upload_bytes
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit + _MULTIPART_SLACK:
            raise self._too_large(int(length))
        temp = self.blobs.temp()
        try:
            sha256, size = await self._receive(request, temp)
            accepted = await anyio.to_thread.run_sync(
                self._accept, signed, kind, temp, sha256, size
            )
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

    async def _receive(self, request: Request, temp: Path) -> tuple[str, int]:
        """Stream the multipart body, bounded, and copy ``file_doc`` to ``temp`` while hashing."""
        limit = self.config.max_upload_bytes

        async def bounded() -> AsyncGenerator[bytes, None]:
            total = 0
            async for chunk in request.stream():
                total += len(chunk)
                if total > limit + _MULTIPART_SLACK:
                    raise self._too_large(None)
                yield chunk

        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise _Fail(
                400,
                "BAD_REQUEST",
                "sendEdoc phải gửi multipart/form-data với phần file_doc",
                "sendEdoc must be multipart/form-data with a file_doc part",
            )
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
            return await anyio.to_thread.run_sync(self._copy, upload, temp, limit)
        finally:
            await form.close()

    def _copy(self, upload: UploadFile, temp: Path, limit: int) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        upload.file.seek(0)
        with temp.open("wb") as out:
            while chunk := upload.file.read(1024 * 1024):
                size += len(chunk)
                if size > limit:
                    raise self._too_large(None)
                digest.update(chunk)
                out.write(chunk)
        return digest.hexdigest(), size

    def _accept(
        self, signed: SignedCall, kind: str, temp: Path, sha256: str, size: int
    ) -> _Accepted:
        """Check the message and route it; one transaction; the same message gives one DocId."""
        given = signed.values["hash-file"].strip().lower()
        if given != sha256:
            raise _Fail(
                400,
                "HASH_MISMATCH",
                f"hash-file ({given}) không khớp SHA-256 của tệp ({sha256})",
                f"hash-file ({given}) does not match the file's SHA-256 ({sha256})",
            )
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
        if sender != signed.values["from"]:
            raise _Fail(
                400,
                "FROM_MISMATCH",
                f"Tiêu đề from ({signed.values['from']}) khác nơi gửi trong gói tin ({sender})",
                f"the from header ({signed.values['from']}) differs from the sender in "
                f"the edXML ({sender})",
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
        with self.sessions() as session:
            existing = session.scalar(select(MessageRow).where(MessageRow.dedup_key == dedup_key))
            if existing is not None:
                return _Accepted(existing.doc_id, True)
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
                original: DeliveryRow | None = None
            else:
                recipients, original = self._route_status(session, message)
            delivered_sha, delivered_size = self._delivered(message, temp, sha256, size, now)
            row = MessageRow(
                doc_id=secrets.token_hex(16),
                kind=kind,
                sender_organ=sender,
                sender_system=signed.systemid,
                document_id=message.document_id if isinstance(message, edxml.Document) else None,
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
                    message.status_code if isinstance(message, edxml.StatusMessage) else None
                ),
                trace_organ=self.config.organ_id,
                created_at=now,
            )
            session.add(row)
            for organ in recipients:
                session.add(
                    DeliveryRow(
                        doc_id=secrets.token_hex(16),
                        message_id=row.doc_id,
                        to_organ=organ,
                        kind=kind,
                        state=DeliveryState.PENDING.value,
                        created_at=now,
                        updated_at=now,
                    )
                )
            if original is not None and isinstance(message, edxml.StatusMessage):
                original.last_status_code = message.status_code
                original.updated_at = now
            try:
                session.commit()
            except IntegrityError:
                # The same message arrived twice at once: the other request won; answer its id.
                session.rollback()
                winner = session.scalar(select(MessageRow).where(MessageRow.dedup_key == dedup_key))
                if winner is None:
                    raise
                return _Accepted(winner.doc_id, True)
            return _Accepted(row.doc_id, False)

    def _route_status(
        self, session: Session, message: edxml.StatusMessage
    ) -> tuple[list[str], DeliveryRow | None]:
        """The original sender of the answered document, and the status sender's delivery."""
        answered = message.response_for.document_id
        status_sender = message.sender.organ_id
        if answered:
            candidates = session.scalars(
                select(MessageRow)
                .where(MessageRow.kind == "edoc", MessageRow.document_id == answered)
                .order_by(MessageRow.created_at.desc())
            ).all()
            for original in candidates:
                for delivery in original.deliveries:
                    if delivery.to_organ == status_sender:
                        return [original.sender_organ], delivery
        fallback = message.response_for.organ_id
        if fallback and fallback in self.known_organs:
            return [fallback], None
        raise _Fail(
            400,
            "UNKNOWN_RECIPIENT",
            f"Không tìm thấy văn bản {answered} để chuyển thông điệp trạng thái",
            f"no document {answered} known to route this status message to its sender",
        )

    def _delivered(
        self,
        message: edxml.Document | edxml.StatusMessage,
        temp: Path,
        sha256: str,
        size: int,
        now: dt.datetime,
    ) -> tuple[str, int]:
        """Store the bytes recipients get (see the module docstring for the trace rule)."""
        if (
            self.config.trace_mode == "append-unsigned"
            and isinstance(message, edxml.Document)
            and message.signature is None
        ):
            traced = message.model_copy(
                update={
                    "trace": [
                        *message.trace,
                        edxml.TraceHeader(organ_id=self.config.organ_id, timestamp=now),
                    ]
                }
            )
            return self.blobs.put_bytes(edxml.write(traced, check=False))
        self.blobs.commit(temp, sha256)
        return sha256, size

    # ------------------------------------------------------------------ receiving

    def _visible(self, session: Session, signed: SignedCall, doc_id: str) -> DeliveryRow:
        delivery = session.get(DeliveryRow, doc_id)
        if delivery is None or delivery.to_organ not in self._organs(signed):
            raise _Fail(
                404,
                "NOT_FOUND",
                f"Không có văn bản docId={doc_id} cho hệ thống {signed.systemid}",
                f"no item docId={doc_id} for system {signed.systemid}",
            )
        return delivery

    async def _list(self, request: Request, signed: SignedCall) -> Response:
        kind = signed.values["messagetype"]
        return _ok(data=await anyio.to_thread.run_sync(self._list_sync, signed, kind))

    def _list_sync(self, signed: SignedCall, kind: str) -> list[dict[str, Any]]:
        with self.sessions() as session:
            rows = session.scalars(
                select(DeliveryRow)
                .where(
                    DeliveryRow.to_organ.in_(self._organs(signed)),
                    DeliveryRow.kind == kind,
                    DeliveryRow.state.in_([s.value for s in OPEN_STATES]),
                )
                .order_by(DeliveryRow.created_at, DeliveryRow.doc_id)
            ).all()
            return [self._item(d) for d in rows]

    def _item(self, delivery: DeliveryRow) -> dict[str, Any]:
        message = delivery.message
        return {
            "docId": delivery.doc_id,
            "from": message.sender_organ,
            "to": delivery.to_organ,
            "status": delivery.state,
            "status_desc": _STATE_DESC[DeliveryState(delivery.state)],
            "created_time": _vn_text(delivery.created_at),
            "updated_time": _vn_text(delivery.updated_at),
            "documentId": message.document_id or message.response_for,
            "messagetype": message.kind,
            "size": message.delivered_size,
            "title": message.title,
            "notation": message.notation,
            "statusCode": message.status_code,
            "trace": [{"OrganId": message.trace_organ, "Timestamp": _vn_text(message.created_at)}],
        }

    async def _get(self, request: Request, signed: SignedCall) -> Response:
        doc_id = signed.values["docId"]
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
        with self.sessions.begin() as session:
            delivery = self._visible(session, signed, doc_id)
            if delivery.state == DeliveryState.PENDING:
                delivery.state = DeliveryState.FETCHED.value
                delivery.fetched_at = delivery.updated_at = _now()
            message = delivery.message
            return self.blobs.path(message.delivered_sha256), message.delivered_size

    async def _update(self, request: Request, signed: SignedCall) -> Response:
        await anyio.to_thread.run_sync(
            self._update_sync, signed, signed.values["docid"], signed.values["status"]
        )
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
        with self.sessions.begin() as session:
            delivery = self._visible(session, signed, doc_id)
            current = DeliveryState(delivery.state)
            if current in (DeliveryState.DONE, DeliveryState.FAIL):
                if current == new:
                    return  # a retried acknowledgement: already done
                raise _Fail(
                    409,
                    "BAD_STATE",
                    f"Văn bản {doc_id} đã được xác nhận '{current}'",
                    f"item {doc_id} was already acknowledged as '{current}'",
                )
            delivery.state = new.value
            delivery.updated_at = _now()
            if delivery.fetched_at is None:
                delivery.fetched_at = delivery.updated_at

    async def _sent(self, request: Request, signed: SignedCall) -> Response:
        return _ok(
            data=await anyio.to_thread.run_sync(self._sent_sync, signed, signed.values["docId"])
        )

    def _sent_sync(self, signed: SignedCall, doc_id: str) -> list[dict[str, Any]]:
        with self.sessions() as session:
            message = session.get(MessageRow, doc_id)
            if message is None or message.sender_organ not in self._organs(signed):
                raise _Fail(
                    404,
                    "NOT_FOUND",
                    f"Không có văn bản đã gửi DocId={doc_id} của hệ thống {signed.systemid}",
                    f"no sent message DocId={doc_id} for system {signed.systemid}",
                )
            return [
                {
                    "toCode": d.to_organ,
                    "sendStatus": "sent",
                    "sendStatusDesc": "Đã chuyển tới hộp thư nơi nhận / delivered to the inbox",
                    "receiveStatus": d.state,
                    "receiveStatusDesc": _STATE_DESC[DeliveryState(d.state)],
                    "sentTime": _vn_text(message.created_at),
                    "receivedTime": _vn_text(d.fetched_at),
                    "senderDocId": message.doc_id,
                    "receiverDocId": d.doc_id,
                    "title": message.title,
                    "notation": message.notation,
                    "lastStatusCode": d.last_status_code,
                }
                for d in sorted(message.deliveries, key=lambda d: d.to_organ)
            ]

    async def _count_edoc(self, request: Request, signed: SignedCall) -> Response:
        return _ok(count=await anyio.to_thread.run_sync(self._count_sync, signed, "edoc"))

    async def _count_status(self, request: Request, signed: SignedCall) -> Response:
        return _ok(count=await anyio.to_thread.run_sync(self._count_sync, signed, "status"))

    def _count_sync(self, signed: SignedCall, kind: str) -> int:
        with self.sessions() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(DeliveryRow)
                    .where(
                        DeliveryRow.to_organ.in_(self._organs(signed)),
                        DeliveryRow.kind == kind,
                        DeliveryRow.state.in_([s.value for s in OPEN_STATES]),
                    )
                )
                or 0
            )

    async def _agencies(self, request: Request, signed: SignedCall) -> Response:
        return _ok(data=await anyio.to_thread.run_sync(self._agencies_sync))

    def _agencies_sync(self) -> list[dict[str, Any]]:
        with self.sessions() as session:
            return [
                {
                    "code": a.organ_id,
                    "name": a.name,
                    "pcode": a.parent_id,
                    "mail": a.email,
                    "mobile": a.telephone,
                    "address": a.address,
                }
                for a in session.scalars(select(AgencyRow).order_by(AgencyRow.organ_id))
            ]


def _title(message: edxml.Document | edxml.StatusMessage) -> str | None:
    if isinstance(message, edxml.Document):
        return message.subject
    return message.description


def _notation(message: edxml.Document | edxml.StatusMessage) -> str | None:
    if isinstance(message, edxml.Document) and message.code is not None:
        return "/".join(p for p in (message.code.number, message.code.notation) if p) or None
    return None


def create_app(config: LocalAxisConfig) -> Starlette:
    """A starlette app serving the local axis described by ``config``."""
    return LocalAxis(config).app
