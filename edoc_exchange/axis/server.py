"""The server side of the protocol: what a server checks, by the rules the client follows.

The client (:mod:`._protocol`) and a server of the same protocol (the local axis of
:mod:`edoc_exchange.sandbox`) share one statement of the wire (:mod:`._wire`) and of the
HMAC header authentication (:mod:`._auth`), so the two cannot drift apart. This module is
that statement's public face for a server.
"""

from __future__ import annotations

from ._auth import AuthFailure, CallRefused, ParameterConflict, SignedCall, verify_headers
from ._wire import (
    READ_ONLY_OPERATIONS,
    SEND_TRAILER,
    BodyDigest,
    HashStyle,
    expected_forms,
    match_hash_file,
)

__all__ = [
    "READ_ONLY_OPERATIONS",
    "SEND_TRAILER",
    "AuthFailure",
    "BodyDigest",
    "CallRefused",
    "HashStyle",
    "ParameterConflict",
    "SignedCall",
    "expected_forms",
    "match_hash_file",
    "verify_headers",
]
