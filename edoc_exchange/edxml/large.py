"""Large messages on their file: the envelope in memory, the attachments' base64 on disk.

A message of ``ReadLimits.large_message_bytes`` or more is never read whole. A pre-scan
(:func:`skeletonize`) reads the file in chunks, follows its markup (tags, comments, CDATA,
processing instructions; a DOCTYPE is refused) and cuts the text of every
``ContentTransferEncoded`` element out, leaving in its place a *placeholder*: a token of
32 random hex digits drawn for this scan, and the attachment's number. What is left, the
*skeleton*, holds the envelope and is small; it is parsed with the same safe parser and
bounds as any message. The cut text stays in the file as a :class:`Region` (its offsets).

Why a placeholder is safe: the cut text may hold only base64 characters and whitespace
(anything else, an entity reference or CDATA say, is refused as ``bad-base64``), and the
placeholder only letters and digits, so the parser tokenises the skeleton exactly as it
would the file; the token is unpredictable, so no sender can write it elsewhere. Whoever
uses a skeleton must check, on the parsed tree, that every placeholder is the whole text of
an edXML ``/edXML/AttachmentEncoded/Attachment/ContentTransferEncoded`` and that the token
occurs nowhere else (:func:`check_placeholders`); then expanding each placeholder back into
its region's text (:func:`expand`, line ends normalised as the parser does) gives exactly
the file's content, for a digest or a copy.

:class:`LazyFile` describes a region's decoded bytes (size, SHA-256, or why it is not base64)
without keeping them; :class:`LazyAttachment` is an :class:`~.models.Attachment` whose bytes
stay in the file (``data`` is empty; ``size``, ``sha256`` and ``copy_to`` read the file).
:func:`extract_file` writes the attachments of a large message into a folder, decoding in
chunks.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from pydantic import PrivateAttr

from ..atomicfile import write_atomically
from ..b64stream import Base64Stream
from .errors import EdxmlReadError
from .findings import Finding, Severity, make_finding
from .limits import DEFAULT_LIMITS, ReadLimits
from .models import AttachedFile, Attachment
from .spec import NS
from .untrusted import PROLOG_WINDOW, find_xml_start, prolog_has_doctype

if TYPE_CHECKING:
    from .reader import ReadResult

__all__ = [
    "Base64Decoder",
    "LazyAttachment",
    "LazyFile",
    "Region",
    "Skeleton",
    "check_placeholders",
    "decode_region",
    "expand",
    "extract_file",
    "read_file_lazily",
    "region_text",
    "skeletonize",
]

_CHUNK = 1024 * 1024
#: Longest markup (a tag, comment, CDATA section, PI) the pre-scan follows: no edXML
#: message has a longer one, and a bound keeps the scan linear.
_MARKUP_MAX = 1024 * 1024
_CTE = b"ContentTransferEncoded"
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/=\s]")
_TAG = re.compile(rb"<[^>\"']*(?:(?:\"[^\"]*\"|'[^']*')[^>\"']*)*>")
_NAME = re.compile(rb"</?\s*([^\s/>]+)")
_END_CTE = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?ContentTransferEncoded\s*>")
_ATTACHMENT_CTE = (
    f"{{{NS}}}edXML",
    f"{{{NS}}}AttachmentEncoded",
    f"{{{NS}}}Attachment",
    f"{{{NS}}}ContentTransferEncoded",
)


@dataclass(frozen=True, slots=True)
class Region:
    """The text of one ContentTransferEncoded, as byte offsets in the file."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Skeleton:
    """A large message without its attachments' text: what :func:`skeletonize` returns."""

    path: Path
    data: bytes
    regions: tuple[Region, ...]
    token: str
    #: Warnings of the pre-scan (stray bytes before the declaration).
    findings: tuple[Finding, ...] = ()

    def placeholder(self, index: int) -> str:
        """The text standing for region ``index`` in the skeleton."""
        return f"{self.token}N{index}Z"

    @property
    def placeholders(self) -> dict[str, Region]:
        return {self.placeholder(i): r for i, r in enumerate(self.regions)}


def _fatal(code: str, path: str = "/", line: int | None = None, **params: object) -> EdxmlReadError:
    return EdxmlReadError([make_finding(code, Severity.ERROR, path, line, **params)])


