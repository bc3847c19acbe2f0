"""The safety rules for parsing untrusted bytes, shared by the reader and by signing.

The reader builds a model, signing and verification need the tree itself; both must parse
with the same settings and refuse the same inputs, so the rules live here once: no DTD, no
entity expansion, no network, a DOCTYPE refused before parsing, stray bytes before the XML
declaration located (the official samples start with four of them).
"""

from __future__ import annotations

from lxml import etree

__all__ = ["BOM", "PROLOG_WINDOW", "find_xml_start", "prolog_has_doctype", "untrusted_parser"]

#: How much of the start of an input is scanned for the prolog.
PROLOG_WINDOW = 64 * 1024
BOM = b"\xef\xbb\xbf"


def untrusted_parser(*, keep_comments: bool = False, recover: bool = False) -> etree.XMLParser:
    """A parser for untrusted input: no DTD, no entities, no network, long text allowed.

    ``huge_tree`` is needed for attachments (one base64 text node can exceed libxml2's
    10 MB default); callers bound size, tags and depth themselves. ``recover`` only lets
    namespace errors (an undeclared prefix) leave a tree to report on; callers must still
    refuse every other error the parser logged. Verification keeps comments (to refuse
    them: canonicalisation would hide a comment inserted into signed text).
    """
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=True,
        recover=recover,
        remove_comments=not keep_comments,
        remove_pis=not keep_comments,
        collect_ids=False,
    )


def find_xml_start(head: bytes) -> tuple[int, int] | None:
    """Where the XML starts in ``head`` and how many stray bytes precede it.

    A UTF-8 byte-order mark is not stray. Returns None when there is no ``<`` at all.
    """
    start = len(BOM) if head.startswith(BOM) else 0
    if head.startswith(b"<", start):
        return start, 0
    found = head.find(b"<?xml", start)
    if found < 0:
        found = head.find(b"<", start)
    if found < 0:
        return None
    stray = head[start:found]
    # Whitespace before the root (without a declaration) is harmless: not stray.
    count = len(stray) if stray.strip() or head.startswith(b"<?xml", found) else 0
    return found, count


def prolog_has_doctype(head: bytes, pos: int = 0) -> bool:
    """Whether the prolog (declaration, comments, PIs) is followed by a DOCTYPE.

    Only the prolog can hold a DOCTYPE, so this scans up to the root element's start tag.
    A prolog longer than the window is refused as if it held one: no real message has one.
    """
    while True:
        while pos < len(head) and head[pos] in b" \t\r\n":
            pos += 1
        if head.startswith(b"<?", pos):
            end = head.find(b"?>", pos)
        elif head.startswith(b"<!--", pos):
            end = head.find(b"-->", pos)
        elif head.startswith(b"<!", pos):
            return True  # <!DOCTYPE (or any other declaration)
        else:
            return pos >= len(head)
        if end < 0:
            return True
        pos = end + 2
