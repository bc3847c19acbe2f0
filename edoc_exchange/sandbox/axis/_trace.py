"""The axis's own hop in a delivered message, added at byte level; CRLF line ends.

The national axis appends a TraceHeader of its own to every document it delivers (signed
or not) and delivers CRLF line ends; the local axis does the same so that receivers meet
real messages in tests. It edits bytes instead of re-serialising the message because the
message must stay what the sender wrote, character for character, everywhere but at the
one place the axis writes: a sender's signature then still covers exactly what it
covered, and a receiver's verification treats hops appended after signing (and the
whitespace around them inside TraceHeaderList) as unsigned.

The place is the end tag of ``/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList``. It is
located safely: the message is parsed with the project's rules for untrusted input
(:mod:`edoc_exchange.edxml.untrusted`), there must be exactly one TraceHeaderList there, and
the first ``</…TraceHeaderList>`` in the bytes is taken for its end tag only when it is the
only TraceHeaderList of the message and nothing before it (a CDATA section, a comment, a
processing instruction) could hide markup-like text, in an encoding where ASCII bytes are
ASCII characters. Otherwise the hop is added by an lxml tree edit, which re-serialises. A
message without a TraceHeaderList there (a status message) is delivered as it is.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from xml.sax.saxutils import escape

from lxml import etree

from ...edxml.formats import format_timestamp
from ...edxml.untrusted import PROLOG_WINDOW, find_xml_start, prolog_has_doctype, untrusted_parser

__all__ = ["Hop", "crlf_line_ends", "traced"]

_CHUNK = 1024 * 1024
_END_TAG = re.compile(rb"</(?:([A-Za-z_][A-Za-z0-9_.\-]*):)?TraceHeaderList[ \t\r\n]*>")
_LONE_LF = re.compile(rb"(?<!\r)\n")
_HIDING = (b"<![CDATA[", b"<!--", b"<?")
_PATH = ("edXML", "edXMLEnvelope", "edXMLHeader", "TraceHeaderList")


@dataclass(frozen=True, slots=True)
class Hop:
    """The axis's TraceHeader: its OrganId (None: the element is left out) and the time."""

    organ_id: str | None
    timestamp: dt.datetime

    def xml(self, prefix: str | None) -> str:
        p = f"{prefix}:" if prefix else ""
        organ = (
            f"<{p}OrganId>{escape(self.organ_id)}</{p}OrganId>"
            if self.organ_id is not None
            else ""
        )
        stamp = format_timestamp(self.timestamp)
        return f"<{p}TraceHeader>{organ}<{p}Timestamp>{stamp}</{p}Timestamp></{p}TraceHeader>"


def _file_chunks(handle: BinaryIO, start: int = 0) -> Iterator[bytes]:
    handle.seek(start)
    while chunk := handle.read(_CHUNK):
        yield chunk


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _at_path(element: etree._Element) -> bool:
    node: etree._Element | None = element
    for name in reversed(_PATH):
        if node is None or not isinstance(node.tag, str) or _local(node) != name:
            return False
        node = node.getparent()
    return node is None


def _ascii_compatible(encoding: str | None) -> bool:
    try:
        name = codecs.lookup(encoding or "utf-8").name
    except LookupError:
        return False
    return name in ("utf-8", "ascii") or name.startswith(("iso8859", "cp125", "latin"))


