"""A stand-in for the official Java SDK (SDKVXP 2.0.1) on the wire, for tests.

It reproduces the requests captured in ``shared/spec/axis-sdk-wire.md`` byte for byte and
shares no code with ``edoc_exchange.axis``: header names, their order and casing as
captured, ``User-Agent: JAVASDKAgent/1.0.0 XRoad/VPCP``, the bodies and their framing,
``Expect: 100-continue`` where the SDK's HTTP library sends it, ``hash-file`` written with
Java's ``Integer.toHexString(0xFF & b)``, one timestamp taken when the service object is
created, and one header map per object that is never cleared, so parameters of earlier
calls travel (signed) with later ones. Requests go out through ``http.client`` with
``putrequest``/``putheader`` so order and near-duplicate names are exactly as written.

:func:`sdk_read` reads an answer the way the SDK does: a JSON ``null`` where it reads a
value, or a sendEdoc answer without ``DocId``, would make the SDK throw.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import http.client
import json
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

PREFIX = "XroadVnpt-"
USER_AGENT = "JAVASDKAgent/1.0.0 XRoad/VPCP"
VERSION = "3.0.201608"
VN = dt.timezone(dt.timedelta(hours=7))
SDK_FILE_PATH = "/opt/app/recv"

#: ``XroadVnpt-sign-header-key`` of each captured request (a fresh SDK object per call).
CAPTURED_SIGNED_NAMES = {
    "sendEdoc": "systemid;servicetype;messagetype;hash-file;from;timestamp;Content-Type",
    "getReceivedEdocList": "systemid;servicetype;messagetype;timestamp;Content-Type",
    "countReceiveEdoc": "systemid;timestamp;Content-Type",
    "countReceiveStatus": "systemid;timestamp;Content-Type",
    "getEdoc": "systemid;docId;filePath;timestamp;Content-Type",
    "updateStatus": "systemid;docid;timestamp;Content-Type;status",
    "getSentEdocList": "systemid;servicetype;messagetype;docId;timestamp;Content-Type",
    "getAgenciesList": "systemid;timestamp;Content-Type",
}
#: The captured bodies (sendEdoc: the file, then CRLF).
CAPTURED_BODIES = {
    "getReceivedEdocList": b"",
    "countReceiveEdoc": b"{}",
    "countReceiveStatus": b"{}",
    "getEdoc": b"{}",
    "updateStatus": b"{}",
    "getSentEdocList": b"",
    "getAgenciesList": b"",
}
CAPTURED_CONTENT_TYPES = dict.fromkeys(CAPTURED_BODIES, "application/json")
CAPTURED_CONTENT_TYPES["sendEdoc"] = "application/octet-stream"

_SEND_TAIL = [
    "XroadVnpt-sign-header-key",
    "XroadVnpt-sign-header",
    "XroadVnpt-hash-header",
    "User-Agent",
    "XroadVnpt-version",
]
#: Header names of each captured request, in order (one fresh SDK object per call).
CAPTURED_HEADER_NAMES: dict[str, list[str]] = {
    "sendEdoc": [
        "Content-Type",
        "XroadVnpt-systemid",
        "XroadVnpt-servicetype",
        "XroadVnpt-messagetype",
        "XroadVnpt-hash-file",
        "XroadVnpt-from",
        "XroadVnpt-timestamp",
        "XroadVnpt-Content-Type",
        *_SEND_TAIL,
        "Cache-Control",
        "Pragma",
        "Host",
        "Accept",
        "Connection",
        "Content-Length",
    ],
    "getReceivedEdocList": [
        "XroadVnpt-systemid",
        "XroadVnpt-servicetype",
        "XroadVnpt-messagetype",
        "XroadVnpt-timestamp",
        "Content-Type",
        "XroadVnpt-Content-Type",
        *_SEND_TAIL,
        "Content-Length",
        "Host",
        "Connection",
        "Accept-Encoding",
    ],
    "countReceiveEdoc": [
        "XroadVnpt-systemid",
        "XroadVnpt-timestamp",
        "Content-Type",
        "XroadVnpt-Content-Type",
        *_SEND_TAIL,
        "Content-Length",
        "Host",
        "Connection",
        "Expect",
        "Accept-Encoding",
    ],
    "getEdoc": [
        "XroadVnpt-systemid",
        "XroadVnpt-docId",
        "XroadVnpt-filePath",
        "XroadVnpt-timestamp",
        "Content-Type",
        "XroadVnpt-Content-Type",
        *_SEND_TAIL,
        "Content-Length",
        "Host",
        "Connection",
        "Expect",
        "Accept-Encoding",
    ],
    "updateStatus": [
        "XroadVnpt-systemid",
        "XroadVnpt-docid",
        "XroadVnpt-timestamp",
        "Content-Type",
        "XroadVnpt-Content-Type",
        "XroadVnpt-status",
        *_SEND_TAIL,
        "Content-Length",
        "Host",
        "Connection",
        "Expect",
        "Accept-Encoding",
    ],
    "getSentEdocList": [
        "XroadVnpt-systemid",
        "XroadVnpt-servicetype",
        "XroadVnpt-messagetype",
        "XroadVnpt-docId",
        "XroadVnpt-timestamp",
        "Content-Type",
        "XroadVnpt-Content-Type",
        *_SEND_TAIL,
        "Content-Length",
        "Host",
        "Connection",
        "Accept-Encoding",
    ],
    "getAgenciesList": [
        "XroadVnpt-systemid",
        "XroadVnpt-timestamp",
        "Content-Type",
        "XroadVnpt-Content-Type",
        *_SEND_TAIL,
        "Content-Length",
        "Host",
        "Connection",
        "Accept-Encoding",
    ],
}
CAPTURED_HEADER_NAMES["countReceiveStatus"] = CAPTURED_HEADER_NAMES["countReceiveEdoc"]

#: String values the SDK reads from each answer's items (besides status/ErrorCode/ErrorDesc).
SDK_READS: dict[str, tuple[str, ...]] = {
    "getReceivedEdocList": (
        "docId", "from", "to", "status", "status_desc", "created_time", "updated_time",
        "messageType", "serviceType",
    ),
    "getSentEdocList": (
        "toCode", "sendStatus", "sendStatusDesc", "receiveStatus", "receiveStatusDesc",
        "sentTime", "receivedTime", "senderDocId", "receiverDocId", "title", "notation",
    ),
    "getAgenciesList": ("code", "id", "mail", "name", "pid", "oldCode"),
}


def java_hex(data: bytes) -> str:
    """``hash-file`` as the SDK writes it: SHA-256, each byte via Integer.toHexString."""
    return "".join(format(0xFF & b, "x") for b in hashlib.sha256(data).digest())


def java_timestamp(moment: dt.datetime) -> str:
    """``SimpleDateFormat("ddMMyyyy'T'HHmmss+SSSS")`` of ``moment``'s wall clock."""
    return moment.strftime("%d%m%YT%H%M%S") + f"+{moment.microsecond // 1000:04d}"