def skeletonize(
    path: str | os.PathLike[str], limits: ReadLimits = DEFAULT_LIMITS, *, strict: bool = False
) -> Skeleton:
    """Pre-scan a message file: the skeleton and the regions of its attachments' text.

    Checks, before anything is parsed: the size bound (from the file's size), the prolog
    (no DOCTYPE anywhere: a ``<!`` declaration in the body is refused too), the number of
    attachments, and that each attachment's text is plain base64 and whitespace. Raises
    :class:`EdxmlReadError` naming the limit or the problem; ``OSError`` when the file
    cannot be read. Memory: the skeleton and one chunk.
    """
    file_path = Path(path)
    with file_path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limits.max_bytes:
            raise _fatal("input-too-large", size=size, limit=limits.max_bytes)
        head = handle.read(PROLOG_WINDOW)
        if size == 0 or not head.strip():
            raise _fatal("input-empty")
        found = find_xml_start(head)
        if found is None:
            raise _fatal("not-xml", line=1)
        start, stray = found
        findings: list[Finding] = []
        if stray:
            severity = Severity.ERROR if strict else Severity.WARNING
            findings.append(make_finding("stray-bytes", severity, "/", 1, count=stray))
            if strict:
                raise EdxmlReadError(findings)
        if prolog_has_doctype(head, start):
            raise _fatal("doctype-forbidden", line=1)
        handle.seek(start)
        scan = _Scan(handle, start, limits, secrets.token_hex(16))
        scan.run()
    return Skeleton(
        file_path,
        bytes(scan.out),
        tuple(scan.regions),
        f"EDOCLAZY{scan.token}",
        tuple(findings),
    )


