"""Parsing untrusted bytes for signing and verification, with the edxml reader's bounds.

The reader's safety settings (size bound, no DOCTYPE, no entities, no network, bounded
tags and depth) are repeated here because the reader builds a model while signing needs the
tree itself; the bounds come from the same :class:`~edoc_exchange.edxml.ReadLimits`.
Unlike the reader, comments and processing instructions are kept: verification refuses
them, signing strips them.
"""

from __future__ import annotations

from lxml import etree

from ..edxml import DEFAULT_LIMITS, DSIG_NS, NS, ReadLimits

__all__ = ["UnsafeXmlError", "dsig", "edxml", "local", "parse", "parser", "serialize",
           "skip_stray_bytes"]

_BOM = b"\xef\xbb\xbf"
_PROLOG_WINDOW = 64 * 1024
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


class UnsafeXmlError(Exception):
    """The bytes are not safe, well-formed XML; ``reason`` says why (English)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parser() -> etree.XMLParser:
    """The parser for untrusted input: no DTD, no entities, no network, large text allowed.

    ``huge_tree`` is needed for attachments (one base64 text node can exceed libxml2's
    10 MB default); the size, tag and depth bounds are checked by :func:`parse` instead.
    """
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=True,
        remove_comments=False,
        remove_pis=False,
        collect_ids=False,
    )


def _has_doctype(data: bytes) -> bool:
    """Whether the prolog declares a DOCTYPE (or holds anything unexpected before the root)."""
    head = data[:_PROLOG_WINDOW]
    pos = len(_BOM) if head.startswith(_BOM) else 0
    while True:
        while pos < len(head) and head[pos] in b" \t\r\n":
            pos += 1
        if head.startswith(b"<?", pos):
            end = head.find(b"?>", pos)
        elif head.startswith(b"<!--", pos):
            end = head.find(b"-->", pos)
        elif head.startswith(b"<!", pos):
            return True
        else:
            return pos >= len(head)
        if end < 0:
            return True
        pos = end + 2


def skip_stray_bytes(data: bytes) -> bytes:
    """Drop bytes before the XML declaration, as the lenient reader does ("1212<?xml").

    They are outside any element, so outside what a signature covers and what is read.
    """
    start = len(_BOM) if data.startswith(_BOM) else 0
    if data.startswith(b"<", start):
        return data
    found = data.find(b"<?xml", start, _PROLOG_WINDOW)
    return data[found:] if found > 0 else data


def parse(data: bytes, limits: ReadLimits = DEFAULT_LIMITS) -> etree._Element:
    """Parse untrusted bytes into a tree, or raise :class:`UnsafeXmlError`.

    Checks size, DOCTYPE and tag count before parsing (as the edxml reader does).
    """
    if not data.strip():
        raise UnsafeXmlError("empty input")
    if len(data) > limits.max_bytes:
        raise UnsafeXmlError(f"{len(data)} bytes, more than the limit of {limits.max_bytes}")
    data = skip_stray_bytes(data)
    if _has_doctype(data):
        raise UnsafeXmlError("a DOCTYPE is not allowed")
    if data.count(b"<") > limits.max_tags:  # over-counts, as the reader does
        raise UnsafeXmlError(f"more than {limits.max_tags} tags")
    try:
        root = etree.fromstring(data, parser())
    except etree.XMLSyntaxError as exc:
        raise UnsafeXmlError(str(exc)) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise UnsafeXmlError("a DOCTYPE is not allowed")
    # Depth: libxml2 stops at 2048 levels even with huge_tree, and the edxml reader applies
    # limits.max_depth to the signed content; walking every tree here again costs 10%.
    return root


def serialize(root: etree._Element) -> bytes:
    """UTF-8 bytes with the same declaration the edxml writer uses."""
    return _DECLARATION + etree.tostring(root, encoding="UTF-8")


def local(el: etree._Element) -> str:
    """The local name of an element ('' for comments and PIs)."""
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def edxml(name: str) -> str:
    """Clark name in the edXML namespace."""
    return f"{{{NS}}}{name}"


def dsig(name: str) -> str:
    """Clark name in the XML-DSig namespace."""
    return f"{{{DSIG_NS}}}{name}"