def gson(value: dict[str, str]) -> str:
    """Gson's compact JSON: HTML-sensitive characters escaped, as its default does."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("=", "\\u003d"), ("'", "\\u0027")):
        text = text.replace(char, escaped)
    return text


@dataclass(frozen=True)
class SentRequest:
    """One request as it went on the wire."""

    operation: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n == name]


@dataclass(frozen=True)
class Answer:
    """The axis's answer: HTTP status and its JSON."""

    http_status: int
    body: dict[str, Any]


@dataclass
class SdkService:
    """One ``VnptService`` object of the SDK, for one system, bound to one axis URL.

    ``zone`` is the JVM's default time zone and ``created`` when the object was made: the
    timestamp of every call is that moment, frozen.
    """

    url: str
    systemid: str
    secret: str
    zone: dt.tzinfo = VN
    created: dt.datetime | None = None
    file_path: str = SDK_FILE_PATH
    #: The header map: filled by each call, never cleared (insertion-ordered like the SDK's).
    header_map: dict[str, str] = field(default_factory=dict)
    sent: list[SentRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        moment = (self.created or dt.datetime.now(dt.UTC)).astimezone(self.zone)
        self.timestamp = java_timestamp(moment)
        parts = urllib.parse.urlsplit(self.url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.base = parts.path.rstrip("/")

    # --- the SDK's calls

    def send_edoc(
        self,
        data: bytes,
        *,
        sender: str,
        messagetype: str = "edoc",
        hash_file: str | None = None,
        trailer: bytes = b"\r\n",
    ) -> Answer:
        """sendEdoc: the raw file then ``trailer`` (CRLF), ``hash-file`` in the SDK's form."""
        self._put("systemid", self.systemid)
        self._put("servicetype", "eDoc")
        self._put("messagetype", messagetype)
        self._put("hash-file", hash_file if hash_file is not None else java_hex(data))
        self._put("from", sender)
        self._put("timestamp", self.timestamp)
        self._put("Content-Type", "application/octet-stream")
        body = data + trailer
        headers = [("Content-Type", "application/octet-stream")]
        headers += [(PREFIX + k, v) for k, v in self.header_map.items()]
        headers += self._signature()
        headers += [
            ("User-Agent", USER_AGENT),
            ("XroadVnpt-version", VERSION),
            ("Cache-Control", "no-cache"),
            ("Pragma", "no-cache"),
            ("Host", f"{self.host}:{self.port}"),
            ("Accept", "text/html, image/gif, image/jpeg, */*; q=0.2"),
            ("Connection", "keep-alive"),
            ("Content-Length", str(len(body))),
        ]
        return self._exchange("sendEdoc", headers, body)

    def get_received_edoc_list(self, messagetype: str = "edoc") -> Answer:
        return self._json_call(
            "getReceivedEdocList", [("servicetype", "eDoc"), ("messagetype", messagetype)], b""
        )

    def count_receive_edoc(self) -> Answer:
        return self._json_call("countReceiveEdoc", [], b"{}")

    def count_receive_status(self) -> Answer:
        return self._json_call("countReceiveStatus", [], b"{}")

    def get_edoc(self, doc_id: str) -> Answer:
        return self._json_call(
            "getEdoc", [("docId", doc_id), ("filePath", self.file_path)], b"{}"
        )

    def update_status(self, doc_id: str, status: str = "done", *, key: str = "docid") -> Answer:
        """updateStatus with the document id under ``key`` (``docid`` or ``docId``)."""
        return self._json_call("updateStatus", [(key, doc_id)], b"{}", late=[("status", status)])

    def get_sent_edoc_list(self, doc_id: str) -> Answer:
        return self._json_call(
            "getSentEdocList",
            [("servicetype", "eDoc"), ("messagetype", "edoc"), ("docId", doc_id)],
            b"",
        )

    def get_agencies_list(self) -> Answer:
        return self._json_call("getAgenciesList", [], b"")

    # --- the wire

    def _put(self, key: str, value: str) -> None:
        self.header_map[key] = value  # an existing key keeps its place, like a LinkedHashMap

    def _signature(self) -> list[tuple[str, str]]:
        sign_json = gson({PREFIX + k: v for k, v in self.header_map.items()})
        digest = hmac.new(self.secret.encode(), sign_json.encode(), hashlib.sha256).hexdigest()
        return [
            (PREFIX + "sign-header-key", ";".join(self.header_map)),
            (PREFIX + "sign-header", sign_json),
            (PREFIX + "hash-header", digest),
        ]

    def _json_call(
        self,
        operation: str,
        params: list[tuple[str, str]],
        body: bytes,
        *,
        late: list[tuple[str, str]] | None = None,
    ) -> Answer:
        self._put("systemid", self.systemid)
        for key, value in params:
            self._put(key, value)
        self._put("timestamp", self.timestamp)
        self._put("Content-Type", "application/json")
        for key, value in late or []:
            self._put(key, value)
        headers: list[tuple[str, str]] = []
        for key, value in self.header_map.items():
            if key == "Content-Type":
                headers.append(("Content-Type", "application/json"))
            headers.append((PREFIX + key, value))
        headers += self._signature()
        headers += [
            ("User-Agent", USER_AGENT),
            ("XroadVnpt-version", VERSION),
            ("Content-Length", str(len(body))),
            ("Host", f"{self.host}:{self.port}"),
            ("Connection", "Keep-Alive"),
        ]
        if body:
            headers.append(("Expect", "100-continue"))
        headers.append(("Accept-Encoding", "gzip,deflate"))
        return self._exchange(operation, headers, body)

    def _exchange(self, operation: str, headers: list[tuple[str, str]], body: bytes) -> Answer:
        self.sent.append(SentRequest(operation, headers, body))
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.putrequest(
                "POST", f"{self.base}/{operation}", skip_host=True, skip_accept_encoding=True
            )
            for name, value in headers:
                conn.putheader(name, value)
            conn.endheaders()
            if body:
                conn.send(body)
            response = conn.getresponse()
            status, content = response.status, response.read()
        finally:
            conn.close()
        parsed = json.loads(content)
        assert isinstance(parsed, dict), content[:200]
        return Answer(status, parsed)


class SdkWouldThrow(AssertionError):  # noqa: N818  (named for what the SDK would do)
    """The SDK could not read this answer (a null where it reads a value, a missing key)."""


def _nulls(value: Any, where: str) -> list[str]:
    if value is None:
        return [where]
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in _nulls(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [n for i, v in enumerate(value) for n in _nulls(v, f"{where}[{i}]")]
    return []


def _text(body: dict[str, Any], key: str, where: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise SdkWouldThrow(f"{where}: {key!r} is {value!r}, not a string")
    return value


def sdk_read(operation: str, answer: Answer) -> dict[str, Any]:
    """Read ``answer`` as the SDK does; raise :class:`SdkWouldThrow` where it would throw."""
    body = answer.body
    nulls = _nulls(body, operation)
    if nulls:
        raise SdkWouldThrow(f"null where the SDK reads a value: {nulls}")
    for key in ("status", "ErrorCode", "ErrorDesc"):
        _text(body, key, operation)
    if operation == "sendEdoc":
        _text(body, "DocId", operation)  # read even from a FAIL: NullPointerException
    if body["status"] != "OK":
        return body
    if operation == "getEdoc":
        base64.b64decode(_text(body, "data", operation), validate=True)
    elif operation.startswith("count"):
        if not isinstance(body.get("count"), int):
            raise SdkWouldThrow(f"{operation}: count is {body.get('count')!r}")
    elif operation in SDK_READS:
        items = body.get("data")
        if not isinstance(items, list):
            raise SdkWouldThrow(f"{operation}: data is {items!r}")
        for i, item in enumerate(items):
            for key in SDK_READS[operation]:
                _text(item, key, f"{operation}.data[{i}]")
    return body
