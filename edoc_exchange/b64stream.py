"""Strict base64 decoding of text that arrives in pieces, without holding it whole.

The axis's answer carries a message as base64 (fetched to a file) and a large message
carries its attachments as base64 (read from the file): both are decoded here, a batch
of about 1 MiB at a time, so neither is ever in memory whole. A neutral module: it imports
nothing from the package, so ``axis`` and ``edxml`` (which may not import each other)
share it.
"""

from __future__ import annotations

import binascii
import hashlib
from typing import Protocol

__all__ = ["Base64Stream", "Base64StreamError"]

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_SPACE = b" \t\r\n"
_BATCH = 1024 * 1024  # base64 characters decoded at once (a multiple of 4)


class _Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


class Base64StreamError(ValueError):
    """The text is not strict base64: the message says where and why."""


class Base64Stream:
    """Decodes base64 fed in pieces of any size, strictly, into ``out`` (if any).

    Whitespace (line breaks peers wrap base64 in) is skipped; any other character outside
    the alphabet, data after the padding, a length that is not a multiple of four at the
    end, or more than ``max_bytes`` decoded bytes raises :class:`Base64StreamError`
    naming the offset. The decoded bytes are counted (``size``) and hashed (``sha256``).
    """

    def __init__(self, out: _Writable | None = None, *, max_bytes: int | None = None) -> None:
        self._out = out
        self._max = max_bytes
        self._pending = bytearray()
        self._seen = 0  # base64 characters consumed before _pending
        self._padded = False
        self.size = 0
        self._digest = hashlib.sha256()

    def feed(self, text: bytes) -> None:
        compact = text.translate(None, _SPACE)
        if not compact:
            return
        if self._padded:
            raise Base64StreamError(f"base64 goes on after its padding (offset {self._seen})")
        self._pending += compact
        if len(self._pending) >= _BATCH:
            self._decode(len(self._pending) // 4 * 4)

    def _decode(self, cut: int) -> None:
        piece = bytes(self._pending[:cut])
        try:
            data = binascii.a2b_base64(piece, strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            bad = next((i for i, b in enumerate(piece) if b not in _ALPHABET), None)
            where = self._seen + (bad if bad is not None else 0)
            raise Base64StreamError(f"invalid base64 near offset {where}: {exc}") from None
        self._padded = piece.endswith(b"=")
        del self._pending[:cut]
        self._seen += cut
        self.size += len(data)
        if self._max is not None and self.size > self._max:
            raise Base64StreamError(f"the message is larger than the limit of {self._max} bytes")
        self._digest.update(data)
        if self._out is not None:
            self._out.write(data)

    def finish(self) -> None:
        """Decode what is left; raises for a cut-off (truncated) base64 text."""
        if len(self._pending) % 4:
            raise Base64StreamError(
                f"base64 ends after {self._seen + len(self._pending)} characters, not a "
                "multiple of 4: the text was cut off"
            )
        if self._pending:
            self._decode(len(self._pending))

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()
