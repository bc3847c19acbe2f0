"""What the official SDK puts on the wire, written once for both ends of a call.

The client (:mod:`._protocol`) builds requests from these facts and the local axis
(:mod:`.local`) checks requests against them, so the two cannot drift apart. The facts come
from ``shared/spec/axis-sdk-wire.md`` (requests of SDKVXP 2.0.1 captured on the wire):

- a send is the raw .edxml as ``application/octet-stream`` followed by ``\\r\\n``
  (:data:`SEND_TRAILER`), not multipart;
- ``hash-file`` is the SHA-256 of the file (without that trailer) written byte by byte with
  Java's ``Integer.toHexString(0xFF & b)``: a byte below 0x10 loses its leading zero, so the
  text is usually shorter than 64 characters (:func:`hash_file_forms`);
- counts are POST with the body ``{}``; getEdoc and updateStatus send ``{}`` too; the list,
  sent and agencies calls send an empty body.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

__all__ = [
    "JSON_BODY",
    "JSON_CONTENT_TYPE",
    "READ_ONLY_OPERATIONS",
    "SEND_CONTENT_TYPE",
    "SEND_TRAILER",
    "BodyDigest",
    "HashStyle",
    "KeptFile",
    "expected_forms",
    "hash_file",
    "hash_file_forms",
    "match_hash_file",
]

#: The SDK writes this after the file in a send's body; it is framing, not file content.
SEND_TRAILER = b"\r\n"
SEND_CONTENT_TYPE = "application/octet-stream"
JSON_CONTENT_TYPE = "application/json"
#: The body the SDK sends to getEdoc, updateStatus and the counts.
JSON_BODY = b"{}"

#: Operations that change nothing on the axis: a parameter whose case-variants disagree
#: may be resolved there (see :meth:`._auth.SignedCall.param`); elsewhere it is refused.
READ_ONLY_OPERATIONS = frozenset(
    {
        "getReceivedEdocList",
        "getEdoc",
        "getSentEdocList",
        "countReceiveEdoc",
        "countReceiveStatus",
        "getAgenciesList",
    }
)


class HashStyle(enum.StrEnum):
    """How ``hash-file`` writes the SHA-256."""

    SDK = "sdk"  #: byte by byte without leading zeros (what the official SDK sends)
    HEX = "hex"  #: the standard 64 lowercase hex characters


def hash_file_forms(digest: bytes) -> dict[HashStyle, str]:
    """Both texts a ``hash-file`` may carry for a SHA-256 ``digest`` (32 bytes).

    The one function that knows the forms: the client writes one of them, the local axis
    accepts either.
    """
    return {
        HashStyle.HEX: digest.hex(),
        HashStyle.SDK: "".join(format(b, "x") for b in digest),
    }


def hash_file(digest: bytes, style: HashStyle) -> str:
    """The ``hash-file`` text of ``digest`` in ``style``."""
    return hash_file_forms(digest)[style]


class BodyDigest:
    """SHA-256 of a send's body while it streams, with and without a final ``\\r\\n``.

    The last two bytes are held back from the running hash, so at the end both candidates
    (the whole body, and the body without the SDK's trailer) are known without reading the
    body twice.
    """

    def __init__(self) -> None:
        self._head = hashlib.sha256()
        self._tail = b""
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if len(chunk) >= len(SEND_TRAILER):
            self._head.update(self._tail)
            self._head.update(memoryview(chunk)[: -len(SEND_TRAILER)])
            self._tail = chunk[-len(SEND_TRAILER) :]
        else:
            joined = self._tail + chunk
            cut = max(0, len(joined) - len(SEND_TRAILER))
            self._head.update(joined[:cut])
            self._tail = joined[cut:]

    def whole(self) -> bytes:
        """SHA-256 of every byte received."""
        digest = self._head.copy()
        digest.update(self._tail)
        return digest.digest()

    def without_trailer(self) -> bytes | None:
        """SHA-256 of the body without its final ``\\r\\n``; None if it does not end so."""
        return self._head.digest() if self._tail == SEND_TRAILER else None


@dataclass(frozen=True, slots=True)
class KeptFile:
    """What of a send's body is the file: its length and its SHA-256 (standard hex)."""

    size: int
    sha256: str


def match_hash_file(given: str, body: BodyDigest, *, framed: bool) -> KeptFile | None:
    """Which bytes the ``hash-file`` text ``given`` describes, or None when it fits neither.

    ``framed`` is true for a raw body, where the SDK appends :data:`SEND_TRAILER`: a body
    ending in ``\\r\\n`` is then the file without those two bytes if ``given`` is the hash
    of that, and the whole body (a file that itself ends in CRLF) if ``given`` is the hash
    of everything. Either form of :func:`hash_file_forms` is accepted.
    """
    wanted = given.strip().lower()
    candidates: list[tuple[int, bytes]] = []
    if framed and (trimmed := body.without_trailer()) is not None:
        candidates.append((body.size - len(SEND_TRAILER), trimmed))
    candidates.append((body.size, body.whole()))
    for size, digest in candidates:
        if wanted in hash_file_forms(digest).values():
            return KeptFile(size, digest.hex())
    return None


def expected_forms(body: BodyDigest, *, framed: bool) -> dict[HashStyle, str]:
    """The forms a sender should have written: of the file without the SDK's trailer when
    the body is framed and ends in ``\\r\\n``, else of the whole body (for error texts)."""
    trimmed = body.without_trailer() if framed else None
    return hash_file_forms(trimmed if trimmed is not None else body.whole())
