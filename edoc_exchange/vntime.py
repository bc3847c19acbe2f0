"""Vietnam time and the timestamp texts of the exchange: one statement for every layer.

Like :mod:`edoc_exchange.errors`, a module every layer may import (it imports nothing from
the package): the format (edXML), the protocol (axis), the store and the reports all need
Vietnam time, and each kept its own copy before.
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = [
    "VN_TZ",
    "as_utc",
    "format_timestamp",
    "parse_timestamp",
    "to_vn_time",
]

#: Vietnam has used UTC+7 without daylight saving since 1975.
VN_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")

_TIMESTAMP_RE = re.compile(r"([0-9]{4})/([0-9]{2})/([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")


def to_vn_time(value: dt.datetime) -> dt.datetime:
    """Bring a time to Vietnam time at whole seconds; a naive time is taken as Vietnam time."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=VN_TZ)
    return value.astimezone(VN_TZ).replace(microsecond=0)


def as_utc(value: dt.datetime) -> dt.datetime:
    """A stored time as an aware datetime: SQLite returns the UTC it stored without a zone."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def format_timestamp(value: dt.datetime) -> str:
    """Write a time as the exchange does, ``yyyy/MM/dd HH:mm:ss`` in Vietnam time.

    A naive time is taken as Vietnam time (:func:`to_vn_time`); pass a time read from SQLite
    through :func:`as_utc` first.
    """
    v = to_vn_time(value)
    return f"{v.year:04d}/{v.month:02d}/{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}"


def parse_timestamp(text: str) -> dt.datetime:
    """Parse ``yyyy/MM/dd HH:mm:ss`` as Vietnam time; raise ValueError otherwise."""
    match = _TIMESTAMP_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError(text)
    y, mo, d, h, mi, s = (int(g) for g in match.groups())
    return dt.datetime(y, mo, d, h, mi, s, tzinfo=VN_TZ)