class _Scan:
    """The pre-scan's state: a buffer of unread bytes and where it starts in the file."""

    def __init__(self, handle: BinaryIO, offset: int, limits: ReadLimits, token: str) -> None:
        self.handle = handle
        self.buf = b""
        self.base = offset  # file offset of buf[0]
        self.eof = False
        self.limits = limits
        self.token = token
        self.out = bytearray()
        self.regions: list[Region] = []

    def more(self) -> bool:
        if self.eof:
            return False
        chunk = self.handle.read(_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def drop(self, upto: int) -> None:
        self.buf = self.buf[upto:]
        self.base += upto

    def run(self) -> None:
        self.more()
        while True:
            lt = self.buf.find(b"<")
            if lt < 0:
                self.out += self.buf
                self.drop(len(self.buf))
                if not self.more():
                    return
                continue
            self.out += self.buf[:lt]
            self.drop(lt)
            end = self._markup_end()
            if end is None:  # cut off: the parser will say what is wrong
                self.out += self.buf
                return
            markup = self.buf[:end]
            self.out += markup
            self.drop(end)
            if self._opens_cte(markup):
                self._take_text()

    def _markup_end(self) -> int | None:
        """The end of the markup at the start of the buffer (reading more as needed)."""
        while True:
            buf = self.buf
            for opening, closing in ((b"<!--", b"-->"), (b"<![CDATA[", b"]]>"), (b"<?", b"?>")):
                if buf.startswith(opening):
                    at = buf.find(closing, len(opening))
                    if at >= 0:
                        return at + len(closing)
                    break
            else:
                if buf.startswith(b"<!") and len(buf) >= 9:
                    raise _fatal("doctype-forbidden")
                match = _TAG.match(buf)
                if match is not None:
                    return match.end()
            if len(buf) > _MARKUP_MAX:
                raise _fatal("xml-syntax", detail=f"markup longer than {_MARKUP_MAX} bytes")
            if not self.more():
                return None

    @staticmethod
    def _opens_cte(markup: bytes) -> bool:
        if markup.startswith((b"</", b"<!", b"<?")) or markup.endswith(b"/>"):
            return False
        name = _NAME.match(markup)
        return name is not None and name.group(1).rpartition(b":")[2] == _CTE

    def _take_text(self) -> None:
        """Cut the text of a ContentTransferEncoded just opened; leave a placeholder."""
        if len(self.regions) >= self.limits.max_attachments:
            raise _fatal(
                "too-many-attachments",
                "/edXML/AttachmentEncoded",
                count=f"{len(self.regions) + 1}+",
                limit=self.limits.max_attachments,
            )
        start = self.base
        while True:
            lt = self.buf.find(b"<")
            text = self.buf if lt < 0 else self.buf[:lt]
            bad = _NOT_BASE64.search(text)
            if bad is not None:
                raise _fatal(
                    "bad-base64",
                    "/edXML/AttachmentEncoded/Attachment/ContentTransferEncoded",
                    detail=f"byte {bad.group()!r} at offset {self.base + bad.start()}",
                )
            if lt >= 0:
                self.drop(lt)
                break
            self.drop(len(self.buf))
            if not self.more():
                break
        while len(self.buf) < 64 and self.more():
            pass
        if self.buf and not _END_CTE.match(self.buf):
            raise _fatal(
                "bad-base64",
                "/edXML/AttachmentEncoded/Attachment/ContentTransferEncoded",
                detail="markup inside the base64 text (only base64 and line breaks are read "
                "on a large message)",
            )
        self.out += f"EDOCLAZY{self.token}N{len(self.regions)}Z".encode("ascii")
        self.regions.append(Region(start, self.base))


def check_placeholders(skeleton: Skeleton, root: object, serialized: bytes) -> None:
    """Check that each placeholder stands where an attachment's text stands, and alone.

    ``root`` is the parsed skeleton (an lxml element), ``serialized`` any serialisation of
    it. Raises :class:`EdxmlReadError` (``bad-base64``) when the pre-scan and the parser
    disagree about where an attachment's text is: never for a message our writer or the
    SDK wrote.
    """
    from lxml import etree

    assert isinstance(root, etree._Element)
    wanted = skeleton.placeholders
    seen: set[str] = set()
    for el in root.iter(_ATTACHMENT_CTE[-1]):
        chain = [el.tag, *(a.tag for a in el.iterancestors())]
        text = el.text or ""
        if text in wanted and tuple(reversed(chain)) == _ATTACHMENT_CTE and len(el) == 0:
            seen.add(text)
    occurrences = serialized.count(skeleton.token.encode("ascii"))
    if seen != set(wanted) or occurrences != len(wanted):
        raise _fatal(
            "bad-base64",
            "/edXML/AttachmentEncoded",
            detail="an attachment's text is not where the message's structure puts it",
        )


def region_text(path: Path, region: Region, handle: BinaryIO | None = None) -> Iterator[bytes]:
    """The region's text as the parser reads it: CRLF and lone CR become LF, in chunks."""
    own = handle is None
    handle = path.open("rb") if handle is None else handle
    try:
        handle.seek(region.start)
        left = region.length
        carry = False
        while left > 0:
            chunk = handle.read(min(_CHUNK, left))
            if not chunk:
                raise OSError(f"{path} is shorter than it was when scanned")
            left -= len(chunk)
            if carry:
                chunk = b"\r" + chunk
                carry = False
            if left > 0 and chunk.endswith(b"\r"):
                chunk = chunk[:-1]
                carry = True
            yield chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if carry:
            yield b"\n"
    finally:
        if own:
            handle.close()




#: Strict base64 of text fed in pieces (errors are ValueErrors naming where).
Base64Decoder = Base64Stream


@dataclass(frozen=True, slots=True)
class LazyFile:
    """The decoded bytes of one region, described, not held: size and SHA-256, or ``error``
    (why the text is not base64)."""

    path: Path
    region: Region
    size: int = 0
    sha256: str = ""
    error: str | None = None

    def chunks(self) -> Iterator[bytes]:
        """The decoded bytes, in chunks (the file is read again)."""
        sink = _Chunks()
        decoder = Base64Decoder(sink)
        for text in region_text(self.path, self.region):
            decoder.feed(text)
            yield from sink.take()
        decoder.finish()
        yield from sink.take()

    def read_bytes(self) -> bytes:
        """The decoded bytes in memory (for a small or a zipped attachment)."""
        return b"".join(self.chunks())


class _Chunks:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(data)
        return len(data)

    def take(self) -> list[bytes]:
        parts, self.parts = self.parts, []
        return parts


def decode_region(path: Path, region: Region, handle: BinaryIO | None = None) -> LazyFile:
    """Decode a region without keeping the bytes: its :class:`LazyFile`."""
    decoder = Base64Decoder()
    try:
        for text in region_text(path, region, handle):
            decoder.feed(text)
        decoder.finish()
    except ValueError as exc:
        return LazyFile(path, region, error=str(exc))
    return LazyFile(path, region, decoder.size, decoder.sha256)


class LazyAttachment(Attachment):
    """An attachment of a large message whose bytes stay in the message's file.

    ``data`` is empty; :attr:`size`, :attr:`sha256` describe the decoded bytes;
    :meth:`copy_to` writes them to a file in chunks and :attr:`file` reads them into memory
    (what a clerk's tool asks for). The message's file must still exist.
    """

    _lazy: LazyFile | None = PrivateAttr(default=None)

    def bind(self, lazy: LazyFile) -> LazyAttachment:
        self._lazy = lazy
        return self

    @property
    def source(self) -> LazyFile:
        assert self._lazy is not None, "a LazyAttachment is made by the reader"
        return self._lazy

    @property
    def size(self) -> int:
        return self.source.size

    @property
    def sha256(self) -> str:
        return self.source.sha256

    @property
    def file(self) -> AttachedFile:
        return AttachedFile(self.name, self.content_type, self.source.read_bytes())

    def copy_to(self, target: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
        """Write the decoded bytes to ``target`` (atomically, in chunks)."""
        return write_atomically(target, self.source.chunks(), overwrite=overwrite)


def expand(
    skeleton: Skeleton, data: bytes, handle: BinaryIO | None = None
) -> Iterator[bytes]:
    """``data`` (a serialisation of the skeleton, or of part of it) with each placeholder
    replaced by its region's text: the bytes the whole file would give, in chunks."""
    pattern = re.compile(re.escape(skeleton.token.encode("ascii")) + rb"N(\d+)Z")
    pos = 0
    for match in pattern.finditer(data):
        yield data[pos : match.start()]
        index = int(match.group(1))
        if index >= len(skeleton.regions):
            raise ValueError("unknown placeholder")
        yield from region_text(skeleton.path, skeleton.regions[index], handle)
        pos = match.end()
    yield data[pos:]


def lazy_files(skeleton: Skeleton) -> Mapping[str, LazyFile]:
    """Every placeholder's :class:`LazyFile` (each region decoded once, bytes not kept)."""
    with skeleton.path.open("rb") as handle:
        return {
            skeleton.placeholder(i): decode_region(skeleton.path, r, handle)
            for i, r in enumerate(skeleton.regions)
        }


def read_file_lazily(
    path: str | os.PathLike[str],
    *,
    strict: bool = False,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> ReadResult:
    """:func:`~.reader.read_file` for a large message: the same model and findings, the
    attachments as :class:`LazyAttachment` (their bytes stay in the file, each decoded
    once in chunks to learn its size and SHA-256). Memory: the skeleton and a chunk.

    Raises :class:`EdxmlReadError` as the reader does, plus ``bad-base64`` for markup in
    an attachment's text, and ``OSError`` when the file cannot be read.
    """
    from lxml import etree

    from .reader import ReadResult, read_tree
    from .untrusted import untrusted_parser

    skeleton = skeletonize(path, limits, strict=strict)
    try:
        root = etree.fromstring(skeleton.data, untrusted_parser())
    except etree.XMLSyntaxError as exc:
        raise _fatal("xml-syntax", line=exc.lineno, detail=str(exc)) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise _fatal("doctype-forbidden", line=1)
    check_placeholders(skeleton, root, etree.tostring(root))
    result = read_tree(root, strict=strict, limits=limits, lazy=lazy_files(skeleton))
    if skeleton.findings:
        return ReadResult(result.message, (*skeleton.findings, *result.warnings))
    return result


def extract_file(
    path: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    *,
    limits: ReadLimits = DEFAULT_LIMITS,
    overwrite: bool = False,
) -> list[Path]:
    """Write the attachments of a large message file into ``folder``, decoding in chunks.

    The message is read as :func:`~.reader.read_tree` reads any (names checked, manifest
    cross-checked) from its skeleton; each file is written atomically under the
    attachment's name (a zipped one as the SDK's parser hands it out). Raises
    :class:`EdxmlReadError` for a message that is not acceptable, FileExistsError when a
    file is there already and ``overwrite`` is false. Memory: the skeleton and a chunk
    (a zipped attachment is unpacked in memory).
    """
    message = read_file_lazily(path, limits=limits).message
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for att in getattr(message, "attachments", []):
        target = out / att.name
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target} already exists")
        if isinstance(att, LazyAttachment):
            written.append(att.copy_to(target, overwrite=overwrite))
        else:
            written.append(write_atomically(target, att.file.data, overwrite=overwrite))
    return written
