"""HMAC header authentication of the axis protocol, for both ends of a call (no I/O here).

What the official SDK (SDKVXP 2.0.1, ``VnptService.addXroadVnptHashHeader``) does, and so
what we do:

1. The headers to sign are ``timestamp``, ``systemid``, ``Content-Type``, each parameter of
   the call, and ``hash-file`` for a send.
2. Each is sent as ``XroadVnpt-<name>``; ``Content-Type`` is also sent plainly.
3. ``XroadVnpt-sign-header-key`` lists the signed names (unprefixed) joined with ``;``.
4. ``XroadVnpt-sign-header`` is a compact JSON object ``{"XroadVnpt-<name>": value, ...}``.
5. ``XroadVnpt-hash-header`` is lowercase hex HMAC-SHA256(secret, that JSON text).

A verifier recomputes the HMAC over the JSON text *as sent* (so key order never matters),
then checks that every signed header really carries the signed value, so nothing it acts on
is unsigned.

The timestamp: the SDK formats ``new Date()`` with ``SimpleDateFormat("ddMMyyyy'T'HHmmss+SSSS")``.
In Java's pattern language the ``+`` is a literal and ``SSSS`` is the millisecond field padded
to four digits, and the time is the JVM's local time (Vietnam, UTC+7). A reader of the spec may
instead take ``+SSSS`` for a zone offset (``+0700``). We **write** the Java reading
(Vietnam local time, milliseconds) and **accept** both: ``+0700`` is Vietnam time either way
(as milliseconds it is 0.7 s), so a real peer passes whichever it meant. Any other four digits
are milliseconds only: reading, say, ``+0654`` as a zone offset would move the instant by six
minutes and let a stale (replayed) request pass the freshness check.
``TimestampStyle.OFFSET`` writes ``+0700`` for an axis that turns out to want the offset.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..edxml.formats import VN_TZ

__all__ = [
    "PREFIX",
    "SDK_VERSION",
    "AuthFailure",
    "SignedCall",
    "TimestampStyle",
    "format_timestamp",
    "hmac_hex",
    "parse_timestamp",
    "sign_headers",
    "verify_headers",
]

PREFIX = "XroadVnpt-"
SDK_VERSION = "3.0.201608"

_TS_RE = re.compile(r"(\d{2})(\d{2})(\d{4})T(\d{2})(\d{2})(\d{2})\+(\d{4})")


class TimestampStyle(enum.StrEnum):
    """How the four digits after ``+`` are written."""

    MILLIS = "millis"  #: Java SimpleDateFormat reading: milliseconds (the SDK's behaviour)
    OFFSET = "offset"  #: zone-offset reading: always ``+0700`` (Vietnam time)


def format_timestamp(when: dt.datetime, style: TimestampStyle = TimestampStyle.MILLIS) -> str:
    """``ddMMyyyy'T'HHmmss+SSSS`` in Vietnam local time (see the module docstring)."""
    local = when.astimezone(VN_TZ)
    tail = f"{local.microsecond // 1000:04d}" if style is TimestampStyle.MILLIS else "0700"
    return local.strftime("%d%m%YT%H%M%S") + "+" + tail


_VN_OFFSET = 700  # "+0700"


def parse_timestamp(value: str) -> list[dt.datetime]:
    """Every instant ``value`` may mean (milliseconds reading first); empty if malformed."""
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
) -> dict[str, str]:
    """The headers of one signed call. ``params`` includes ``hash-file`` for a send.

    Keyword-only: the secret must never be passed by position by mistake.
    """
    signed: dict[str, str] = {
        "timestamp": format_timestamp(now, style),
        "systemid": systemid,
        "Content-Type": content_type,
    }
    for key, value in params.items():
        if key in signed:
            raise ValueError(f"parameter {key!r} would shadow a protocol header")
        signed[key] = value
    sign_json = json.dumps(
        {PREFIX + name: value for name, value in signed.items()},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    headers = {PREFIX + name: value for name, value in signed.items()}
    headers["Content-Type"] = content_type
    headers[PREFIX + "sign-header-key"] = ";".join(signed)
    headers[PREFIX + "sign-header"] = sign_json
    headers[PREFIX + "hash-header"] = hmac_hex(secret, sign_json)
    headers[PREFIX + "version"] = SDK_VERSION
    headers["User-Agent"] = user_agent
    return headers


class AuthFailure(Exception):  # noqa: N818  (a result of verification, not a bug)
    """Why a call's authentication was refused: ``code`` for the error JSON, texts for people.

    Raised only by :func:`verify_headers`; the local axis turns it into its error answer.
    """

    def __init__(self, code: str, vi: str, en: str) -> None:
        self.code = code
        self.vi = vi
        self.en = en
        super().__init__(f"{code}: {en}")


@dataclass(frozen=True, slots=True)
class SignedCall:
    """What a verified call may be trusted for: the system and the signed values only."""

    systemid: str
    #: Every signed header by unprefixed name (``from``, ``hash-file``, ``docId``, ...).
    values: Mapping[str, str]
    timestamp: dt.datetime


def verify_headers(
    headers: Mapping[str, str],
    *,
    secret_for: Callable[[str], str | None],
    now: dt.datetime,
    max_skew: dt.timedelta,
    required: Sequence[str] = (),
) -> SignedCall:
    """Check a call's HMAC headers; return the signed values or raise :class:`AuthFailure`.

    ``headers`` must look names up case-insensitively (Starlette's and httpx's do).
    ``secret_for`` maps a system id to its secret (None when unknown). Checks, in order:

    1. the three signature headers are present and the JSON is an object of strings;
    2. the system id is known;
    3. the HMAC matches (constant-time comparison);
    4. every signed name is in the JSON and its ``XroadVnpt-`` header carries that value,
       and ``timestamp``, ``systemid`` and each ``required`` name are signed;
    5. the timestamp (either reading) is within ``max_skew`` of ``now``.
    """
    # 1. presence and shape
    key_list = headers.get(PREFIX + "sign-header-key")
    sign_json = headers.get(PREFIX + "sign-header")
    given_hash = headers.get(PREFIX + "hash-header")
    if not key_list or not sign_json or not given_hash:
        raise AuthFailure(
            "AUTH_MISSING",
            "Thiếu tiêu đề xác thực XroadVnpt-sign-header-key/sign-header/hash-header",
            "missing authentication headers XroadVnpt-sign-header-key/sign-header/hash-header",
        )
    try:
        signed = json.loads(sign_json)
    except ValueError:
        signed = None
    if not isinstance(signed, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in signed.items()
    ):
        raise AuthFailure(
            "AUTH_MALFORMED",
            "XroadVnpt-sign-header không phải đối tượng JSON gồm các chuỗi",
            "XroadVnpt-sign-header is not a JSON object of strings",
        )
    # 2. known system
    systemid = signed.get(PREFIX + "systemid", "")
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
    # 4. every signed name is really sent with the signed value
    names = [n for n in key_list.split(";") if n]
    values: dict[str, str] = {}
    for name in names:
        value = signed.get(PREFIX + name)
        actual = headers.get(PREFIX + name)
        if value is None or actual is None or actual != value:
            raise AuthFailure(
                "AUTH_HEADER_MISMATCH",
                f"Tiêu đề {PREFIX}{name} thiếu hoặc khác giá trị đã ký",
                f"header {PREFIX}{name} is missing or differs from the signed value",
            )
        values[name] = value
    for name in ("timestamp", "systemid", *required):
        if name not in values:
            raise AuthFailure(
                "AUTH_UNSIGNED",
                f"Tiêu đề '{name}' bắt buộc phải được ký",
                f"header '{name}' must be signed",
            )
    # 5. freshness
    readings = parse_timestamp(values["timestamp"])
    if not readings:
        raise AuthFailure(
            "AUTH_BAD_TIMESTAMP",
            f"Dấu thời gian '{values['timestamp']}' sai định dạng ddMMyyyy'T'HHmmss+SSSS",
            f"timestamp '{values['timestamp']}' is not of the form ddMMyyyy'T'HHmmss+SSSS",
        )
    fresh = [r for r in readings if abs(r - now) <= max_skew]
    if not fresh:
        minutes = max_skew.total_seconds() / 60
        raise AuthFailure(
            "AUTH_CLOCK_SKEW",
            f"Dấu thời gian lệch quá {minutes:g} phút so với đồng hồ của trục: kiểm tra giờ máy",
            f"timestamp is more than {minutes:g} minutes off the axis clock: check the clock",
        )
    return SignedCall(systemid=systemid, values=values, timestamp=fresh[0])
