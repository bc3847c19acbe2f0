"""Parsing untrusted bytes for signing and verification, with the edxml reader's bounds.

The reader's safety rules (no DOCTYPE, no entities, no network, stray bytes located) come
from :mod:`edoc_exchange.edxml.untrusted`, the bounds from the same
:class:`~edoc_exchange.edxml.ReadLimits`; only the tree, not a model, is built here.
Unlike the reader, comments and processing instructions are kept: verification refuses
them, signing strips them.
"""

from __future__ import annotations

import threading

from lxml import etree

from ..edxml import DEFAULT_LIMITS, DSIG_NS, NS, ReadLimits
from ..edxml.untrusted import (
    BOM,
    PROLOG_WINDOW,
    find_xml_start,
    prolog_has_doctype,
    untrusted_parser,
)
from ..edxml.writer import DECLARATION

__all__ = [
    "UnsafeXmlError",
    "dsig",
    "edxml",
    "local",
    "parse",
    "parser",
    "serialize",
    "skip_stray_bytes",
]



class UnsafeXmlError(Exception):
    """The bytes are not safe, well-formed XML; ``reason`` says why (English)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_LOCAL = threading.local()


def parser() -> etree.XMLParser:
    """The parser for untrusted input, keeping comments and PIs (to refuse them).

    One per thread, made once: signxml asks for its parser on every parse (a sign and a
    verify parse four to six times), and a parser must not be used by two threads at once.
    """
    found: etree.XMLParser | None = getattr(_LOCAL, "parser", None)
    if found is None:
        found = _LOCAL.parser = untrusted_parser(keep_comments=True)
    return found


def skip_stray_bytes(data: bytes) -> bytes:
    """Drop bytes before the XML declaration, as the lenient reader does ("1212<?xml").

    They are outside any element, so outside what a signature covers and what is read.
    """
    found = find_xml_start(data[:PROLOG_WINDOW])
    return data[found[0] :] if found is not None and found[1] else data


def parse(data: bytes, limits: ReadLimits = DEFAULT_LIMITS) -> etree._Element:
    """Parse untrusted bytes into a tree, or raise :class:`UnsafeXmlError`.

    Checks size, DOCTYPE and tag count before parsing (as the edxml reader does).
    """
    if not data or data.isspace():  # (strip() would copy a 100 MB message)
        raise UnsafeXmlError("empty input")
    if len(data) > limits.max_bytes:
        raise UnsafeXmlError(f"{len(data)} bytes, more than the limit of {limits.max_bytes}")
    data = skip_stray_bytes(data)
    if prolog_has_doctype(data[:PROLOG_WINDOW], len(BOM) if data.startswith(BOM) else 0):
        raise UnsafeXmlError("a DOCTYPE is not allowed")
    # Over-counts, as the reader does; a text shorter than the limit cannot exceed it.
    if len(data) > limits.max_tags and data.count(b"<") > limits.max_tags:
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
    return DECLARATION + etree.tostring(root, encoding="UTF-8")


def local(el: etree._Element) -> str:
    """The local name of an element ('' for comments and PIs)."""
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def edxml(name: str) -> str:
    """Clark name in the edXML namespace."""
    return f"{{{NS}}}{name}"


def dsig(name: str) -> str:
    """Clark name in the XML-DSig namespace."""
    return f"{{{DSIG_NS}}}{name}"
