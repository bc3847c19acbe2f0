"""HMAC header authentication of the axis protocol, for both ends of a call (no I/O here).

What the official SDK (SDKVXP 2.0.1, ``VnptService.addXroadVnptHashHeader``) does, and so
what we do:

1. The headers to sign are ``systemid``, each parameter of the call (``hash-file`` for a
   send), ``timestamp`` and ``Content-Type``, in that order (updateStatus adds ``status``
   after ``Content-Type``).
2. Each is sent as ``XroadVnpt-<name>``; ``Content-Type`` is also sent plainly.
3. ``XroadVnpt-sign-header-key`` lists the signed names (unprefixed) joined with ``;``.
4. ``XroadVnpt-sign-header`` is a compact JSON object ``{"XroadVnpt-<name>": value, ...}``.
5. ``XroadVnpt-hash-header`` is lowercase hex HMAC-SHA256(secret, that JSON text).

A verifier recomputes the HMAC over the JSON text *as sent* (so key order never matters),
then checks that every signed header really carries the signed value, so nothing it acts on
is unsigned.

Header names are case-insensitive (HTTP says so, and callers of updateStatus write both
``docId`` and ``docid``): ``XroadVnpt-docId`` and ``XroadVnpt-docid`` are one header, in
the signed name list and the signed JSON too. The SDK keeps one header map per service
object and never clears it, so keys pile up: after ``getEdoc(docId=Y)`` and an earlier
``updateStatus(docid=X)`` a call carries, and signs, both ``docId=Y`` and ``docid=X``, as two
HTTP headers that differ only in case. So verification checks every signed (name, value)
against *all* values sent under that name, and no sent value may be unsigned.

**Resolving a parameter** (:meth:`SignedCall.param`): when all case-variants of a signed
parameter carry the same value, that value is used. When they disagree, a read-only
operation (getEdoc, getSentEdocList, the lists and counts) uses the value of the exact
spelling the operation defines (``docId``), because that is the key the SDK has just
written; a state-changing operation (updateStatus, sendEdoc) refuses the call with
``PARAM_CONFLICT`` (HTTP 400): acknowledging the wrong document would lose the other one.

The timestamp: the SDK formats ``new Date()`` with ``SimpleDateFormat("ddMMyyyy'T'HHmmss+SSSS")``
once, when its service object is created, and reuses it for every call of that object. In
Java's pattern language the ``+`` is a literal and ``SSSS`` is the millisecond field padded
to four digits, and the time is the JVM's local time, with no zone in the text: Vietnam time
on most hosts, UTC in a vendor's container. A reader of the spec may instead take ``+SSSS``
for a zone offset (``+0700``). We **write** the Java reading (Vietnam local time,
milliseconds) and **accept** the text read as Vietnam time or as UTC, and ``+0700`` also as
a zone offset (Vietnam time either way: as milliseconds it is 0.7 s). Any other four digits
are milliseconds only: reading, say, ``+0654`` as a zone offset would move the instant by
six minutes and let a stale (replayed) request pass the freshness check. Accepting UTC opens
a second window seven hours after the first, and a verifier may switch freshness off for a
system whose SDK objects live long (``max_skew_for`` returns None): the trade-off between
replay protection and what the SDK really sends is the verifier's configuration.
``TimestampStyle.OFFSET`` writes ``+0700`` for an axis that turns out to want the offset.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import EdocError
from ..vntime import VN_TZ

__all__ = [
    "PREFIX",
    "SDK_VERSION",
    "AuthFailure",
    "CallRefused",
    "ParameterConflict",
    "SignedCall",
    "TimestampStyle",
    "format_sdk_timestamp",
    "hmac_hex",
    "parse_sdk_timestamp",
    "sign_headers",
    "verify_headers",
]

PREFIX = "XroadVnpt-"
SDK_VERSION = "3.0.201608"

_TS_RE = re.compile(r"(\d{2})(\d{2})(\d{4})T(\d{2})(\d{2})(\d{2})\+(\d{4})")
_PROTOCOL_NAMES = ("systemid", "timestamp", "content-type")


class TimestampStyle(enum.StrEnum):
    """How the four digits after ``+`` are written."""

    MILLIS = "millis"  #: Java SimpleDateFormat reading: milliseconds (the SDK's behaviour)
    OFFSET = "offset"  #: zone-offset reading: always ``+0700`` (Vietnam time)


def format_sdk_timestamp(when: dt.datetime, style: TimestampStyle = TimestampStyle.MILLIS) -> str:
    """``ddMMyyyy'T'HHmmss+SSSS`` in Vietnam local time (see the module docstring)."""
    local = when.astimezone(VN_TZ)
    tail = f"{local.microsecond // 1000:04d}" if style is TimestampStyle.MILLIS else "0700"
    return local.strftime("%d%m%YT%H%M%S") + "+" + tail


_VN_OFFSET = 700  # "+0700"


def parse_sdk_timestamp(value: str) -> list[dt.datetime]:
    """Every instant ``value`` may mean; empty if malformed.

    In order: milliseconds in Vietnam time, milliseconds in UTC, and for ``+0700`` the
    zone-offset reading (Vietnam time).
    """
    m = _TS_RE.fullmatch(value.strip())
    if not m:
        return []
    day, month, year, hour, minute, second, tail = (int(g) for g in m.groups())
    readings: list[dt.datetime] = []
    try:
        base = dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return []
    if tail < 1000:
        readings.append(base.replace(microsecond=tail * 1000, tzinfo=VN_TZ))
        # The JVM's zone is not in the text: an SDK in a UTC container writes UTC.
        readings.append(base.replace(microsecond=tail * 1000, tzinfo=dt.UTC))
    if tail == _VN_OFFSET:
        # "+0700" read as a zone offset: Vietnam time, the same instant to within 0.7 s.
        readings.append(base.replace(tzinfo=VN_TZ))
    return readings


def hmac_hex(secret: str, text: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``text`` (UTF-8) under ``secret`` (UTF-8)."""
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_headers(
    *,
    secret: str,
    systemid: str,
    content_type: str,
    params: Mapping[str, str],
    now: dt.datetime,
    style: TimestampStyle = TimestampStyle.MILLIS,
    user_agent: str,
    late_params: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The headers of one signed call, in the SDK's order (see the module docstring).

    ``params`` are signed between ``systemid`` and ``timestamp`` (``hash-file`` is one for
    a send); ``late_params`` after ``Content-Type`` (updateStatus's ``status``).
    Keyword-only: the secret must never be passed by position by mistake.
    """
    late = dict(late_params or {})
    for key in (*params, *late):
        if key.lower() in _PROTOCOL_NAMES:
            raise ValueError(f"parameter {key!r} would shadow a protocol header")
    signed: dict[str, str] = {
        "systemid": systemid,
        **params,
        "timestamp": format_sdk_timestamp(now, style),
        "Content-Type": content_type,
        **late,
    }
    sign_json = json.dumps(
        {PREFIX + name: value for name, value in signed.items()},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    headers: dict[str, str] = {}
    for name, value in signed.items():
        if name == "Content-Type":
            headers["Content-Type"] = content_type
        headers[PREFIX + name] = value
    headers[PREFIX + "sign-header-key"] = ";".join(signed)
    headers[PREFIX + "sign-header"] = sign_json
    headers[PREFIX + "hash-header"] = hmac_hex(secret, sign_json)
    headers["User-Agent"] = user_agent
    headers[PREFIX + "version"] = SDK_VERSION
    return headers


class CallRefused(EdocError):  # noqa: N818  (an answer of the axis, not a bug)
    """A call the axis refuses: ``code`` for the error JSON, ``http_status`` for the answer.

    The texts are the Vietnamese and English ``ErrorDesc`` a person reads.
    """

    http_status = 400

    def __init__(self, code: str, vi: str, en: str, *, http_status: int | None = None) -> None:
        self.code = code
        if http_status is not None:
            self.http_status = http_status
        super().__init__(vi, en, step=f"axis.{code}")


class AuthFailure(CallRefused):
    """Why a call's authentication was refused (HTTP 401); raised by :func:`verify_headers`."""

    http_status = 401


class ParameterConflict(CallRefused):
    """Case-variants of a signed parameter disagree where they may not (HTTP 400)."""


@dataclass(frozen=True, slots=True)
class SignedCall:
    """What a verified call may be trusted for: the system and the signed values only."""

    systemid: str
    #: Every signed (name, value) in the order of ``sign-header-key``, names as spelled.
    pairs: tuple[tuple[str, str], ...]
    timestamp: dt.datetime
    #: Whether the operation changes nothing (decides how a disagreement is resolved).
    read_only: bool = False

    def has(self, name: str) -> bool:
        """Whether ``name`` (any case) is signed."""
        return any(n.lower() == name.lower() for n, _ in self.pairs)

    def param(self, name: str) -> str:
        """The value of the signed parameter ``name``, by the rule of the module docstring.

        ``name`` is the operation's canonical spelling. Raises KeyError when it is not
        signed (callers require their parameters in :func:`verify_headers`) and
        :class:`ParameterConflict` when its case-variants disagree and the rule refuses.
        """
        variants = [(n, v) for n, v in self.pairs if n.lower() == name.lower()]
        if not variants:
            raise KeyError(name)
        values = list(dict.fromkeys(v for _, v in variants))
        if len(values) == 1:
            return values[0]
        if self.read_only:
            exact = list(dict.fromkeys(v for n, v in variants if n == name))
            if len(exact) == 1:
                return exact[0]
        shown = ", ".join(f"{PREFIX}{n}={v}" for n, v in variants)
        raise ParameterConflict(
            "PARAM_CONFLICT",
            f"Các tiêu đề {shown} chỉ khác nhau ở chữ hoa/thường nhưng mang giá trị khác "
            f"nhau: không biết dùng giá trị nào. Hãy tạo lại đối tượng dịch vụ của SDK "
            f"(nó không xoá tham số của lần gọi trước) hoặc gửi một giá trị {name}",
            f"headers {shown} differ only in case but carry different values: which one is "
            f"meant is unknown. Create the SDK's service object anew (it keeps the "
            f"parameters of earlier calls) or send one value of {name}",
        )


class _SentHeaders:
    """The request's headers by lower-cased name, every value kept (duplicates too)."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self.values: dict[str, list[str]] = {}
        for name, value in items:
            self.values.setdefault(name.lower(), []).append(value)

    def all(self, name: str) -> list[str]:
        return self.values.get(name.lower(), [])

    def one(self, name: str) -> str | None:
        found = self.all(name)
        if len(found) > 1:
            raise AuthFailure(
                "AUTH_MALFORMED",
                f"Tiêu đề {name} được gửi nhiều lần",
                f"header {name} is sent more than once",
            )
        return found[0] if found else None


def _string_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two equal keys would leave the signed value to the JSON parser's whim: refuse them.
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)


def _malformed() -> AuthFailure:
    return AuthFailure(
        "AUTH_MALFORMED",
        "XroadVnpt-sign-header không phải đối tượng JSON gồm các chuỗi, mỗi khoá một lần",
        "XroadVnpt-sign-header is not a JSON object of strings with each key once",
    )


def _same(signed: list[str], sent: list[str]) -> bool:
    """Whether the values sent under one name are exactly the signed ones (order aside)."""
    want = {v.strip() for v in signed}
    got = {v.strip() for v in sent}
    if want == got:
        return True
    # A proxy may join repeated headers into one, comma-separated (RFC 9110, 5.3).
    return len(sent) == 1 and {v.strip() for v in sent[0].split(",")} == want


def verify_headers(
    headers: Iterable[tuple[str, str]],
    *,
    secret_for: Callable[[str], str | None],
    max_skew_for: Callable[[str], dt.timedelta | None],
    now: dt.datetime,
    required: Sequence[str] = (),
    read_only: bool = False,
) -> SignedCall:
    """Check a call's HMAC headers; return the signed values or raise :class:`CallRefused`.

    ``headers`` are the request's (name, value) pairs, every one even when a name repeats
    (Starlette's ``headers.items()``, httpx's ``headers.multi_items()``). ``secret_for``
    maps a system id to its secret (None when unknown), ``max_skew_for`` to the freshness
    window of its timestamps (None: not checked). Checks, in order:

    1. the three signature headers are present once and the JSON is an object of strings;
    2. the system id is known;
    3. the HMAC matches (constant-time comparison);
    4. every signed name is in the JSON, the values sent under that name (any case) are
       exactly the signed values, and ``timestamp``, ``systemid`` and each ``required``
       name are signed (names compared case-insensitively);
    5. the timestamp is well-formed and (one of its readings) within the window of ``now``.
    """
    sent = _SentHeaders(headers)
    # 1. presence and shape
    key_list = sent.one(PREFIX + "sign-header-key")
    sign_json = sent.one(PREFIX + "sign-header")
    given_hash = sent.one(PREFIX + "hash-header")
    if not key_list or not sign_json or not given_hash:
        raise AuthFailure(
            "AUTH_MISSING",
            "Thiếu tiêu đề xác thực XroadVnpt-sign-header-key/sign-header/hash-header",
            "missing authentication headers XroadVnpt-sign-header-key/sign-header/hash-header",
        )
    try:
        signed = json.loads(sign_json, object_pairs_hook=_string_object)
    except ValueError:
        raise _malformed() from None
    if not isinstance(signed, dict) or not all(isinstance(v, str) for v in signed.values()):
        raise _malformed()
    by_name: dict[str, list[tuple[str, str]]] = {}
    for key, value in signed.items():
        by_name.setdefault(key.lower(), []).append((key, value))
    # 2. known system
    systemids = list(dict.fromkeys(v for _, v in by_name.get((PREFIX + "systemid").lower(), [])))
    if len(systemids) > 1:
        raise _malformed()
    systemid = systemids[0] if systemids else ""
    secret = secret_for(systemid) if systemid else None
    if secret is None:
        raise AuthFailure(
            "AUTH_UNKNOWN_SYSTEM",
            f"Mã hệ thống '{systemid}' không được đăng ký với trục",
            f"system id '{systemid}' is not registered with this axis",
        )
    # 3. the HMAC
    expected = hmac_hex(secret, sign_json)
    if not hmac.compare_digest(expected, given_hash.strip().lower()):
        raise AuthFailure(
            "AUTH_BAD_HMAC",
            "Chữ ký HMAC (XroadVnpt-hash-header) không đúng: kiểm tra mã bí mật (secret)",
            "HMAC (XroadVnpt-hash-header) does not match: check the shared secret",
        )
    # 4. every signed name is really sent with the signed values, and only with them
    pairs: list[tuple[str, str]] = []
    for name in dict.fromkeys(n.strip() for n in key_list.split(";") if n.strip()):
        exact = signed.get(PREFIX + name)
        variants = by_name.get((PREFIX + name).lower(), [])
        if exact is None and len(variants) == 1:
            exact = variants[0][1]
        if exact is None:
            raise AuthFailure(
                "AUTH_HEADER_MISMATCH",
                f"Tên {name} trong XroadVnpt-sign-header-key không có đúng một giá trị trong "
                "XroadVnpt-sign-header",
                f"name {name} of XroadVnpt-sign-header-key has not exactly one value in "
                "XroadVnpt-sign-header",
            )
        pairs.append((name, exact))
    for lowered in dict.fromkeys(n.lower() for n, _ in pairs):
        values = [v for n, v in pairs if n.lower() == lowered]
        if not _same(values, sent.all(PREFIX + lowered)):
            raise AuthFailure(
                "AUTH_HEADER_MISMATCH",
                f"Tiêu đề {PREFIX}{lowered} thiếu hoặc khác giá trị đã ký",
                f"header {PREFIX}{lowered} is missing or differs from the signed value",
            )
    # Strict until the end: protocol headers whose variants disagree are refused.
    call = SignedCall(systemid=systemid, pairs=tuple(pairs), timestamp=now)
    for name in ("timestamp", "systemid", *required):
        if not call.has(name):
            raise AuthFailure(
                "AUTH_UNSIGNED",
                f"Tiêu đề '{name}' bắt buộc phải được ký",
                f"header '{name}' must be signed",
            )
    # 5. freshness
    stamp = call.param("timestamp")
    readings = parse_sdk_timestamp(stamp)
    if not readings:
        raise AuthFailure(
            "AUTH_BAD_TIMESTAMP",
            f"Dấu thời gian '{stamp}' sai định dạng ddMMyyyy'T'HHmmss+SSSS",
            f"timestamp '{stamp}' is not of the form ddMMyyyy'T'HHmmss+SSSS",
        )
    max_skew = max_skew_for(systemid)
    if max_skew is None:
        return replace(call, timestamp=readings[0], read_only=read_only)
    fresh = [r for r in readings if abs(r - now) <= max_skew]
    if not fresh:
        minutes = max_skew.total_seconds() / 60
        raise AuthFailure(
            "AUTH_CLOCK_SKEW",
            f"Dấu thời gian '{stamp}' (giờ Việt Nam hoặc UTC) lệch quá {minutes:g} phút so "
            "với đồng hồ của trục: kiểm tra giờ máy, hoặc tạo lại đối tượng dịch vụ của SDK "
            "(nó giữ dấu thời gian lúc được tạo)",
            f"timestamp '{stamp}' (read as Vietnam time or UTC) is more than {minutes:g} "
            "minutes off the axis clock: check the clock, or create the SDK's service object "
            "anew (it keeps the timestamp of its creation)",
        )
    return replace(call, timestamp=fresh[0], read_only=read_only)
