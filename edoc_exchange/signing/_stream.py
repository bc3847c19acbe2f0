"""Verification of a large message on its file: the same checks, memory of a chunk.

:func:`verify` holds a message many times over (the bytes, the tree, the canonical form,
the decoded attachments): about ten times its size. A message of
``ReadLimits.large_message_bytes`` or more is verified here instead, and never held whole:

1. The file is pre-scanned (:func:`edxml.large.skeletonize`: size bound from the file's
   size, no DOCTYPE, attachment count, plain base64 in every attachment) into a small
   *skeleton*, each attachment's text replaced by an unpredictable placeholder; the skeleton
   is parsed with the reader's safe parser and bounds (:func:`._xml.parse`), and the
   placeholders are checked to stand exactly where attachments' text stands, and nowhere
   else (:func:`edxml.large.check_placeholders`).
2-7. The very checks of :func:`._verify.verify`, by the same functions, on the skeleton:
   one Signature in its place, no comments or PIs, the policy's algorithms, the one
   Reference and its pinned transforms, KeyInfo, the key type, the trace filter (unsigned
   hops bare, read apart, subtracted).
8. signxml verifies SignedInfo's signature with the leaf, as in :func:`verify`, and
   computes the Reference's digest over the canonical skeleton, with one difference: the
   digest is fed by :func:`edxml.large.expand`, which streams each placeholder's text from
   the file in its place. The placeholder and the text it stands for are both plain
   character data, so the canonical bytes hashed are exactly those of the whole message:
   one byte changed in an attachment changes the digest.
9. The model is read from signxml's signed tree, the attachments as
   :class:`edxml.large.LazyAttachment` (decoded in chunks to learn their size and SHA-256,
   bytes not kept).
10-11. Certificate path at the signing time, OrganId permission: as in :func:`verify`.

Then the signed message (the signed content with the Signature put back: what the inbox
keeps) is written to a file beside the input (``workdir``), expanding the placeholders
again, atomically; :class:`LargeVerifiedMessage` names it, with its size and SHA-256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.hashes import Hash
from lxml import etree
from signxml.algorithms import DigestAlgorithm, digest_algorithm_implementations

from ..atomicfile import write_atomically
from ..edxml import (
    DEFAULT_LIMITS,
    EdxmlReadError,
    ReadLimits,
    large,
    read_tree,
)
from . import _xml
from ._errors import InvalidSignature, Rule
from ._evidence import with_signature
from ._policy import TrustPolicy
from ._verify import (
    _PRIVATE,
    VerifiedMessage,
    _crypto_check,
    _inspect,
    _TreeVerifier,
    _trust,
    check_timestamp,
)

__all__ = ["LargeVerifiedMessage", "verify_file"]

#: Pre-scan findings that :func:`verify` reports as malformed input (the others, about
#: attachments, are format errors, as the reader reports them after verification).
_MALFORMED = frozenset({"input-too-large", "input-empty", "not-xml", "doctype-forbidden"})


class LargeVerifiedMessage(VerifiedMessage):
    """A :class:`VerifiedMessage` of a large message, verified on its file.

    Everything :class:`VerifiedMessage` says holds, but the signed content is on disk:
    :attr:`signed_file` is the signed message with its Signature put back (what
    :func:`signing.signed_message` returns for a small one; it verifies again on its own),
    with :attr:`signed_size` and :attr:`signed_sha256`. :attr:`signed_bytes` raises: read
    the file. The message's attachments are :class:`edxml.large.LazyAttachment` over the
    input file, which must exist while they are read. The caller owns the signed file
    (move it into the store, or delete it).
    """

    __slots__ = ("_signed_file", "_signed_sha256", "_signed_size")

    _signed_file: Path
    _signed_size: int
    _signed_sha256: str

    def __init__(
        self,
        token: object,
        *,
        signed_file: Path,
        signed_size: int,
        signed_sha256: str,
        **fields: Any,
    ) -> None:
        if token is not _PRIVATE:
            raise TypeError("only edoc_exchange.signing.verify_file() creates this")
        for name in VerifiedMessage.__slots__:
            object.__setattr__(self, name, fields[name[1:]])
        object.__setattr__(self, "_signed_file", signed_file)
        object.__setattr__(self, "_signed_size", signed_size)
        object.__setattr__(self, "_signed_sha256", signed_sha256)

    @property
    def signed_bytes(self) -> bytes:
        raise TypeError(
            "a large message's signed content is not held in memory: read signed_file"
        )

    @property
    def signed_file(self) -> Path:
        """The signed message with its Signature put back, written by verification."""
        return self._signed_file

    @property
    def signed_size(self) -> int:
        return self._signed_size

    @property
    def signed_sha256(self) -> str:
        return self._signed_sha256


class _FileDigestVerifier(_TreeVerifier):
    """signxml's verifier whose Reference digest expands the skeleton's placeholders."""

    def __init__(self, skeleton: large.Skeleton, handle: BinaryIO) -> None:
        super().__init__()
        self._skeleton = skeleton
        self._handle = handle

    def _get_digest(self, data: bytes, algorithm: DigestAlgorithm) -> bytes:
        token = self._skeleton.token.encode("ascii")
        if data.count(token) != len(self._skeleton.regions):
            # Every attachment is signed content (check_placeholders put each one there).
            raise InvalidSignature(
                Rule.SIGNATURE_STRUCTURE, detail="attachment outside the signed content"
            )
        hasher = Hash(digest_algorithm_implementations[algorithm]())
        for piece in large.expand(self._skeleton, data, self._handle):
            hasher.update(piece)
        return hasher.finalize()


def verify_file(
    path: str | os.PathLike[str],
    policy: TrustPolicy,
    *,
    limits: ReadLimits = DEFAULT_LIMITS,
    now: dt.datetime | None = None,
    workdir: str | os.PathLike[str] | None = None,
) -> LargeVerifiedMessage:
    """Verify a signed edXML message file under ``policy``, without holding it in memory.

    Raises exactly what :func:`verify` raises for the same message (a
    :class:`SignatureError` naming the rule, or an :class:`EdxmlReadError` for signed
    content that is not acceptable), plus :class:`EdxmlReadError` for an attachment whose
    text is not plain base64 (``bad-base64``; the in-memory reader also takes character
    references there) and ``OSError`` when a file cannot be read or written. On success the
    signed message is in ``LargeVerifiedMessage.signed_file`` (in ``workdir``, default the
    input's folder); on failure nothing is left there.
    """
    now = now or dt.datetime.now(dt.UTC)
    source = Path(path)
    # 1. Pre-scan and parse the skeleton with the reader's bounds.
    try:
        skeleton = large.skeletonize(source, limits)
    except EdxmlReadError as exc:
        first = exc.findings[0] if exc.findings else None
        if first is not None and first.code in _MALFORMED:
            raise InvalidSignature(Rule.MALFORMED, detail=first.en) from None
        raise
    try:
        root = _xml.parse(skeleton.data, limits)
    except _xml.UnsafeXmlError as exc:
        raise InvalidSignature(Rule.MALFORMED, detail=exc.reason) from None
    large.check_placeholders(skeleton, root, etree.tostring(root))

    # 2-7. The Signature, where and what it must be: the very checks of :func:`verify`.
    seen = _inspect(root, policy)

    # 8. Cryptography (signxml), the digest streamed over the file.
    with source.open("rb") as handle:
        result = _crypto_check(root, seen.leaf, policy, _FileDigestVerifier(skeleton, handle))
    del root
    signed_skeleton: bytes = result.signed_data
    signed_xml = result.signed_xml
    del result
    stamp = check_timestamp(seen, policy)  # 8b. The signature's timestamp, if any.
    if signed_xml is None:  # pragma: no cover - URI="" always yields XML
        raise InvalidSignature(Rule.DIGEST, detail="signed data is not XML")

    # 9. The model from the signed XML only; attachments stay in the file.
    read_result = read_tree(signed_xml, limits=limits, lazy=large.lazy_files(skeleton))
    del signed_xml
    message = read_result.message

    # 10-11. Certificate path at the signing time, and who may sign for the sender.
    carried, at, chain, revocation = _trust(message, seen, policy, now)

    # The signed message, Signature put back, to a file beside the input.
    folder = Path(workdir) if workdir is not None else source.parent
    target = folder / f".{source.name}.{skeleton.token[-12:]}.signed.edxml"
    counted = _Counted(_signed_chunks(skeleton, signed_skeleton, seen.signature_xml))
    write_atomically(target, counted)

    return LargeVerifiedMessage(
        _PRIVATE,
        signed_file=target,
        signed_size=counted.size,
        signed_sha256=counted.digest.hexdigest(),
        message=message,
        signed_bytes=b"",
        signature_xml=seen.signature_xml,
        certificate=seen.leaf,
        chain=chain,
        signature_algorithm=seen.signature_algorithm,
        digest_algorithm=seen.digest_algorithm,
        signing_time=carried,
        timestamp_verdict=stamp,
        checked_at=at,
        unsigned_trace=seen.unsigned,
        warnings=(*skeleton.findings, *read_result.warnings, *seen.hop_findings),
        revocation=revocation,
    )


def _signed_chunks(
    skeleton: large.Skeleton, signed_skeleton: bytes, signature_xml: bytes
) -> Iterator[bytes]:
    """The signed message with its Signature back (as :func:`signed_message` builds it for
    a small one), placeholders expanded from the input file."""
    data = with_signature(signed_skeleton, signature_xml)
    with skeleton.path.open("rb") as handle:
        yield from large.expand(skeleton, data, handle)


class _Counted:
    """Chunks passed through, counted and hashed."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.size = 0
        self.digest = hashlib.sha256()

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.size += len(chunk)
            self.digest.update(chunk)
            yield chunk