def traced(path: Path, hop: Hop) -> Iterator[bytes]:
    """The bytes of the message in ``path`` with ``hop`` appended to its TraceHeaderList.

    The check parses the message once more (as the reader did when the axis accepted it);
    the bytes are then streamed, holding in memory only the part up to the end tag. Input
    the safe parser refuses is delivered unchanged (the axis accepted it, so it is rare).
    """
    with path.open("rb") as handle:
        head = handle.read(PROLOG_WINDOW)
        found = find_xml_start(head)
        if found is None or prolog_has_doctype(head, found[0]):
            yield from _file_chunks(handle)
            return
        start = found[0]
        handle.seek(start)
        # The reader's settings: an undeclared prefix is a deviation, any other error fatal.
        parser = untrusted_parser(keep_comments=True, recover=True)
        try:
            tree = etree.parse(handle, parser)
        except etree.XMLSyntaxError:
            tree = None
        errors = [
            e
            for e in parser.error_log
            if e.level >= etree.ErrorLevels.ERROR and e.domain != etree.ErrorDomains.NAMESPACE
        ]
        if tree is None or errors or tree.getroot() is None:
            yield from _file_chunks(handle)
            return
        root = tree.getroot()
        every = list(root.iter("{*}TraceHeaderList"))
        places = [e for e in every if _at_path(e)]
        if len(places) != 1:
            yield from _file_chunks(handle)
            return
        target = places[0]
        cut = None
        if len(every) == 1 and _ascii_compatible(tree.docinfo.encoding):
            cut = _find_end_tag(handle, start, target.prefix)
        if cut is None:
            yield _tree_edit(head[:start], tree, target, hop)
            return
        before, offset = cut
        yield before
        yield _insertion(before, hop, target.prefix)
        yield from _file_chunks(handle, offset)


def _find_end_tag(handle: BinaryIO, start: int, prefix: str | None) -> tuple[bytes, int] | None:
    """The bytes before the end tag and its offset, or None when not safely found."""
    handle.seek(0)
    buffer = b""
    while chunk := handle.read(_CHUNK):
        searched = max(0, len(buffer) - 256)  # an end tag may straddle two chunks
        buffer += chunk
        match = _END_TAG.search(buffer, max(start, searched))
        if match is None:
            continue
        body = buffer[start : match.start()]
        declaration = body.find(b"?>") + 2 if body.startswith(b"<?xml") else 0
        if any(marker in body[declaration:] for marker in _HIDING):
            return None
        found_prefix = match.group(1).decode("ascii") if match.group(1) else None
        if found_prefix != prefix:
            return None
        return buffer[: match.start()], match.start()
    return None  # no end tag: <TraceHeaderList/> or something the bytes do not show


def _insertion(before: bytes, hop: Hop, prefix: str | None) -> bytes:
    """The hop, indented like its siblings when the end tag starts its own line."""
    xml = hop.xml(prefix).encode("ascii", "xmlcharrefreplace")
    line_start = before.rfind(b"\n") + 1
    indent = before[line_start:]
    if line_start == 0 or indent.strip(b" \t"):
        return xml
    newline = b"\r\n" if before[line_start - 2 : line_start] == b"\r\n" else b"\n"
    step = b"\t" if b"\t" in indent else b"  "
    return step + xml + newline + indent


def _tree_edit(
    prefix_bytes: bytes, tree: etree._ElementTree, target: etree._Element, hop: Hop
) -> bytes:
    """The fallback: append the hop in the tree and serialise the whole message again."""
    ns = etree.QName(target).namespace

    def tag(name: str) -> str:
        return f"{{{ns}}}{name}" if ns else name

    last = target[-1] if len(target) else None
    header = etree.SubElement(target, tag("TraceHeader"))
    if last is not None and target.text and not target.text.strip():
        # On its own line, indented like the first child.
        header.tail, last.tail = last.tail, target.text
    if hop.organ_id is not None:
        etree.SubElement(header, tag("OrganId")).text = hop.organ_id
    etree.SubElement(header, tag("Timestamp")).text = format_timestamp(hop.timestamp)
    encoding = tree.docinfo.encoding or "UTF-8"
    # Stray bytes before the XML (and a byte-order mark) are kept as they were.
    return prefix_bytes + etree.tostring(tree, encoding=encoding, xml_declaration=True)


def crlf_line_ends(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """``chunks`` with every line feed not already after a carriage return made CRLF.

    XML parsers read CRLF as LF, so what the message says does not change.
    """
    after_cr = False
    for chunk in chunks:
        if not chunk:
            continue
        ends_cr = chunk.endswith(b"\r")
        if after_cr and chunk.startswith(b"\n"):
            # This LF ends the CRLF begun by the previous chunk.
            yield b"\n"
            chunk = chunk[1:]
        yield _LONE_LF.sub(b"\r\n", chunk)
        after_cr = ends_cr
