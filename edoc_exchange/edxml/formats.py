"""Text formats of the standard: dates, timestamps (Vietnam time) and clean text.

Dates are ``yyyy/MM/dd``; timestamps are ``yyyy/MM/dd HH:mm:ss`` in local Vietnamese time
(UTC+7). Text is NFC-normalised and must be representable in XML 1.0.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from ..vntime import VN_TZ, format_timestamp, parse_timestamp, to_vn_time

__all__ = [
    "VN_TZ",
    "clean_text",
    "format_date",
    "format_timestamp",
    "parse_date",
    "parse_date_loosely",
    "parse_timestamp",
    "parse_timestamp_loosely",
    "to_vn_time",
]

_DATE_RE = re.compile(r"([0-9]{4})/([0-9]{2})/([0-9]{2})")
# Characters XML 1.0 cannot carry: a message holding them could never be written.
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def parse_date(text: str) -> dt.date:
    """Parse ``yyyy/MM/dd``; raise ValueError otherwise (2014/02/30 too)."""
    match = _DATE_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError(text)
    year, month, day = (int(g) for g in match.groups())
    return dt.date(year, month, day)


def format_date(value: dt.date) -> str:
    """Write a date as the standard wants it: ``yyyy/MM/dd``."""
    return f"{value.year:04d}/{value.month:02d}/{value.day:02d}"


# Year first, as the standard but with other separators or without zero padding.
_YEAR_FIRST = r"([0-9]{4})[/.-]([0-9]{1,2})[/.-]([0-9]{1,2})"
# Day first, as Vietnamese writes dates and some vendors send them (30/10/2020); the year
# must have four digits, so 30/10/20 is never guessed at.
_DAY_FIRST = r"([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{4})"
_TIME = r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?(?:[.,][0-9]+)?"
_ZONE = r"(Z|[+-][0-9]{2}:?[0-9]{2})?"
_LOOSE_DATE_RES = (
    (re.compile(_YEAR_FIRST), (0, 1, 2)),
    (re.compile(_DAY_FIRST), (2, 1, 0)),
)
_LOOSE_TIME_RES = (
    (re.compile(_YEAR_FIRST + r"[ T]" + _TIME + _ZONE), (0, 1, 2)),
    (re.compile(_DAY_FIRST + r"[ T]" + _TIME + _ZONE), (2, 1, 0)),
)


def _ymd(groups: tuple[str | None, ...], order: tuple[int, int, int]) -> dt.date:
    year, month, day = (int(groups[i] or "") for i in order)
    return dt.date(year, month, day)  # ValueError for 2020/02/30, 32/01/2020, 10/30/2020


def parse_date_loosely(text: str) -> dt.date:
    """Parse dates peers write in other forms that cannot be misread.

    Accepted: year first with ``/``, ``-`` or ``.`` and optional zero padding
    (``2018/9/28``, ``2018-09-28``); day first with a four-digit year (``30/10/2020``, the
    Vietnamese order that vendors' ``dd/MM/yyyy`` writes); a timestamp in any form of
    :func:`parse_timestamp_loosely` (``2018/09/28 00:00:00``, as some builders fill a date
    field; ``2018-09-27T17:00:00Z``): its date in Vietnam time, so a zone never moves it to
    another day. Never guessed: a two-digit year, a month over 12 (``10/30/2020`` is
    refused, not swapped), an impossible day or time. Raises ValueError otherwise.
    """
    value = text.strip()
    for pattern, order in _LOOSE_DATE_RES:
        match = pattern.fullmatch(value)
        if match is not None:
            return _ymd(match.groups(), order)
    return parse_timestamp_loosely(value).date()


def parse_timestamp_loosely(text: str) -> dt.datetime:
    """Parse timestamps in the forms of :func:`parse_date_loosely` (year or day first) with
    ``-`` or ``T``, seconds or fractions optional, and an offset (``Z``, ``+07:00``); without
    an offset the time is Vietnam time."""
    value = text.strip()
    found = next(
        ((m, order) for pattern, order in _LOOSE_TIME_RES if (m := pattern.fullmatch(value))),
        None,
    )
    if found is None:
        raise ValueError(text)
    match, order = found
    groups = match.groups()
    day = _ymd(groups, order)
    hour, minute = int(groups[3] or ""), int(groups[4] or "")
    seconds, zone = groups[5], groups[6]
    tz: dt.tzinfo = VN_TZ
    if zone == "Z":
        tz = dt.UTC
    elif zone:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    moment = dt.datetime(day.year, day.month, day.day, hour, minute, int(seconds or 0), tzinfo=tz)
    return to_vn_time(moment)


def clean_text(value: str) -> str:
    """NFC-normalise and trim text; raise ValueError if XML 1.0 cannot carry it.

    Vietnamese arrives precomposed or decomposed; comparing, signing and searching need one
    form, so every text entering a model goes through here.
    """
    bad = _NOT_XML_CHAR.search(value)
    if bad is not None:
        raise ValueError(f"character U+{ord(bad.group()):04X} cannot appear in XML")
    return unicodedata.normalize("NFC", value).strip()
