"""Talking to the national document interconnection axis (and to the local one).

:class:`AxisClient` / :class:`AsyncAxisClient` speak the protocol of
``shared/spec/axis-protocol.md`` exactly as the official SDK puts it on the wire
(``shared/spec/axis-sdk-wire.md``), with HMAC header authentication, a timeout on every
call and bounded retries of transient failures. They know bytes and JSON, not edXML models:
the caller says who sends (``sender``) and what (``message_type``). The local axis
(:mod:`edoc_exchange.sandbox.axis`) serves the same protocol for demos, tests and training;
both ends share one implementation of signing, checking and the wire's forms (``_auth``,
``_wire``).
"""

from __future__ import annotations

from ._auth import TimestampStyle, format_sdk_timestamp, parse_sdk_timestamp, sign_headers
from ._client import AsyncAxisClient, AxisClient
from ._errors import (
    AxisAuthError,
    AxisConnectionError,
    AxisError,
    AxisNotFound,
    AxisProtocolError,
    AxisRateLimited,
    AxisRejected,
    AxisServerError,
    AxisSettingsError,
    AxisTimeout,
    AxisTransientError,
    AxisValidationError,
)
from ._models import (
    AckStatus,
    Agency,
    MessageType,
    ReceivedItem,
    RecipientStatus,
    SendResult,
    TraceRecord,
)
from ._protocol import FetchedFile, Progress, Upload
from ._settings import AxisSettings

__all__ = [
    "AckStatus",
    "Agency",
    "AsyncAxisClient",
    "AxisAuthError",
    "AxisClient",
    "AxisConnectionError",
    "AxisError",
    "AxisNotFound",
    "AxisProtocolError",
    "AxisRateLimited",
    "AxisRejected",
    "AxisServerError",
    "AxisSettings",
    "AxisSettingsError",
    "AxisTimeout",
    "AxisTransientError",
    "AxisValidationError",
    "FetchedFile",
    "MessageType",
    "Progress",
    "ReceivedItem",
    "RecipientStatus",
    "SendResult",
    "TimestampStyle",
    "TraceRecord",
    "Upload",
    "format_sdk_timestamp",
    "parse_sdk_timestamp",
    "sign_headers",
]
